"""Order-k Markov baseline over A/C/G/T: the bar a DNA language model must clear on held-out genomes.

One fit at `max_order` counts every order 0..max_order (both strands), so tuning k costs one fit. Smoothing:
interpolated absolute discounting ("interpolated", Kneser-Ney-like: a context's discounted counts plus its
freed mass spread by the next-shorter context) or additive ("additive": (n(c,x) + α) / (n(c) + 4α)).

Positions scored (the same ones the model predicts): every position t ≥ 1 of a window whose base is A/C/G/T.
The context is the min(k, t) preceding bases of that window, cut after the last N; a shorter context uses the
lower-order model, so the first positions of a window are predicted from the little context there is, as the
model does. Position 0 of a window has no context and is not scored.
"""
from dataclasses import dataclass

import numpy as np

from dnahnet.data import N_ID, reverse_complement_ids

_FLUSH = 1 << 24  # buffered codes per order before a bincount (bounds memory at high orders)


def context_codes(ids, order):
    """Per position t (last axis): code of bases t-order..t-1 (most recent = least significant 2 bits) and the
    number of usable preceding bases (N-free, inside the window), capped at `order`. Both int64, shape of ids."""
    ids = np.asarray(ids)
    is_n = ids >= N_ID
    clean = np.where(is_n, 0, ids).astype(np.int64)
    codes = np.zeros(ids.shape, dtype=np.int64)
    for lag in range(1, min(order, ids.shape[-1] - 1) + 1):
        codes[..., lag:] += clean[..., :-lag] << (2 * (lag - 1))
    idx = np.broadcast_to(np.arange(ids.shape[-1]), ids.shape)
    last_n = np.maximum.accumulate(np.where(is_n, idx, -1), axis=-1)  # last N at or before t
    prev_n = np.concatenate([np.full(ids.shape[:-1] + (1,), -1), last_n[..., :-1]], axis=-1)
    return codes, np.minimum(idx - prev_n - 1, order)


