"""Rotary position embedding for CPU inference in one numba pass: for each head vector x = [x1 | x2] (halves of
the head dimension), [x1 cos − x2 sin | x1 sin + x2 cos].

PyTorch reference: `apply_rope` in dnahnet/transformer.py, six elementwise ops and a concatenation over the whole
(b, heads, l, head_dim) tensor. Here each element is read once and written once, from q or k as the attention
layer holds them (a strided view of its qkv projection). Compiled without fastmath, so every product, difference
and sum rounds as PyTorch's separate ops do: the same bits as the reference (tests/test_kernel_refs.py), 1.4–3.7×
faster on the model's shapes (`bench/bench_kernels.py`).
"""
import numba
import numpy as np
import torch

from kernels.numba_utils import kernel_threads, serial_twin


@numba.njit(parallel=True, cache=True)
def _rope(x, cos, sin, out):  # pragma: no cover - compiled; covered through rope
    """x (b, heads, l, dh) any strides, cos/sin (l, dh/2) -> out (b, heads, l, dh)."""
    b, h, l, dh = x.shape
    half = dh // 2
    for item in numba.prange(b * h):
        bi, hi = item // h, item % h
        for t in range(l):
            for i in range(half):
                x1, x2 = x[bi, hi, t, i], x[bi, hi, t, half + i]
                out[bi, hi, t, i] = x1 * cos[t, i] - x2 * sin[t, i]
                out[bi, hi, t, half + i] = x1 * sin[t, i] + x2 * cos[t, i]


_rope_serial = serial_twin(_rope)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (b, heads, l, dh) fp32 on the CPU, cos/sin (l, dh/2) fp32 -> (b, heads, l, dh) fp32, contiguous."""
    out = np.empty(tuple(x.shape), np.float32)
    with kernel_threads() as serial:
        (_rope_serial if serial else _rope)(x.detach().numpy(), cos.contiguous().numpy(), sin.contiguous().numpy(),
                                            out)
    return torch.from_numpy(out)
