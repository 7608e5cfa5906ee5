"""The inside of a Mamba-2 layer (between in_proj and out_proj) for CPU training: numba forward AND backward.

PyTorch reference: `Mamba2._inner` in `dnahnet/mamba2.py`; its autograd graph keeps a dozen (b, l, C)-sized
intermediates and its backward is a long chain of memory-bound element-wise passes. `MambaInnerTrain` is one
`torch.autograd.Function` instead. Forward (the maths of `kernels/mamba/cpu.py`, which serves inference):
  conv = causal depthwise conv(xBC) + bias; u = silu(conv) = [x | B | C]; dt = softplus(dt + dt_bias);
  state_t = exp(dt_t A) state_{t-1} + dt_t x_t B_tᵀ; y_t = state_t C_t + D x_t;
  out = RMSNorm(y · silu(z)) · weight.
It saves only in_proj's output (b, l, f), y (b, l, d_inner) and the SSM state every `every`
steps (b, h, ⌈l/every⌉, p, n) — checkpoints, not all l states. Backward: the gated-norm backward per token; the conv
and SiLU recomputed; a reverse-time scan per (batch, head) that rebuilds each block's states from its checkpoint
(in a private (every + 1, p, n) buffer that stays in L2) and carries G_t = ∂L/∂state_t = a_{t+1} G_{t+1} + dy_t C_tᵀ,
giving ∂x, ∂B, ∂C, ∂dt (also through the decay a_t = exp(dt_t A)), ∂A and ∂D; then SiLU and conv backward in one pass.
fp32 inside for fp32/bf16/fp16 input (float64 input runs in float64: the tests' gradcheck); output and ∂zxbcdt in
the input's dtype. `kernels.dispatch.mamba_inner` runs it on CPU when autograd needs a gradient (auto mode).
First use compiles the kernels (cached on disk: `cache=True`).
"""
import math

import numba
import numpy as np
import torch
import torch.nn.functional as F

from kernels.mamba.cpu import _causal_conv
from kernels.numba_utils import BLOCK as _BLOCK, kernel_threads

CHECKPOINT_EVERY = 32  # SSM state saved every this many steps; the backward keeps one block's states in L2


# ---- forward ----------------------------------------------------------------------------------------------------
@numba.njit(parallel=True, fastmath=True, cache=True)
def _scan_forward(u, d_inner, p, n, ngroups, dt, A, D, gate, y, g, sumsq, states, every):  # pragma: no cover
    """u (b,l,conv_dim) = silu(conv) = [x (h*p) | B (g*n) | C (g*n)]; dt (b,l,h) softplus'ed; A, D (h,);
    gate (b,l,h*p) = silu(z). Writes y (b,l,h*p) = state C + D x, g = y * gate, sumsq (b,l,h) = per-head sum of g²,
    and states (b,h,⌈l/every⌉,p,n): the state entering steps 0, every, 2·every, ... (zero at step 0)."""
    b, l, h = dt.shape
    heads_per_group = h // ngroups
    zero = u.dtype.type(0.0)
    for bh in numba.prange(b * h):
        bi, hi = bh // h, bh % h
        gi = hi // heads_per_group
        xo, bo, co = hi * p, d_inner + gi * n, d_inner + (ngroups + gi) * n
        s = np.zeros((p, n), u.dtype)  # private state and B/C copies: nothing aliases them, LLVM vectorises
        b_t, c_t = np.empty(n, u.dtype), np.empty(n, u.dtype)
        a_h, d_h = A[hi], D[hi]
        for t in range(l):
            if t % every == 0:
                m = t // every
                for i in range(p):
                    for j in range(n):
                        states[bi, hi, m, i, j] = s[i, j]
            d = dt[bi, t, hi]
            decay = u.dtype.type(math.exp(d * a_h))
            for j in range(n):
                b_t[j] = u[bi, t, bo + j]
                c_t[j] = u[bi, t, co + j]
            sq = zero
            for i in range(p):
                xi = u[bi, t, xo + i]
                dx = d * xi
                acc = zero
                for j in range(n):
                    v = s[i, j] * decay + dx * b_t[j]
                    s[i, j] = v
                    acc += v * c_t[j]
                yi = acc + d_h * xi
                y[bi, t, xo + i] = yi
                gv = yi * gate[bi, t, xo + i]
                g[bi, t, xo + i] = gv
                sq += gv * gv
            sumsq[bi, t, hi] = sq


