"""The EMA of the dechunk step that defines the answer: z̄_k = P_k z_k + (1 - P_k) z̄_{k-1}, z̄_{-1} = 0, as a loop.

The ground truth `kernels/ema/chunked.py` and the Triton kernel (`kernels/ema/triton.py`) are tested against.
"""
import torch


def ema_loop(z, P):
    """z (b,m,d), P (b,m) -> (b,m,d) in z's dtype: the EMA as a python loop over chunks (fp32 inside)."""
    out = []
    acc = z.new_zeros(z.shape[0], z.shape[2], dtype=torch.float32)
    for k in range(z.shape[1]):
        pk = P[:, k, None].float()
        acc = pk * z[:, k].float() + (1 - pk) * acc
        out.append(acc)
    return (torch.stack(out, dim=1) if out else z.float()[:, :0]).to(z.dtype)
