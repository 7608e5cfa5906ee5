"""Browser: stacked tracks on one x-axis — features, bases, boundaries per stage and strand, p, surprisal, GC."""
import plotly.graph_objects as go
import streamlit as st

from app import components, results, tables, viewport
from interpret.style import stage_label

a = components.require_analysis()
ann = results.annotation(a)
components.page_header(
    "Genome browser", a,
    "Genes and other features on top, then where each stage of dnaHNet starts a chunk, the router's boundary "
    "probability p, the model's surprisal and GC. **Type a locus or a gene, scroll on the tracks to zoom and drag "
    "to pan**; at 300 nt or less the bases, codon positions and the three-frame translation appear.")
window = viewport.current(a)
span = a.span


def _go(w):
    viewport.request(a, w)


def _typed():
    _go((int(st.session_state["view_start"]) - 1, int(st.session_state["view_end"])))


def _locus():
    """Enter in the locus box: go to the stretch typed, or to the gene a name means when it means one."""
    try:
        target, _ = viewport.locus_window(st.session_state["gene_query"], a.record_id, span, ann.features)
    except ValueError:
        return  # the page says why under the box
    if target is not None:
        _go(target)


# ---- navigation: locus (stretch or gene) · coordinates · zoom and pan ----
find, coords, moves = st.columns([4, 3, 4], vertical_alignment="bottom")
with find:
    gene = viewport.example_gene(ann.features, span)
    example = f"{a.record_id}:{span[0] + 1:,}-{min(span[0] + 1000, span[1]):,}" + (f" or {gene}" if gene else "")
    query = st.text_input("Locus", key="gene_query", placeholder=example, on_change=_locus,
                          help="A stretch (1,000-2,000, RECORD:1,000-2,000, or one position) or a gene's name, locus "
                               "tag or product. Enter goes there when it names one place.")
    if query:
        try:
            target, hits = viewport.locus_window(query, a.record_id, span, ann.features)
        except ValueError as e:
            st.caption(f"Cannot go there: {components.plain(e)}.")
            hits = None
        if hits is not None:
            outside = len(viewport.find_features(ann.features, query)) - len(hits)
            if outside > 0:
                st.caption(f"{outside} match(es) lie outside the analysed region and are not listed.")
            row = viewport.pick_feature(hits, query, "gene_pick", where=" here")
            if row is not None:
                st.button("Show", key="gene_go", on_click=_go,
                          args=(viewport.around(int(row.start), int(row.end), span),), icon=":material/my_location:")
with coords:
    c1, c2 = st.columns(2)
    c1.number_input("From (1-based)", min_value=span[0] + 1, max_value=span[1], step=1000, key="view_start",
                    on_change=_typed)
    c2.number_input("To", min_value=span[0] + 1, max_value=span[1], step=1000, key="view_end", on_change=_typed)
with moves:
    b = st.columns(5)
    b[0].button("", key="pan_left", icon=":material/arrow_back:", help="Move left by half a window",
                on_click=_go, args=(viewport.pan(window, -0.5, span),), width="stretch")
    b[1].button("", key="zoom_in", icon=":material/zoom_in:", help="Zoom in 4×",
                on_click=_go, args=(viewport.zoom(window, 0.25, span),), width="stretch")
    b[2].button("", key="zoom_out", icon=":material/zoom_out:", help="Zoom out 4×",
                on_click=_go, args=(viewport.zoom(window, 4.0, span),), width="stretch")
    b[3].button("", key="pan_right", icon=":material/arrow_forward:", help="Move right by half a window",
                on_click=_go, args=(viewport.pan(window, 0.5, span),), width="stretch")
    b[4].button("All", key="zoom_all", help="The whole analysed sequence", on_click=_go, args=(span,),
                width="stretch")

# ---- what to draw ----
def _valid(key, options):
    """Forget a remembered choice that names options this analysis does not have (another genome, one strand)."""
    if key in st.session_state and not set(st.session_state[key]) <= set(options):
        del st.session_state[key]


