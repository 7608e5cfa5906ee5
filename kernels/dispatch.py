"""Kernel selection: the model calls these functions; each picks a Triton kernel or the PyTorch reference.

`DNAHNET_KERNELS` = `auto` (default: Triton on CUDA tensors when the Triton module imports; on CPU, the fused numba
Mamba-2 interior: `kernels/mamba_cpu.py` for inference, `kernels/mamba_cpu_train.py` (with a backward) for training;
the references otherwise) | `torch` (the references everywhere) | `triton`.
`triton` forces the kernels; on CPU tensors that only works with TRITON_INTERPRET=1 set before Triton is imported
(the interpreter: slow, for tests). `ssd_scan` and `boundary_prob` have forward-only kernels: when autograd needs
a gradient through them, the reference runs instead (in every mode). `ema_scan` and `gather_chunks` have
Triton backward passes. Signatures are the contract in docs/ARCHITECTURE.md; references live in `kernels/*_ref.py`.
"""
import importlib
import os

import torch

from kernels import ema_ref, routing_ref, ssd_ref


def backend():
    """The requested backend name: 'auto', 'torch' or 'triton'."""
    name = os.environ.get("DNAHNET_KERNELS", "auto").lower()
    if name not in ("auto", "torch", "triton"):
        raise ValueError(f"DNAHNET_KERNELS must be auto, torch or triton, not {name!r}")
    return name


def _needs_grad(tensors):
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _triton(module, fn, tensor, forward_only=False, inputs=()):
    """The Triton implementation `kernels.<module>.<fn>` when it should be used for this tensor, else None.

    forward_only: the kernel has no backward pass, so the reference runs whenever autograd needs a gradient
    through `inputs`."""
    mode = backend()
    if mode == "torch" or (mode == "auto" and not tensor.is_cuda):
        return None
    if forward_only and _needs_grad(inputs):
        return None
    if mode == "triton" and not tensor.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("DNAHNET_KERNELS=triton got CPU tensors: Triton needs a CUDA device, or "
                           "TRITON_INTERPRET=1 set before Triton is imported (the slow interpreter, for tests)")
    try:
        return getattr(importlib.import_module(f"kernels.{module}"), fn)
    except (ImportError, AttributeError):
        if mode == "triton":
            raise
        return None


def ssd_scan(x, dt, A, B, C, chunk_size, D=None, initial_state=None):
    """x (b,l,h,p), dt (b,l,h) softplus'ed, A (h,) < 0, B/C (b,l,g,n) -> (y (b,l,h,p), final_state (b,h,p,n))."""
    inputs = (x, dt, A, B, C, D, initial_state)
    impl = _triton("ssd_triton", "ssd_scan", x, forward_only=True, inputs=inputs)
    if impl is not None:
        return impl(x, dt, A, B, C, chunk_size, D=D, initial_state=initial_state)
    return ssd_ref.ssd_chunked(x, dt, A, B, C, chunk_size, D=D, initial_state=initial_state)


def mamba_inner(zxbcdt, params):
    """The fused CPU interior of a Mamba-2 layer when it applies, else None (the layer runs `Mamba2._inner`).

    It applies in `auto` mode to CPU tensors when numba imports: `kernels/mamba_cpu.mamba_inner` (forward only)
    when no gradient is needed through zxbcdt or the layer's `params` (inference), `kernels/mamba_cpu_train.
    mamba_inner` (numba forward and backward, same signature) when one is (training)."""
    if backend() != "auto" or zxbcdt.device.type != "cpu":
        return None
    try:
        if _needs_grad((zxbcdt, *params)):
            from kernels import mamba_cpu_train as fused
        else:
            from kernels import mamba_cpu as fused
    except ImportError:
        return None
    return fused.mamba_inner


def mamba_inner_with_state(zxbcdt, params):
    """The fused CPU interior that starts from a state and returns the final one (`kernels/mamba_cpu.mamba_inner`
    with conv_state / ssm_state / return_state) when it applies: `auto` mode, CPU, no gradient, numba present.
    None otherwise (the layer runs its PyTorch reference with the state)."""
    if backend() != "auto" or zxbcdt.device.type != "cpu" or _needs_grad((zxbcdt, *params)):
        return None
    try:
        from kernels import mamba_cpu
    except ImportError:
        return None
    return mamba_cpu.mamba_inner


def ssd_step(state, x, dt, A, B, C, D=None):
    """state (b,h,p,n), x (b,h,p), dt (b,h), A (h,), B/C (b,g,n) -> (y (b,h,p), new_state (b,h,p,n))."""
    impl = _triton("ssd_triton", "ssd_step", x, forward_only=True, inputs=(state, x, dt, A, B, C, D))
    if impl is not None:
        return impl(state, x, dt, A, B, C, D=D)
    return ssd_ref.ssd_step(state, x, dt, A, B, C, D=D)


def ema_scan(z, P):
    """z (b,m,d), P (b,m) -> (b,m,d): z̄_k = P_k z_k + (1-P_k) z̄_{k-1}; fp32 inside, z's dtype out."""
    impl = _triton("ema_triton", "ema_scan", z)
    if impl is not None:
        return impl(z, P)
    return ema_ref.ema_chunked(z, P)


def boundary_prob(q, k):
    """q, k (b,l,d) -> (p (b,l) fp32, b (b,l) bool); p_0 = 1."""
    impl = _triton("routing_triton", "boundary_prob", q, forward_only=True, inputs=(q, k))
    if impl is not None:
        return impl(q, k)
    return routing_ref.boundary_prob(q, k)


def gather_chunks(h, b):
    """h (b,l,d), b (b,l) bool -> (chunks (b,m,d), chunk_mask (b,m) bool, idx (b,m) long)."""
    impl = _triton("routing_triton", "gather_chunks", h)
    if impl is not None:
        return impl(h, b)
    return routing_ref.gather_chunks(h, b)
