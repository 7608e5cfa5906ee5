"""Null models that keep the chunk-length distribution, empirical p-values, Benjamini–Hochberg.

Two nulls for "boundaries fall in class c more (or less) often than chance":
- circular shift: the whole boundary track of a pass is rotated by a uniformly random non-zero offset, so
  chunk lengths *and their order* are kept and only their placement against the annotation is broken;
- permuted lengths: the sequence of chunk lengths is shuffled and boundaries rebuilt from the first one, so the
  length distribution is kept and the order is not.
Each pass gets its own independent draw; pooled rows ("both") add the passes' counts draw by draw.
Both act on a pass track, which holds no masked position (non-ACGT runs and their flanks, `passes.pass_tracks`):
a rotation or a shuffle moves boundaries over the kept positions only, as if the masked runs were cut out.
`NULL_KEEPS` says the same in one sentence each for the page. With n draws a two-sided p (and its BH q) cannot go
below 2/(n+1): `format_p` writes such a value as "≤ 2/(n+1)" and the z score says how far beyond the null it lies.

Shift counts for all classes are exact integer counts. A class mask is cut into runs of step 3 (every
nucleotide interval is three such runs, every gene's codon position one), and the boundaries that fall into a
shifted run are read off residue-wise cumulative sums of the (doubled) boundary track: cost ∝ runs × draws,
not genome × draws. When the masks are fragmented (stage-1 input) it counts per boundary instead.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from interpret.passes import POOLED, STRANDS, PassTrack, class_codes, strand_groups
from interpret.style import stage_label

# Rotations are drawn uniformly from all non-zero offsets: that is the group under which a stationary track's
# rank is exactly uniform. Leaving out small offsets (they keep local alignment, so they can only make the test
# conservative) breaks that exactness when the gap is a sizeable part of a small genome; the default keeps none out.
MIN_SHIFT_NT = 0
_BLOCK_ELEMS = 2_000_000  # bound on (draws × items) per vectorised block


# ------------------------------------------------------------------------------------------ shifts


def draw_shifts(n: int, n_draws: int, rng: np.random.Generator, min_shift: int) -> np.ndarray:
    """(n_draws,) circular offsets uniform in [min_shift, n - min_shift] (min_shift ≥ 1; 1..n-1 if n is small)."""
    if n <= 1:
        return np.zeros(n_draws, dtype=np.int64)
    lo = max(1, min_shift) if n - 2 * min_shift >= 1 else 1
    return rng.integers(lo, n - lo + 1, size=n_draws, dtype=np.int64)


def class_runs(bits: np.ndarray, n_classes: int):
    """Each class mask as step-3 runs: (residue r, j0, j1, class) = positions r + 3j, j in [j0, j1)."""
    r_, j0_, j1_, c_ = [], [], [], []
    for c in range(n_classes):
        mask = ((bits >> c) & 1).astype(np.int8)
        for r in range(3):
            d = np.diff(mask[r::3], prepend=np.int8(0), append=np.int8(0))
            j0, j1 = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
            r_.append(np.full(j0.size, r, np.int64))
            j0_.append(j0)
            j1_.append(j1)
            c_.append(np.full(j0.size, c, np.int64))
    return tuple(np.concatenate(a) for a in (r_, j0_, j1_, c_))


def shift_counts(is_boundary: np.ndarray, bits: np.ndarray, shifts: np.ndarray, n_classes: int,
                 method: str = "auto") -> np.ndarray:
    """(D, n_classes) boundaries per class after rotating the track by each shift: Σ_i b[i]·m_c[(i + k) mod n].

    method: "runs" (cost ∝ mask runs), "direct" (cost ∝ boundaries), or "auto" (the cheaper).
    Equal to `(np.roll(b, k)[:, None] & masks).sum(0)` for every k (tested against that loop).
    """
    b = np.asarray(is_boundary, dtype=bool)
    shifts = np.asarray(shifts, dtype=np.int64) % max(b.size, 1)
    if method == "auto":
        runs = class_runs(bits, n_classes)
        method = "runs" if 2 * runs[0].size < int(b.sum()) else "direct"
        if method == "runs":
            return _shift_counts_runs(b, runs, shifts, n_classes)
    if method == "runs":
        return _shift_counts_runs(b, class_runs(bits, n_classes), shifts, n_classes)
    return _shift_counts_direct(b, bits, shifts, n_classes)


def _shift_counts_runs(b, runs, shifts, n_classes) -> np.ndarray:
    r, j0, j1, cls = runs
    out = np.zeros((shifts.size, n_classes), np.int64)
    if r.size == 0 or shifts.size == 0:
        return out
    shifts = (b.size - shifts) % b.size  # moving boundaries forward by k = reading the mask k behind
    ext = np.concatenate([b, b])  # a shifted run never reaches past 2n
    cums = [np.concatenate([[0], np.cumsum(ext[rho::3], dtype=np.int32)]) for rho in range(3)]
    off = np.array([0, cums[0].size, cums[0].size + cums[1].size], np.int64)
    cum = np.concatenate(cums)  # (≈2n + 3,) boundaries before each index, residue by residue
    order = np.lexsort((j0, r, cls))  # by class, then in genome order: gathers walk memory forwards
    r, j0, j1, cls = r[order], j0[order], j1[order], cls[order]
    present, seg_start = np.unique(cls, return_index=True)
    step = max(1, _BLOCK_ELEMS // r.size)
    # a shift k = 3a + e moves position r + 3j to residue (r + e) % 3, index a + (r + e) // 3 + j there
    for e in range(3):
        sel = np.flatnonzero(shifts % 3 == e)
        if sel.size == 0:
            continue
        lead = off[(r + e) % 3] + (r + e) // 3  # (R,)
        lo, hi = lead + j0, lead + j1
        for a in range(0, sel.size, step):
            rows = sel[a:a + step]
            third = (shifts[rows] // 3)[:, None]  # (d, 1)
            cnt = cum[hi[None, :] + third] - cum[lo[None, :] + third]  # (d, R) boundaries in each shifted run
            out[rows[:, None], present[None, :]] = np.add.reduceat(cnt, seg_start, axis=1)
    return out


def _shift_counts_direct(b, bits, shifts, n_classes) -> np.ndarray:
    n = b.size
    out = np.zeros((shifts.size, n_classes), np.int64)
    idx = np.flatnonzero(b)
    if idx.size == 0 or shifts.size == 0:
        return out
    codes, member = class_codes(bits, n_classes)
    k_codes = member.shape[0]
    step = max(1, _BLOCK_ELEMS // idx.size)
    for a in range(0, shifts.size, step):
        k = shifts[a:a + step]
        pos = idx[None, :] + k[:, None]  # (d, n_b)
        pos[pos >= n] -= n
        key = codes[pos] + (k_codes * np.arange(k.size))[:, None]
        out[a:a + step] = np.bincount(key.ravel(), minlength=k.size * k_codes).reshape(k.size, k_codes) @ member
    return out


# ------------------------------------------------------------------------------- permuted lengths


def chunk_lengths_of(is_boundary: np.ndarray) -> tuple[int, np.ndarray]:
    """(index of the first boundary, lengths of the chunks in reading order; the last runs to the end)."""
    idx = np.flatnonzero(is_boundary)
    if idx.size == 0:
        return 0, np.zeros(0, np.int64)
    return int(idx[0]), np.diff(np.append(idx, is_boundary.size))


def perm_counts(is_boundary: np.ndarray, bits: np.ndarray, n_draws: int, seed: int, n_classes: int,
                engine: str = "auto") -> np.ndarray:
    """(D, n_classes) boundaries per class after shuffling the chunk lengths and rebuilding from the first boundary.

    engine: "numba" (a fused shuffle-and-count loop, ~10x faster), "numpy" (blocked `Generator.permuted`), or
    "auto" (numba when importable; env DNAHNET_NO_NUMBA=1 turns it off). The two draw different permutations.
    """
    start, lengths = chunk_lengths_of(np.asarray(is_boundary, dtype=bool))
    out = np.zeros((n_draws, n_classes), np.int64)
    if lengths.size == 0 or n_draws == 0:
        return out
    codes, member = class_codes(bits, n_classes)
    k_codes = member.shape[0]
    if engine == "auto":
        engine = "numba" if _numba_kernel() is not None else "numpy"
    if engine == "numba":
        kernel = _numba_kernel()
        if kernel is None:
            raise RuntimeError("numba is not available; use engine='numpy'")
        small = np.uint8 if lengths.max() < 256 else np.uint16 if lengths.max() < 65536 else np.int64
        per_code = kernel(lengths.astype(small), start, codes.astype(np.uint8 if k_codes < 256 else np.int32),
                          k_codes, n_draws,
                          np.uint64(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]))
        return per_code @ member
    rng = np.random.default_rng(seed)
    m = lengths.size
    step = max(1, _BLOCK_ELEMS // m)
    for a in range(0, n_draws, step):
        d = min(step, n_draws - a)
        perm = rng.permuted(np.broadcast_to(lengths, (d, m)), axis=1)  # (d, m)
        pos = start + np.cumsum(perm, axis=1) - perm  # chunk starts: first at `start`
        key = codes[pos] + (k_codes * np.arange(d))[:, None]
        out[a:a + d] = np.bincount(key.ravel(), minlength=d * k_codes).reshape(d, k_codes) @ member
    return out


_KERNEL = None


def _numba_kernel():
    """Compile (once, cached on disk) the fused Fisher–Yates + count loop; None without numba."""
    global _KERNEL
    if _KERNEL is not None or os.environ.get("DNAHNET_NO_NUMBA") == "1":
        return _KERNEL
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(cache=True, nogil=True)
    def kernel(lengths, start, codes, k_codes, n_draws, seed):  # pragma: no cover - compiled
        m = lengths.shape[0]
        out = np.zeros((n_draws, k_codes), np.int64)
        a = lengths.copy()
        s = seed | np.uint64(1)  # xorshift64* state, never 0
        for d in range(n_draws):
            for i in range(m - 1, 0, -1):  # Fisher–Yates
                s ^= s >> np.uint64(12)
                s ^= s << np.uint64(25)
                s ^= s >> np.uint64(27)
                r = (s * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(32)
                j = (r * np.uint64(i + 1)) >> np.uint64(32)
                t = a[i]
                a[i] = a[j]
                a[j] = t
            pos = start
            for i in range(m):
                out[d, codes[pos]] += 1
                pos += a[i]
        return out

    _KERNEL = kernel
    return _KERNEL


# ------------------------------------------------------------------------------------ p, z, BH

NULL_KEEPS = {
    "shift": "Circular shift: the whole boundary track of each strand pass is rotated by a random offset, so the "
             "chunk lengths and their order are kept and only where the chunks sit against the genes is random.",
    "perm": "Permuted chunk lengths: the pass's chunk lengths are shuffled and laid end to end from its first "
            "boundary, so the set of lengths is kept but their order along the genome is not.",
}


def empirical_p(obs: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Two-sided empirical p with the +1 correction: min(1, 2·min(P(null ≥ obs), P(null ≤ obs)))."""
    d = null.shape[0]
    hi = (1 + (null >= obs[None, :]).sum(0)) / (d + 1)
    lo = (1 + (null <= obs[None, :]).sum(0)) / (d + 1)
    return np.minimum(1.0, 2 * np.minimum(hi, lo))


