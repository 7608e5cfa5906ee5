"""Transformer pieces: RMSNorm, rotary embeddings, causal attention (SDPA, optional sliding window), SwiGLU,
and the pre-norm block with a `step` that uses a KV cache."""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from kernels import dispatch


class RMSNorm(nn.Module):
    """x · weight / sqrt(mean(x²) + eps) in fp32, back in x's dtype (`kernels.dispatch.rms_norm`)."""

    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return dispatch.rms_norm(x, self.weight, self.eps).to(x.dtype)


def rope_angles(positions, head_dim, base):
    """positions (...,) long -> cos, sin (..., head_dim/2) fp32."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    angles = positions.float()[..., None] * inv_freq
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    """Rotate pairs (first half, second half) of the last dim. x (..., dh); cos/sin broadcast to (..., dh/2)."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


def _rope(x, cos, sin):
    """apply_rope through `kernels.dispatch.rope` (one numba pass on a CPU at inference, the same bits)."""
    out = dispatch.rope(x, cos, sin)
    return apply_rope(x, cos, sin) if out is None else out


@dataclass
class KVCache:
    """Per-row key/value buffers; row i holds `lengths[i]` valid slots (rows advance independently)."""
    k: torch.Tensor  # (b, heads, capacity, head_dim)
    v: torch.Tensor
    lengths: torch.Tensor  # (b,) long


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, num_heads, window=0, rope_base=10000.0):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.window, self.rope_base = window, rope_base
        self.Wqkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    def _qkv(self, x):
        return self._heads(self.Wqkv(x))

    def _heads(self, qkv):
        q, k, v = qkv.unflatten(-1, (3, self.num_heads, self.head_dim)).unbind(-3)
        return q, k, v  # each (..., heads, head_dim)

    def forward(self, x):
        """x (b, l, d) -> (b, l, d), causal (and within `window` when set)."""
        b, l, d = x.shape
        qkv = self.Wqkv(x)  # (b, l, 3d)
        cos, sin = rope_angles(torch.arange(l, device=x.device), self.head_dim, self.rope_base)  # (l, dh/2)
        windowed = bool(self.window and self.window < l)
        y = None if windowed else dispatch.causal_attention(qkv, self.num_heads, cos, sin)  # CPU inference: C
        if y is not None:
            return self.out_proj(y)
        q, k, v = (t.transpose(1, 2) for t in self._heads(qkv))  # (b, h, l, dh)
        q, k = (_rope(t, cos, sin) for t in (q, k))
        if windowed:
            i = torch.arange(l, device=x.device)
            mask = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < self.window)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(y.transpose(1, 2).reshape(b, l, d))

    def allocate_inference_cache(self, batch_size, capacity=256, device=None, dtype=None):
        w = self.Wqkv.weight
        shape = (batch_size, self.num_heads, capacity, self.head_dim)
        return KVCache(torch.zeros(shape, device=device or w.device, dtype=dtype or w.dtype),
                       torch.zeros(shape, device=device or w.device, dtype=dtype or w.dtype),
                       torch.zeros(batch_size, dtype=torch.long, device=device or w.device))

    def step(self, x, cache: KVCache, active=None):
        """x (b, d) -> (b, d). Writes this token at slot lengths[i]; advances only rows where `active`."""
        b, d = x.shape
        q, k, v = self._qkv(x)  # (b, h, dh)
        pos = cache.lengths
        if int(pos.max()) >= cache.k.shape[2]:  # grow the buffers
            extra = torch.zeros_like(cache.k)
            cache.k, cache.v = torch.cat([cache.k, extra], 2), torch.cat([cache.v, extra.clone()], 2)
        cos, sin = rope_angles(pos, self.head_dim, self.rope_base)  # (b, dh/2)
        q, k = apply_rope(q, cos[:, None], sin[:, None]), apply_rope(k, cos[:, None], sin[:, None])
        rows = torch.arange(b, device=x.device)
        cache.k[rows, :, pos] = k.to(cache.k.dtype)
        cache.v[rows, :, pos] = v.to(cache.v.dtype)
        slots = torch.arange(cache.k.shape[2], device=x.device)[None, :]
        visible = slots <= pos[:, None]
        if self.window:
            visible &= slots > pos[:, None] - self.window
        y = F.scaled_dot_product_attention(q[:, :, None].to(cache.k.dtype), cache.k, cache.v,
                                           attn_mask=visible[:, None, None, :])  # (b, h, 1, dh)
        cache.lengths = pos + (1 if active is None else active.long())
        return self.out_proj(y.reshape(b, d).to(x.dtype))


class SwiGLU(nn.Module):
    def __init__(self, d_model, d_hidden):
        super().__init__()
        self.fc1 = nn.Linear(d_model, 2 * d_hidden, bias=False)
        self.fc2 = nn.Linear(d_hidden, d_model, bias=False)

    def forward(self, x):
        gate, up = self.fc1(x).chunk(2, dim=-1)
        return self.fc2(F.silu(gate) * up)


class TransformerBlock(nn.Module):
    """Pre-norm: x + attn(norm(x)), then x + swiglu(norm(x))."""

    def __init__(self, d_model, num_heads, d_hidden, window=0, rope_base=10000.0, eps=1e-5):
        super().__init__()
        self.norm1 = RMSNorm(d_model, eps)
        self.mixer = CausalSelfAttention(d_model, num_heads, window, rope_base)
        self.norm2 = RMSNorm(d_model, eps)
        self.mlp = SwiGLU(d_model, d_hidden)

    def forward(self, x):
        fused = self._fused(x)  # CPU inference: the whole block in one C call, else None
        if fused is not None:
            return fused
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def _fused(self, x):
        """`kernels.dispatch.transformer_block` for plain causal attention (no window shorter than the sequence)
        with bias-free Linear layers (not quantised ones), else None."""
        a, m = self.mixer, self.mlp
        linears = (a.Wqkv, a.out_proj, m.fc1, m.fc2)
        if ((a.window and a.window < x.shape[-2]) or any(type(t) is not nn.Linear or t.bias is not None
                                                          for t in linears)):
            return None
        def angles():  # (cos, sin) (l, dh/2), computed only when the C block runs
            return rope_angles(torch.arange(x.shape[-2], device=x.device), a.head_dim, a.rope_base)

        return dispatch.transformer_block(x, a.num_heads, self.norm1.weight, self.norm1.eps, a.Wqkv.weight, angles,
                                          a.out_proj.weight, self.norm2.weight, self.norm2.eps, m.fc1.weight,
                                          m.fc2.weight)

    def allocate_inference_cache(self, batch_size, device=None, dtype=None):
        return self.mixer.allocate_inference_cache(batch_size, device=device, dtype=dtype)

    def step(self, x, cache, active=None):
        x = x + self.mixer.step(self.norm1(x), cache, active)
        return x + self.mlp(self.norm2(x))
