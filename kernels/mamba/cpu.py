"""The inside of a Mamba-2 layer (everything between in_proj and out_proj) for CPU inference, in three numba kernels.

PyTorch reference: `Mamba2._inner` in `dnahnet/mamba2.py` (depthwise causal conv + SiLU, softplus dt, SSD scan,
RMSNorm(y * silu(z)) * weight). On a CPU that path is memory-bound: the 4-tap conv alone makes five passes over
a (b, l, conv_dim) strided view, the scan needs contiguous copies of x, B and C, and the gated norm makes five more
passes. Here:
  1. `_causal_conv` reads the xBC columns of in_proj's output in place and writes the conv in one pass
     (SiLU then runs in place in PyTorch, whose vectorised exp is ~2.5x numba's scalar one);
  2. `_gated_scan` is the SSD recurrence, state_t = exp(dt_t A) state_{t-1} + dt_t x_t B_tᵀ, y_t = state_t C_t + D x_t
     (`kernels/ssd/naive.py`), one (batch, head) per thread with the state in L1; it reads x, B, C straight from
     the conv's buffer, multiplies y by silu(z) as it goes and sums its squares per head;
  3. `_normalize` scales each token by rsqrt(mean square + eps) * weight in place.
A sequence may continue from a state (`conv_state`, `ssm_state`: the last d_conv conv inputs and the SSM state, as
in `dnahnet.mamba2.MambaState`) and return the state at its end, so variant scoring can resume after a shared
prefix (`dnahnet/resume.py`); without a state every sequence starts from zeros, exactly as before. Forward only,
fp32 inside (other dtypes are cast); `kernels.dispatch.mamba_inner` (`mamba_inner_with_state` with a state) decides
when it runs (CPU, no gradient, numba present) and calls it. On one torch thread the kernels' serial twins run
instead (`kernels.numba_utils.serial_twin`: no threading layer, the GIL released), so Python threads may each run
a strand pass at once (`dnahnet.infer`). The first call in a fresh checkout compiles the kernels (~5 s each
variant; cached on disk).
"""
import math

import numba
import numpy as np
import torch
import torch.nn.functional as F

from kernels.native_build import f32
from kernels.numba_utils import BLOCK as _BLOCK, kernel_threads, serial_twin


@numba.njit(fastmath=True, cache=True, nogil=True)
def _conv_row_4taps(src, offset, w, bias, out, bi, t):  # pragma: no cover - compiled; covered through mamba_inner
    """Row t of `_causal_conv` for a 4-tap conv when all four taps lie in src (t >= 3): the taps summed in one pass
    over the row, in the order the general loop adds them (the same bits, 1.4x faster: docs/BENCHMARKS.md)."""
    for ch in range(w.shape[1]):
        out[bi, t, ch] = (bias[ch] + w[0, ch] * src[bi, t - 3, offset + ch] + w[1, ch] * src[bi, t - 2, offset + ch]
                          + w[2, ch] * src[bi, t - 1, offset + ch] + w[3, ch] * src[bi, t, offset + ch])


