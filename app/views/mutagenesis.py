"""Mutagenesis: the model as a variant scorer — score typed or uploaded variants, and saturate a gene or a region.

A score is log p(mutant window) − log p(reference window) in nats, read on both strands (an autoregressive model sees
one side of the variant only) and combined as `dnahnet.scoring.DEFAULT_STRAND` says (wording: STRAND_MEANING);
negative = the model finds the mutant less likely. Runs are cached per
checkpoint + sequence + input (`app.variant_runs`), so nothing is scored twice.
"""
import numpy as np
import streamlit as st

from app import components, results, variant_runs, viewport
from app.components import plain
from dnahnet.scoring import DEFAULT_STRAND, DEFAULT_WINDOW, STRAND_MEANING, table_for_csv
from dnahnet.variants import NOTATION_HELP, VariantError
from interpret import figures_variants as FV
from interpret.style import stage_label

a = components.require_analysis()
components.page_header(
    "Mutagenesis", a,
    "What does a mutation do, according to the model? Each variant is scored as the **log-likelihood ratio** of "
    "the mutant vs the reference window around it (nats; negative = less likely), read on both strands; the score "
    f"is {STRAND_MEANING[DEFAULT_STRAND]}. Score a list of variants, or change every base of a region or every codon "
    "of a gene.")

with st.expander("Scoring options", expanded=False):
    o1, o2 = st.columns(2)
    window = int(o1.number_input("Window (nt, centred on the variant)", min_value=64, max_value=8192,
                                 value=min(DEFAULT_WINDOW, max(64, a.length)), step=64, key="mut_window",
                                 help="Longer windows see more context and cost proportionally more."))
    boundaries = o2.toggle("Boundary response", value=False, key="mut_boundaries",
                           help="Also report where Stage 1 / Stage 2 chunk boundaries appear or vanish after each "
                                "change (positions before the change cannot move: the model is causal).")
SCORE_COLUMNS = ["variant", "nt_change", "gene", "residue", "aa_ref", "aa_alt", "codon_ref", "codon_alt",
                 "codon_changes", "score_plus", "score_minus", "score_mean", "score"]



