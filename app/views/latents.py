"""Latents: each chunk's vector (what the next stage reads) embedded in 2-D, coloured by biology; select to inspect.

A box or lasso selection gets a summary against all chunks of the stage (`interpret.latents.selection_summary`);
the chunk picked from the selection (a clicked point is one) gets its nearest neighbours in latent space
(`interpret.latents.nearest_chunks`). The page only composes: every number comes from `interpret`."""
import pandas as pd
import streamlit as st

from app import components, results, tables, viewport
from interpret import figures as F
from interpret.latents import METRICS, nearest_chunks, selection_summary
from interpret.style import stage_label

a = components.require_analysis()
components.page_header(
    "Latent space", a,
    "Every chunk becomes one vector for the next stage. Embedded in 2-D, chunks that the model treats alike sit "
    "together. **Select points (box or lasso)** to summarise them against all chunks; **click one** for its nearest "
    "neighbours in latent space; open any of them in the browser.")

COLOR_BY = {"class": "Class of the first base", "first_base": "First base (as read)", "codon_pos": "Codon position",
            "cds_fraction": "Position in the CDS (0 = start, 1 = end)", "strand": "Strand pass",
            "length": "Chunk length", "gc": "GC content of the chunk"}
c1, c2, c3, c4 = st.columns([2, 2, 3, 2])
stage = c1.selectbox("Stage", list(range(a.n_stages)), format_func=stage_label, key="lat_stage")
method = c2.segmented_control("Embedding", ["umap", "pca"], default="umap", key="lat_method",
                              format_func=str.upper, help="UMAP (cosine) shows neighbourhoods; PCA is instant.")
method = method or "umap"
color_by = c3.selectbox("Colour by", list(COLOR_BY), format_func=COLOR_BY.get, key="lat_color")
max_points = c4.number_input("Chunks shown", min_value=500, max_value=40_000, value=results.MAX_POINTS, step=500,
                             key="lat_points", help="A seeded random subsample of the chunks whose latents were kept. "
                             "Above 4,096 UMAP switches to approximate neighbours: slower, and its first use "
                             "compiles for a minute or two.")

if method == "umap":
    st.caption("UMAP's first use on a server compiles its numerical code (about half a minute on a small CPU); "
               "embeddings are cached after that. PCA is instant.")
table, xy = results.latent_points(a, stage, method, int(max_points))
if len(table) == 0:
    st.warning(f"The analysis kept no latents for {stage_label(stage)}.")
    st.stop()
fig = F.latent_scatter(table, xy, color_by, method=method.upper())
fig.update_layout(dragmode="select")  # a drag selects a box; the modebar has lasso, zoom and pan
event = components.figure(fig, f"{a.file_stem}_{stage_label(stage).replace(' ', '')}_{method}_{color_by}",
                          "lat_fig",
                          f"{method.upper()} of {len(table):,} {stage_label(stage)} chunk latents (both passes), "
                          f"coloured by {COLOR_BY[color_by].lower()}. Hover a point for its coordinates and sequence.",
                          on_select="rerun", selection_mode=("points", "box", "lasso"))
name = f"{a.file_stem}_{stage_label(stage).replace(' ', '')}"


@st.cache_data(max_entries=8, show_spinner="Drawing the logo of the chunk starts…")
def _logo_png(key, stage: int, rows: tuple, _logos) -> bytes:
    """PNG of the selection's start logo beside all chunks' (logomaker is slow: once per selection)."""
    from interpret.logos import logo_figure
    from interpret.render import figure_to_bytes

    return figure_to_bytes(logo_figure(_logos, ncols=2), "png")


def _chunk_label(r) -> str:
    return f"{r['record']}:{r['start'] + 1:,}–{r['end']:,} ({r['strand']}) {r['sequence'][:24]}"


