"""Where boundaries fall inside genes and around their landmarks.

- codon-position profile inside CDS (rates at positions 1/2/3, χ² against uniform, mutual information, spread);
- metagene profiles: boundary rate against distance to start codons, stop codons, TSS, with bootstrap bands;
- 3-periodicity: spectrum of the boundary indicator inside CDS, in each gene's frame;
- chunk lengths per stage and class of the chunk's first nucleotide; nesting of Stage 2 in Stage 1 chunks.
Profiles, periodicity and lengths are per nucleotide; the codon profile follows the enrichment table's basis.
Masked positions (non-ACGT runs and their flanks, `StrandPass.masked`) count nowhere: not as anchors, offsets,
CDS nucleotides or genome rate; chunks that touch them are left out of lengths and nesting.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from dnahnet.trace import Trace
from interpret.passes import POOLED, STRANDS, analysed_positions, chunks_clear_of_mask
from interpret.style import stage_label

PAPER_CODON_STAGE1 = (0.065, 0.426, 0.584)  # dnaHNet paper, Stage 1 boundary rate at codon positions 1/2/3
CODON_CLASSES = ("cds_pos1", "cds_pos2", "cds_pos3")


# --------------------------------------------------------------------------------------- codon profile


def codon_stats(n_positions, n_boundaries) -> dict:
    """χ² (2×3 boundary × codon position, no continuity correction), p, MI in bits, spread = max − min rate."""
    n = np.asarray(n_positions, dtype=np.float64)
    k = np.asarray(n_boundaries, dtype=np.float64)
    table = np.stack([k, n - k])  # (2, 3)
    out = {"chi2": np.nan, "dof": 2, "p_chi2": np.nan, "mi_bits": np.nan, "spread": np.nan}
    if n.min() <= 0:
        return out
    rate = k / n
    out["spread"] = float(rate.max() - rate.min())
    joint = table / table.sum()
    pb, pc = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log2(joint / (pb * pc)), 0.0)
    out["mi_bits"] = float(max(terms.sum(), 0.0))
    if (table.sum(1) > 0).all():
        chi2, p, dof, _ = sps.chi2_contingency(table, correction=False)
        out.update(chi2=float(chi2), p_chi2=float(p), dof=int(dof))
    return out


def codon_profile(enrichment: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(profile: rate per codon position per stage and strand, tests: χ², MI, spread + the paper's Stage 1).

    Reads the cds_pos1..3 rows of an enrichment table (which counts, on each pass, that strand's genes only).
    """
    rows = enrichment[enrichment["class"].isin(CODON_CLASSES)].copy()
    rows["codon_pos"] = rows["class"].str[-1].astype(int)
    profile = rows[["stage", "stage_label", "strand", "codon_pos", "n_positions", "n_boundaries", "rate", "rate_lo",
                    "rate_hi"]].reset_index(drop=True)
    if "chunker" in rows.columns:
        profile.insert(0, "chunker", rows["chunker"].to_numpy())
    tests = []
    keys = ["chunker", "stage", "strand"] if "chunker" in rows.columns else ["stage", "strand"]
    for key, g in rows.groupby(keys, sort=False):
        g = g.sort_values("codon_pos")
        if len(g) != 3:
            continue
        s = codon_stats(g["n_positions"].to_numpy(), g["n_boundaries"].to_numpy())
        stage = int(g["stage"].iloc[0])
        paper = PAPER_CODON_STAGE1 if stage == 0 and "chunker" not in rows.columns else (np.nan,) * 3
        rec = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        rec.update(stage_label=stage_label(stage), n_positions=int(g["n_positions"].sum()),
                   rate_pos1=g["rate"].iloc[0], rate_pos2=g["rate"].iloc[1], rate_pos3=g["rate"].iloc[2], **s,
                   paper_pos1=paper[0], paper_pos2=paper[1], paper_pos3=paper[2])
        tests.append(rec)
    return profile, pd.DataFrame(tests)


# ------------------------------------------------------------------------------------------ metagene


def _strand_str(s) -> np.ndarray:
    s = np.asarray(s)
    if s.dtype.kind in "iuf":
        return np.where(s < 0, "-", "+")
    return s.astype(str)


