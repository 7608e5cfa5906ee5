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
instead (`_serial`: no threading layer, the GIL released), so Python threads may each run a strand pass at once
(`dnahnet.infer`). The first call in a fresh checkout compiles the kernels (~5 s each variant; cached on disk).
"""
import contextlib
import math
import threading
import types

import numba
import numpy as np
import torch
import torch.nn.functional as F

_LOCK = threading.Lock()  # numba's workqueue threading layer must not be entered by two threads at once
_BLOCK = 256  # tokens per parallel work item in the per-token kernels (so batch 1 still uses every thread)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _causal_conv(src, offset, w, bias, out):  # pragma: no cover - compiled; covered through mamba_inner
    """src (b,l,f) in_proj output; conv over columns [offset, offset + c); w (k, c), tap k-1 = current position;
    bias (c,); out (b,l,c). (Also used by kernels/mamba/cpu_train.py.)"""
    b, l, _ = src.shape
    k, c = w.shape
    blocks = (l + _BLOCK - 1) // _BLOCK
    for item in numba.prange(b * blocks):
        bi, t0 = item // blocks, (item % blocks) * _BLOCK
        for t in range(t0, min(t0 + _BLOCK, l)):
            for ch in range(c):
                out[bi, t, ch] = bias[ch]
            for tap in range(k):
                s = t - (k - 1) + tap
                if s >= 0:
                    for ch in range(c):
                        out[bi, t, ch] += w[tap, ch] * src[bi, s, offset + ch]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _causal_conv_from(src, offset, w, bias, prev, out):  # pragma: no cover - compiled; covered through mamba_inner
    """`_causal_conv` continuing a sequence: prev (b,k-1,c) holds the conv inputs before position 0."""
    b, l, _ = src.shape
    k, c = w.shape
    blocks = (l + _BLOCK - 1) // _BLOCK
    for item in numba.prange(b * blocks):
        bi, t0 = item // blocks, (item % blocks) * _BLOCK
        for t in range(t0, min(t0 + _BLOCK, l)):
            for ch in range(c):
                out[bi, t, ch] = bias[ch]
            for tap in range(k):
                s = t - (k - 1) + tap
                if s >= 0:
                    for ch in range(c):
                        out[bi, t, ch] += w[tap, ch] * src[bi, s, offset + ch]
                else:
                    for ch in range(c):
                        out[bi, t, ch] += w[tap, ch] * prev[bi, k - 1 + s, ch]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _gated_scan(xbc, d_inner, p, n, ngroups, dt, A, D, gate, s0, g, sumsq, final):  # pragma: no cover - compiled
    """xbc (b,l,conv_dim) after SiLU = [x (h*p) | B (g*n) | C (g*n)]; dt (b,l,h) softplus'ed; A, D (h,);
    gate (b,l,h*p) = silu(z); out g = (y + D x) * gate (b,l,h*p) and sumsq (b,l,h) = sum over the head's p of g².
    s0 (b,h,p,n) the state before position 0, or (0,0,0,0) for zeros; final (b,h,p,n) receives the state after the
    last position, or is (0,0,0,0) when not wanted."""
    b, l, h = dt.shape
    heads_per_group = h // ngroups
    has_s0, want_final = s0.shape[0] > 0, final.shape[0] > 0
    for bh in numba.prange(b * h):
        bi, hi = bh // h, bh % h
        gi = hi // heads_per_group
        xo, bo, co = hi * p, d_inner + gi * n, d_inner + (ngroups + gi) * n
        # a private state and private copies of this token's B and C: with nothing that can alias them, LLVM
        # vectorises the inner loop (reading B and C in place from xbc, with the state in an argument, was 3.5x slower)
        s = np.zeros((p, n), np.float32)
        if has_s0:
            s[:, :] = s0[bi, hi]
        b_t, c_t = np.empty(n, np.float32), np.empty(n, np.float32)
        a_h, d_h = A[hi], D[hi]
        for t in range(l):
            d = dt[bi, t, hi]
            decay = np.float32(math.exp(d * a_h))
            for j in range(n):
                b_t[j] = xbc[bi, t, bo + j]
                c_t[j] = xbc[bi, t, co + j]
            sq = np.float32(0.0)
            for i in range(p):
                xi = xbc[bi, t, xo + i]
                dx = d * xi
                acc = np.float32(0.0)
                for j in range(n):
                    v = s[i, j] * decay + dx * b_t[j]
                    s[i, j] = v
                    acc += v * c_t[j]
                y = (acc + d_h * xi) * gate[bi, t, xo + i]
                g[bi, t, xo + i] = y
                sq += y * y
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


def _serial(kernel):
    """The same kernel compiled without `parallel` (its prange runs as a plain loop) and with the GIL released: it
    never enters numba's threading layer, so several Python threads may run it at once (one strand each,
    `dnahnet.infer`), where the parallel kernels take `_LOCK`. A renamed copy of the function: numba's disk cache
    is named by the function and keyed by signature and bytecode, not by `parallel`, so the two variants of one
    function would load each other's machine code."""
    f = kernel.py_func
    twin = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_serial", f.__defaults__, f.__closure__)
    twin.__qualname__ = f.__qualname__ + "_serial"
    return numba.njit(fastmath=True, cache=True, nogil=True)(twin)