def _summary(picked: pd.DataFrame) -> None:
    """The selection against all chunks of the stage: classes, lengths, strings, logo."""
    rows = [table.index.get_loc(i) for i in picked.index]
    s = selection_summary(table, rows, {a.record_id: str(a.record.seq)})
    st.subheader("What the selection holds")
    st.caption(f"{s.n_selected:,} selected of the {s.n_all:,} {stage_label(stage)} chunks shown (the background).")
    components.table(tables.latent_selection_classes(s.classes), f"{name}_selection_classes", "lat_sum_classes",
                     "Class of each chunk's first base: the selection's share against all chunks' share (fold), with "
                     "Fisher's exact test of the selection against the other chunks (two-sided) and Benjamini–"
                     "Hochberg q across the classes.", hide_index=True)
    left, right = st.columns(2)
    with left:
        components.table(tables.latent_selection_lengths(s.lengths), f"{name}_selection_lengths", "lat_sum_lengths",
                         "Chunk lengths, selection against all chunks; Mann–Whitney U of the selection against the "
                         f"other chunks: p = {tables.analytic_p_text(s.p_lengths) or 'n/a'}.", hide_index=True)
    with right:
        dist = s.length_distribution.set_index("label")[["share_selected", "share_all"]]
        dist.index.name = "chunk length (nt)"
        st.bar_chart(dist.rename(columns={"share_selected": "selected", "share_all": "all chunks"}) * 100,
                     stack=False, sort=False, y_label="chunks (%)", height=260)
        components.explain(f"Share of chunks by length; the last bar holds {s.length_distribution['label'].iloc[-1]} "
                           "nt.")
    components.table(tables.latent_selection_strings(s.top_strings), f"{name}_selection_strings", "lat_sum_strings",
                     "The commonest chunk strings of the selection, as read in their pass (60 nt kept per chunk).",
                     hide_index=True)
    logos = [lg for lg in (s.logo, s.logo_all) if lg is not None and lg.n_sites]
    if logos:
        st.image(_logo_png(a.key, stage, tuple(rows), logos))
        components.explain("Sequence ±10 nt around the chunk starts (0 = the chunk's first base, read in its pass's "
                           "direction), bits against the record's composition: selection (left) and all chunks.")
    if s.problems:
        st.caption(components.plain("; ".join(s.problems)))


def _neighbours(i: int) -> None:
    """The nearest chunks to table row i in latent space, each one click from the browser."""
    st.subheader("Nearest neighbours in latent space")
    n1, n2 = st.columns([2, 1])
    metric = n1.segmented_control("Distance", list(METRICS), default="cosine", key="lat_nn_metric",
                                  format_func=str.capitalize) or "cosine"
    k = int(n2.number_input("Neighbours", min_value=1, max_value=100, value=10, key="lat_nn_k"))
    vectors = results.latent_vectors(a, stage, method, int(max_points))
    nb = nearest_chunks(vectors, i, k, metric)
    st.caption(f"Of {components.plain(_chunk_label(table.iloc[i]))}: the {len(nb)} nearest of the {len(table):,} "
               f"chunks shown, by {metric} distance between their latent vectors (not the 2-D coordinates).")
    components.table(tables.latent_neighbours(nb, table, metric), f"{name}_neighbours", "lat_nn_table",
                     "Each neighbour's span (end inclusive), class of its first base and sequence as read.",
                     hide_index=True)
    labels = {int(r): f"{rank}. {_chunk_label(table.iloc[int(r)])}" for rank, r in zip(nb["rank"], nb["row"])}
    o1, o2 = st.columns([3, 2], vertical_alignment="bottom")
    chosen = o1.selectbox("Neighbour", list(labels), format_func=labels.get, key="lat_nn_pick")
    if o2.button("Show this neighbour in the browser", icon=":material/open_in_new:", key="lat_nn_open"):
        r = table.iloc[chosen]
        viewport.open_in_browser(a, *viewport.around(int(r["start"]), int(r["end"]), a.span, pad=20.0))


picked = results.selected_rows(event, table)
st.subheader(f"Selected chunks ({len(picked):,})" if len(picked) else "Selected chunks")
if picked.empty:
    st.caption("Nothing selected yet: drag a box or lasso over points in the plot, or click one.")
else:
    components.table(tables.latent_chunks(picked.reset_index(drop=True)), f"{name}_selected_chunks", "lat_selected",
                     "The selected chunks: span on the forward strand (end inclusive), class and codon position of "
                     "their first base, GC, and their sequence as read in their pass.", hide_index=True, height=280)
    rows = {i: _chunk_label(r) for i, r in picked.head(200).iterrows()}
    o1, o2 = st.columns([3, 2], vertical_alignment="bottom")
    pick = o1.selectbox("Open in the browser", list(rows), format_func=rows.get, key="lat_open_pick",
                        help="Also the chunk whose nearest neighbours are listed below.")
    lo, hi = int(picked.loc[pick, "start"]), int(picked.loc[pick, "end"])
    if o2.button("Show this chunk in the browser", icon=":material/open_in_new:", key="lat_open"):
        viewport.open_in_browser(a, *viewport.around(lo, hi, a.span, pad=20.0))
    span_lo, span_hi = int(picked["start"].min()), int(picked["end"].max())
    if o2.button("Show all selected (their full extent)", key="lat_open_all"):
        viewport.open_in_browser(a, span_lo, span_hi)
    if len(picked) >= 2:
        _summary(picked)
    _neighbours(table.index.get_loc(pick))
components.track_downloads(a, "latents")
