"""What the loaded checkpoint measurably does, read from its own files, beside what the dnaHNet paper reports.

The About page states a finding about the model only from these files, written when the checkpoint was made:
held-out bits per nucleotide against order-k Markov baselines and the compression of each router
(`heldout_bits.csv`, from `python -m dnahnet.evaluate`), the codon-position boundary rates in E. coli
(`ecoli_codon_positions.csv` or `ecoli-k12/codon_tests.csv`) and the Stage 2 rates per class
(`ecoli-k12/paper_comparison.csv`, else `ecoli-k12/enrichment.csv`), all from `python -m interpret.report`. The
paper's numbers (`interpret.stats.PAPER_REFERENCE`) appear only as the paper's. A file that is absent or
unreadable gives "not measured", never a number. No Streamlit here: the page renders these tables.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from interpret.stats import PAPER_REFERENCE

CODON_FILES = ("ecoli_codon_positions.csv", "ecoli-k12/codon_tests.csv")
STAGE2_FILES = ("ecoli-k12/paper_comparison.csv", "ecoli-k12/enrichment.csv")
PAPER = "Shah et al. 2026, B. subtilis"
NOT_MEASURED = "not measured"


def _read_csv(directory, name: str) -> pd.DataFrame | None:
    path = Path(directory) / name
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (ValueError, OSError):
        return None


def _first(directory, names) -> tuple[pd.DataFrame | None, str]:
    for name in names:
        df = _read_csv(directory, name)
        if df is not None and len(df):
            return df, name
    return None, ""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _paper(stage: int, quantity: str) -> float:
    return next(p for s, q, _, p in PAPER_REFERENCE if s == stage and q == quantity)


def heldout(directory) -> pd.DataFrame | None:
    """heldout_bits.csv for people: genome, nt scored, dnaHNet and best-Markov bits/nt, their difference, the
    compression (input positions per chunk) of each router; None when the checkpoint has no such file."""
    df = _read_csv(directory, "heldout_bits.csv")
    need = {"genome", "dnahnet_bits_per_nt", "markov_best_bits_per_nt"}
    if df is None or not need <= set(df.columns):
        return None
    out = pd.DataFrame({"held-out genome": df["genome"].astype(str)})
    if "nt_scored" in df:
        out["nucleotides scored"] = df["nt_scored"]
    out["dnaHNet (bits/nt)"] = df["dnahnet_bits_per_nt"].astype(float)
    k = df["markov_best_k"].astype(str) if "markov_best_k" in df else "?"
    out["best Markov model (bits/nt)"] = df["markov_best_bits_per_nt"].astype(float)
    out["its order k"] = k
    out["dnaHNet − best Markov (bits/nt)"] = out["dnaHNet (bits/nt)"] - out["best Markov model (bits/nt)"]
    for s in (0, 1):
        if f"compression_stage{s}" in df:
            out[f"Stage {s + 1} compression (input positions per chunk)"] = df[f"compression_stage{s}"].astype(float)
    return out


def codon_rates(directory) -> tuple[dict[int, tuple[float, float, float]], str]:
    """({code stage: (rate at codon position 1, 2, 3)} pooled over both passes, the file read) in E. coli CDS."""
    df, name = _first(directory, CODON_FILES)
    if df is None or not {"stage", "strand", "rate_pos1", "rate_pos2", "rate_pos3"} <= set(df.columns):
        return {}, ""
    both = df[df["strand"].astype(str) == "both"]
    return {int(r["stage"]): (float(r["rate_pos1"]), float(r["rate_pos2"]), float(r["rate_pos3"]))
            for _, r in both.iterrows()}, name


def stage2_rates(directory) -> tuple[dict[str, tuple[float, float]], str]:
    """({paper quantity: (Stage 2 rate per Stage-1 chunk start, its 95% lower bound)}, the file read), pooled over
    both passes; "global" is the overall rate (its lower bound NaN)."""
    df, name = _first(directory, STAGE2_FILES)
    if df is None or "stage" not in df.columns:
        return {}, ""
    out = {}
    if "quantity" in df.columns:  # paper_comparison.csv
        for _, r in df[df["stage"] == 1].iterrows():
            out[str(r["quantity"])] = (float(r["rate"]), float(r.get("rate_lo", np.nan)))
        return out, name
    d = df[(df["stage"] == 1) & (df["strand"].astype(str) == "both")]
    if "n_positions" in d.columns:
        d = d[d["n_positions"] > 0]
    if len(d) and "global_rate" in d.columns:
        out["global"] = (float(d["global_rate"].iloc[0]), np.nan)
    names = {"start_codon": "start codon", "stop_codon": "stop codon", "intergenic": "intergenic"}
    for _, r in d.iterrows():
        if r["class"] in names:
            out[names[r["class"]]] = (float(r["rate"]), float(r.get("rate_lo", np.nan)))
    return out, name


def findings(directory) -> pd.DataFrame:
    """The paper's findings, each beside this checkpoint's measured number and whether it holds here
    ("yes" / "no" / "not measured"), with the file the number comes from."""
    rows = []
    codon, codon_file = codon_rates(directory)
    paper1 = tuple(_paper(0, f"codon position {k}") for k in (1, 2, 3))
    paper_text = " / ".join(_pct(v) for v in paper1)
    s1 = codon.get(0)
    measured = " / ".join(_pct(v) for v in s1) if s1 else NOT_MEASURED
    rows.append({"finding": "Stage 1 starts chunks least often at codon position 1 (rates at positions 1 / 2 / 3)",
                 "paper": paper_text, "this checkpoint": measured,
                 "holds here": NOT_MEASURED if not s1 else "yes" if s1[0] < min(s1[1:]) else "no",
                 "from": codon_file})
    favourite = int(np.argmax(s1)) + 1 if s1 else 0
    rows.append({"finding": "Stage 1's favourite chunk start is codon position 3",
                 "paper": f"position 3 ({_pct(paper1[2])})",
                 "this checkpoint": f"position {favourite} ({_pct(s1[favourite - 1])})" if s1 else NOT_MEASURED,
                 "holds here": NOT_MEASURED if not s1 else "yes" if favourite == 3 else "no", "from": codon_file})
    s2, s2_file = stage2_rates(directory)
    overall = s2.get("global", (np.nan, np.nan))[0]
    paper_overall = _paper(1, "global")
    for quantity, what in (("start codon", "start codons"), ("promoter", "promoters (−35, −10, TSS)"),
                           ("intergenic", "intergenic DNA")):
        paper = _paper(1, quantity)
        rate, lo = s2.get(quantity, (np.nan, np.nan))
        known = np.isfinite(rate) and np.isfinite(overall)
        bound = lo if np.isfinite(lo) else rate  # the interval's lower end clears the overall rate
        rows.append({"finding": f"Stage 2 prefers {what} (boundaries per Stage-1 chunk start, against the overall "
                                "rate)",
                     "paper": f"{_pct(paper)} vs {_pct(paper_overall)} (×{paper / paper_overall:.2f})",
                     "this checkpoint": f"{_pct(rate)} vs {_pct(overall)} (×{rate / overall:.2f})" if known
                     else NOT_MEASURED,
                     "holds here": NOT_MEASURED if not known else "yes" if bound > overall else "no",
                     "from": s2_file if known else ""})
    return pd.DataFrame(rows)


def beats_markov(table: pd.DataFrame | None) -> tuple[int, int]:
    """(held-out genomes where dnaHNet scores fewer bits/nt than the best Markov model, genomes scored)."""
    if table is None or table.empty:
        return 0, 0
    return int((table["dnaHNet − best Markov (bits/nt)"] < 0).sum()), len(table)