@numba.njit(parallel=True, fastmath=True, cache=True)
def _normalize(g, sumsq, weight, eps):  # pragma: no cover - compiled; covered through mamba_inner
    """g (b,l,d) *= weight / sqrt(mean over d of g² + eps) in place, the mean taken from sumsq (b,l,heads)."""
    b, l, d = g.shape
    one, inv_d = g.dtype.type(1.0), g.dtype.type(1.0 / d)
    blocks = (l + _BLOCK - 1) // _BLOCK
    for item in numba.prange(b * blocks):
        bi, t0 = item // blocks, (item % blocks) * _BLOCK
        for t in range(t0, min(t0 + _BLOCK, l)):
            total = g.dtype.type(0.0)
            for hi in range(sumsq.shape[2]):
                total += sumsq[bi, t, hi]
            scale = one / g.dtype.type(math.sqrt(total * inv_d + eps))
            for ch in range(d):
                g[bi, t, ch] = g[bi, t, ch] * scale * weight[ch]


# ---- backward ---------------------------------------------------------------------------------------------------
@numba.njit(parallel=True, fastmath=True, cache=True)
def _norm_backward(dout, y, src, sig_z, weight, eps, dy, dsrc, dweight):  # pragma: no cover - compiled
    """Backward of out = RMSNorm(y · silu(z)) · weight per token. dout, y, sig_z = sigmoid(z) (b,l,d); z is
    src[..., :d] (in_proj's output). Writes dy (b,l,d), ∂z into dsrc[..., :d] and per-work-item partial ∂weight
    into dweight (items, d) (summed by the caller)."""
    b, l, d = y.shape
    zero, one, inv_d = y.dtype.type(0.0), y.dtype.type(1.0), y.dtype.type(1.0 / d)
    blocks = (l + _BLOCK - 1) // _BLOCK
    for item in numba.prange(b * blocks):
        bi, t0 = item // blocks, (item % blocks) * _BLOCK
        g = np.empty(d, y.dtype)
        dw_item = np.zeros(d, y.dtype)  # private accumulator: no aliasing with dy/dsrc, so the loops vectorise
        for t in range(t0, min(t0 + _BLOCK, l)):
            ss = zero
            for i in range(d):
                gi = y[bi, t, i] * (src[bi, t, i] * sig_z[bi, t, i])
                g[i] = gi
                ss += gi * gi
            r = one / y.dtype.type(math.sqrt(ss * inv_d + eps))  # out_i = g_i r w_i
            dot = zero
            for i in range(d):
                dot += dout[bi, t, i] * weight[i] * g[i]
            coef = r * r * r * dot * inv_d  # ∂g_i = r w_i dout_i - r³/d · g_i Σ_j w_j dout_j g_j
            for i in range(d):
                do = dout[bi, t, i]
                dw_item[i] += do * g[i] * r
                dg = r * weight[i] * do - coef * g[i]
                s = sig_z[bi, t, i]
                gz = src[bi, t, i] * s  # silu(z); silu'(z) = s + silu(z) (1 - s)
                dy[bi, t, i] = dg * gz
                dsrc[bi, t, i] = dg * y[bi, t, i] * (s + gz * (one - s))
        for i in range(d):
            dweight[item, i] = dw_item[i]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _scan_backward(u, d_inner, p, n, ngroups, dt, A, D, dy, states, every,
                   dx, dB_h, dC_h, ddt, dD_p, dA_p):  # pragma: no cover - compiled; covered through mamba_inner
    """Reverse-time scan per (batch, head). Inputs as `_scan_forward` (states = its checkpoints), dy (b,l,h*p).
    Writes dx (b,l,h*p), per-head dB_h, dC_h (b,l,h,n) (the caller sums the heads of a group), ddt (b,l,h) (with
    respect to the softplus'ed dt), and per-(batch, head) dD_p, dA_p (b,h).

    G_t = ∂L/∂state_t = a_{t+1} G_{t+1} + dy_t C_tᵀ; ∂C_t = state_tᵀ dy_t; ∂x_t = D dy_t + dt_t G_t B_t;
    ∂B_t = dt_t G_tᵀ x_t; ∂dt_t = x_tᵀ G_t B_t + A a_t ⟨G_t, state_{t-1}⟩; ∂A = Σ_t dt_t a_t ⟨G_t, state_{t-1}⟩."""
    b, l, h = dt.shape
    heads_per_group = h // ngroups
    blocks = states.shape[2]
    zero = u.dtype.type(0.0)
    for bh in numba.prange(b * h):
        bi, hi = bh // h, bh % h
        gi = hi // heads_per_group
        xo, bo, co = hi * p, d_inner + gi * n, d_inner + (ngroups + gi) * n
        G = np.zeros((p, n), u.dtype)
        buf = np.empty((every + 1, p, n), u.dtype)  # buf[r] = state entering step t0 + r of the current block
        b_t, c_t = np.empty(n, u.dtype), np.empty(n, u.dtype)
        db, dc = np.empty(n, u.dtype), np.empty(n, u.dtype)
        a_h, d_h = A[hi], D[hi]
        carry = zero  # a_{t+1}: the decay of the step after t (none after the last)
        dD_acc, dA_acc = zero, zero
        for m in range(blocks - 1, -1, -1):
            t0 = m * every
            t1 = min(t0 + every, l)
            for i in range(p):
                for j in range(n):
                    buf[0, i, j] = states[bi, hi, m, i, j]
            for t in range(t0, t1):  # rebuild this block's states from its checkpoint
                r = t - t0
                d = dt[bi, t, hi]
                decay = u.dtype.type(math.exp(d * a_h))
                for j in range(n):
                    b_t[j] = u[bi, t, bo + j]
                for i in range(p):
                    dxi = d * u[bi, t, xo + i]
                    for j in range(n):
                        buf[r + 1, i, j] = buf[r, i, j] * decay + dxi * b_t[j]
            for t in range(t1 - 1, t0 - 1, -1):
                r = t - t0
                d = dt[bi, t, hi]
                decay = u.dtype.type(math.exp(d * a_h))
                for j in range(n):
                    b_t[j] = u[bi, t, bo + j]
                    c_t[j] = u[bi, t, co + j]
                    db[j] = zero
                    dc[j] = zero
                da, dd = zero, zero
                for i in range(p):
                    xi = u[bi, t, xo + i]
                    dyi = dy[bi, t, xo + i]
                    dD_acc += dyi * xi
                    gb = zero
                    for j in range(n):
                        gij = G[i, j] * carry + dyi * c_t[j]
                        G[i, j] = gij
                        dc[j] += buf[r + 1, i, j] * dyi
                        db[j] += gij * xi
                        gb += gij * b_t[j]
                        da += gij * buf[r, i, j]
                    dx[bi, t, xo + i] = d_h * dyi + d * gb
                    dd += xi * gb
                for j in range(n):
                    dB_h[bi, t, hi, j] = d * db[j]
                    dC_h[bi, t, hi, j] = dc[j]
                ddt[bi, t, hi] = dd + da * decay * a_h
                dA_acc += da * decay * d
                carry = decay
        dD_p[bi, hi] = dD_acc
        dA_p[bi, hi] = dA_acc