def _inspect(sat, event, with_boundaries: bool) -> None:
    """One cell of the map in words: the change scored, both strands, and (with the boundary response) the chunk
    boundaries it makes appear or vanish. The cell is the one clicked, else the one picked here."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    what = "residue" if sat.kind == "cds" else "position"
    row_key, col_key = "mut_cell_row", "mut_cell_col"
    if points and "x" in points[0] and "y" in points[0]:
        x, y = points[0]["x"], points[0]["y"]
        if isinstance(y, (int, float)) and 0 <= int(y) < len(sat.columns):  # the map's rows are numbered
            y = sat.columns[int(y)]
        y = str(y)
        picked = (int(round(float(x))), y)
        if st.session_state.get("mut_cell_clicked") != picked and picked[0] in sat.rows and y in sat.columns:
            st.session_state["mut_cell_clicked"] = picked
            st.session_state[row_key], st.session_state[col_key] = picked
    if st.session_state.get(row_key) not in sat.rows:
        st.session_state.pop(row_key, None)
    if st.session_state.get(col_key) not in sat.columns:
        st.session_state.pop(col_key, None)
    with st.expander("One cell: the change and its boundary response", expanded=bool(points)):
        c1, c2 = st.columns(2)
        r = c1.selectbox(what.capitalize(), sat.rows, key=row_key)
        c = c2.selectbox("Base" if sat.kind != "cds" else "Amino acid", sat.columns, key=col_key)
        i, j = sat.rows.index(r), sat.columns.index(c)
        cell = sat.table[(sat.table["row"] == i) & (sat.table["col"] == j)]
        if cell.empty:
            st.caption("No change scored in this cell.")
            return
        cell = cell.iloc[0]
        if not cell["nt_change"]:
            st.caption(f"{what.capitalize()} {r}: {c} is the wild type (score 0).")
            return
        codon = (f" (codon {cell['codon_ref']} → {cell['codon_alt']})" if sat.kind == "cds" else "")
        st.markdown(f"**{plain(cell['nt_change'])}**{plain(codon)}: score {cell['score']:.3f} nats "
                    f"(+ strand {cell['score_plus']:.3f}, − strand {cell['score_minus']:.3f}).")
        if not with_boundaries:
            st.caption("Turn on **Boundary response** in the scoring options to see the chunk boundaries this change "
                       "moves.")
            return
        lines = []
        for s in range(1, 5):
            for d, name in (("plus", "+"), ("minus", "−")):
                gained, lost = cell.get(f"s{s}_gained_pos_{d}"), cell.get(f"s{s}_lost_pos_{d}")
                if gained is None and lost is None:
                    continue
                fmt = lambda v: ", ".join(f"{p:,}" for p in v) if isinstance(v, tuple) and v else "none"
                lines.append(f"- {stage_label(s - 1)}, {name} pass: gained {fmt(gained)}; lost {fmt(lost)}")
        st.markdown("\n".join(lines) or "No boundary columns for this model.")


# ---- a list of variants ----
st.subheader("Score variants")
c1, c2 = st.columns([3, 2])
typed = c1.text_area("Variants, one per line", key="mut_typed", height=140,
                     placeholder="1234A>G\nlacZ:H26Y\n2001_2003del\n1500_1501insTT",
                     help=NOTATION_HELP[0].upper() + NOTATION_HELP[1:] + ". Positions are 1-based on "
                          f"{plain(a.record_id)}.")
upload = c2.file_uploader("…or a VCF / variant list", type=["vcf", "gz", "txt", "csv", "tsv"], key="mut_file",
                          help="VCF: every ALT allele is scored (CHROM must name this record). Text: one variant a "
                               "line, '#' comments.")
go_score = c1.button("Score", type="primary", key="mut_score", icon=":material/play_arrow:")

specs, input_error = [], None
try:
    specs = variant_runs.parse_input(typed, upload.name if upload else None,
                                     upload.getvalue() if upload else None)
except VariantError as e:
    input_error = str(e)
if input_error:
    st.error(f"**The file cannot be read:** {plain(input_error)}")
elif specs:
    opts = {"window": window, "boundaries": boundaries}
    key = variant_runs.run_key(a, "variants", variant_runs.spec_identity(specs), opts)
    if go_score or variant_runs.has("variants", key):
        df = variant_runs.scored(a, specs, key, window, boundaries)
        bad = df[df["score"].isna()]
        ok = df[df["score"].notna()]
        if len(bad):
            rest = f" ({len(ok):,} other(s) scored below)" if len(ok) else ""
            st.error(f"**{len(bad)} variant(s) could not be scored**{rest}:\n\n"
                     + components.bullets(p or f"{v}: not scored" for v, p in zip(bad["variant"], bad["problem"])))
        if len(ok):
            extra = [c for c in ok.columns if c.startswith(("s1_", "s2_", "s3_"))]
            shown = table_for_csv(ok[[c for c in SCORE_COLUMNS + extra if c in ok.columns]])
            components.table(shown, f"{a.file_stem}_variant_scores", "mut_scores",
                             "score_plus / score_minus: log-likelihood ratio read on the + and − strand; "
                             f"score_mean: their mean; score = {STRAND_MEANING[DEFAULT_STRAND]} (nats; negative = "
                             "less likely). nt_change: the forward-strand change "
                             "scored; for amino-acid changes, the codon chosen (fewest changes from the wild type, "
                             "ties by this genome's codon usage)."
                             + (" s1_/s2_ columns: Stage 1/2 boundaries gained and lost after the change, per "
                                "strand (1-based positions)." if boundaries else ""),
                             hide_index=True)
            timing = df.attrs.get("timing", {})
            if timing:
                st.caption(f"{len(ok):,} variant(s), window {window:,} nt, "
                           f"{timing.get('forward_rows', 0):,} windows run.")
    else:
        st.caption(f"{len(specs):,} variant(s) read; press **Score**.")

# ---- saturation mutagenesis ----
st.subheader("Saturation mutagenesis")
mode = st.segmented_control("Mutate every", ["gene", "region"], default="gene", key="mut_mode",
                            format_func={"gene": "codon of a gene (× 21)", "region": "base of a region (× 4)"}.get)
mode = mode or "gene"
target, label, n_cells = None, "", 0
if mode == "gene":
    feats = results.annotation(a).features
    cds = feats[feats["type"] == "CDS"]
    query = st.text_input("Find a gene", key="mut_gene_query", placeholder="name, locus tag or product")
    if query:
        row = viewport.pick_feature(viewport.find_features(cds, query), query, "mut_gene_pick", noun="CDS")
        if row is not None:
            target = str(row.get("locus_tag") or row.get("name") or "")
            label = str(row.get("name") or target)
            n_cells = (int(row.end) - int(row.start)) // 3 * 21
            if not target:
                st.warning("This CDS has neither a gene name nor a locus tag to find it by.")
            elif n_cells // 21 > variant_runs.MAX_CDS_CODONS:
                st.warning(f"{plain(label)} has {n_cells // 21:,} codons; genes of up to "
                           f"{variant_runs.MAX_CDS_CODONS:,} codons are saturated here (the command line, "
                           "`python -m dnahnet.variants GENOME --saturate GENE`, has no limit).")
                target = None
else:
    r1, r2 = st.columns(2)
    lo, hi = a.span
    start = int(r1.number_input("From (1-based)", min_value=lo + 1, max_value=hi, value=lo + 1, key="mut_from"))
    end = int(r2.number_input("To (inclusive)", min_value=lo + 1, max_value=hi,
                              value=min(hi, lo + 300), key="mut_to"))
    if end < start:
        st.error("The region ends before it starts.")
    elif end - start + 1 > variant_runs.MAX_REGION_NT:
        st.warning(f"At most {variant_runs.MAX_REGION_NT:,} nt here ({end - start + 1:,} asked).")
    else:
        target, label, n_cells = (start - 1, end), f"{a.record_id}:{start:,}–{end:,}", (end - start + 1) * 4

if target is not None:
    opts = {"window": window, "boundaries": boundaries}
    key = variant_runs.run_key(a, "saturation", target, opts)
    go_sat = st.button(f"Run saturation ({n_cells:,} cells)", type="primary", key="mut_sat_run",
                       icon=":material/grid_on:")
    if go_sat or variant_runs.has("saturation", key):
        try:
            sat = variant_runs.saturation(a, target, key, window, boundaries, label)
        except (VariantError, ValueError) as e:
            st.error(f"**Saturation failed:** {plain(e)}")
            st.stop()
        colour = "score"
        if boundaries:
            choices = {"score": "log-likelihood ratio"}
            choices.update({f"churn{s}": FV.boundary_churn_label(s) for s in range(a.n_stages)})
            colour = st.segmented_control("Colour by", list(choices), default="score", key="mut_colour",
                                          format_func=choices.get) or "score"
        ticks = {}
        coords = variant_runs.genome(a).find_cds(target).coords if sat.kind == "cds" else None
        for stage in range(a.n_stages):
            for strand in a.strands:
                xs = FV.boundary_x(sat, a.strand_pass(strand).stages[stage].boundaries, coords)
                ticks[f"{stage_label(stage)}, {strand} pass"] = xs
        if colour == "score":
            fig = FV.saturation_heatmap(sat, boundaries=ticks)
        else:
            s = int(colour[5:])
            churn = sat.table.assign(_churn=FV.boundary_churn(sat.table, s))
            m = np.full((len(sat.rows), len(sat.columns)), np.nan)
            m[churn["row"].to_numpy(), churn["col"].to_numpy()] = churn["_churn"].to_numpy(float)
            fig = FV.saturation_heatmap(sat, values=m, label=FV.boundary_churn_label(s), boundaries=ticks)
        stem = f"{a.file_stem}_{components.slug(label)}_saturation"
        event = components.figure(
            fig, stem, "mut_heatmap",
            "Each cell: one change (hover for its score; click it for its details below); the outlined cell is the "
            "wild type (0). Top: mean effect of the changes at each position; ticks: where each stage of the model "
            "starts a chunk in the reference, per strand pass. Red = less likely than the reference.",
            on_select="rerun", selection_mode=("points",))
        _inspect(sat, event, boundaries)
        matrix = sat.frame().reset_index()
        components.table(matrix, f"{stem}_matrix", "mut_matrix",
                         "The heat map as a table: one row per " + ("residue" if sat.kind == "cds" else "position")
                         + ", one column per " + ("amino acid" if sat.kind == "cds" else "base") + ".",
                         hide_index=True, height=260)
        cells = table_for_csv(sat.table.drop(columns=["row", "col"]))
        components.table(cells, f"{stem}_cells", "mut_cells",
                         "Every cell with the change scored (codon chosen for amino-acid changes) and both strands.",
                         hide_index=True, height=260)
