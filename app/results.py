"""Everything the pages derive from an analysis, cached: annotation, boundary statistics, chunk tables and
embeddings, figures' bytes, track files and the report zip. The work itself lives in `interpret`.

Cached functions take the analysis key (a string) first and the heavy objects as `_underscore` arguments, so
Streamlit hashes a short string, not a genome. Large read-only objects (annotation, figures) are cached as
resources (no copy per read); small results as data; slow work with a progress bar in `state.derived`.
"""
from __future__ import annotations

import os

import streamlit as st

from app import state


# ---------------------------------------------------------------------------------------------- annotation
def annotation(a: state.Analysis | state.Request):
    """The record's annotation (interpret.annotations), once per genome and promoter table: a request's, before its
    analysis exists (the live tracks), is the same cache entry as its analysis's (same key)."""
    return _annotation(a.key, a.companion_key, a.record, a.companion)


@st.cache_resource(max_entries=8, show_spinner="Reading the annotation…")
def _annotation(key: str, companion_key: str, _record, _companion):
    """Shared and read-only (a resource: pages read it many times per run; a genome's bitfields are megabytes)."""
    from interpret.annotations import annotate

    return annotate(_record, companion=_companion)


# ---------------------------------------------------------------------------------------------- statistics
N_NULL = int(os.environ.get("DNAHNET_APP_N_NULL", 1000))  # circular-shift and permuted-length draws