@numba.njit(parallel=True, fastmath=True, cache=True)
def _conv_backward(src, offset, w, pre, sig, dx, dB_h, dC_h, ngroups, dsrc, dw, dbias):  # pragma: no cover
    """SiLU and causal depthwise conv backward. src (b,l,f) in_proj output, the conv reads columns
    [offset, offset + c); w (k,c), tap k-1 = current position; pre (b,l,c) conv output before SiLU, sig its sigmoid;
    ∂u = [dx (b,l,d_inner) | Σ heads of dB_h | Σ heads of dC_h] with dB_h, dC_h (b,l,h,n). Writes ∂src into
    dsrc[..., offset:offset + c] and per-work-item partial ∂w (items,k,c), ∂bias (items,c)."""
    b, l, _ = src.shape
    k, c = w.shape
    d_inner = dx.shape[2]
    h, n = dB_h.shape[2], dB_h.shape[3]
    heads_per_group = h // ngroups
    zero, one = src.dtype.type(0.0), src.dtype.type(1.0)
    blocks = (l + _BLOCK - 1) // _BLOCK
    for item in numba.prange(b * blocks):
        bi, t0 = item // blocks, (item % blocks) * _BLOCK
        t1 = min(t0 + _BLOCK, l)
        e1 = min(t1 + k - 1, l)  # ∂src at t1-1 reads ∂pre up to t1+k-2
        dpre = np.empty((e1 - t0, c), src.dtype)
        dw_item, db_item = np.zeros((k, c), src.dtype), np.zeros(c, src.dtype)  # private accumulators
        ds = np.empty(c, src.dtype)
        for t in range(t0, e1):
            row = t - t0
            for ch in range(d_inner):
                dpre[row, ch] = dx[bi, t, ch]
            for gi in range(ngroups):
                for j in range(n):
                    sb, sc = zero, zero
                    for hi in range(gi * heads_per_group, (gi + 1) * heads_per_group):
                        sb += dB_h[bi, t, hi, j]
                        sc += dC_h[bi, t, hi, j]
                    dpre[row, d_inner + gi * n + j] = sb
                    dpre[row, d_inner + (ngroups + gi) * n + j] = sc
            for ch in range(c):  # silu'(v) = s + silu(v) (1 - s)
                s = sig[bi, t, ch]
                dpre[row, ch] *= s + pre[bi, t, ch] * s * (one - s)
        for t in range(t0, t1):
            row = t - t0
            for ch in range(c):
                ds[ch] = zero
                db_item[ch] += dpre[row, ch]
            for tap in range(k):
                later = t + (k - 1) - tap  # the output position that reads src[t] through this tap
                if later < l:
                    for ch in range(c):
                        ds[ch] += w[tap, ch] * dpre[later - t0, ch]
                s_in = t - (k - 1) + tap  # the input this output read through this tap
                if s_in >= 0:
                    for ch in range(c):
                        dw_item[tap, ch] += dpre[row, ch] * src[bi, s_in, offset + ch]
            for ch in range(c):
                dsrc[bi, t, offset + ch] = ds[ch]
        for ch in range(c):
            dbias[item, ch] = db_item[ch]
            for tap in range(k):
                dw[item, tap, ch] = dw_item[tap, ch]


