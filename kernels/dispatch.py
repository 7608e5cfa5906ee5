"""Kernel selection: the model calls these functions; each picks a Triton kernel or the PyTorch path and returns
its output (the fused Mamba-2 interior: its output, or None when it does not apply).

`DNAHNET_KERNELS` = `auto` (default: Triton on CUDA tensors when the Triton module imports; on CPU, the fused
Mamba-2 interior: for inference `kernels/mamba/native.c` (C, built on first use when a compiler is present and
`DNAHNET_NATIVE` is not 0) else `kernels/mamba/cpu.py` (numba), for training `kernels/mamba/cpu_train.py` (numba,
with a backward); the PyTorch paths otherwise) | `torch` (the PyTorch paths everywhere) | `triton`.
`triton` forces the kernels; on CPU tensors that only works with TRITON_INTERPRET=1 set before Triton is imported
(the interpreter: slow, for tests). `ssd_scan` and `boundary_prob` have forward-only kernels: when autograd needs
a gradient through them, the PyTorch path runs instead (in every mode). `ema_scan` and `gather_chunks` have
Triton backward passes. Signatures are the contract in docs/ARCHITECTURE.md. The PyTorch paths are
`kernels/ssd/chunked.py`, `kernels/ssd/naive.py::ssd_step`, `kernels/ema/chunked.py` and `kernels/routing/naive.py`;
the Triton kernels `kernels/<op>/triton.py`.
"""
import importlib
import os

import torch
import torch.nn.functional as F

from kernels.ema.chunked import ema_chunked
from kernels.routing import naive as routing_naive
from kernels.ssd import naive as ssd_naive
from kernels.ssd.chunked import ssd_chunked


def backend():
    """The requested backend name: 'auto', 'torch' or 'triton'."""
    name = os.environ.get("DNAHNET_KERNELS", "auto").lower()
    if name not in ("auto", "torch", "triton"):
        raise ValueError(f"DNAHNET_KERNELS must be auto, torch or triton, not {name!r}")
    return name


def _needs_grad(tensors):
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _triton(op, fn, tensor, forward_only=False, inputs=()):
    """The Triton implementation `kernels.<op>.triton.<fn>` when it should be used for this tensor, else None.

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
        return getattr(importlib.import_module(f"kernels.{op}.triton"), fn)
    except (ImportError, AttributeError):
        if mode == "triton":
            raise
        return None


def ssd_scan(x, dt, A, B, C, chunk_size, D=None, initial_state=None):
    """x (b,l,h,p), dt (b,l,h) softplus'ed, A (h,) < 0, B/C (b,l,g,n) -> (y (b,l,h,p), final_state (b,h,p,n))."""
    inputs = (x, dt, A, B, C, D, initial_state)
    impl = _triton("ssd", "ssd_scan", x, forward_only=True, inputs=inputs)
    if impl is not None:
        return impl(x, dt, A, B, C, chunk_size, D=D, initial_state=initial_state)
    return ssd_chunked(x, dt, A, B, C, chunk_size, D=D, initial_state=initial_state)


def _fused_mamba_weights(conv_weight, conv_bias, dt_bias, A_log, D, norm_weight, norm_eps):
    """A Mamba-2 layer's tensors as the numba kernels take them: depthwise taps (conv_dim, k), A = -exp(A_log)."""
    return conv_weight[:, 0, :], conv_bias, dt_bias, -torch.exp(A_log.float()), D, norm_weight, norm_eps


def _mamba_inference_kernel(headdim):
    """The module whose `mamba_inner` runs a CPU inference layer: `kernels/mamba/native.py` (C) when it is built
    and takes this headdim, else `kernels/mamba/cpu.py` (numba). Raises ImportError without numba."""
    from kernels.mamba import cpu, native
    return native if native.available(headdim) else cpu


def mamba_inner(zxbcdt, conv_weight, conv_bias, dt_bias, A_log, D, norm_weight, norm_eps, *, headdim, d_state,
                ngroups):
    """The interior of a Mamba-2 layer fused for a CPU: zxbcdt (b,l,2·d_inner + 2·g·n + h), in_proj's output ->
    y (b,l,d_inner), out_proj's input; None when the fused path does not apply (the layer runs `Mamba2._inner`).

    The layer's tensors as it holds them: conv_weight (conv_dim, 1, k) and conv_bias (conv_dim,) of its depthwise
    Conv1d, dt_bias, A_log, D (h,), the gated norm's weight (d_inner,) and eps. It applies in `auto` mode to CPU
    tensors when numba imports: `kernels/mamba/native.py` (C) or `kernels/mamba/cpu.py` (numba) (forward only,
    y fp32; `_mamba_inference_kernel`) when no gradient is needed through zxbcdt or the weights (inference),
    `kernels/mamba/cpu_train.py` (numba forward and backward, y in zxbcdt's dtype) when one is (training)."""
    weights = (conv_weight, conv_bias, dt_bias, A_log, D, norm_weight)
    if backend() != "auto" or zxbcdt.device.type != "cpu":
        return None
    try:
        if _needs_grad((zxbcdt, *weights)):
            from kernels.mamba import cpu_train as fused
        else:
            fused = _mamba_inference_kernel(headdim)
    except ImportError:
        return None
    return fused.mamba_inner(zxbcdt, *_fused_mamba_weights(*weights, norm_eps), headdim=headdim, d_state=d_state,
                             ngroups=ngroups)