_valid("browser_stages", range(a.n_stages))
_valid("browser_strands", a.strands)
_valid("browser_feature_types", set(ann.features["type"]))
with st.expander("Tracks shown", expanded=False):
    o1, o2, o3 = st.columns(3)
    stages = o1.multiselect("Stages", list(range(a.n_stages)), default=list(range(a.n_stages)),
                            format_func=stage_label, key="browser_stages")
    strands = o2.multiselect("Strand passes", a.strands, default=a.strands, key="browser_strands",
                             format_func=lambda d: f"{d} pass")
    row_names = {"features": "Features", "sequence": "Bases (≤ 300 nt)", "translation": "Translation (≤ 300 nt)",
                 "boundaries": "Boundaries", "p": "Boundary p", "surprisal": "Surprisal", "gc": "GC"}
    rows = o3.multiselect("Rows", list(row_names), default=list(row_names), format_func=row_names.get,
                          key="browser_rows")
    types = sorted(set(ann.features["type"]) - {"source"})
    feature_types = st.multiselect("Feature types", types, default=viewport.default_feature_types(types),
                                   key="browser_feature_types",
                                   help="GenBank's notes (variation, misc_feature, sig_peptide…) are hidden at "
                                        "first.")

lo, hi = window
loaded = viewport.with_margin(window, span)  # wheel zoom and drag pan move into the margin without a rerun
try:
    fig = results.track_figure(a, loaded, tuple(strands) or tuple(a.strands), tuple(stages),
                               tuple(rows) or ("features",), tuple(feature_types), view=window)
except ValueError as e:
    st.warning(f"Nothing to draw here: {components.plain(e)}")
    st.stop()
export = go.Figure(fig)
viewport.add_selection_layer(fig, *loaded)
# Streamlit returns selections, not zoom or pan (relayout) events: the wheel and a drag act in the browser on what
# is loaded; the buttons, the locus box and a box drawn with the toolbar's box tool load a new window.
event = st.plotly_chart(fig, key="browser_fig", on_select="rerun", selection_mode=("points", "box"),
                        config={"scrollZoom": True, "displaylogo": False, "toImageButtonOptions": {"format": "svg"},
                                "modeBarButtonsToRemove": ["lasso2d", "autoScale2d"]})
components.explain(
    f"Positions {lo + 1:,}–{hi:,} ({hi - lo:,} nt), with {lo - loaded[0]:,} nt loaded on the left and "
    f"{loaded[1] - hi:,} nt on the right: scroll to zoom and drag to pan within them; the arrows, the locus box or "
    "a box drawn with the toolbar's box tool load another window. Ticks mark where a chunk starts in each pass's "
    "reading direction (the − pass reads right to left); p > 0.5 is a boundary; surprisal is −log₂ p(base) in "
    "bits.")
components.figure_downloads(export, f"{a.file_stem}_{lo + 1}-{hi}_tracks", "browser_fig")

# a box drawn on the figure becomes the new window (once per box: the selection outlives the rerun)
boxes = ((event or {}).get("selection") or {}).get("box") or []
box_window = viewport.window_from_box(boxes)
if box_window is not None and st.session_state.get("browser_box") != (a.key, box_window):
    st.session_state["browser_box"] = (a.key, box_window)
    if box_window != window:
        _go(box_window)
        st.rerun()

components.track_downloads(a, "browser")

# ---- what is in view ----
feats = ann.features
in_view = feats[(feats["end"] > lo) & (feats["start"] < hi) & feats["type"].isin(feature_types)]
left, right = st.columns(2)
with left:
    st.subheader("Features in view")
    shown = tables.features(in_view)  # 1-based inclusive spans, strand + / −
    components.table(shown, f"{a.file_stem}_{lo + 1}-{hi}_features", "browser_features",
                     "Annotated features of the chosen types overlapping the window (1-based, end inclusive).",
                     height=260, hide_index=True)
with right:
    st.subheader("Chunks in view")
    chunks = results.chunks_in(a, window)
    if len(chunks) > 5000:
        st.caption(f"{len(chunks):,} chunks: zoom in to list them (the CSV and tracks hold them all).")
        chunks = chunks.head(5000)
    components.table(chunks, f"{a.file_stem}_{lo + 1}-{hi}_chunks", "browser_chunks",  # 1-based (app.tables)
                     "Each chunk of each stage and pass: its span (end inclusive), where it starts in reading order, "
                     "and the router's p there.", height=260, hide_index=True)

if ann.problems:
    with st.expander(f"Annotation notes ({len(ann.problems)})"):
        st.markdown(components.bullets(ann.problems))

with st.expander("Publication feature map of this window (dna_features_viewer)"):
    if hi - lo > 100_000:
        st.caption("Zoom in to 100 kb or less to draw a feature map.")
    elif st.toggle("Draw it", key="draw_featuremap"):
        mfig = results.feature_map(a, window, tuple(strands) or tuple(a.strands), tuple(stages))
        st.pyplot(mfig, clear_figure=False)
        components.figure_downloads(mfig, f"{a.file_stem}_{lo + 1}-{hi}_featuremap", "featuremap")