# ---- the autograd Function --------------------------------------------------------------------------------------
def _no_prev(k: int, c: int, dtype) -> np.ndarray:
    """`_causal_conv`'s prev for a sequence that starts from zeros: (0, k-1, c)."""
    return np.zeros((0, k - 1, c), dtype)


def _np(t: torch.Tensor, dtype) -> np.ndarray:
    return t.detach().to(dtype).contiguous().numpy()


class MambaInnerTrain(torch.autograd.Function):
    """zxbcdt (b,l,f) -> (b,l,d_inner), differentiable in zxbcdt, conv weight (c,k), conv bias, dt_bias, A, D and
    the norm weight. Use `mamba_inner` (it checks the shapes)."""

    @staticmethod
    def forward(ctx, zxbcdt, conv_weight, conv_bias, dt_bias, A, D, norm_weight, eps, p, n, ngroups, every):
        dtype = torch.float64 if zxbcdt.dtype == torch.float64 else torch.float32
        b, l, f = zxbcdt.shape
        c, k = conv_weight.shape
        d_inner = c - 2 * ngroups * n
        h = f - d_inner - c
        with torch.autocast("cpu", enabled=False):
            src = _np(zxbcdt, dtype)
            z = torch.from_numpy(src[..., :d_inner])
            gate = F.silu(z).contiguous().numpy()  # (b, l, d_inner)
            v = torch.from_numpy(src[..., d_inner + c:]) + dt_bias.detach().to(dtype)
            dt = F.softplus(v).contiguous().numpy()  # (b, l, h)
            u = np.empty((b, l, c), src.dtype)
            y = np.empty((b, l, d_inner), src.dtype)
            out = np.empty((b, l, d_inner), src.dtype)
            sumsq = np.empty((b, l, h), src.dtype)
            states = np.empty((b, h, (l + every - 1) // every, p, n), src.dtype)
            with kernel_threads(serial_allowed=False):
                _causal_conv(src, d_inner, np.ascontiguousarray(_np(conv_weight, dtype).T), _np(conv_bias, dtype),
                             _no_prev(k, c, src.dtype), u)
                F.silu(torch.from_numpy(u), inplace=True)
                _scan_forward(u, d_inner, p, n, ngroups, dt, _np(A, dtype), _np(D, dtype), gate, y, out, sumsq,
                              states, every)
                _normalize(out, sumsq, _np(norm_weight, dtype), src.dtype.type(eps))
        ctx.sizes = (p, n, ngroups, every, eps)
        ctx.save_for_backward(zxbcdt, conv_weight, conv_bias, dt_bias, A, D, norm_weight,
                              torch.from_numpy(y), torch.from_numpy(states))
        return torch.from_numpy(out).to(zxbcdt.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout):
        zxbcdt, conv_weight, conv_bias, dt_bias, A, D, norm_weight, y, states = ctx.saved_tensors
        p, n, ngroups, every, eps = ctx.sizes
        dtype = y.dtype
        b, l, f = zxbcdt.shape
        c, k = conv_weight.shape
        d_inner = c - 2 * ngroups * n
        h = f - d_inner - c
        blocks = b * ((l + _BLOCK - 1) // _BLOCK)
        with torch.autocast("cpu", enabled=False):
            src = _np(zxbcdt, dtype)
            y, states = y.numpy(), states.numpy()
            sig_z = torch.sigmoid(torch.from_numpy(src[..., :d_inner])).numpy()  # (b, l, d_inner), contiguous
            v = torch.from_numpy(src[..., d_inner + c:]) + dt_bias.detach().to(dtype)  # (b, l, h)
            dt = F.softplus(v).contiguous().numpy()
            w = np.ascontiguousarray(_np(conv_weight, dtype).T)  # (k, c)
            dsrc = np.empty((b, l, f), src.dtype)  # ∂zxbcdt: [∂z | ∂xBC | ∂dt], every column written below
            dy = np.empty((b, l, d_inner), src.dtype)
            dnorm = np.empty((blocks, d_inner), src.dtype)
            pre = np.empty((b, l, c), src.dtype)
            dx = np.empty((b, l, d_inner), src.dtype)
            dB_h, dC_h = np.empty((b, l, h, n), src.dtype), np.empty((b, l, h, n), src.dtype)
            ddt = np.empty((b, l, h), src.dtype)
            dD_p, dA_p = np.empty((b, h), src.dtype), np.empty((b, h), src.dtype)
            dw, dbias = np.empty((blocks, k, c), src.dtype), np.empty((blocks, c), src.dtype)
            with kernel_threads(serial_allowed=False):
                _norm_backward(_np(dout, dtype), y, src, sig_z, _np(norm_weight, dtype), src.dtype.type(eps),
                               dy, dsrc, dnorm)
                _causal_conv(src, d_inner, w, _np(conv_bias, dtype), _no_prev(k, c, src.dtype), pre)  # recomputed
                pre_t = torch.from_numpy(pre)
                sig = torch.sigmoid(pre_t)
                u = (pre_t * sig).numpy()
                _scan_backward(u, d_inner, p, n, ngroups, dt, _np(A, dtype), _np(D, dtype), dy, states, every,
                               dx, dB_h, dC_h, ddt, dD_p, dA_p)
                _conv_backward(src, d_inner, w, pre, sig.numpy(), dx, dB_h, dC_h, ngroups, dsrc, dw, dbias)
            dv = torch.from_numpy(ddt) * torch.sigmoid(v)  # softplus' = sigmoid
            dsrc[..., d_inner + c:] = dv.numpy()
        dw = np.ascontiguousarray(dw.sum(0).T)  # (c, k)
        grads = (torch.from_numpy(dsrc), torch.from_numpy(dw), torch.from_numpy(dbias.sum(0)), dv.sum((0, 1)),
                 torch.from_numpy(dA_p.sum(0)), torch.from_numpy(dD_p.sum(0)), torch.from_numpy(dnorm.sum(0)))
        inputs = (zxbcdt, conv_weight, conv_bias, dt_bias, A, D, norm_weight)
        return (*(gr.to(t.dtype) if need else None for gr, t, need in zip(grads, inputs, ctx.needs_input_grad)),
                None, None, None, None, None)


def mamba_inner(zxbcdt, conv_weight, conv_bias, dt_bias, A, D, norm_weight, norm_eps, *, headdim, d_state,
                ngroups, every=CHECKPOINT_EVERY):
    """zxbcdt (b,l,2·d_inner + 2·g·n + h) on the CPU, the output of in_proj -> (b,l,d_inner) in zxbcdt's dtype, the
    input of out_proj; differentiable in zxbcdt and every parameter. Same signature and maths as
    `kernels.mamba.cpu.mamba_inner` (conv_weight (conv_dim, k) depthwise taps; A (h,) = -exp(A_log)), which the tests
    compare with `Mamba2._inner`. `every`: steps between saved SSM states (memory vs. recompute)."""
    if zxbcdt.dim() != 3 or conv_weight.dim() != 2:
        raise ValueError(f"zxbcdt must be (b, l, f) and conv_weight (conv_dim, k), got {tuple(zxbcdt.shape)} and "
                         f"{tuple(conv_weight.shape)}")
    if zxbcdt.device.type != "cpu":
        raise ValueError(f"kernels.mamba.cpu_train runs on CPU tensors, got {zxbcdt.device}")
    conv_dim = conv_weight.shape[0]
    d_inner = conv_dim - 2 * ngroups * d_state
    h = zxbcdt.shape[-1] - d_inner - conv_dim
    if d_inner <= 0 or h <= 0 or d_inner != h * headdim or h % ngroups or every < 1:
        raise ValueError(f"shapes do not fit a Mamba-2 layer: in_proj width {zxbcdt.shape[-1]}, conv_dim {conv_dim}, "
                         f"headdim {headdim}, d_state {d_state}, ngroups {ngroups}, every {every}")
    for name, t, size in (("conv_bias", conv_bias, conv_dim), ("dt_bias", dt_bias, h), ("A", A, h), ("D", D, h),
                          ("norm_weight", norm_weight, d_inner)):
        if t.shape != (size,):
            raise ValueError(f"{name} must have shape ({size},), got {tuple(t.shape)}")
    return MambaInnerTrain.apply(zxbcdt, conv_weight, conv_bias, dt_bias, A, D, norm_weight, float(norm_eps),
                                 headdim, d_state, ngroups, int(every))