@dataclass
class MarkovModel:
    """`counts[j]` (4^j, 4): how often each base followed each j-base context, for j = 0..max_order."""
    max_order: int
    counts: list

    @classmethod
    def fit(cls, sequences, max_order, both_strands=True):
        """Count (context, next base) for orders 0..max_order over id arrays; contexts holding N are skipped."""
        if not 0 <= max_order <= 13:
            raise ValueError(f"max_order must be in 0..13 (4^(k+1) counters), got {max_order}")
        counts = [np.zeros(4 ** (j + 1), dtype=np.int64) for j in range(max_order + 1)]
        buffers = [[] for _ in counts]

        def flush(j):
            if buffers[j]:
                counts[j] += np.bincount(np.concatenate(buffers[j]), minlength=4 ** (j + 1))
                buffers[j].clear()

        for seq in sequences:
            seq = np.asarray(seq)
            for strand in ([seq, reverse_complement_ids(seq)] if both_strands else [seq]):
                codes, avail = context_codes(strand, max_order)
                target_ok = strand < N_ID
                nxt = strand.astype(np.int64)
                for j in range(max_order + 1):
                    ok = target_ok & (avail >= j)
                    buffers[j].append((codes[ok] & ((1 << (2 * j)) - 1)) * 4 + nxt[ok])
                    if sum(map(len, buffers[j])) > _FLUSH:
                        flush(j)
        for j in range(max_order + 1):
            flush(j)
        return cls(max_order, [c.reshape(-1, 4) for c in counts])

    def discounts(self):
        """Absolute discount per order, Ney's estimate D = n1 / (n1 + 2 n2) from the count-of-counts."""
        out = [0.0]
        for j in range(1, self.max_order + 1):
            n1, n2 = np.count_nonzero(self.counts[j] == 1), np.count_nonzero(self.counts[j] == 2)
            out.append(float(n1 / (n1 + 2 * n2)) if n1 + n2 > 0 else 0.5)
        return out

    def probs(self, ids, order=None, smoothing="interpolated", alpha=1.0, discounts=None):
        """p(base_t | context) at every position t of `ids` (last axis; NaN where base_t is N; position 0 uses
        no context). Context rule as in the module docstring."""
        order = self.max_order if order is None else order
        if not 0 <= order <= self.max_order:
            raise ValueError(f"order {order} outside 0..{self.max_order} (the fitted max_order)")
        ids = np.asarray(ids)
        codes, avail = context_codes(ids, order)
        target = np.where(ids < N_ID, ids, 0).astype(np.int64)
        if smoothing == "additive":  # each position uses its longest usable context
            p = np.zeros(ids.shape)
            for j in range(order + 1):
                sel = avail == j
                rows = self.counts[j][codes[sel] & ((1 << (2 * j)) - 1)].astype(np.float64)
                p[sel] = (rows[np.arange(len(rows)), target[sel]] + alpha) / (rows.sum(1) + 4 * alpha)
        elif smoothing == "interpolated":  # p_j = (max(n(c,x) - D, 0) + D · distinct(c) · p_{j-1}) / n(c)
            discounts = self.discounts() if discounts is None else discounts
            unigram = self.counts[0][0].astype(np.float64)
            p = ((unigram + 1.0) / (unigram.sum() + 4.0))[target]
            for j in range(1, order + 1):
                sel = avail >= j
                rows = self.counts[j][codes[sel] & ((1 << (2 * j)) - 1)].astype(np.float64)  # (n_sel, 4)
                total, d, lower = rows.sum(1), discounts[j], p[sel]
                n_cx = rows[np.arange(len(rows)), target[sel]]
                mixed = (np.maximum(n_cx - d, 0.0) + d * (rows > 0).sum(1) * lower) / np.maximum(total, 1.0)
                p[sel] = np.where(total > 0, mixed, lower)
        else:
            raise ValueError(f"unknown smoothing {smoothing!r} (interpolated | additive)")
        return np.where(ids < N_ID, p, np.nan)

    def window_bits(self, windows, order=None, smoothing="interpolated", alpha=1.0, batch=256):
        """Per window (rows of a 2-D array): summed -log2 p over its scored positions (t ≥ 1, base not N), and
        how many positions were scored. Returns (bits (n,) float64, counts (n,) int64)."""
        windows = np.atleast_2d(np.asarray(windows))
        disc = self.discounts() if smoothing == "interpolated" else None
        bits, counts = np.zeros(len(windows)), np.zeros(len(windows), dtype=np.int64)
        for i in range(0, len(windows), batch):
            p = self.probs(windows[i:i + batch], order, smoothing, alpha, disc)[:, 1:]
            ok = ~np.isnan(p)
            bits[i:i + batch] = -np.where(ok, np.log2(np.where(ok, p, 1.0)), 0.0).sum(1)
            counts[i:i + batch] = ok.sum(1)
        return bits, counts

    def bits_per_nt(self, windows, order=None, smoothing="interpolated", alpha=1.0):
        """Mean -log2 p over the scored positions of each window: rows of a 2-D array, or one 1-D sequence."""
        bits, counts = self.window_bits(windows, order, smoothing, alpha)
        return bits.sum() / max(counts.sum(), 1)


def tune_orders(model, windows_by_genome, orders=None, smoothing="interpolated"):
    """bits/nt of each order k on each genome's windows → {"bits": {genome: {k: bits}}, "best_k": {genome: k}
    (the best k for that genome), "best_k_overall": k (lowest mean over genomes), "mean_bits": {k: bits}}."""
    orders = list(range(1, model.max_order + 1)) if orders is None else list(orders)
    table = {g: {k: model.bits_per_nt(w, k, smoothing) for k in orders} for g, w in windows_by_genome.items()}
    best_per_genome = {g: min(row, key=row.get) for g, row in table.items()}
    mean = {k: float(np.mean([table[g][k] for g in table])) for k in orders}
    return {"bits": table, "best_k": best_per_genome, "best_k_overall": min(mean, key=mean.get), "mean_bits": mean}
