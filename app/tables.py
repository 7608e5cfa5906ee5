"""Tables for people: what every table on the app's pages shows, from the machine tables of `interpret`.

Column names say what a value is and its unit; coordinates are 1-based and inclusive at both ends; stages read
"Stage 1" / "Stage 2" (code counts from 0); classes by their labels (`interpret.annotations.CLASS_LABELS`); passes
"+ pass" / "− pass" / "both passes"; p- and q-values as text that is never "0" (null p: `interpret.nulls.format_p`
through the `*_text` columns; analytic p: `analytic_p_text`). A rate always names what it counts over
(`interpret.style.rate_label`). The CSV download of a table is the table shown, so it carries the same headers.
No Streamlit here: the pages call these, and tests check them without a server.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from interpret.style import class_label, rate_basis, rate_label, stage_label

PASS_LABELS = {"+": "+ pass", "-": "− pass", "both": "both passes"}


def pass_label(strand) -> str:
    return PASS_LABELS.get(str(strand), str(strand))


def input_unit(stage: int) -> str:
    """'nucleotides' for Stage 1, 'Stage-1 chunk starts' for Stage 2: the positions a stage's rate counts over."""
    return "nucleotides" if int(stage) == 0 else f"{stage_label(int(stage) - 1).replace(' ', '-')} chunk starts"


def analytic_p_text(p) -> str:
    """An analytic p-value (χ²) as text: two significant digits, "< 1e-300" where it underflows to 0, "" for NaN."""
    if p is None or not np.isfinite(p):
        return ""
    return "< 1e-300" if p <= 0 else f"{p:.2g}"


def _percent(x) -> str:
    return "" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


# ---------------------------------------------------------------------------------------------- enrichment
def enrichment(enr: pd.DataFrame, stage: int) -> pd.DataFrame:
    """One stage's rows of the enrichment table (already cut to one pass): rate and fold with their basis named,
    95% intervals, z and the null p / q as text."""
    rate = rate_label(stage)
    unit = input_unit(stage)
    cols = {
        "class": "class", "n_positions": f"{unit} in the class", "n_boundaries": "boundaries",
        "rate": f"rate ({rate})", "rate_lo": "rate 95% CI low", "rate_hi": "rate 95% CI high",
        "fold": "fold (rate ÷ the stage's overall rate)", "fold_lo": "fold 95% CI low", "fold_hi": "fold 95% CI high",
        "shift_z": "z (circular shifts)", "p_shift_text": "p (circular shifts)", "q_shift_text": "q (circular shifts)",
        "perm_z": "z (permuted lengths)", "p_perm_text": "p (permuted lengths)",
        "q_perm_text": "q (permuted lengths)"}
    d = enr[[c for c in cols if c in enr.columns]].rename(columns=cols)
    d["class"] = d["class"].map(class_label)
    return d.reset_index(drop=True)


def rates_by_stage(per_nt: pd.DataFrame, strand: str) -> pd.DataFrame:
    """Levels: per class, each stage's boundaries per nucleotide and fold, Stage 2 per Stage-1 chunk start (the
    ratio of the two per-nucleotide rates), and Stage 2 fold ÷ Stage 1 fold. Input: the rows of
    `interpret.figures_stats.per_nucleotide_enrichment`."""
    d = per_nt[(per_nt["strand"] == strand) & (per_nt["n_positions"] > 0)]
    stages = sorted(d["stage"].unique())
    classes = list(dict.fromkeys(d["class"]))
    out = pd.DataFrame({"class": [class_label(c) for c in classes]})
    by = {s: d[d["stage"] == s].set_index("class").reindex(classes) for s in stages}
    for s in stages:
        out[f"{rate_label(s, per_nucleotide=True)} (%)"] = 100 * by[s]["rate"].to_numpy(float)
        out[f"{stage_label(s)} fold (per nucleotide)"] = by[s]["fold"].to_numpy(float)
    for s in stages[1:]:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{rate_label(s)} (%)"] = 100 * (by[s]["rate"].to_numpy(float) / by[s - 1]["rate"].to_numpy(float))
            out[f"{stage_label(s)} fold ÷ {stage_label(s - 1)} fold"] = (by[s]["fold"].to_numpy(float)
                                                                        / by[s - 1]["fold"].to_numpy(float))
    return out