@numba.njit(parallel=True, fastmath=True, cache=True)
def _causal_conv(src, offset, w, bias, prev, out):  # pragma: no cover - compiled; covered through mamba_inner
    """src (b,l,f) in_proj output; conv over columns [offset, offset + c); w (k, c), tap k-1 = current position;
    bias (c,); prev (b,k-1,c) the conv inputs before position 0 when continuing a sequence, or (0,k-1,c) for
    zeros; out (b,l,c). (Also used by kernels/mamba/cpu_train.py.)"""
    b, l, _ = src.shape
    k, c = w.shape
    has_prev = prev.shape[0] > 0
    blocks = (l + _BLOCK - 1) // _BLOCK
    for item in numba.prange(b * blocks):
        bi, t0 = item // blocks, (item % blocks) * _BLOCK
        for t in range(t0, min(t0 + _BLOCK, l)):
            if k == 4 and t >= 3:  # Mamba's conv width with every tap inside the sequence
                _conv_row_4taps(src, offset, w, bias, out, bi, t)
                continue
            for ch in range(c):
                out[bi, t, ch] = bias[ch]
            for tap in range(k):
                s = t - (k - 1) + tap
                if s >= 0:
                    for ch in range(c):
                        out[bi, t, ch] += w[tap, ch] * src[bi, s, offset + ch]
                elif has_prev:
                    for ch in range(c):
                        out[bi, t, ch] += w[tap, ch] * prev[bi, k - 1 + s, ch]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _gated_scan(xbc, d_inner, p, n, ngroups, dt, A, D, gate, s0, g, sumsq, final):  # pragma: no cover - compiled
    """xbc (b,l,conv_dim) after SiLU = [x (h*p) | B (g*n) | C (g*n)]; dt (b,l,h) softplus'ed; A, D (h,);
    gate (b,l,h*p) = silu(z); out g = (y + D x) * gate (b,l,h*p) and sumsq (b,l,h) = sum over the head's p of g².
    s0 (b,h,p,n) the state before position 0, or (0,0,0,0) for zeros; final (b,h,p,n) receives the state after the
    last position, or is (0,0,0,0) when not wanted.

    Four time steps per pass over the state: each state element is loaded and stored once per four steps and the
    per-row work is shared (1.2x one step per pass, docs/BENCHMARKS.md); a last pass of 1-3 steps is padded with
    steps that leave the state as it is (decay 1, no input)."""
    b, l, h = dt.shape
    heads_per_group = h // ngroups
    has_s0, want_final = s0.shape[0] > 0, final.shape[0] > 0
    for bh in numba.prange(b * h):
        bi, hi = bh // h, bh % h
        gi = hi // heads_per_group
        xo, bo, co = hi * p, d_inner + gi * n, d_inner + (ngroups + gi) * n
        # a private state and private copies of the four steps' inputs: with nothing that can alias them, LLVM
        # vectorises the inner loop (reading B and C in place from xbc, with the state in an argument, was 3.5x slower)
        s = np.zeros((p, n), np.float32)
        if has_s0:
            s[:, :] = s0[bi, hi]
        decay = np.ones(4, np.float32)
        xd = np.zeros((4, p), np.float32)  # dt x of each step
        b4, c4 = np.zeros((4, n), np.float32), np.zeros((4, n), np.float32)
        y4 = np.empty((4, p), np.float32)  # state · C of each step
        a_h, d_h = A[hi], D[hi]
        for t0 in range(0, l, 4):
            steps = min(4, l - t0)
            for k in range(4):
                if k < steps:
                    d = dt[bi, t0 + k, hi]
                    decay[k] = np.float32(math.exp(d * a_h))
                    for i in range(p):
                        xd[k, i] = d * xbc[bi, t0 + k, xo + i]
                    for j in range(n):
                        b4[k, j] = xbc[bi, t0 + k, bo + j]
                        c4[k, j] = xbc[bi, t0 + k, co + j]
                else:  # past the end
                    decay[k] = np.float32(1.0)
                    xd[k, :] = np.float32(0.0)
            a0, a1, a2, a3 = decay[0], decay[1], decay[2], decay[3]
            b0, b1, b2, b3 = b4[0], b4[1], b4[2], b4[3]
            c0, c1, c2, c3 = c4[0], c4[1], c4[2], c4[3]
            for i in range(p):
                x0, x1, x2, x3 = xd[0, i], xd[1, i], xd[2, i], xd[3, i]
                si = s[i]
                y0 = y1 = y2 = y3 = np.float32(0.0)
                for j in range(n):
                    v = si[j] * a0 + x0 * b0[j]
                    y0 += v * c0[j]
                    v = v * a1 + x1 * b1[j]
                    y1 += v * c1[j]
                    v = v * a2 + x2 * b2[j]
                    y2 += v * c2[j]
                    v = v * a3 + x3 * b3[j]
                    y3 += v * c3[j]
                    si[j] = v
                y4[0, i], y4[1, i], y4[2, i], y4[3, i] = y0, y1, y2, y3
            for k in range(steps):
                t = t0 + k
                sq = np.float32(0.0)
                for i in range(p):
                    xi = xbc[bi, t, xo + i]
                    out = (y4[k, i] + d_h * xi) * gate[bi, t, xo + i]
                    g[bi, t, xo + i] = out
                    sq += out * out
                sumsq[bi, t, hi] = sq
        if want_final:
            final[bi, hi] = s


@numba.njit(parallel=True, fastmath=True, cache=True)
def _normalize(g, sumsq, weight, eps):  # pragma: no cover - compiled; covered through mamba_inner
    """g (b,l,d) *= weight / sqrt(mean over d of g² + eps), the mean taken from sumsq (b,l,heads)."""
    b, l, d = g.shape
    blocks = (l + _BLOCK - 1) // _BLOCK
    for item in numba.prange(b * blocks):
        bi, t0 = item // blocks, (item % blocks) * _BLOCK
        for t in range(t0, min(t0 + _BLOCK, l)):
            total = np.float32(0.0)
            for hi in range(sumsq.shape[2]):
                total += sumsq[bi, t, hi]
            scale = np.float32(1.0) / math.sqrt(total / d + eps)
            for ch in range(d):
                g[bi, t, ch] = g[bi, t, ch] * scale * weight[ch]


