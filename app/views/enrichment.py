"""Enrichment: where each stage puts its boundaries, per class of nucleotide, against nulls and baseline chunkers."""
import streamlit as st

from app import components, results, tables
from interpret import figures as F
from interpret.nulls import NULL_KEEPS, p_floor_text
from interpret.style import rate_label, stage_label

a = components.require_analysis()
components.page_header(
    "Boundary enrichment", a,
    "Is a chunk boundary more (or less) likely in a start codon, at codon position 3, in a promoter…? Each class is "
    "compared with the genome-wide boundary rate, with nulls that keep the chunk lengths and with trivial chunkers. "
    f"Two rates appear, each named where it is used: **{rate_label(0)}**, and for Stage 2 either "
    f"**{rate_label(1)}** (the enrichment charts and tables, the paper's convention: about half of the Stage-1 "
    f"chunks start a Stage-2 chunk) or **{rate_label(1, per_nucleotide=True)}** (baselines, metagene, "
    "periodicity: about one base in six).")
report = results.boundary_report(a)

c1, c2 = st.columns([2, 3])
strand = c1.segmented_control("Strand passes", ["both", "+", "-"], default="both", key="enr_strand",
                              format_func=lambda d: {"both": "Both", "+": "+ pass", "-": "− pass"}[d],
                              help="Each pass is scored against the genes of its own strand; 'both' pools them.")
strand = strand or "both"
null = c2.segmented_control("Significance from", ["q_shift", "q_perm"], default="q_shift", key="enr_null",
                            format_func={"q_shift": "circular shifts", "q_perm": "permuted chunk lengths"}.get)
null = null or "q_shift"
c2.caption(NULL_KEEPS["shift"] + " " + NULL_KEEPS["perm"] + " Both act on the stage's input (for Stage 2, the "
           "Stage 1 chunk starts).")
name = f"{a.file_stem}_{strand if strand != 'both' else 'both'}"

enr = report.enrichment.df
draws = report.settings.get("n_null" if null == "q_shift" else "n_perm", 0)
floor_note = (f" With {draws:,} null draws p cannot go below {p_floor_text(draws)}: the tables write such a p, "
              "and the q made from it, as \"≤ …\" and the stars stop growing there; read the strength from the "
              "fold and from z = (observed − null mean) ÷ null sd (hover, tables)." if draws else "")
st.subheader("Fold enrichment per class")
components.figure(F.enrichment_bars(enr, "fold", strand, q_col=null), f"{name}_enrichment_fold", "enr_fold",
                  "Bar = boundary rate in the class ÷ the pass's overall rate (1 = no preference), 95% "
                  f"block-bootstrap interval; {rate_label(0)}, {rate_label(1)}; stars = BH-adjusted empirical q "
                  "of the chosen null (* < 0.05, "
                  "** < 0.01, *** < 0.001)."
                  + floor_note)

st.subheader("Boundary rate per class")
components.figure(F.enrichment_bars(enr, "rate", strand, q_col=null), f"{name}_enrichment_rate", "enr_rate",
                  "Share of the positions of each class where a chunk starts (Wilson 95% interval); dotted line: the "
                  f"stage's overall rate. Stage 1: {rate_label(0)}. Stage 2: {rate_label(1)} — only positions "
                  "where Stage 1 put a boundary count.")

st.subheader("Tables: rates, intervals, z and null p-values")
tabs = st.tabs([stage_label(s) for s in range(a.n_stages)])
for s, tab in enumerate(tabs):
    with tab:
        d = tables.enrichment(enr[(enr["stage"] == s) & (enr["strand"] == strand) & (enr["n_positions"] > 0)], s)
        components.table(d, f"{name}_{stage_label(s).replace(' ', '')}_enrichment", f"enr_table_{s}",
                         report.enrichment.description + f" Rates here: {rate_label(s)}. Classes absent from this "
                         "record are left out.", hide_index=True)

st.subheader("Against baseline chunkers")
if len(report.baselines.df):
    components.figure(F.baseline_bars(report.baselines.df, "fold", strand), f"{name}_baselines", "enr_baselines",
                      "The model's stages beside chunkers that know no biology: fixed 3 nt and 6 nt (random phase) and "
                      "random cuts with the model's own chunk lengths. If the model only matches them, it learned "
                      "chunk lengths, not biology. Every chunker is counted per nucleotide here, so the model's "
                      f"Stage 2 is {rate_label(1, per_nucleotide=True)} (not per Stage-1 chunk start as above).")
    components.table(tables.baseline_summary(report.baseline_summary.df), f"{a.file_stem}_baseline_summary",
                     "enr_baseline_summary", report.baseline_summary.description + " All per nucleotide.",
                     hide_index=True)
else:
    st.caption("Baseline chunkers were not computed for this analysis.")

st.subheader("Codon positions")
components.figure(F.codon_position_bars(report.codon_profile.df, report.codon_tests.df, strand),
                  f"{name}_codon_positions", "enr_codon",
                  "Boundary rate at codon positions 1, 2 and 3 inside genes, each pass with its own strand's genes "
                  f"({rate_label(0)}; {rate_label(1)}); diamonds: the paper's Stage 1 (6.5 / 42.6 / 58.4 %, "
                  "B. subtilis).")
components.table(tables.codon_tests(components.rows_for_strand(report.codon_tests.df, strand)),
                 f"{name}_codon_tests", "enr_codon_tests", report.codon_tests.description, hide_index=True)

st.subheader("Metagene profiles")
if len(report.metagene.df):
    components.figure(F.metagene_profiles(report.metagene.df), f"{a.file_stem}_metagene", "enr_metagene",
                      "Boundaries per nucleotide, every stage, at each distance (−150..+150 nt) from start codons, "
                      "stop codons and TSS, read in the gene's direction, with a bootstrap 95% band; dotted: the "
                      "stage's genome-wide rate per nucleotide. n "
                      "counts the anchors inside the analysed region, and only they are resampled for the band.")
else:
    st.caption("No anchors (start codons, stop codons, TSS) in this record, so no metagene profile.")

st.subheader("Periodicity")
if len(report.periodicity_spectrum.df):
    components.figure(F.periodicity_spectrum(report.periodicity_spectrum.df, report.periodicity.df, strand),
                      f"{name}_periodicity", "enr_periodicity",
                      "Power spectrum of each stage's boundaries per nucleotide inside genes: a peak at period 3 "
                      "means boundaries keep the reading frame; the legend gives power(3) ÷ median power.")
    components.table(tables.periodicity(components.rows_for_strand(report.periodicity.df, strand)),
                     f"{name}_periodicity_table",
                     "enr_periodicity_table", report.periodicity.description, hide_index=True)
else:
    st.caption("No genes long enough for a spectrum in this record.")

if report.problems:
    with st.expander(f"Notes on these statistics ({len(report.problems)})"):
        st.markdown(components.bullets(report.problems))
st.caption("Settings: " + ", ".join(f"{k} = {v}" for k, v in report.settings.items()))
components.track_downloads(a, "enrichment")