def codon_tests(df: pd.DataFrame) -> pd.DataFrame:
    """χ², MI and spread of the codon-position profile, per stage and pass, with the paper's Stage 1 beside."""
    rows = []
    for _, r in df.iterrows():
        s = int(r["stage"])
        row = {"stage": stage_label(s), "pass": pass_label(r["strand"]),
               f"{input_unit(s)} in CDS": int(r["n_positions"]), "boundaries per": rate_basis(s).removeprefix("per ")}
        for k in (1, 2, 3):
            row[f"codon position {k} (%)"] = 100 * float(r[f"rate_pos{k}"])
        row.update({"χ² (2 dof)": float(r["chi2"]), "p (χ²)": analytic_p_text(float(r["p_chi2"])),
                    "MI (bits)": float(r["mi_bits"]),
                    "spread (max − min, percentage points)": 100 * float(r["spread"])})
        for k in (1, 2, 3):
            v = r.get(f"paper_pos{k}", np.nan)
            row[f"paper Stage 1, position {k}"] = _percent(float(v)) if pd.notna(v) else ""
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per chunker (both passes): overall rate, codon spread and MI, significant classes, fold per class — all per
    nucleotide."""
    if df is None or df.empty:
        return pd.DataFrame()
    cols = {"chunker": "chunker", "global_rate": "overall rate (boundaries per nucleotide, %)",
            "codon_spread": "codon-position spread (percentage points)", "codon_mi_bits": "codon-position MI (bits)",
            "n_significant": "classes with q < 0.05 (circular shifts)"}
    out = df.rename(columns=cols)
    for c in ("overall rate (boundaries per nucleotide, %)", "codon-position spread (percentage points)"):
        out[c] = 100 * out[c]
    return out.rename(columns={c: f"fold per nucleotide: {class_label(c.removeprefix('fold_'))}"
                               for c in df.columns if c.startswith("fold_")})


def periodicity(df: pd.DataFrame) -> pd.DataFrame:
    if df is None or df.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "stage": df["stage"].map(stage_label), "pass": df["strand"].map(pass_label),
        "CDS windows": df["n_windows"], "window (nt)": df["window"],
        "power at period 3 nt": df["power_period3"], "median power": df["median_power"],
        "power at 3 nt ÷ median": df["ratio_period3"], "strongest period (nt)": df["peak_period"]})


def nesting(df: pd.DataFrame) -> pd.DataFrame:
    if df is None or df.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "stages": df["label"], "pass": df["strand"].map(pass_label),
        "coarser-stage boundaries": df["n_boundaries"], "of them also finer-stage boundaries": df["n_nested"],
        "share nested (1 by construction)": df["fraction_nested"],
        "finer-stage chunks per coarser chunk (mean)": df["mean_finer_chunks_per_chunk"]})


def chunk_length_summary(df: pd.DataFrame) -> pd.DataFrame:
    if df is None or df.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "stage": df["stage"].map(stage_label), "pass": df["strand"].map(pass_label),
        "class of the chunk's first base": [("All chunks" if c == "all" else class_label(c)) for c in df["class"]],
        "chunks": df["n_chunks"], "mean length (nt)": df["mean"], "sd (nt)": df["sd"],
        "10th percentile (nt)": df["q10"], "median (nt)": df["median"], "90th percentile (nt)": df["q90"],
        "longest (nt)": df["max"], "share of 3-nt chunks (%)": 100 * df["frac_len3"]})


# ---------------------------------------------------------------------------------------------- coordinates
def chunks(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of `interpret.exports.chunk_table` (0-based half-open) for people: 1-based inclusive span, the base
    where the chunk starts in its pass's reading order (1-based: the first base on +, the last on −), Stage 1/2."""
    cols = ["record", "pass", "stage", "chunk # (reading order)", "start (1-based)", "end (1-based, inclusive)",
            "length (nt)", "starts at base (1-based, reading order)", "router p there"]
    if df is None or df.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame({
        "record": df["record_id"], "pass": df["strand"].map(pass_label), "stage": df["stage"].map(stage_label),
        "chunk # (reading order)": df["index"], "start (1-based)": df["start"] + 1,
        "end (1-based, inclusive)": df["end"],
        "length (nt)": df["end"] - df["start"], "starts at base (1-based, reading order)": df["boundary"] + 1,
        "router p there": df["p"].astype(float)})
    return out[cols].reset_index(drop=True)


