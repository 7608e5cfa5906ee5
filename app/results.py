"""Everything the pages derive from an analysis, cached: annotation, boundary statistics, chunk tables and
embeddings, figures' bytes, track files and the report zip. The work itself lives in `interpret`.

Cached functions take the analysis key (a string) first and the heavy objects as `_underscore` arguments, so
Streamlit hashes a short string, not a genome.
"""
from __future__ import annotations

import io

import streamlit as st

from app import state
from interpret.style import stage_label

def track_files(n_stages: int, strands: list[str]) -> list[tuple[str, str, str]]:
    """(label, kind, file suffix) of every track file of an analysis; `track_bytes(a, kind)` builds one."""
    out = []
    for s in range(n_stages):
        out.append((f"{stage_label(s)} boundaries (BED)", f"bed:{s}", f"stage{s + 1}.boundaries.bed"))
    for s in range(n_stages):
        for d in strands:
            out.append((f"{stage_label(s)} p, {d} pass (bedGraph)", f"p:{s}:{d}",
                        f"stage{s + 1}.p.{_strand_word(d)}.bedgraph"))
    for d in strands:
        out.append((f"Surprisal, {d} pass (bedGraph)", f"surprisal:0:{d}", f"surprisal.{_strand_word(d)}.bedgraph"))
    out.append(("Chunks, all stages (GFF3)", "gff3", "chunks.gff3"))
    return out


def _strand_word(strand: str) -> str:
    return "plus" if strand == "+" else "minus"


# ---------------------------------------------------------------------------------------------- annotation
def annotation(a: state.Analysis):
    return _annotation(a.key, a.companion_key, a.record, a.companion)


@st.cache_data(max_entries=8, show_spinner="Reading the annotation…")
def _annotation(key: str, companion_key: str, _record, _companion):
    from interpret.annotations import annotate

    return annotate(_record, companion=_companion)


# ---------------------------------------------------------------------------------------------- statistics
def boundary_report(a: state.Analysis):
    """interpret.analysis.analyze_boundaries over this analysis (enrichment, nulls, baselines, profiles)."""
    return _boundary_report(a.key, a.companion_key, a.trace, annotation(a))


@st.cache_data(max_entries=8, show_spinner="Computing boundary statistics (nulls, baselines, profiles)…")
def _boundary_report(key: str, companion_key: str, _trace, _annotation):
    from interpret.analysis import analyze_boundaries

    return analyze_boundaries(_trace, _annotation)


# ---------------------------------------------------------------------------------------------- exports
def figure_bytes(fig, fmt: str) -> bytes:
    """PNG / SVG / HTML bytes of a plotly figure (interpret.exports; Chrome-free fallback inside it)."""
    from interpret import exports

    return exports.figure_to_bytes(fig, fmt)


def table_csv(df) -> bytes:
    from interpret import exports

    return exports.table_to_csv(df)


def track_bytes(a: state.Analysis, kind: str) -> bytes:
    """One track file of the analysis (kinds from `track_files`): BED, bedGraph or GFF3 text."""
    from interpret import exports

    what, *args = kind.split(":")
    rec = [a.record_id]
    if what == "bed":
        out = exports.boundaries_bed(a.trace, int(args[0]), records=rec)
    elif what in ("p", "surprisal"):
        out = exports.bedgraph(a.trace, what, strand=args[1], stage=int(args[0]), records=rec)
    elif what == "gff3":
        out = exports.chunks_gff3(a.trace, records=rec)
    else:
        raise ValueError(f"unknown track kind {kind!r}")
    return out.encode()


def report_zip(a: state.Analysis) -> bytes:
    """The whole report (tables, figures, tracks, trace, a README) as one zip."""
    from interpret import exports

    buf = io.BytesIO()
    out = exports.report_zip(a.trace, annotation(a), report=boundary_report(a))
    if isinstance(out, (bytes, bytearray)):
        return bytes(out)
    buf.write(out.getvalue())
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- browser
def track_figure(a: state.Analysis, window: tuple[int, int], strands: tuple[str, ...], stages: tuple[int, ...],
                 rows: tuple[str, ...]):
    """The stacked genome tracks of the window (interpret.figures_tracks), cached per window and options."""
    return _track_figure(a.key, a.companion_key, window, strands, stages, rows, a.trace, annotation(a), a.record)


@st.cache_data(max_entries=32, show_spinner=False)
def _track_figure(key, companion_key, window, strands, stages, rows, _trace, _annotation, _record):
    from interpret.figures_tracks import genome_tracks

    return genome_tracks(_trace, _record.id, annotation=_annotation, sequence=_record.seq, region=window,
                         strands=strands, stages=stages, rows=rows)


def feature_map(a: state.Analysis, window: tuple[int, int], strands: tuple[str, ...], stages: tuple[int, ...]):
    """Publication-style feature map of the window (dna_features_viewer, matplotlib)."""
    from interpret.featuremap import feature_map as draw

    return draw(annotation(a), window, trace=a.trace, record_id=a.record_id, stages=list(stages), strands=strands)


def chunks_in(a: state.Analysis, window: tuple[int, int]):
    """Chunks of every stage and pass overlapping the window (start/end 0-based half-open)."""
    import pandas as pd
    from interpret.exports import chunk_table

    frames = [chunk_table(a.trace, s, records=[a.record_id], region=window) for s in range(a.n_stages)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