_causal_conv_serial, _causal_conv_from_serial, _gated_scan_serial, _normalize_serial = (
    _serial(kernel) for kernel in (_causal_conv, _causal_conv_from, _gated_scan, _normalize))


def _f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().contiguous().numpy()


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
    src = _f32(zxbcdt)
    xbc = np.empty((b, l, conv_dim), np.float32)
    g = np.empty((b, l, d_inner), np.float32)
    sumsq = np.empty((b, l, h), np.float32)
    z, dt = zxbcdt[..., :d_inner], zxbcdt[..., d_inner + conv_dim:]
    gate = F.silu(z.float()).contiguous().numpy()  # (b, l, d_inner)
    dt = F.softplus(dt.float() + dt_bias.float()).contiguous().numpy()  # (b, l, h)
    w = np.ascontiguousarray(_f32(conv_weight).T)  # (k, conv_dim)
    s0 = np.zeros((0, 0, 0, 0), np.float32) if ssm_state is None else _f32(ssm_state)  # (b, h, p, n)
    final = np.empty((b, h, headdim, d_state) if return_state else (0, 0, 0, 0), np.float32)
    threads = torch.get_num_threads()
    serial = threads == 1
    if serial:
        conv, conv_from, scan, normalize = _causal_conv_serial, _causal_conv_from_serial, _gated_scan_serial, \
            _normalize_serial
    else:
        conv, conv_from, scan, normalize = _causal_conv, _causal_conv_from, _gated_scan, _normalize
    with contextlib.nullcontext() if serial else _LOCK:
        if not serial:
            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            if conv_state is None:
                conv(src, d_inner, w, _f32(conv_bias), xbc)
            else:  # the last k-1 conv inputs before position 0: (b, k-1, conv_dim)
                conv_from(src, d_inner, w, _f32(conv_bias), _f32(conv_state[..., 1:].transpose(1, 2)), xbc)
            F.silu(torch.from_numpy(xbc), inplace=True)
            scan(xbc, d_inner, headdim, d_state, ngroups, dt, _f32(A), _f32(D), gate, s0, g, sumsq, final)
            normalize(g, sumsq, _f32(norm_weight), np.float32(norm_eps))
        finally:  # numba's OpenMP layer shares torch's OpenMP runtime and resets its thread count: put it back
            if not serial:
                torch.set_num_threads(threads)
    if not return_state:
        return torch.from_numpy(g)
    inputs = zxbcdt[:, -k:, d_inner:d_inner + conv_dim].transpose(1, 2)  # (b, conv_dim, min(l, k)) last inputs
    before = (torch.zeros(b, conv_dim, k, dtype=zxbcdt.dtype) if conv_state is None
              else conv_state.to(zxbcdt.dtype))
    conv_out = torch.cat([before, inputs], dim=-1)[..., -k:].contiguous()  # (b, conv_dim, k)
    return torch.from_numpy(g), conv_out, torch.from_numpy(final)