def p_floor(n_draws) -> float:
    """The smallest two-sided empirical p (and BH q) that `n_draws` null draws can give: 2/(n+1), at most 1."""
    return min(1.0, 2 / (int(n_draws) + 1)) if n_draws and n_draws > 0 else np.nan


def _up2(x: float) -> str:
    """x > 0 rounded up to two significant digits, as text (a bound must not shrink when rounded)."""
    e = int(np.floor(np.log10(x))) - 1
    return f"{np.ceil(round(x / 10.0**e, 9)) * 10.0**e:.2g}"


def p_floor_text(n_draws) -> str:
    """`p_floor` rounded up to two significant digits, as text: "0.002" for 1,000 draws ("" without draws)."""
    floor = p_floor(n_draws)
    return _up2(floor) if np.isfinite(floor) else ""


def at_floor(p, n_draws) -> bool:
    """True where p is the smallest value `n_draws` draws can give: no draw reached the observation."""
    floor = p_floor(n_draws)
    return bool(p is not None and np.isfinite(p) and np.isfinite(floor) and p <= floor * (1 + 1e-9))


def format_p(p, n_draws, bound: bool | None = None) -> str:
    """A p- or q-value for people: "≤ 2/(n+1)" (e.g. "≤ 0.002") at the floor of `n_draws` draws, where no draw
    reached the observation and p is only bounded, else two significant digits (never "0"); "" when NaN.
    bound=True writes any value as an upper bound (the BH q of a p at the floor: a smaller p only lowers it)."""
    if p is None or not np.isfinite(p):
        return ""
    if at_floor(p, n_draws):
        return f"≤ {p_floor_text(n_draws)}"
    if bound:
        return f"≤ {_up2(p)}" if p > 0 else "0"
    return f"{p:.2g}"


