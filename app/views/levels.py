"""Levels: Stage 1 and Stage 2 side by side — rates per class, profiles, chunk lengths and nesting."""
import pandas as pd
import streamlit as st

from app import components, results
from interpret import figures as F
from interpret.style import class_label, stage_label

a = components.require_analysis()
components.page_header(
    "Levels compared", a,
    "dnaHNet cuts twice: Stage 1 turns bases into chunks of ~3 nt, Stage 2 groups those into chunks of ~6 nt. "
    "Here the two levels are side by side: what each prefers, how long its chunks are, and how they nest.")
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
                  "Top left: fold enrichment per class for each stage (1 = no preference). Top right: chunk length "
                  "distributions. Bottom left: boundary rate around the chosen anchor. Bottom right: how many Stage 1 "
                  "chunks each Stage 2 chunk holds.")

st.subheader("Rates per class, stage by stage")
enr = report.enrichment.df
enr = enr[(enr["strand"] == strand) & (enr["n_positions"] > 0)]
wide = enr.pivot_table(index="class", columns="stage", values=["rate", "fold"], sort=False)
wide.columns = [f"{stage_label(s)} {v}" for v, s in wide.columns]
wide = wide[sorted(wide.columns, key=lambda c: (c.split()[1], c.split()[2] != "rate"))]
wide.index = [class_label(c) for c in wide.index]
wide.index.name = "class"
if {f"{stage_label(0)} fold", f"{stage_label(1)} fold"} <= set(wide.columns):
    wide[f"{stage_label(1)} ÷ {stage_label(0)} fold"] = wide[f"{stage_label(1)} fold"] / wide[f"{stage_label(0)} fold"]
components.table(wide.reset_index(), f"{name}_rates_by_stage", "lvl_rates",
                 "Boundary rate (share of positions starting a chunk) and fold over the pass's overall rate, per stage; "
                 "the last column shows which classes Stage 2 keeps more than Stage 1 does (> 1).", hide_index=True)

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
components.table(components.rows_for_strand(report.nesting.df, strand), f"{name}_nesting_table",
                 "lvl_nesting_table", report.nesting.description, hide_index=True)
summary = components.rows_for_strand(report.chunk_length_summary.df, strand)
components.table(summary.assign(**{"class": summary["class"].map(class_label)}) if len(summary) else pd.DataFrame(),
                 f"{name}_chunk_length_summary", "lvl_length_summary", report.chunk_length_summary.description,
                 hide_index=True)
components.track_downloads(a, "levels")