def latent_chunks(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of `interpret.latents.chunk_table` for people (1-based inclusive spans, class labels, GC in %)."""
    return pd.DataFrame({
        "record": df["record"], "pass": df["strand"].map(pass_label), "stage": df["stage"].map(stage_label),
        "chunk # (reading order)": df["chunk"] + 1, "start (1-based)": df["start"] + 1,
        "end (1-based, inclusive)": df["end"], "length (nt)": df["length"],
        "class of the first base": df["class"].map(class_label),
        "codon position of the first base": [str(int(c)) if int(c) else "–" for c in df["codon_pos"]],
        "GC (%)": 100 * df["gc"].astype(float), "sequence (as read in the pass)": df["sequence"]})


# (the Latents page's selection: tables of `interpret.latents.selection_summary` and `nearest_chunks`)
def latent_selection_classes(df: pd.DataFrame) -> pd.DataFrame:
    """Class make-up of a selection against all chunks of the stage: counts, shares, fold, Fisher p and BH q as text
    (never "0")."""
    return pd.DataFrame({
        "class of the first base": df["class"].map(_start_class), "selected chunks": df["n_selected"],
        "all chunks": df["n_all"], "share of the selection (%)": 100 * df["share_selected"],
        "share of all chunks (%)": 100 * df["share_all"], "fold (selection share ÷ all share)": df["fold"],
        "p (Fisher exact, two-sided)": [analytic_p_text(float(p)) for p in df["p_fisher"]],
        "q (BH, across the classes)": [analytic_p_text(float(q)) for q in df["q_bh"]]}).reset_index(drop=True)


def latent_selection_lengths(df: pd.DataFrame) -> pd.DataFrame:
    """Chunk lengths of the selection beside all chunks of the stage."""
    return pd.DataFrame({
        "chunks": df["group"].map({"selected": "Selected", "all": "All chunks of the stage"}),
        "number": df["n"], "mean length (nt)": df["mean"], "median (nt)": df["median"],
        "10th percentile (nt)": df["q10"], "90th percentile (nt)": df["q90"], "longest (nt)": df["max"],
        "share of 3-nt chunks (%)": 100 * df["share_len3"]}).reset_index(drop=True)


def latent_selection_strings(df: pd.DataFrame) -> pd.DataFrame:
    """The commonest chunk strings of a selection, with their counts in the selection and in all chunks."""
    return pd.DataFrame({
        "rank": df["rank"], "string (as read in its pass, 5′→3′)": df["string"], "length (nt)": df["length"],
        "selected chunks": df["n_selected"], "share of the selection (%)": 100 * df["share_selected"],
        "all chunks": df["n_all"], "share of all chunks (%)": 100 * df["share_all"]}).reset_index(drop=True)


def latent_neighbours(neighbours: pd.DataFrame, table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """`interpret.latents.nearest_chunks` rows joined to their chunks (1-based inclusive spans, class labels)."""
    rows = table.iloc[neighbours["row"].to_numpy()].reset_index(drop=True)
    out = latent_chunks(rows)
    out.insert(0, f"{metric} distance (latent vectors)", neighbours["distance"].to_numpy(float))
    out.insert(0, "rank", neighbours["rank"].to_numpy())
    return out


def features(df: pd.DataFrame) -> pd.DataFrame:
    """Annotated features (0-based half-open, strand ±1) for people: 1-based inclusive span, strand + / −."""
    return pd.DataFrame({
        "type": df["type"], "start (1-based)": df["start"] + 1, "end (1-based, inclusive)": df["end"],
        "length (nt)": df["end"] - df["start"],
        "strand": [{1: "+", -1: "−"}.get(int(np.sign(v)), "·") for v in df["strand"]],
        "name": df.get("name", ""), "locus tag": df.get("locus_tag", ""), "product": df.get("product", "")})


# ---------------------------------------------------------------------------------------------- vocabulary
# (the Vocabulary page: tables of `interpret.vocabulary.chunk_vocabulary` and `interpret.logos`)
def _start_class(cls: str) -> str:
    return "No class on this strand" if cls == "none" else class_label(cls)


def vocabulary_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per stage: chunks, distinct strings and entropy beside the two baselines with the model's chunk lengths."""
    if df is None or df.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "stage": df["stage"].map(stage_label), "chunks": df["n_chunks"], "distinct strings": df["vocabulary_size"],
        "entropy (bits)": df["entropy_bits"], "k-mer baseline: entropy (bits)": df["kmer_entropy_bits"],
        "lengths shuffled: entropy (bits)": df["shuffled_entropy_bits"],
        "k-mer baseline: distinct strings": df["kmer_vocabulary_size"],
        "lengths shuffled: distinct strings (mean of draws)": df["shuffled_vocabulary_size"],
        "mean chunk length (nt)": df["mean_length"],
        "share of chunks in the frequent strings (%)": 100 * df["top_share"],
        "Zipf slope (ranks 1–1,000)": df["zipf_slope"], "k-mer baseline: Zipf slope": df["kmer_zipf_slope"],
        "chunks longer than the longest k-mer counted (%)": 100 * df["share_longer_than_max_k"]})