def add_p_text(df: pd.DataFrame) -> pd.DataFrame:
    """Add p_/q_<null>_text columns: `format_p` of each p and q with its null's number of draws; a q whose p
    is at the floor is written as a bound too ("≤ 0.07"), since more draws could only lower it."""
    df = df.copy()
    for null in ("shift", "perm"):
        p_col, q_col, draws = f"p_{null}", f"q_{null}", f"{null}_draws"
        if draws not in df.columns or p_col not in df.columns:
            continue
        floor = [at_floor(p, n) for p, n in zip(df[p_col], df[draws])]
        df[f"{p_col}_text"] = [format_p(p, n) for p, n in zip(df[p_col], df[draws])]
        if q_col in df.columns:
            df[f"{q_col}_text"] = [format_p(q, n, bound=f) for q, n, f in zip(df[q_col], df[draws], floor)]
    return df


def z_scores(obs: np.ndarray, null: np.ndarray) -> np.ndarray:
    """(obs − null mean) / null sd; NaN where the null does not vary."""
    mu, sd = null.mean(0), null.std(0, ddof=1) if null.shape[0] > 1 else np.zeros(null.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sd > 0, (obs - mu) / np.where(sd > 0, sd, 1), np.nan)


def bh_adjust(p) -> np.ndarray:
    """Benjamini–Hochberg q-values; NaN p-values stay NaN and are not counted as tests."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    m = ok.size
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


# ----------------------------------------------------------------------------------------- the table


def null_table(tracks: list[PassTrack], classes: tuple[str, ...], n_shift: int = 1000, n_perm: int = 1000,
               seed: int = 0, min_shift_nt: int = MIN_SHIFT_NT, progress=None) -> pd.DataFrame:
    """Shift and permuted-length nulls for one stage, per pass and pooled ("both").

    Columns: stage, strand, class, observed, shift_mean, shift_sd, shift_z, p_shift, perm_mean, perm_sd,
    perm_z, p_perm, shift_draws, perm_draws (counts of boundaries in the class; z = (observed − mean) / sd of
    the null; p two-sided empirical with +1, so never below 2/(draws + 1); BH is applied by the caller across
    the whole family). Classes with no positions get NaN. Rotations and permutations act on the stage's input
    positions (for Stage 2: the sequence of Stage 1 chunk starts).
    """
    if not tracks:
        return pd.DataFrame(columns=NULL_COLUMNS)
    stage, c = tracks[0].stage, len(classes)
    seeds = np.random.SeedSequence([seed, stage]).spawn(len(tracks))
    obs = {s: np.zeros(c, np.int64) for s in STRANDS}
    npos = {s: np.zeros(c, np.int64) for s in STRANDS}
    shift = {s: np.zeros((n_shift, c), np.int64) for s in STRANDS}
    perm = {s: np.zeros((n_perm, c), np.int64) for s in STRANDS}
    for i, (t, ss) in enumerate(zip(tracks, seeds)):
        if progress:
            progress(i / len(tracks), f"{stage_label(stage)} nulls: {t.record_id} {t.strand}")
        if t.n == 0:
            continue
        codes, member = class_codes(t.bits, c)
        npos[t.strand] += np.bincount(codes, minlength=member.shape[0]) @ member
        obs[t.strand] += np.bincount(codes[t.is_boundary], minlength=member.shape[0]) @ member
        span = abs(int(t.kept_coord[-1]) - int(t.kept_coord[0])) + 1  # nt spanned, masked runs cut out
        min_shift = max(1, int(round(min_shift_nt * t.n / span))) if span > 0 else 1
        rng = np.random.default_rng(ss)
        shift[t.strand] += shift_counts(t.is_boundary, t.bits, draw_shifts(t.n, n_shift, rng, min_shift), c)
        perm[t.strand] += perm_counts(t.is_boundary, t.bits, n_perm, int(rng.integers(2**62)), c)
    for d in (obs, npos, shift, perm):
        d[POOLED] = d["+"] + d["-"]
    rows = []
    for strand in strand_groups(tracks):
        if npos[strand].sum() == 0:
            continue
        cols = [obs[strand]]
        for null in (shift[strand], perm[strand]):
            if null.shape[0]:
                sd = null.std(0, ddof=1) if null.shape[0] > 1 else np.zeros(c)  # the sd z is measured in
                cols += [null.mean(0), sd, z_scores(obs[strand], null), empirical_p(obs[strand], null)]
            else:
                cols += [np.full(c, np.nan)] * 4
        for i, cls in enumerate(classes):
            vals = [col[i] for col in cols]
            if npos[strand][i] == 0:
                vals = [vals[0]] + [np.nan] * 8
            rows.append((stage, strand, cls, *vals, n_shift, n_perm))
    if progress:
        progress(1.0, f"{stage_label(stage)} nulls done")
    return pd.DataFrame(rows, columns=NULL_COLUMNS)


NULL_COLUMNS = ["stage", "strand", "class", "observed", "shift_mean", "shift_sd", "shift_z", "p_shift",
                "perm_mean", "perm_sd", "perm_z", "p_perm", "shift_draws", "perm_draws"]


def add_bh(df: pd.DataFrame, p_cols=("p_shift", "p_perm"), by: str | None = None) -> pd.DataFrame:
    """Add q_<name> columns: BH over all rows of `df` (or within each value of column `by`)."""
    df = df.copy()
    for col in p_cols:
        q = col.replace("p_", "q_", 1)
        if by is None:
            df[q] = bh_adjust(df[col].to_numpy())
        else:
            df[q] = np.nan
            for _, idx in df.groupby(by).groups.items():
                df.loc[idx, q] = bh_adjust(df.loc[idx, col].to_numpy())
    return df