def mamba_block(x, block_norm_weight, block_norm_eps, in_proj_weight, out_proj_weight, conv_weight, conv_bias,
                dt_bias, A_log, D, norm_weight, norm_eps, *, headdim, d_state, ngroups):
    """A whole pre-norm Mamba block, x + out_proj(interior(in_proj(RMSNorm(x)))), fused in C for CPU inference:
    x (b,l,d_model) -> (b,l,d_model) fp32, or None when it does not apply (the block runs its modules): `auto` mode,
    fp32 CPU tensors, no gradient, no autocast, and `kernels/mamba/native.c` built for this headdim. The block's
    RMSNorm weight and eps, in_proj's and out_proj's weights (bias-free Linears), then the interior's tensors as for
    `mamba_inner`."""
    weights = (block_norm_weight, in_proj_weight, out_proj_weight, conv_weight, conv_bias, dt_bias, A_log, D,
               norm_weight)
    if (backend() != "auto" or x.device.type != "cpu" or x.dtype != torch.float32 or _needs_grad((x, *weights))
            or torch.is_autocast_enabled("cpu")):
        return None
    try:
        from kernels.mamba import native
    except ImportError:
        return None
    if not native.available(headdim):
        return None
    return native.mamba_block(x, block_norm_weight, block_norm_eps, in_proj_weight,
                              *_fused_mamba_weights(conv_weight, conv_bias, dt_bias, A_log, D, norm_weight, norm_eps),
                              out_proj_weight, headdim=headdim, d_state=d_state, ngroups=ngroups)


def mamba_inner_with_state(zxbcdt, conv_weight, conv_bias, dt_bias, A_log, D, norm_weight, norm_eps, *, headdim,
                           d_state, ngroups, conv_state=None, ssm_state=None):
    """`mamba_inner` continuing from a state and returning the one after the last position: conv_state
    (b, conv_dim, k), ssm_state (b,h,p,n), either None = zeros -> (y (b,l,d_inner) fp32, conv_state, ssm_state
    (b,h,p,n) fp32) from the C or numba interior when it applies (`auto` mode, CPU, no gradient, numba present);
    None otherwise (the layer runs its PyTorch reference with the state)."""
    weights = (conv_weight, conv_bias, dt_bias, A_log, D, norm_weight)
    if backend() != "auto" or zxbcdt.device.type != "cpu" or _needs_grad((zxbcdt, *weights)):
        return None
    try:
        fused = _mamba_inference_kernel(headdim)
    except ImportError:
        return None
    return fused.mamba_inner(zxbcdt, *_fused_mamba_weights(*weights, norm_eps), headdim=headdim, d_state=d_state,
                             ngroups=ngroups, conv_state=conv_state, ssm_state=ssm_state, return_state=True)


def rms_norm(x, weight, eps):
    """x (..., d), weight (d,) -> (..., d) fp32: x · weight / sqrt(mean(x²) + eps). In `auto` mode, CPU inference
    (no gradient) with numba present: `kernels/norm/cpu.py` (one pass per token); else `F.rms_norm` in fp32."""
    if backend() == "auto" and x.device.type == "cpu" and not _needs_grad((x, weight)):
        try:
            from kernels.norm import cpu
        except ImportError:
            cpu = None
        if cpu is not None:
            return cpu.rms_norm(x, weight, eps)
    return F.rms_norm(x.float(), weight.shape, weight.float(), eps)


