"""Baseline chunkers beside the model: does the model place boundaries better than a trivial rule?

- fixed length k (3 and 6) with one random global phase: boundaries at reading index ≡ phase (mod k) on every
  pass. A fixed-3 chunker in a lucky phase hits one codon position of every gene in that frame, but genes sit in
  all three frames, so over a genome it is near uniform; the phase is drawn at random and reported;
- random with the model's length distribution: chunk lengths drawn independently from the model's own lengths
  (per stage, pooled over passes), starting at the first position read.
Every chunker, the model's stages included, is scored per nucleotide (`as_nucleotide_trace`), with the same
enrichment table and circular-shift null, so the rows compare like with like. Baseline chunkers lay their
boundaries over the positions statistics keep (`passes.analysed_positions`: masked non-ACGT runs and flanks cut out),
and the model's length distribution leaves out chunks that touch the mask.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from dnahnet.trace import StageTrack, StrandPass, Trace
from interpret.nulls import add_bh, null_table
from interpret.profiles import codon_profile
from interpret.passes import POOLED, analysed_positions, as_nucleotide_trace, chunks_clear_of_mask, pass_tracks
from interpret.stats import enrichment_table
from interpret.style import stage_label


def fixed_boundaries(n: int, length: int, phase: int) -> np.ndarray:
    """(n,) bool over reading indices: a boundary every `length` positions, the first at `phase`."""
    b = np.zeros(n, dtype=bool)
    b[phase % length::length] = True
    return b


def random_boundaries(n: int, lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) bool over reading indices: chunk lengths drawn i.i.d. from `lengths`, the first chunk at index 0."""
    b = np.zeros(n, dtype=bool)
    lengths = np.asarray(lengths, dtype=np.int64)
    lengths = lengths[lengths > 0]
    if n == 0 or lengths.size == 0:
        return b
    pos, starts = 0, []
    while pos < n:
        need = int((n - pos) / lengths.mean() * 1.1) + 16
        s = pos + np.cumsum(np.r_[0, rng.choice(lengths, need)])
        starts.append(s[s < n])
        pos = int(s[-1])
    b[np.concatenate(starts)] = True
    return b


def _one_stage_trace(trace: Trace, make) -> Trace:
    """A one-stage, per-nucleotide trace whose boundaries per pass come from make(n_positions) over the reading order
    of the unmasked positions."""
    passes = []
    for sp in trace.passes:
        coord = analysed_positions(sp, 0)
        bnd = coord[make(coord.size)]
        st = StageTrack(coord, np.full(coord.size, np.nan, np.float32), bnd, np.zeros(0, np.int64),
                        np.zeros((0, 0), np.float16))
        passes.append(StrandPass(sp.record_id, sp.strand, sp.length, sp.circular, [st], sp.logprob, sp.region,
                                 sp.n_runs))
    return Trace(passes, {})


def model_chunk_lengths(trace: Trace, stage: int) -> np.ndarray:
    """All chunk lengths (nt) of a stage over every pass (the last chunk of a pass, cut by the region end, dropped;
    so are chunks that touch masked positions)."""
    out = []
    for sp in trace.passes:
        if stage < len(sp.stages):
            spans = sp.chunk_spans(stage)[:-1]
            spans = spans[chunks_clear_of_mask(sp, spans)]
            out.append(spans[:, 1] - spans[:, 0])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def baseline_traces(trace: Trace, seed: int = 0, fixed: tuple[int, ...] = (3, 6)) -> dict[str, tuple[Trace, str]]:
    """{chunker name: (one-stage nucleotide trace, one-line description)}: the model's stages and the baselines."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in range(trace.n_stages):
        out[f"model {stage_label(s)}"] = (as_nucleotide_trace(trace, s), f"the model's {stage_label(s)} boundaries")
    for k in fixed:
        phase = int(rng.integers(k))
        out[f"fixed {k} nt"] = (_one_stage_trace(trace, lambda n, k=k, p=phase: fixed_boundaries(n, k, p)),
                                f"a boundary every {k} nt, random global phase {phase} (reading index ≡ {phase} "
                                f"mod {k} on every pass)")
    for s in range(trace.n_stages):
        lengths = model_chunk_lengths(trace, s)
        if lengths.size == 0:
            continue
        sub = np.random.default_rng([seed, 7, s])
        out[f"random, {stage_label(s)} lengths"] = (
            _one_stage_trace(trace, lambda n, L=lengths, r=sub: random_boundaries(n, L, r)),
            f"chunk lengths drawn at random from the model's {stage_label(s)} lengths (mean {lengths.mean():.2f} nt)")
    return out


def baseline_tables(trace: Trace, annotations: dict, classes: tuple[str, ...], n_null: int = 200, seed: int = 0,
                    n_boot: int = 200, progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long: the enrichment table + circular-shift null per chunker, BH within each chunker;
    summary: one row per chunker — global rate, codon spread and MI, fold per class, pooled over both passes)."""
    chunkers = baseline_traces(trace, seed)
    long = []
    for i, (name, (btrace, desc)) in enumerate(chunkers.items()):
        if progress:
            progress(i / len(chunkers), f"baseline: {name}")
        tracks = pass_tracks(btrace, annotations, 0)
        enr = enrichment_table(tracks, classes, n_boot=n_boot, seed=seed)
        nul = null_table(tracks, classes, n_shift=n_null, n_perm=0, seed=seed)
        df = enr.merge(nul[["stage", "strand", "class", "shift_mean", "shift_z", "p_shift"]],
                       on=["stage", "strand", "class"], how="left")
        df = add_bh(df, ("p_shift",))
        df = df.drop(columns=["stage", "stage_label"])
        df.insert(0, "chunker", name)
        df.insert(1, "description", desc)
        long.append(df)
    if progress:
        progress(1.0, "baselines done")
    long_df = pd.concat(long, ignore_index=True) if long else pd.DataFrame()
    return long_df, baseline_summary(long_df)


def baseline_summary(long_df: pd.DataFrame) -> pd.DataFrame:
    """One row per chunker (both passes pooled): global rate, codon-position spread and MI, fold per class."""
    if long_df.empty:
        return pd.DataFrame()
    both = long_df[long_df["strand"] == POOLED]
    codon = both.assign(stage=0, stage_label="")
    _, tests = codon_profile(codon)
    rows = []
    for name, g in both.groupby("chunker", sort=False):
        t = tests[tests["chunker"] == name]
        rec = {"chunker": name, "global_rate": float(g["global_rate"].iloc[0]),
               "codon_spread": float(t["spread"].iloc[0]) if len(t) else np.nan,
               "codon_mi_bits": float(t["mi_bits"].iloc[0]) if len(t) else np.nan,
               "n_significant": int((g["q_shift"] < 0.05).sum())}
        for _, r in g[g["n_positions"] > 0].iterrows():
            rec[f"fold_{r['class']}"] = r["fold"]
        rows.append(rec)
    return pd.DataFrame(rows)
