"""UI pieces every page shares: `plain` (user-derived text made inert for Streamlit's markdown), the no-analysis
notice, figures and tables with their download buttons, track downloads, and the sidebar footer (device, model,
report zip).

Figures are exported when the user clicks (deferred downloads): a page never pays for a PNG nobody asked for.
"""
from __future__ import annotations

import re

import streamlit as st

from app import results, state

FIGURE_FORMATS = {"png": "image/png", "svg": "image/svg+xml", "html": "text/html"}
_MARKDOWN_ACTIVE = re.compile(r"[\\`*_\[\]<>!~$&:|#]")  # what markdown, HTML or Streamlit would act on inside a line


def plain(text) -> str:
    """User-derived text (file names, record ids and definitions, gene names, exceptions, problems that quote them)
    as markdown that shows exactly that text: the one escape for st.markdown / caption / error / status labels.
    Markdown, HTML and Streamlit syntax is backslash-escaped and line breaks become spaces, so `![x](url)` draws no
    image, `<img ...>` no element and backticks no code."""
    s = _MARKDOWN_ACTIVE.sub(lambda m: "\\" + m.group(0), " ".join(str(text).split()))
    return re.sub(r"^(\d*)([-+.)])", r"\1\\\2", s)  # a line starting "- ", "+ " or "1. " would be a list


def bullets(lines) -> str:
    """User-derived lines as a markdown list, each `plain`."""
    return "\n".join(f"- {plain(line)}" for line in lines)


def require_analysis() -> state.Analysis:
    """The session's analysis, or a friendly note and stop (pages call this first)."""
    a = state.current()
    if a is None:
        if not st.session_state.get("waiting_for_run"):
            st.info("Choose a sample genome or upload one in the sidebar; results appear here once it is analysed.")
        st.stop()
    return a


def page_header(title: str, analysis: state.Analysis, blurb: str) -> None:
    st.title(title)
    a, b = analysis.span
    region = "" if analysis.settings.region is None else f" · region {a + 1:,}–{b:,}"
    st.caption(f"**{plain(analysis.record_id)}** — {plain(analysis.record.description or analysis.source_label)} · "
               f"{analysis.length:,} bp{region} · passes: {', '.join(analysis.strands)}")
    st.markdown(blurb)


def explain(text: str) -> None:
    """The one line under every figure or table that says what the user is looking at."""
    st.caption(text)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "figure"


def figure(fig, name: str, key: str, explanation: str = "", on_select=None, selection_mode=None, export=None,
           **kwargs):
    """A plotly figure at full width, its explanation, and PNG / SVG / HTML download buttons (of `export` when
    the figure shown carries interaction-only parts)."""
    extra = {}
    if on_select is not None:
        extra = {"on_select": on_select, "selection_mode": selection_mode or ("points", "box", "lasso")}
    event = st.plotly_chart(fig, key=key, config={"displaylogo": False, "toImageButtonOptions": {"format": "svg"}},
                            **extra, **kwargs)
    if explanation:
        explain(explanation)
    figure_downloads(export if export is not None else fig, name, key)
    return event


def figure_downloads(fig, name: str, key: str) -> None:
    stem = slug(name)
    row = st.container(horizontal=True, gap="small")
    for fmt, mime in FIGURE_FORMATS.items():
        row.download_button(fmt.upper(), data=_deferred_figure(fig, fmt), file_name=f"{stem}.{fmt}", mime=mime,
                            key=f"dl_{key}_{fmt}", on_click="ignore", icon=":material/download:",
                            help=f"Download this figure as {fmt.upper()}")


def _deferred_figure(fig, fmt: str):
    def make() -> bytes:
        return results.figure_bytes(fig, fmt)

    return make


def rows_for_strand(df, strand: str):
    """The rows of a statistics table for one strand pass ("+", "-" or "both"); tables without a strand column whole."""
    return df[df["strand"] == strand] if "strand" in df else df


def table(df, name: str, key: str, explanation: str = "", height: int | None = None, **kwargs) -> None:
    """A dataframe, its explanation, and a CSV download."""
    st.dataframe(df, key=key, height=height or "auto", **kwargs)
    if explanation:
        explain(explanation)
    st.download_button("CSV", data=results.table_csv(df), file_name=f"{slug(name)}.csv", mime="text/csv",
                       key=f"dl_{key}_csv", on_click="ignore", icon=":material/download:",
                       help="Download this table as CSV")


def track_downloads(analysis: state.Analysis, key: str,
                    label: str = "Tracks (BED · bigWig · bedGraph · GFF3)") -> None:
    """A popover with every track file of the analysis (boundaries, p, surprisal, GC, chunks) for IGV / JBrowse."""
    with st.popover(label, icon=":material/download:"):
        st.caption("Coordinates as IGV and JBrowse expect: BED/bedGraph 0-based half-open, GFF3 1-based. bigWig "
                   "holds the same per-base values as the bedGraph, and browsers read it zoom level by zoom level.")
        for text, kind, suffix in results.track_files(analysis.n_stages, analysis.strands):
            st.download_button(text, data=_deferred_track(analysis, kind), file_name=f"{analysis.file_stem}.{suffix}",
                               mime=results.track_mime(suffix), key=f"dl_{key}_{kind}", on_click="ignore",
                               width="stretch")


def _deferred_track(analysis: state.Analysis, kind: str):
    def make() -> bytes:
        return results.track_bytes(analysis, kind)

    return make


def sidebar_footer(analysis: state.Analysis | None) -> None:
    """Device, model, and the whole-report zip."""
    sb = st.sidebar
    sb.divider()
    try:
        sb.caption(f"Model: **{plain(state.model_card()['name'])}** on {state.device_label()}")
    except Exception as e:  # noqa: BLE001 - the inputs stay usable without a model
        sb.error(f"The model could not be loaded: {plain(e)}")
        return
    if analysis is None:
        return
    how = "from the cache" if analysis.cached else f"in {analysis.seconds:.1f} s"
    sb.caption(f"Analysed {plain(analysis.record_id)} ({analysis.settings.describe(analysis.length)}) {how}.")
    static = sb.toggle("Report with PNG + SVG figures", value=True, key="report_static",
                       help="Off: interactive HTML figures only — the zip is ready several times faster.")
    report_download = dict(file_name=f"{analysis.file_stem}_report.zip", mime="application/zip", key="dl_report_zip",
                           on_click="ignore", type="primary", icon=":material/folder_zip:", width="stretch",
                           help="Every table (CSV), figure (PNG, SVG, HTML), track (BED, bigWig, GFF3), the IGV "
                                "page and the trace")
    if results.report_zip_ready(analysis, static):
        sb.download_button("Report (zip)", data=results.report_zip(analysis, static), **report_download)
    elif sb.button("Build the report (zip)", key="build_report_zip", type="primary", icon=":material/folder_zip:",
                   width="stretch", help="Writes every table, figure and track with a progress bar here (about a "
                                         "minute on a whole genome); then the download button appears."):
        bar = sb.progress(0.0, text="Report: starting")

        def progress(fraction, message):
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=f"Report: {message}")

        data = results.report_zip(analysis, static, progress=progress)
        bar.empty()
        sb.download_button("Report (zip)", data=data, **report_download)
    sb.download_button("Trace (.npz)", data=_deferred_trace(analysis), file_name=f"{analysis.file_stem}.trace.npz",
                       mime="application/octet-stream", key="dl_trace", on_click="ignore", width="stretch",
                       icon=":material/download:", help="The raw model output, readable with dnahnet.Trace.load")


def _deferred_trace(analysis):
    def make() -> bytes:
        return analysis.trace.to_bytes()

    return make