_causal_conv_serial, _gated_scan_serial, _normalize_serial = (
    serial_twin(kernel) for kernel in (_causal_conv, _gated_scan, _normalize))


def mamba_inner(zxbcdt, conv_weight, conv_bias, dt_bias, A, D, norm_weight, norm_eps, *, headdim, d_state,
                ngroups, conv_state=None, ssm_state=None, return_state=False):
    """zxbcdt (b,l,2·d_inner + 2·g·n + h) on the CPU, the output of in_proj -> (b,l,d_inner) fp32, the input of
    out_proj; computed in fp32 whatever the input dtype.

    conv_weight (conv_dim, k) depthwise taps; A (h,) = -exp(A_log); the rest as in `Mamba2`. Same maths as
    `Mamba2._inner`, which the tests compare it with. conv_state (b, conv_dim, k): the last k conv inputs before
    position 0 (only the last k-1 are read); ssm_state (b,h,p,n): the SSM state there; either None = zeros.
    return_state: also return the state after the last position, (y, conv_state (b,conv_dim,k) in zxbcdt's dtype,
    ssm_state (b,h,p,n) fp32)."""
    b, l, f = zxbcdt.shape
    conv_dim, k = conv_weight.shape
    d_inner = conv_dim - 2 * ngroups * d_state
    h = f - d_inner - conv_dim
    src = f32(zxbcdt)
    xbc = np.empty((b, l, conv_dim), np.float32)
    g = np.empty((b, l, d_inner), np.float32)
    sumsq = np.empty((b, l, h), np.float32)
    z, dt = zxbcdt[..., :d_inner], zxbcdt[..., d_inner + conv_dim:]
    # SiLU in place on a fresh copy of z: faster than on the strided view of zxbcdt, the same bits, never in zxbcdt
    gate = F.silu(torch.empty(z.shape, dtype=torch.float32).copy_(z), inplace=True).numpy()  # (b, l, d_inner)
    dt = F.softplus(dt.float() + dt_bias.float()).contiguous().numpy()  # (b, l, h)
    w = np.ascontiguousarray(f32(conv_weight).T)  # (k, conv_dim)
    s0 = np.zeros((0, 0, 0, 0), np.float32) if ssm_state is None else f32(ssm_state)  # (b, h, p, n)
    final = np.empty((b, h, headdim, d_state) if return_state else (0, 0, 0, 0), np.float32)
    prev = (np.zeros((0, k - 1, conv_dim), np.float32) if conv_state is None  # the last k-1 conv inputs before 0
            else f32(conv_state[..., 1:].transpose(1, 2)))  # (b, k-1, conv_dim)
    with kernel_threads() as serial:
        if serial:
            conv, scan, normalize = _causal_conv_serial, _gated_scan_serial, _normalize_serial
        else:
            conv, scan, normalize = _causal_conv, _gated_scan, _normalize
        conv(src, d_inner, w, f32(conv_bias), prev, xbc)
        F.silu(torch.from_numpy(xbc), inplace=True)
        scan(xbc, d_inner, headdim, d_state, ngroups, dt, f32(A), f32(D), gate, s0, g, sumsq, final)
        normalize(g, sumsq, f32(norm_weight), np.float32(norm_eps))
    if not return_state:
        return torch.from_numpy(g)
    return torch.from_numpy(g), conv_state_after(zxbcdt, conv_state, d_inner, conv_dim, k), torch.from_numpy(final)


def conv_state_after(zxbcdt, conv_state, d_inner, conv_dim, k):
    """The last k conv inputs after zxbcdt (b, l, f), which followed `conv_state` (b, conv_dim, k) or zeros (None):
    (b, conv_dim, k) in zxbcdt's dtype. (Also used by kernels/mamba/native.py.)"""
    b = zxbcdt.shape[0]
    inputs = zxbcdt[:, -k:, d_inner:d_inner + conv_dim].transpose(1, 2)  # (b, conv_dim, min(l, k)) last inputs
    before = (torch.zeros(b, conv_dim, k, dtype=zxbcdt.dtype) if conv_state is None
              else conv_state.to(zxbcdt.dtype))
    return torch.cat([before, inputs], dim=-1)[..., -k:].contiguous()  # (b, conv_dim, k)
