"""Levels: Stage 1 and Stage 2 side by side — rates per class, profiles, chunk lengths and nesting."""
import streamlit as st

from app import components, results, tables
from interpret import figures as F
from interpret.figures_stats import per_nucleotide_enrichment
from interpret.style import rate_label

a = components.require_analysis()
components.page_header(
    "Levels compared", a,
    "dnaHNet cuts twice: Stage 1 turns bases into chunks of ~3 nt, Stage 2 groups those into chunks of ~6 nt. "
    "Here the two levels are side by side: what each prefers, how long its chunks are, and how they nest.\n\n"
    f"**Every rate on this page is per nucleotide** ({rate_label(0)}, {rate_label(1, per_nucleotide=True)}), so "
    "Stage 2 never exceeds Stage 1; the Enrichment page counts Stage 2 per Stage-1 chunk start instead (the "
    "share of Stage-1 chunks that also start a Stage-2 chunk, about 50%), and the table below gives both.")
if a.n_stages < 2:
    st.info("This model has a single stage: there is nothing to compare.")
    st.stop()
report = results.boundary_report(a)

c1, c2 = st.columns(2)
strand = c1.segmented_control("Strand passes", ["both", "+", "-"], default="both", key="lvl_strand",
                              format_func=lambda d: {"both": "Both", "+": "+ pass", "-": "− pass"}[d]) or "both"
anchors = sorted(set(report.metagene.df["anchor"])) if len(report.metagene.df) else []
if st.session_state.get("lvl_anchor") not in anchors:  # chosen for another genome
    st.session_state.pop("lvl_anchor", None)
anchor = c2.segmented_control("Profile around", anchors, default=anchors[0] if anchors else None, key="lvl_anchor",
                              format_func=F.ANCHOR_LABELS.get) if anchors else None
name = f"{a.file_stem}_{strand}"

components.figure(F.levels_comparison(report, strand, anchor or "start_codon"), f"{name}_levels", "lvl_overview",
                  "Top left: fold enrichment per class for each stage, boundaries per nucleotide (1 = no "
                  "preference). Top right: chunk length distributions. Bottom left: boundaries per nucleotide around "
                  "the chosen anchor. Bottom right: how many Stage 1 chunks each Stage 2 chunk holds.")

st.subheader("Rates per class, stage by stage")
per_nt = per_nucleotide_enrichment(report.enrichment.df, report.baselines.df)
components.table(tables.rates_by_stage(per_nt, strand), f"{name}_rates_by_stage", "lvl_rates",
                 "Per class: the share of its nucleotides where each stage starts a chunk, and the fold over the "
                 f"stage's overall rate per nucleotide. {rate_label(1)} = Stage 2 per nucleotide ÷ Stage 1 per "
                 "nucleotide (the Enrichment page's Stage 2 rate); the last column, Stage 2 fold ÷ Stage 1 fold, "
                 "shows which classes Stage 2 keeps more than Stage 1 does (> 1).", hide_index=True)

st.subheader("Chunk lengths")
components.figure(F.chunk_length_hist(report.chunk_lengths.df, strand,
                                      classes=("all", "cds_pos3", "start_codon", "intergenic")),
                  f"{name}_chunk_lengths", "lvl_lengths",
                  "Fraction of chunks of each length, per stage, by the class of the chunk's first base "
                  "(all chunks, codon position 3, start codons, intergenic).")
st.subheader("Nesting")
if len(report.nesting_counts.df):
    components.figure(F.nesting_counts_bars(report.nesting_counts.df, strand), f"{name}_nesting", "lvl_nesting",
                      "Every Stage 2 boundary is a Stage 1 boundary; bars: how many Stage 1 chunks a Stage 2 "
                      "chunk holds.")
components.table(tables.nesting(components.rows_for_strand(report.nesting.df, strand)), f"{name}_nesting_table",
                 "lvl_nesting_table", report.nesting.description, hide_index=True)
components.table(tables.chunk_length_summary(components.rows_for_strand(report.chunk_length_summary.df, strand)),
                 f"{name}_chunk_length_summary", "lvl_length_summary", report.chunk_length_summary.description,
                 hide_index=True)
components.track_downloads(a, "levels")
