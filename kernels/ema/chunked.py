"""The EMA of the dechunk step, z̄_k = P_k z_k + (1 - P_k) z̄_{k-1}, loop-free: the fast path on a CPU.

The EMA is a one-state linear scan (decay 1 - P, input P z) run through the chunked SSD form
(`kernels/ssd/chunked.py`); differentiable in z and P. Tested against the loop in `kernels/ema/naive.py`.
"""
import torch

from kernels.ssd.chunked import scan_chunked


def ema_chunked(z, P, chunk_size=16):
    """z (b,m,d), P (b,m) in [1e-4, 1-1e-4] -> (b,m,d) in z's dtype; fp32, differentiable in z and P.

    Chunks of 16 keep the total log-decay of a chunk (at most 16·ln(1e4) ≈ 147) on the fast factored path.
    """
    b, m, d = z.shape
    with torch.autocast(device_type=z.device.type, enabled=False):  # fp32 accumulation
        Pf = P.float()
        X = (Pf[..., None] * z.float())[:, :, None, :]  # (b, m, 1, d)
        logA = torch.log1p(-Pf)[..., None]  # (b, m, 1)
        ones = z.new_ones(b, m, 1, 1, dtype=torch.float32)
        y, _ = scan_chunked(X, logA, ones, ones, chunk_size)
    return y[:, :, 0, :].to(z.dtype)
