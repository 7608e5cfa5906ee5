"""What the loaded checkpoint measurably does, read from its own files, beside what the dnaHNet paper reports.

The About page states a finding about the model only from these files, written when the checkpoint was made:
held-out bits per nucleotide against order-k Markov baselines and the compression of each router
(`heldout_bits.csv`, from `python -m dnahnet.evaluate`), the codon-position boundary rates in E. coli
(`ecoli_codon_positions.csv` or `ecoli-k12/codon_tests.csv`) and the Stage 2 rates per class
(`ecoli-k12/paper_comparison.csv`, else `ecoli-k12/enrichment.csv`), all from `python -m interpret.report`, and
the zero-shot essentiality AUROC (`essentiality_auroc.csv`, from `python -m dnahnet.variants --essentiality
--summary`). A whole-genome report kept in docs/results/<genome>/ counts too when its README names this
checkpoint's file hash (the same weights and config): the bundled checkpoint's Stage 2 numbers live there. The
paper's numbers (`interpret.stats.PAPER_REFERENCE`) appear only as the paper's. A file that is absent or
unreadable gives "not measured", never a number. No Streamlit here: the page renders these tables.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from dnahnet.checkpoint import checkpoint_hash
from interpret.stats import PAPER_REFERENCE

CODON_FILES = ("ecoli_codon_positions.csv", "ecoli-k12/codon_tests.csv")
STAGE2_FILES = ("ecoli-k12/paper_comparison.csv", "ecoli-k12/enrichment.csv")
ZERO_SHOT_FILES = ("essentiality_auroc.csv", "ecoli-k12/essentiality_auroc.csv")
REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "docs" / "results"  # <genome>/README.md (names the checkpoint) + tables/*.csv
REPORT_FILES = {CODON_FILES: "codon_tests.csv", STAGE2_FILES: "paper_comparison.csv"}  # their names in tables/
FILE_HASH = re.compile(r"file hash ([0-9a-f]{12,16})")
PAPER = "Shah et al. 2026, B. subtilis"
NOT_MEASURED = "not measured"
WEAKLY = "weakly"  # above the overall rate (its 95% interval clears it), by under half the paper's excess


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (ValueError, OSError):
        return None


def kept_reports(directory, results_dir: Path | None = None) -> list[Path]:
    """The tables/ folders of the reports in `results_dir` whose README names this checkpoint's file hash
    (`dnahnet.checkpoint.checkpoint_hash`: weights + config), so were measured on this very model."""
    try:
        mine = checkpoint_hash(directory)
    except (OSError, ValueError):
        return []
    found = []
    for readme in sorted(Path(results_dir or RESULTS_DIR).glob("*/README.md")):
        named = FILE_HASH.findall(readme.read_text(errors="replace"))
        if any(mine.startswith(h) for h in named) and (readme.parent / "tables").is_dir():
            found.append(readme.parent / "tables")
    return found


def _first(directory, names) -> tuple[pd.DataFrame | None, str]:
    """The first non-empty table among `names` in the checkpoint's folder, else the same table of a kept report of
    this checkpoint; with the file it came from (relative to the folder, or to the repository)."""
    paths = [(Path(directory) / name, name) for name in names]
    if names in REPORT_FILES:
        for tables in kept_reports(directory):
            path = tables / REPORT_FILES[names]
            shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
            paths.append((path, str(shown)))
    for path, shown in paths:
        df = _read_csv(path)
        if df is not None and len(df):
            return df, shown
    return None, ""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _paper(stage: int, quantity: str) -> float:
    return next(p for s, q, _, p in PAPER_REFERENCE if s == stage and q == quantity)


def heldout(directory) -> pd.DataFrame | None:
    """heldout_bits.csv for people: genome, nt scored, dnaHNet and best-Markov bits/nt, their difference, the
    compression (input positions per chunk) of each router; None when the checkpoint has no such file."""
    df = _read_csv(Path(directory) / "heldout_bits.csv")
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
    ("yes" / "weakly" / "no" / "not measured"), with the file the number comes from and a short name ("in short")."""
    rows = []
    codon, codon_file = codon_rates(directory)
    paper1 = tuple(_paper(0, f"codon position {k}") for k in (1, 2, 3))
    paper_text = " / ".join(_pct(v) for v in paper1)
    s1 = codon.get(0)
    measured = " / ".join(_pct(v) for v in s1) if s1 else NOT_MEASURED
    rows.append({"finding": "Stage 1 starts chunks least often at codon position 1 (rates at positions 1 / 2 / 3)",
                 "paper": paper_text, "this checkpoint": measured,
                 "holds here": NOT_MEASURED if not s1 else "yes" if s1[0] < min(s1[1:]) else "no",
                 "from": codon_file, "in short": "Stage 1 avoids codon position 1"})
    favourite = int(np.argmax(s1)) + 1 if s1 else 0
    rows.append({"finding": "Stage 1's favourite chunk start is codon position 3",
                 "paper": f"position 3 ({_pct(paper1[2])})",
                 "this checkpoint": f"position {favourite} ({_pct(s1[favourite - 1])})" if s1 else NOT_MEASURED,
                 "holds here": NOT_MEASURED if not s1 else "yes" if favourite == 3 else "no", "from": codon_file,
                 "in short": "Stage 1 peaks at codon position 3"})
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
                     "holds here": NOT_MEASURED if not known else "no" if bound <= overall
                     else "yes" if rate / overall - 1 >= (paper / paper_overall - 1) / 2 else WEAKLY,
                     "from": s2_file if known else "", "in short": f"Stage 2 prefers {what.split(' (')[0]}"})
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame) -> str:
    """`findings` in one plain sentence: which of the paper's findings this checkpoint reproduces, which not,
    which are not measured ("in short" names each finding)."""
    parts = []
    for holds, words in (("yes", "Reproduces"), (WEAKLY, "Reproduces only weakly (under half the paper's excess)"),
                         ("no", "Does not reproduce"), (NOT_MEASURED, "Not measured")):
        named = list(table.loc[table["holds here"] == holds, "in short"])
        if named:
            parts.append(f"{words}: {'; '.join(named)}.")
    return " ".join(parts)


def zero_shot(directory) -> tuple[dict | None, str]:
    """(the model's row of the zero-shot essentiality AUROC table: auroc, ci_low, ci_high, n_genes, n_essential,
    and `baselines` {predictor: AUROC} of the table's other rows (gene length, GC) on the same genes; the file read),
    or (None, "") when this checkpoint's folder has no such measurement."""
    for name in ZERO_SHOT_FILES:
        df = _read_csv(Path(directory) / name)
        if df is None or not {"predictor", "auroc"} <= set(df.columns):
            continue
        predictor = df["predictor"].astype(str)
        mine = df[predictor == "dnahnet"]
        if len(mine) and np.isfinite(float(mine["auroc"].iloc[0])):
            others = df[predictor != "dnahnet"]
            row = mine.iloc[0].to_dict()
            row["baselines"] = {str(p): float(a) for p, a in zip(others["predictor"], others["auroc"])
                                if np.isfinite(float(a))}
            return row, name
    return None, ""


def beats_markov(table: pd.DataFrame | None) -> tuple[int, int]:
    """(held-out genomes where dnaHNet scores fewer bits/nt than the best Markov model, genomes scored)."""
    if table is None or table.empty:
        return 0, 0
    return int((table["dnaHNet − best Markov (bits/nt)"] < 0).sum()), len(table)
