"""Latents: each chunk's vector (what the next stage reads) embedded in 2-D, coloured by biology; select to inspect."""
import streamlit as st

from app import components, results, viewport
from interpret import figures as F
from interpret.style import stage_label

a = components.require_analysis()
components.page_header(
    "Latent space", a,
    "Every chunk becomes one vector for the next stage. Embedded in 2-D, chunks that the model treats alike sit "
    "together. **Select points (box or lasso)** to list their chunks and open one in the browser.")

COLOR_BY = {"class": "Class of the first base", "codon_pos": "Codon position", "strand": "Strand pass",
            "length": "Chunk length", "gc": "GC"}
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

picked = results.selected_rows(event, table)
st.subheader(f"Selected chunks ({len(picked):,})" if len(picked) else "Selected chunks")
if picked.empty:
    st.caption("Nothing selected yet: drag a box or lasso over points in the plot.")
else:
    shown = picked.assign(start=picked["start"] + 1).rename(columns={"start": "start (1-based)"})
    components.table(shown, f"{a.file_stem}_{stage_label(stage).replace(' ', '')}_selected_chunks", "lat_selected",
                     "The selected chunks: span on the forward strand (end inclusive), class and codon position of "
                     "their first base, GC, and their sequence as read in their pass.", hide_index=True, height=280)
    rows = {i: f"{r['record']}:{r['start'] + 1:,}–{r['end']:,} ({r['strand']}) {r['sequence'][:24]}"
            for i, r in picked.head(200).iterrows()}
    o1, o2 = st.columns([3, 2], vertical_alignment="bottom")
    pick = o1.selectbox("Open in the browser", list(rows), format_func=rows.get, key="lat_open_pick")
    lo, hi = int(picked.loc[pick, "start"]), int(picked.loc[pick, "end"])
    if o2.button("Show this chunk in the browser", icon=":material/open_in_new:", key="lat_open"):
        viewport.open_in_browser(a, *viewport.around(lo, hi, a.span, pad=20.0))
    span_lo, span_hi = int(picked["start"].min()), int(picked["end"].max())
    if o2.button("Show all selected (their full extent)", key="lat_open_all"):
        viewport.open_in_browser(a, span_lo, span_hi)
components.track_downloads(a, "latents")