def boundary_report(a: state.Analysis, with_progress: bool = True):
    """interpret.analysis.analyze_boundaries over this analysis (enrichment, nulls, baselines, profiles),
    computed once per analysis and server, with a progress bar the first time."""
    from interpret.analysis import analyze_boundaries

    key = f"{a.key}|{a.companion_key}|{N_NULL}"
    if state.has_derived("report", key) or not with_progress:
        return state.derived("report", key, lambda p: analyze_boundaries(a.trace, {a.record_id: annotation(a)},
                                                                         n_null=N_NULL))
    with st.status("Computing boundary statistics: nulls, baseline chunkers, profiles…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def progress(fraction, message):
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

        report = state.derived("report", key, lambda p: analyze_boundaries(
            a.trace, {a.record_id: annotation(a)}, n_null=N_NULL, progress=p), progress)
        status.update(label="Boundary statistics ready", state="complete", expanded=False)
    return report


# ---------------------------------------------------------------------------------------------- exports
def track_files(n_stages: int, strands: list[str]) -> list[tuple[str, str, str]]:
    """(label, kind, file suffix) of every track file of an analysis (the track popover of every page);
    `track_bytes(a, kind)` builds one. The list is interpret's (`interpret.report.track_catalogue`), so a file is
    named as in the report's tracks/ folder and a browser session set up on one opens the other. Downloads are
    plain text (one record, opened whole); the report's long-genome tracks are BGZF + tabix."""
    from interpret.report import track_catalogue

    return [(t.label, t.kind, t.name) for t in track_catalogue(n_stages, strands)]


def track_mime(suffix: str) -> str:
    """bigWig is binary; BED, bedGraph and GFF3 are text."""
    return "application/octet-stream" if suffix.endswith(".bw") else "text/plain"


def figure_bytes(fig, fmt: str) -> bytes:
    """PNG / SVG / HTML bytes of a plotly figure (interpret.render; Chrome-free fallback inside it)."""
    from interpret.render import figure_to_bytes

    return figure_to_bytes(fig, fmt)


def table_csv(df) -> bytes:
    from interpret import exports

    return exports.table_to_csv(df)


def track_bytes(a: state.Analysis, kind: str) -> bytes:
    """One track file of the analysis (kinds from `track_files`): BED, bedGraph or GFF3 text, or bigWig."""
    from interpret.report import track_file_bytes

    sequences = {a.record_id: str(a.record.seq)} if kind == "bw:gc" else None  # only GC reads the bases
    return track_file_bytes(a.trace, kind, records=[a.record_id], sequences=sequences)


def report_zip(a: state.Analysis, static_images: bool = True, progress=None) -> bytes:
    """The whole report as one zip: tables (CSV), figures (HTML, and PNG + SVG when asked), tracks, the trace and
    index.html — the files `python -m interpret.report` writes. Built once per analysis (on the first click), with
    `progress(fraction, message)` told as the report's writer advances (a minute on a whole genome)."""
    from interpret import exports
    from interpret.report import build_report_files

    formats = _report_formats(static_images)

    def build(progress):
        files = build_report_files(a.trace, {a.record_id: annotation(a)}, boundary_report(a, with_progress=False),
                                   record=a.record, formats=formats, embedding="pca",
                                   progress=lambda f, m: progress(0.95 * f, m))
        progress(0.97, "zipping")
        out = exports.report_zip(files, root=f"{a.file_stem}_dnahnet_report")
        progress(1.0, "report ready")
        return out

    return state.derived("report_zip", _report_key(a, formats), build, progress, entries=4)


def report_zip_ready(a: state.Analysis, static_images: bool = True) -> bool:
    """Whether the report zip of this analysis (and choice of figure formats) is built: then it downloads at once."""
    return state.has_derived("report_zip", _report_key(a, _report_formats(static_images)))


def _report_formats(static_images: bool) -> tuple[str, ...]:
    return ("html", "png", "svg") if static_images else ("html",)


def _report_key(a: state.Analysis, formats: tuple[str, ...]) -> str:
    return f"{a.key}|{a.companion_key}|{N_NULL}|{formats}"


# ---------------------------------------------------------------------------------------------- browser
def track_figure(a: state.Analysis, window: tuple[int, int], strands: tuple[str, ...], stages: tuple[int, ...],
                 rows: tuple[str, ...], feature_types: tuple[str, ...] | None = None,
                 view: tuple[int, int] | None = None):
    """The stacked genome tracks of the window (interpret.figures_tracks), cached per window and options; `view`
    (inside the window) is the part shown at first, the rest a margin to pan and zoom into in the browser.

    A fresh copy each call (callers add to it). Cached as a resource, not as data: a figure that went through
    pickling serialises differently from the original, and the chart's identity (hence its selection) follows
    the serialised figure — the first box drawn on a new window would be lost.
    """
    import plotly.graph_objects as go

    fig = _track_figure(a.key, a.companion_key, window, strands, stages, rows, feature_types, view, a.trace,
                        annotation(a), a.record)
    return go.Figure(fig)


@st.cache_resource(max_entries=32, show_spinner=False)
def _track_figure(key, companion_key, window, strands, stages, rows, feature_types, view, _trace, _annotation,
                  _record):
    return draw_tracks(_trace, _annotation, _record, window, view, strands, stages, rows, feature_types)


def draw_tracks(trace, annotation, record, window, view, strands, stages, rows, feature_types=None, title=None):
    """`interpret.figures_tracks.genome_tracks` of the window with only the chosen feature types, uncached: the
    cached browser figure (`track_figure`) and the live one drawn while the model runs (`app.live_tracks`, with a
    partial trace or none)."""
    from dataclasses import replace

    from interpret.figures_tracks import genome_tracks

    if feature_types is not None:  # a shallow copy that lists only the chosen feature types
        feats = annotation.features
        annotation = replace(annotation, features=feats[feats["type"].isin(feature_types)])
    return genome_tracks(trace, record.id, annotation=annotation, sequence=record, region=window, view=view,
                         strands=strands, stages=stages, rows=rows, title=title)  # the record: CDS qualifiers


def feature_map(a: state.Analysis, window: tuple[int, int], strands: tuple[str, ...], stages: tuple[int, ...]):
    """Publication-style feature map of the window (dna_features_viewer, matplotlib)."""
    from interpret.featuremap import feature_map as draw

    return draw(annotation(a), window, trace=a.trace, record_id=a.record_id, stages=list(stages), strands=strands)


def chunks_in(a: state.Analysis, window: tuple[int, int]):
    """Chunks of every stage and pass overlapping the window, as people read them (`app.tables.chunks`: 1-based
    inclusive spans, the base where each starts in reading order, Stage 1/2)."""
    import pandas as pd
    from app import tables
    from interpret.exports import chunk_table

    frames = [chunk_table(a.trace, s, records=[a.record_id], region=window) for s in range(a.n_stages)]
    return tables.chunks(pd.concat(frames, ignore_index=True) if frames else None)


# ---------------------------------------------------------------------------------------------- latents
MAX_POINTS = 3000  # chunks embedded by default: below 4,096 UMAP uses exact neighbours (no extra compile)


def latent_points(a: state.Analysis, stage: int, method: str, max_points: int = MAX_POINTS):
    """(chunk table, (n, 2) embedding) of the kept latents of `stage` over every pass (seeded subsample)."""
    return _latent_points(a.key, a.companion_key, stage, method, max_points, a.trace, annotation(a), a.record)[:2]


def latent_vectors(a: state.Analysis, stage: int, method: str, max_points: int = MAX_POINTS):
    """(n, d) latent vectors of the rows of `latent_points` (same call, same cache entry)."""
    return _latent_points(a.key, a.companion_key, stage, method, max_points, a.trace, annotation(a), a.record)[2]


@st.cache_data(max_entries=16, show_spinner="Embedding the chunk latents…")
def _latent_points(key, companion_key, stage, method, max_points, _trace, _annotation, _record):
    import numpy as np
    from interpret.latents import chunk_tables, embed

    table, vectors = chunk_tables(_trace, {_record.id: _annotation}, stage, {_record.id: str(_record.seq)})
    if len(table) > max_points:
        keep = np.sort(np.random.default_rng(0).choice(len(table), max_points, replace=False))
        table, vectors = table.iloc[keep].reset_index(drop=True), vectors[keep]
    if len(table) == 0:
        return table, np.zeros((0, 2), np.float32), vectors
    return table, embed(vectors, method), vectors


def selected_rows(event, table):
    """Rows of the latent table picked by a plotly selection (points, box or lasso), via customdata[0]."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    idx = sorted({int(p["customdata"][0]) for p in points if p.get("customdata")})
    return table.iloc[[i for i in idx if 0 <= i < len(table)]]