def rope(x, cos, sin):
    """Rotary embedding of q or k: x (b, heads, l, dh), cos/sin (l, dh/2) -> (b, heads, l, dh), or None when the
    fast path does not apply (the model runs its reference, `dnahnet.transformer.apply_rope`). Applies in `auto`
    mode to fp32 CPU tensors without a gradient when numba is present: `kernels/rope/cpu.py` (the same bits)."""
    if (backend() != "auto" or x.device.type != "cpu" or x.dtype != torch.float32 or x.dim() != 4
            or cos.dim() != 2 or tuple(cos.shape) != (x.shape[2], x.shape[3] // 2) or x.shape[3] % 2
            or _needs_grad((x, cos, sin))):
        return None
    try:
        from kernels.rope import cpu
    except ImportError:
        return None
    return cpu.rope(x, cos.float(), sin.float())


def causal_attention(qkv, num_heads, cos, sin):
    """Causal self-attention with RoPE from the qkv projection's output: qkv (b, l, 3·d), cos/sin (l, dh/2) ->
    (b, l, d) fp32 (heads side by side, out_proj's input), or None when the fast path does not apply (the model
    runs `apply_rope` and `F.scaled_dot_product_attention`). Applies in `auto` mode to fp32 CPU tensors without a
    gradient or autocast, when `kernels/attention/native.c` is built (a C compiler, `DNAHNET_NATIVE` not 0), and
    the batch has at least as many items as torch threads: with fewer, SDPA's threads were faster (0.7-0.97x for
    one sequence on 2 threads, docs/BENCHMARKS.md), while a batch on one thread each is 2.4-2.7x faster in C."""
    d3 = qkv.shape[-1]
    if (backend() != "auto" or qkv.device.type != "cpu" or qkv.dtype != torch.float32 or qkv.dim() != 3 or d3 % 3
            or (d3 // 3) % num_heads or (d3 // 3 // num_heads) % 2 or _needs_grad((qkv, cos, sin))
            or torch.is_autocast_enabled("cpu") or qkv.shape[0] < torch.get_num_threads()):
        return None
    from kernels.attention import native
    if not native.available():
        return None
    return native.causal_attention(qkv, num_heads, cos, sin)


def transformer_block(x, num_heads, norm1_weight, norm1_eps, wqkv_weight, angles, out_proj_weight, norm2_weight,
                      norm2_eps, fc1_weight, fc2_weight):
    """A whole pre-norm Transformer block (causal attention with RoPE, SwiGLU MLP) fused in C for CPU inference:
    x (b, l, d) -> (b, l, d) fp32, or None when it does not apply (the block runs its modules): `auto` mode, fp32
    CPU tensors, no gradient, no autocast, an even head width, `kernels/attention/native.c` built, and at least
    as many batch items as torch threads (the block runs per item; with fewer, the modules run, their Linears
    threaded in MKL and their attention in SDPA). The two RMSNorms' weights and eps, the bias-free
    Linears' weights; angles() -> (cos, sin) (l, dh/2) for the rotary embedding, called only when the block runs
    here (training and GPUs never compute them twice)."""
    weights = (norm1_weight, wqkv_weight, out_proj_weight, norm2_weight, fc1_weight, fc2_weight)
    d = x.shape[-1]
    if (backend() != "auto" or x.device.type != "cpu" or x.dtype != torch.float32 or x.dim() != 3 or d % num_heads
            or (d // num_heads) % 2 or _needs_grad((x, *weights)) or torch.is_autocast_enabled("cpu")
            or x.shape[0] < torch.get_num_threads()):
        return None
    from kernels.attention import native
    if not native.available():
        return None
    cos, sin = angles()
    return native.transformer_block(x, num_heads, norm1_weight, norm1_eps, wqkv_weight, cos, sin, out_proj_weight,
                                    norm2_weight, norm2_eps, fc1_weight, fc2_weight)


def ssd_step(state, x, dt, A, B, C, D=None):
    """state (b,h,p,n), x (b,h,p), dt (b,h), A (h,), B/C (b,g,n) -> (y (b,h,p), new_state (b,h,p,n))."""
    impl = _triton("ssd", "ssd_step", x, forward_only=True, inputs=(state, x, dt, A, B, C, D))
    if impl is not None:
        return impl(state, x, dt, A, B, C, D=D)
    return ssd_naive.ssd_step(state, x, dt, A, B, C, D=D)


def ema_scan(z, P):
    """z (b,m,d), P (b,m) -> (b,m,d): z̄_k = P_k z_k + (1-P_k) z̄_{k-1}; fp32 inside, z's dtype out."""
    impl = _triton("ema", "ema_scan", z)
    if impl is not None:
        return impl(z, P)
    return ema_chunked(z, P)


def boundary_prob(q, k):
    """q, k (b,l,d) -> (p (b,l) fp32, b (b,l) bool); p_0 = 1."""
    impl = _triton("routing", "boundary_prob", q, forward_only=True, inputs=(q, k))
    if impl is not None:
        return impl(q, k)
    return routing_naive.boundary_prob(q, k)


def gather_chunks(h, b):
    """h (b,l,d), b (b,l) bool -> (chunks (b,m,d), chunk_mask (b,m) bool, idx (b,m) long)."""
    impl = _triton("routing", "gather_chunks", h)
    if impl is not None:
        return impl(h, b)
    return routing_naive.gather_chunks(h, b)