def vocabulary_top(df: pd.DataFrame, stage: int) -> pd.DataFrame:
    """One stage's most frequent chunk strings: counts, share, consistency (share of the string's occurrences cut as
    exactly one chunk) and the classes their chunks start in."""
    d = df[df["stage"] == stage]
    return pd.DataFrame({
        "rank": d["rank"], "string (as read in its pass, 5′→3′)": d["string"], "length (nt)": d["length"],
        "chunks": d["count"], "share of the stage's chunks (%)": 100 * d["share"],
        "occurrences in the sequence": d["n_occurrences"], "of them cut as exactly one chunk": d["n_exact"],
        "of them with a boundary inside": d["n_split"],
        "consistency (% of occurrences cut as one chunk)": 100 * d["consistency"].astype(float),
        "chunks start in: class share (× fold)": d["start_classes"]}).reset_index(drop=True)


def vocabulary_classes(df: pd.DataFrame, stage: int) -> pd.DataFrame:
    """One stage's frequent strings class by class: where their chunks start against all the stage's chunks, with
    Fisher's exact p and the BH q as text (never "0")."""
    d = df[df["stage"] == stage]
    return pd.DataFrame({
        "rank": d["rank"], "string": d["string"], "class of the chunk's first base": d["class"].map(_start_class),
        "chunks of the string": d["n_string"], "of them starting in the class": d["n_in_class"],
        "share of the string's chunks (%)": 100 * d["share_in_class"],
        "share of all the stage's chunks (%)": 100 * d["stage_share_in_class"],
        "fold (share ÷ the stage's share)": d["fold"],
        "p (Fisher exact, two-sided)": [analytic_p_text(float(p)) for p in d["p_fisher"]],
        "q (BH, across the table)": [analytic_p_text(float(q)) for q in d["q_bh"]]}).reset_index(drop=True)


def logo_sites(logos) -> pd.DataFrame:
    """Per boundary logo: stage, group of sites, sites, and the most informative position with its commonest base."""
    from interpret.report import logo_summary

    d = logo_summary(logos)
    if d.empty:
        return d
    return pd.DataFrame({
        "stage": d["stage"], "sites": d["sites"], "number of sites": d["n"],
        "most informative position (0 = first base of the chunk)": d["most informative position"],
        "information there (bits)": d["bits there"], "commonest base there": d["most frequent base there"],
        "its frequency (%)": 100 * d["its frequency"]})


def logo_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of `interpret.logos.logo_table` (every logo, position and base) for people."""
    return pd.DataFrame({
        "stage": df["stage_label"], "sites": df["group_label"], "number of sites": df["n_sites"],
        "position (0 = first base of the chunk, reading direction)": df["position"], "base": df["base"],
        "count": df["count"], "probability": df["probability"], "bits (letter height)": df["bits"],
        "background probability": df["background"]}).reset_index(drop=True)