def metagene(trace: Trace, annotations: dict, stage: int, anchor: str = "start_codon", flank: int = 150,
             n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Boundary rate (per nucleotide) at each offset −flank..+flank from an anchor, in the anchor's reading direction.

    An anchor on strand s is read on pass s: offset d is record position pos + d on "+", pos − d on "-".
    Only anchors inside the analysed region count (n_anchors, the band): one outside it has no boundaries of
    its own. Offsets outside the region or masked are left out (circular whole records wrap). Band: percentile 95%
    interval over `n_boot` bootstrap resamples of the anchors. Columns: anchor, stage, stage_label, offset,
    rate, rate_lo, rate_hi, n_anchors, genome_rate.
    """
    offsets = np.arange(-flank, flank + 1)
    values, valid, tot_b, tot_n = [], [], 0, 0
    for sp in trace.passes:
        ann = annotations.get(sp.record_id)
        if ann is None or ann.length != sp.length or stage >= len(sp.stages):
            continue
        b = sp.boundary_mask(stage)
        inside = np.zeros(sp.length, bool)
        inside[analysed_positions(sp, 0)] = True  # analysed and not masked
        tot_b += int(b[inside].sum())
        tot_n += int(inside.sum())
        a = ann.anchors.get(anchor)
        if a is None or len(a) == 0:
            continue
        pos = a["pos"].to_numpy(np.int64)[_strand_str(a["strand"]) == sp.strand]
        pos = pos[(pos >= 0) & (pos < sp.length)]
        pos = pos[inside[pos]]  # anchors in the analysed region only
        x = pos[:, None] + (offsets if sp.strand == "+" else -offsets)[None, :]  # (n_a, W)
        whole = sp.region is None or tuple(sp.region) == (0, sp.length)
        if sp.circular and whole:
            x %= sp.length
        ok = (x >= 0) & (x < sp.length)
        xc = np.clip(x, 0, sp.length - 1)
        ok &= inside[xc]
        values.append(np.where(ok, b[xc], False))
        valid.append(ok)
    genome_rate = tot_b / tot_n if tot_n else np.nan
    if not values or sum(v.shape[0] for v in values) == 0:
        return pd.DataFrame(columns=METAGENE_COLUMNS)
    v = np.concatenate(values).astype(np.float32)
    ok = np.concatenate(valid).astype(np.float32)
    n_a = v.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = v.sum(0) / ok.sum(0)
        lo = hi = np.full(offsets.size, np.nan)
        if n_boot > 0 and n_a > 1:
            rng = np.random.default_rng(seed)
            w = rng.multinomial(n_a, np.full(n_a, 1 / n_a), size=n_boot).astype(np.float32)  # (B, n_a)
            boot = (w @ v) / (w @ ok)  # (B, W)
            lo, hi = np.nanquantile(boot, [0.025, 0.975], axis=0)
    return pd.DataFrame({"anchor": anchor, "stage": stage, "stage_label": stage_label(stage), "offset": offsets,
                         "rate": rate, "rate_lo": lo, "rate_hi": hi, "n_anchors": n_a, "genome_rate": genome_rate})


METAGENE_COLUMNS = ["anchor", "stage", "stage_label", "offset", "rate", "rate_lo", "rate_hi", "n_anchors",
                    "genome_rate"]


# --------------------------------------------------------------------------------------- periodicity


def cds_series(boundary: np.ndarray, codon_pos: np.ndarray, coord: np.ndarray, strand: str) -> np.ndarray:
    """Boundary indicator over CDS nucleotides in reading order, cut to whole codons so the frame never slips.

    coord: analysed record positions in reading order. Runs of consecutive CDS nucleotides whose codon position
    cycles 1→2→3 are trimmed to start at a position 1 and end at a position 3, then concatenated.
    """
    cp = codon_pos[coord].astype(np.int64)
    sel = np.flatnonzero(cp > 0)
    if sel.size == 0:
        return np.zeros(0, np.float64)
    c, x = cp[sel], coord[sel]
    step = 1 if strand == "+" else -1
    cont = np.r_[False, (np.diff(x) == step) & (c[1:] == c[:-1] % 3 + 1)]
    run = np.cumsum(~cont) - 1  # run id of each CDS nucleotide
    first = np.flatnonzero(~cont)
    last = np.r_[first[1:] - 1, sel.size - 1]
    lo = first + (4 - c[first]) % 3  # first position 1 of each run
    hi = last - c[last] % 3  # last position 3 of each run
    i = np.arange(sel.size)
    keep = (i >= lo[run]) & (i <= hi[run])
    return boundary[x[keep]].astype(np.float64)


def spectrum(series: np.ndarray, window: int = 360) -> tuple[np.ndarray, np.ndarray, int]:
    """(frequencies k/window for k=1..window/2, mean periodogram over non-overlapping windows, n windows)."""
    n_seg = series.size // window
    k = np.arange(1, window // 2 + 1)
    if n_seg == 0:
        return k / window, np.full(k.size, np.nan), 0
    seg = series[: n_seg * window].reshape(n_seg, window)
    seg = seg - seg.mean(1, keepdims=True)
    power = (np.abs(np.fft.rfft(seg, axis=1)) ** 2).mean(0) / window  # (window // 2 + 1,)
    return k / window, power[1:], n_seg


def periodicity(trace: Trace, annotations: dict, stage: int, window: int = 360) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(spectrum rows: stage, strand, frequency, period, power; summary: power at period 3 / median power).

    The boundary indicator (per nucleotide) inside CDS of the pass's own strand, frame-aligned, is cut into
    windows of `window` nt (a multiple of 3, so period 3 is an exact frequency) and the periodograms averaged.
    """
    if window % 3:
        raise ValueError("window must be a multiple of 3")
    series = {s: [] for s in STRANDS}
    for sp in trace.passes:
        ann = annotations.get(sp.record_id)
        if ann is None or ann.length != sp.length or stage >= len(sp.stages):
            continue
        coord = analysed_positions(sp, 0)  # a masked stretch breaks a CDS run like a gap would
        series[sp.strand].append(cds_series(sp.boundary_mask(stage), ann.codon_pos[sp.strand], coord, sp.strand))
    spec_rows, summary = [], []
    groups = {s: series[s] for s in STRANDS if series[s]}
    if len(groups) == 2:
        groups[POOLED] = series["+"] + series["-"]
    for strand, parts in groups.items():
        # each part separately cut into windows (frames never mix across passes), then averaged by windows
        freqs, powers, counts = None, [], []
        for part in parts:
            f, pw, n = spectrum(part, window)
            freqs = f
            if n:
                powers.append(pw * n)
                counts.append(n)
        if not counts:
            continue
        power = np.sum(powers, axis=0) / sum(counts)
        period = 1 / freqs
        spec_rows.append(pd.DataFrame({"stage": stage, "stage_label": stage_label(stage), "strand": strand,
                                       "frequency": freqs, "period": period, "power": power}))
        p3 = power[np.argmin(np.abs(period - 3))]
        med = float(np.median(power))
        summary.append({"stage": stage, "stage_label": stage_label(stage), "strand": strand,
                        "n_windows": int(sum(counts)), "window": window, "power_period3": float(p3),
                        "median_power": med, "ratio_period3": float(p3 / med) if med > 0 else np.nan,
                        "peak_period": float(period[np.argmax(power)])})
    spec = pd.concat(spec_rows, ignore_index=True) if spec_rows else pd.DataFrame(
        columns=["stage", "stage_label", "strand", "frequency", "period", "power"])
    return spec, pd.DataFrame(summary)


# -------------------------------------------------------------------------------- chunk lengths, nesting


def chunk_lengths(trace: Trace, annotations: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(histogram: stage, strand, class, length, count; summary: n, mean, sd, quantiles per stage/strand/class).

    A chunk's class is that of its first nucleotide on the pass's strand (a start can be in several classes);
    class "all" counts every chunk. Lengths are in nucleotides for every stage. Chunks that touch masked positions
    (non-ACGT runs and their flanks) are left out.
    """
    per = {}  # (stage, strand, class) -> list of length arrays
    for sp in trace.passes:
        ann = annotations.get(sp.record_id)
        ok = ann is not None and ann.length == sp.length
        for s in range(len(sp.stages)):
            spans = sp.chunk_spans(s)
            clear = chunks_clear_of_mask(sp, spans)
            lengths = (spans[:, 1] - spans[:, 0])[clear]
            per.setdefault((s, sp.strand, "all"), []).append(lengths)
            if ok:
                starts = np.asarray(sp.stages[s].boundaries, dtype=np.int64)[clear]
                bits = ann.bits[sp.strand][starts]
                for i, cls in enumerate(ann.classes):
                    m = ((bits >> i) & 1).astype(bool)
                    if m.any():
                        per.setdefault((s, sp.strand, cls), []).append(lengths[m])
    pool = {sp.strand for sp in trace.passes} == set(STRANDS)  # "both" only when both passes are there
    for (s, strand, cls) in list(per) if pool else []:
        if strand == "+":
            per.setdefault((s, POOLED, cls), []).extend(per[(s, "+", cls)])
        elif strand == "-":
            per.setdefault((s, POOLED, cls), []).extend(per[(s, "-", cls)])
    hist, summary = [], []
    for (s, strand, cls), parts in sorted(per.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "all")):
        x = np.concatenate(parts)
        if x.size == 0:
            continue
        counts = np.bincount(x)
        nz = np.flatnonzero(counts)
        hist.append(pd.DataFrame({"stage": s, "stage_label": stage_label(s), "strand": strand, "class": cls,
                                  "length": nz, "count": counts[nz]}))
        q = np.quantile(x, [0.1, 0.5, 0.9])
        summary.append({"stage": s, "stage_label": stage_label(s), "strand": strand, "class": cls,
                        "n_chunks": int(x.size), "mean": float(x.mean()), "sd": float(x.std()),
                        "q10": float(q[0]), "median": float(q[1]), "q90": float(q[2]), "max": int(x.max()),
                        "frac_len3": float((x == 3).mean())})
    hist_df = pd.concat(hist, ignore_index=True) if hist else pd.DataFrame(
        columns=["stage", "stage_label", "strand", "class", "length", "count"])
    return hist_df, pd.DataFrame(summary)


def nesting(trace: Trace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary: fraction of stage s+1 boundaries that are stage s boundaries — 1 by construction, a check —
    and mean stage-s chunks per stage-(s+1) chunk; counts: distribution of that number).

    `stage` is the coarser stage (code index), `finer_stage` the one it is built on. Coarser boundaries on masked
    positions and coarser chunks that touch them are left out.
    """
    acc = {}  # (outer stage, strand) -> [n_inner_boundaries, n_nested, list of per-chunk counts]
    for sp in trace.passes:
        for s in range(len(sp.stages) - 1):
            b0 = np.sort(np.asarray(sp.stages[s].boundaries, dtype=np.int64))
            b1 = np.asarray(sp.stages[s + 1].boundaries, dtype=np.int64)
            spans = sp.chunk_spans(s + 1)
            masked = sp.masked()
            if masked.any():
                b1, spans = b1[~masked[b1]], spans[chunks_clear_of_mask(sp, spans)]
            per_chunk = np.searchsorted(b0, spans[:, 1]) - np.searchsorted(b0, spans[:, 0])
            pool = {p.strand for p in trace.passes} == set(STRANDS)
            for key in ((s, sp.strand), (s, POOLED)) if pool else ((s, sp.strand),):
                a = acc.setdefault(key, [0, 0, []])
                a[0] += b1.size
                a[1] += int(np.isin(b1, b0).sum())
                a[2].append(per_chunk)
    summary, counts = [], []
    for (s, strand), (n1, nested, parts) in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1] == POOLED,
                                                                                 kv[0][1])):
        x = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        summary.append({"stage": s + 1, "finer_stage": s, "label": f"{stage_label(s + 1)} in {stage_label(s)}",
                        "strand": strand, "n_boundaries": n1, "n_nested": nested,
                        "fraction_nested": nested / n1 if n1 else np.nan,
                        "mean_finer_chunks_per_chunk": float(x.mean()) if x.size else np.nan})
        c = np.bincount(x) if x.size else np.zeros(0, np.int64)
        nz = np.flatnonzero(c)
        counts.append(pd.DataFrame({"stage": s + 1, "label": f"{stage_label(s + 1)} in {stage_label(s)}",
                                    "strand": strand, "finer_chunks": nz, "count": c[nz]}))
    counts_df = pd.concat(counts, ignore_index=True) if counts else pd.DataFrame(
        columns=["stage", "label", "strand", "finer_chunks", "count"])
    return pd.DataFrame(summary), counts_df
