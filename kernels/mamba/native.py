"""A Mamba-2 layer for CPU inference in C (`native.c`): the interior in one pass per block of tokens, or the whole
pre-norm block (RMSNorm, in_proj, interior, out_proj, residual) so in_proj's output never goes to memory.

`mamba_inner` has the contract of `kernels/mamba/cpu.py::mamba_inner` (the numba interior, which runs instead when
no C compiler is present, when `DNAHNET_NATIVE=0`, or for a headdim the C scan is not built for);
`kernels.dispatch.mamba_inner` and `kernels.dispatch.mamba_block` pick. The batch is split over torch's thread count
(Python threads; ctypes releases the GIL), so on one torch thread it runs in the calling thread and strand passes
on several threads run side by side (`dnahnet.infer`). Sums run in other orders than numba's and MKL's, so outputs
differ by a few ulps: `bench/bench_inference.py --versus-revision` counts the boundaries that move (none on E. coli
1.0-1.2 Mb, docs/BENCHMARKS.md)."""
import ctypes
import functools
from pathlib import Path

import numpy as np
import torch

from kernels.mamba.cpu import conv_state_after
from kernels.native_build import declare, enabled, f32, load, over_batch, transposed_padded, usable

SOURCE = Path(__file__).with_name("native.c")
_P, _I, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
SIGNATURES = {  # name -> (argtypes, restype) of native.c's exported functions
    "mamba_inner": ([_P, _I, _I, _I, _I, _I, _I, _I, _I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _F, _P, _P, _P],
                    ctypes.c_int),
    "mamba_inner_supports": ([_I], ctypes.c_int),
    "native_vector_floats": ([], ctypes.c_int),
    "mamba_block": ([_P, _I, _I, _I, _P, _F, _P, _I, _P, _I, _I, _I, _I, _I, _I, _I, _I, _I, _P, _P, _P, _P, _P, _P,
                     _F, _P], ctypes.c_int),
}


@functools.cache
def _library():
    return declare(load(SOURCE), SIGNATURES)


def available(headdim: int) -> bool:
    """True when the C kernels are on (`DNAHNET_NATIVE`, read on every call), this one is built (or can be) with
    vectors of 8 floats or more (AVX, AVX-512) and it handles this headdim."""
    if not enabled():
        return False
    lib = _library()
    return usable(lib) and lib.mamba_inner_supports(headdim) == 0


def _check(headdim: int, code: int) -> None:
    if code != 0:
        raise RuntimeError(f"the C Mamba kernel failed with code {code} (-1: headdim {headdim} unsupported, "
                           "-2: out of memory)")


def _ptr(a: np.ndarray | None):
    return None if a is None else a.ctypes.data


def mamba_inner(zxbcdt, conv_weight, conv_bias, dt_bias, A, D, norm_weight, norm_eps, *, headdim, d_state,
                ngroups, conv_state=None, ssm_state=None, return_state=False):
    """zxbcdt (b,l,2·d_inner + 2·g·n + h) on the CPU -> (b,l,d_inner) fp32; arguments and return as
    `kernels/mamba/cpu.py::mamba_inner` (conv_weight (conv_dim, k), A = -exp(A_log))."""
    b, l, f = zxbcdt.shape
    conv_dim, k = conv_weight.shape
    d_inner = conv_dim - 2 * ngroups * d_state
    h = f - d_inner - conv_dim
    src = f32(zxbcdt)
    out = np.empty((b, l, d_inner), np.float32)
    final = np.empty((b, h, headdim, d_state), np.float32) if return_state else None
    s0 = None if ssm_state is None else f32(ssm_state)  # (b, h, p, n)
    prev = None if conv_state is None else f32(conv_state[..., 1:].transpose(1, 2))  # (b, k-1, conv_dim)
    weights = [f32(t) for t in (conv_weight.T, conv_bias, dt_bias, A, D, norm_weight)]  # conv taps (k, conv_dim)
    lib = _library()

    def run(lo, hi):  # batch items [lo, hi)
        def at(a, row_items):  # pointer to item lo of a (b, ...) array, or None
            return None if a is None else a.ctypes.data + lo * row_items * 4

        _check(headdim, lib.mamba_inner(
            at(src, l * f), hi - lo, l, f, d_inner, conv_dim, k, h, headdim, d_state, ngroups, _ptr(weights[0]),
            _ptr(weights[1]), at(prev, (k - 1) * conv_dim), _ptr(weights[2]), _ptr(weights[3]), _ptr(weights[4]),
            _ptr(weights[5]), norm_eps, at(s0, h * headdim * d_state), at(out, l * d_inner),
            at(final, h * headdim * d_state)))

    over_batch(run, b)
    if not return_state:
        return torch.from_numpy(out)
    return torch.from_numpy(out), conv_state_after(zxbcdt, conv_state, d_inner, conv_dim, k), torch.from_numpy(final)


def mamba_block(x, block_norm_weight, block_norm_eps, in_proj_weight, conv_weight, conv_bias, dt_bias, A, D,
                norm_weight, norm_eps, out_proj_weight, *, headdim, d_state, ngroups):
    """A pre-norm Mamba block for CPU inference, x + out_proj(interior(in_proj(RMSNorm(x)))), in one C pass:
    x (b,l,d_model) fp32 -> (b,l,d_model) fp32. in_proj's output, the block's largest activation, stays in L1/L2;
    the two projections are the C kernel's own GEMM (`dnahnet.mamba2.MambaBlock`: the reference). The interior's
    arguments as for `mamba_inner`; block_norm_*: the block's RMSNorm."""
    b, l, d_model = x.shape
    conv_dim, k = conv_weight.shape
    d_inner = conv_dim - 2 * ngroups * d_state
    f = in_proj_weight.shape[0]
    h = f - d_inner - conv_dim
    src = f32(x)
    out = np.empty((b, l, d_model), np.float32)
    in_t, out_t = transposed_padded(in_proj_weight), transposed_padded(out_proj_weight)
    weights = [f32(t) for t in (block_norm_weight, conv_weight.T, conv_bias, dt_bias, A, D, norm_weight)]
    lib = _library()

    def run(lo, hi):  # batch items [lo, hi)
        _check(headdim, lib.mamba_block(
            src.ctypes.data + lo * l * d_model * 4, hi - lo, l, d_model, _ptr(weights[0]), block_norm_eps,
            _ptr(in_t), in_t.shape[1], _ptr(out_t), out_t.shape[1], f, d_inner, conv_dim, k, h, headdim, d_state,
            ngroups, *(_ptr(w) for w in weights[1:]), norm_eps, out.ctypes.data + lo * l * d_model * 4))

    over_batch(run, b)
    return torch.from_numpy(out)
