"""Boundary rate per annotation class: how often a chunk starts in each class, and by how much more than usual.

Counts over pass tracks (`interpret.passes`: one record, one strand pass, one stage, masked positions left out):
the enrichment table with Wilson intervals and a genome-block bootstrap of the fold, and the comparison with the
dnaHNet paper's rates. Every table at once, and the command line, are `interpret.analysis`.

CLI: `python -m interpret.analysis TRACE.npz GENOME [--companion TABLE] --out DIR` prints the main tables
(`python -m interpret.stats`, its older name, runs the same command).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from interpret.passes import POOLED, STRANDS, PassTrack, class_codes, strand_groups
from interpret.style import stage_label

Z95 = 1.959963984540054


# ------------------------------------------------------------------------------------------ intervals


def wilson_interval(k, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion k/n (NaN where n = 0)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


# ------------------------------------------------------------------------------- counts per genome block


def default_block_len(total_length: int) -> int:
    """Bootstrap block length: ~200 blocks per genome, between 1 kb and 10 kb (genes stay mostly whole)."""
    return int(np.clip(total_length // 200, 1000, 10_000))


def block_counts(tracks: list[PassTrack], n_classes: int, block_len: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per strand group ("+", "-", "both"): (positions, boundaries), each (n_blocks, n_classes + 1) int64.

    Blocks are genome intervals of `block_len` nt (the same ids on both passes, so a bootstrap resamples a
    region with both its strands), laid on the record with its masked positions cut out (`kept_coord`); the last
    column counts all positions regardless of class.
    """
    records = {}
    for t in tracks:
        records.setdefault(t.record_id, t.kept_length)
    offset, n_blocks = {}, 0
    for rid, length in records.items():
        offset[rid] = n_blocks
        n_blocks += -(-length // block_len)
    out = {s: (np.zeros((n_blocks, n_classes + 1), np.int64), np.zeros((n_blocks, n_classes + 1), np.int64))
           for s in STRANDS}
    for t in tracks:
        codes, member = class_codes(t.bits, n_classes)
        member = np.hstack([member, np.ones((member.shape[0], 1), np.int64)])  # (K, C + 1)
        k = member.shape[0]
        key = (t.kept_coord // block_len + offset[t.record_id]) * k + codes
        pos = np.bincount(key, minlength=n_blocks * k).reshape(n_blocks, k) @ member
        bnd = np.bincount(key[t.is_boundary], minlength=n_blocks * k).reshape(n_blocks, k) @ member
        out[t.strand][0][:] += pos
        out[t.strand][1][:] += bnd
    out[POOLED] = (out["+"][0] + out["-"][0], out["+"][1] + out["-"][1])
    return out


def fold_bootstrap(pos_blk: np.ndarray, bnd_blk: np.ndarray, n_boot: int, rng: np.random.Generator,
                   level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of fold = class rate / overall rate, resampling genome blocks with replacement."""
    n_blocks, c1 = pos_blk.shape
    keep = pos_blk[:, -1] > 0
    pos_blk, bnd_blk = pos_blk[keep].astype(np.float64), bnd_blk[keep].astype(np.float64)
    if pos_blk.shape[0] < 2 or n_boot < 1:
        return np.full(c1 - 1, np.nan), np.full(c1 - 1, np.nan)
    w = rng.multinomial(pos_blk.shape[0], np.full(pos_blk.shape[0], 1 / pos_blk.shape[0]), size=n_boot)
    w = w.astype(np.float64)  # (B, n_blocks) how often each block is drawn
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = (w @ bnd_blk) / (w @ pos_blk)  # (B, C + 1)
        fold = rate[:, :-1] / rate[:, -1:]
    fold = np.where(np.isfinite(fold), fold, np.nan)
    ok = ~np.all(np.isnan(fold), axis=0)  # classes absent from this genome stay NaN
    lo, hi = np.full(c1 - 1, np.nan), np.full(c1 - 1, np.nan)
    a = (1 - level) / 2
    lo[ok], hi[ok] = np.nanquantile(fold[:, ok], [a, 1 - a], axis=0)
    return lo, hi


# ----------------------------------------------------------------------------------------- the table


def enrichment_table(tracks: list[PassTrack], classes: tuple[str, ...], n_boot: int = 1000, seed: int = 0,
                     block_len: int | None = None) -> pd.DataFrame:
    """Boundary rate per class for one stage, per pass ("+", "-") and pooled ("both").

    Columns: stage, stage_label, strand, class, n_positions, n_boundaries, rate, rate_lo, rate_hi (Wilson 95%),
    global_rate (all positions of the group), fold = rate / global_rate, fold_lo, fold_hi (95% percentile
    interval from a block bootstrap: ~10 kb genome blocks resampled with both strands together, n_boot draws —
    it keeps the clustering of classes along the genome that a binomial interval would ignore).
    """
    if not tracks:
        return pd.DataFrame(columns=ENRICHMENT_COLUMNS)
    stage = tracks[0].stage
    c = len(classes)
    if block_len is None:
        block_len = default_block_len(sum({t.record_id: t.kept_length for t in tracks}.values()))
    counts = block_counts(tracks, c, block_len)
    rng = np.random.default_rng(seed)
    rows = []
    for strand in strand_groups(tracks):
        pos_blk, bnd_blk = counts[strand]
        n_pos, n_b = pos_blk.sum(0), bnd_blk.sum(0)
        if n_pos[-1] == 0:
            continue
        lo, hi = wilson_interval(n_b[:-1], n_pos[:-1])
        f_lo, f_hi = fold_bootstrap(pos_blk, bnd_blk, n_boot, rng)
        g = n_b[-1] / n_pos[-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = n_b[:-1] / n_pos[:-1]
        for i, cls in enumerate(classes):
            rows.append((stage, stage_label(stage), strand, cls, int(n_pos[i]), int(n_b[i]), rate[i], lo[i], hi[i],
                         g, rate[i] / g if g > 0 else np.nan, f_lo[i], f_hi[i]))
    return pd.DataFrame(rows, columns=ENRICHMENT_COLUMNS)


ENRICHMENT_COLUMNS = ["stage", "stage_label", "strand", "class", "n_positions", "n_boundaries", "rate", "rate_lo",
                      "rate_hi", "global_rate", "fold", "fold_lo", "fold_hi"]


# dnaHNet paper: Stage 1 boundary rate at codon positions; Stage 2 rates per class (B. subtilis, 5 × 49 kb windows)
PAPER_REFERENCE = (
    (0, "codon position 1", ("cds_pos1",), 0.065), (0, "codon position 2", ("cds_pos2",), 0.426),
    (0, "codon position 3", ("cds_pos3",), 0.584),
    (1, "global", (), 0.513), (1, "start codon", ("start_codon",), 0.813),
    (1, "promoter", ("promoter_35", "promoter_10", "tss"), 0.715), (1, "intergenic", ("intergenic",), 0.746),
    (1, "coding", ("cds_pos1", "cds_pos2", "cds_pos3"), 0.484), (1, "stop codon", ("stop_codon",), 0.517),
)


def paper_comparison(tracks_by_stage: dict[int, list[PassTrack]], classes: tuple[str, ...]) -> pd.DataFrame:
    """Our rates (both passes, stage input basis) beside the paper's, for the quantities the paper reports.

    A quantity made of several classes counts a position once if it is in any of them. The paper's Stage 2
    numbers come from another genome and model: read the comparison as a sanity check, not a test.
    """
    rows = []
    for stage, name, members, paper in PAPER_REFERENCE:
        tracks = tracks_by_stage.get(stage, [])
        if not tracks:
            continue
        mask_bits = np.uint16(sum(1 << classes.index(c) for c in members if c in classes))
        n = b = 0
        for t in tracks:
            m = (t.bits & mask_bits) != 0 if members else np.ones(t.n, bool)
            n += int(m.sum())
            b += int((m & t.is_boundary).sum())
        rate = b / n if n else np.nan
        lo, hi = wilson_interval(b, n)
        rows.append({"stage": stage, "stage_label": stage_label(stage), "quantity": name,
                     "classes": "+".join(members) or "all", "n_positions": n, "rate": rate, "rate_lo": float(lo),
                     "rate_hi": float(hi), "paper_rate": paper})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    # `python -m interpret.stats`, the command's older name: run interpret.analysis as the script. By name (runpy),
    # not by import: the statistics library does not depend on the module that gathers every table.
    import runpy

    runpy.run_module("interpret.analysis", run_name="__main__", alter_sys=True)
