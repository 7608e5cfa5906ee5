"""The inside of a Mamba-2 layer for CPU inference in C (`native.c`): the numba kernels' maths in one pass per block.

Same contract as `kernels/mamba/cpu.py::mamba_inner` (which runs instead when no C compiler is present, when
`DNAHNET_NATIVE=0`, or for a headdim the C scan is not built for); `kernels.dispatch.mamba_inner` picks. The batch
is split over torch's thread count (Python threads; ctypes releases the GIL), so one torch thread runs it in the
calling thread and strand passes on several threads run side by side (`dnahnet.infer`). The sums run in another
order than numba's, so outputs differ by a few ulps: `bench/bench_inference.py --options` counts the boundaries
that move."""
import concurrent.futures
import ctypes
import functools
from pathlib import Path

import numpy as np
import torch

from kernels.mamba.cpu import conv_state_after
from kernels.native_build import enabled, load

SOURCE = Path(__file__).with_name("native.c")
_P, _I, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float


@functools.cache
def _library():
    lib = load(SOURCE)
    if lib is not None:
        lib.mamba_inner.argtypes = [_P, _I, _I, _I, _I, _I, _I, _I, _I, _I, _I, _P, _P, _P, _P, _P, _P, _P, _F,
                                    _P, _P, _P]
        lib.mamba_inner.restype = ctypes.c_int
        lib.mamba_inner_supports.argtypes = [_I]
    return lib


def available(headdim: int) -> bool:
    """True when the C kernels are on (`DNAHNET_NATIVE`, read on every call), this one is built (or can be) and it
    handles this headdim."""
    if not enabled():
        return False
    lib = _library()
    return lib is not None and lib.mamba_inner_supports(headdim) == 0


@functools.cache
def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="mamba-native")


def _ptr(a: np.ndarray | None):
    return None if a is None else a.ctypes.data


def _f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().contiguous().numpy()


def mamba_inner(zxbcdt, conv_weight, conv_bias, dt_bias, A, D, norm_weight, norm_eps, *, headdim, d_state,
                ngroups, conv_state=None, ssm_state=None, return_state=False):
    """zxbcdt (b,l,2·d_inner + 2·g·n + h) on the CPU -> (b,l,d_inner) fp32; arguments and return as
    `kernels/mamba/cpu.py::mamba_inner` (conv_weight (conv_dim, k), A = -exp(A_log))."""
    b, l, f = zxbcdt.shape
    conv_dim, k = conv_weight.shape
    d_inner = conv_dim - 2 * ngroups * d_state
    h = f - d_inner - conv_dim
    src = _f32(zxbcdt)
    out = np.empty((b, l, d_inner), np.float32)
    final = np.empty((b, h, headdim, d_state), np.float32) if return_state else None
    s0 = None if ssm_state is None else _f32(ssm_state)  # (b, h, p, n)
    prev = None if conv_state is None else _f32(conv_state[..., 1:].transpose(1, 2))  # (b, k-1, conv_dim)
    weights = [_f32(t) for t in (conv_weight.T, conv_bias, dt_bias, A, D, norm_weight)]  # conv taps (k, conv_dim)
    lib = _library()

    def run(lo, hi):  # batch items [lo, hi)
        def at(a, row_items):  # pointer to item lo of a (b, ...) array, or None
            return None if a is None else a.ctypes.data + lo * row_items * 4

        code = lib.mamba_inner(at(src, l * f), hi - lo, l, f, d_inner, conv_dim, k, h, headdim, d_state, ngroups,
                               _ptr(weights[0]), _ptr(weights[1]), at(prev, (k - 1) * conv_dim), _ptr(weights[2]),
                               _ptr(weights[3]), _ptr(weights[4]), _ptr(weights[5]), norm_eps,
                               at(s0, h * headdim * d_state), at(out, l * d_inner),
                               at(final, h * headdim * d_state))
        if code != 0:
            raise RuntimeError(f"mamba_inner (C) failed with code {code} (-1: headdim {headdim} unsupported, "
                               "-2: out of memory)")

    workers = min(torch.get_num_threads(), b)
    if workers <= 1:
        run(0, b)
    else:
        bounds = [b * i // workers for i in range(workers + 1)]
        list(_pool(workers).map(run, bounds[:-1], bounds[1:]))
    if not return_state:
        return torch.from_numpy(out)
    return torch.from_numpy(out), conv_state_after(zxbcdt, conv_state, d_inner, conv_dim, k), torch.from_numpy(final)
