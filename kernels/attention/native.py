"""Causal self-attention with rotary embeddings for CPU inference in C (`native.c`): reads the qkv projection's
output in place, rotates q and k, and runs the softmax attention a block of 16 queries at a time, never holding an
l x l matrix. Reference: `CausalSelfAttention.forward` in `dnahnet/transformer.py` (`apply_rope` and
`F.scaled_dot_product_attention`), 1e-6-close; `kernels.dispatch.causal_attention` decides when it runs. The
(batch item, head) pairs are split over torch's thread count (ctypes releases the GIL). `transformer_block` runs a
whole block per batch item. `kernels.dispatch` leaves batches smaller than the thread count to the PyTorch path
(MKL's and SDPA's threads were faster there)."""
import ctypes
import functools
from pathlib import Path

import numpy as np
import torch

from kernels.native_build import declare, enabled, f32, load, over_batch, transposed_padded, usable

SOURCE = Path(__file__).with_name("native.c")
_P, _I, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
SIGNATURES = {  # name -> (argtypes, restype) of native.c's exported functions
    "causal_attention": ([_P, _I, _I, _I, _I, _P, _P, _P, _I, _I], ctypes.c_int),
    "native_vector_floats": ([], ctypes.c_int),
    "transformer_block": ([_P, _I, _I, _I, _I, _P, _F, _P, _I, _P, _P, _P, _I, _P, _F, _P, _I, _I, _P, _I, _P],
                          ctypes.c_int),
}


@functools.cache
def _library():
    return declare(load(SOURCE), SIGNATURES)


def available() -> bool:
    """True when the C kernels are on (`DNAHNET_NATIVE`, read on every call) and this one is built (or can be) with
    vectors of 8 floats or more (AVX, AVX-512)."""
    return enabled() and usable(_library())


def causal_attention(qkv: torch.Tensor, num_heads: int, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """qkv (b, l, 3·d) = Wqkv(x) on the CPU, heads of width dh = d / num_heads (even); cos, sin (l, dh/2) ->
    (b, l, d) fp32: softmax(rope(q) rope(k)ᵀ / sqrt(dh)) v per head, causal, heads side by side (out_proj's input)."""
    b, l, three_d = qkv.shape
    d = three_d // 3
    dh = d // num_heads
    src, cos_, sin_ = f32(qkv), f32(cos), f32(sin)
    out = np.empty((b, l, d), np.float32)
    lib = _library()

    def run(lo, hi):  # (batch item, head) pairs [lo, hi), item = bi * num_heads + head
        code = lib.causal_attention(src.ctypes.data, b, l, num_heads, dh, cos_.ctypes.data, sin_.ctypes.data,
                                    out.ctypes.data, lo, hi)
        if code != 0:
            raise RuntimeError(f"the C attention kernel failed with code {code} (-2: out of memory)")

    over_batch(run, b * num_heads)  # (item, head) pairs: an even split whatever the batch size
    return torch.from_numpy(out)


def transformer_block(x, num_heads, norm1_weight, norm1_eps, wqkv_weight, cos, sin, out_proj_weight, norm2_weight,
                      norm2_eps, fc1_weight, fc2_weight):
    """A pre-norm Transformer block for CPU inference in one C call: x (b, l, d) fp32 -> (b, l, d) fp32,
    x1 = x + out_proj(attention(Wqkv(RMSNorm1(x)))), x1 + fc2(silu(g) * u) with (g, u) = fc1(RMSNorm2(x1)).
    The weights are the bias-free Linears' (out, in) matrices; cos, sin (l, dh/2) the rotary angles
    (`dnahnet.transformer.TransformerBlock`: the reference)."""
    b, l, d = x.shape
    hidden = fc2_weight.shape[1]
    src = f32(x)
    weights = [transposed_padded(w) for w in (wqkv_weight, out_proj_weight, fc1_weight, fc2_weight)]
    wqkv_t, wo_t, fc1_t, fc2_t = weights
    norms = [f32(t) for t in (norm1_weight, norm2_weight, cos, sin)]
    out = np.empty((b, l, d), np.float32)
    lib = _library()

    def run(lo, hi):  # batch items [lo, hi)
        code = lib.transformer_block(src.ctypes.data + lo * l * d * 4, hi - lo, l, d, num_heads, norms[0].ctypes.data,
                                     norm1_eps, wqkv_t.ctypes.data, wqkv_t.shape[1], norms[2].ctypes.data,
                                     norms[3].ctypes.data, wo_t.ctypes.data, wo_t.shape[1], norms[1].ctypes.data,
                                     norm2_eps, fc1_t.ctypes.data, hidden, fc1_t.shape[1], fc2_t.ctypes.data,
                                     fc2_t.shape[1], out.ctypes.data + lo * l * d * 4)
        if code != 0:
            raise RuntimeError(f"the C Transformer block failed with code {code} (-2: out of memory)")

    over_batch(run, b)
    return torch.from_numpy(out)
