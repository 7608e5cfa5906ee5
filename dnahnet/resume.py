"""A forward pass that continues from a cached model state and can return the state at its end.

The model is causal, so what a window's positions from k on see of the positions before k is the state of every
layer at k: per Mamba-2 layer its last conv inputs and SSM state, per attention layer the keys and values so far,
per router the last hidden state, per dechunk the running EMA. Variant scoring runs the prefix that a reference
window shares with its mutants once and every continuation from its state (`dnahnet/scoring.py`). The states are
the inference caches of `DnaHNet.step` (`StageState` of `MambaState` / `KVCache` / `RouterState` / `DechunkState`),
so a state made here can also be stepped. Same maths as `DnaHNet.forward`, position by position; the Mamba-2 layers
run the fused CPU interior with an initial state (`Mamba2.forward_with_state`).
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass

import torch
import torch.nn.functional as F

from dnahnet.hnet import StageState
from dnahnet.mamba2 import MambaBlock
from dnahnet.routing import P_EPS, DechunkState, RouterState, chunk, confidence_ste
from dnahnet.transformer import KVCache, apply_rope, rope_angles
from kernels import dispatch


@torch.inference_mode()
def resume(model, input_ids, state: StageState | None = None, *, offset=0, keep_state: bool = False):
    """input_ids (B, L) read after `state` (None: a fresh start) -> (logits (B, L, V), routing, state or None).

    routing: per routed stage, outer first, (positions (B, L_s) long, b (B, L_s) bool): the boundary decisions of
    this piece, positions counted from `offset` (the length of the prefix behind `state`; an int, or one per row as a
    (B,) tensor). keep_state: also return
    the state after the last position; only for one row (in a batch, an inner stage's chunks are right-padded and
    the padding would enter the state)."""
    ids = input_ids.long()
    B, L = ids.shape
    if L < 1:
        raise ValueError("resume needs at least one position")
    if keep_state and B != 1:
        raise ValueError(f"keep_state needs a single row (got {B}): chunk padding would enter the state")
    device = ids.device
    if state is None:
        state = model.allocate_inference_cache(B, device)
    x = model.embedding(ids)  # (B, L, d0)
    mask = torch.ones(B, L, dtype=torch.bool, device=device)
    start = torch.as_tensor(offset, dtype=torch.long, device=device).reshape(-1, 1)  # (1 or B, 1)
    positions = (start + torch.arange(L, device=device)).expand(B, L)
    h, routing, new = _stage(model.backbone, x, mask, positions, state, keep_state)
    return model.lm_head(h), routing, (new if keep_state else None)


def fresh_state(model, batch_size: int = 1) -> StageState:
    """The state before position 0 (zeros; routers not yet started)."""
    return model.allocate_inference_cache(batch_size, next(model.parameters()).device)


def stack_states(states: list) -> StageState:
    """Rows of several states (batch sizes add up; repeat one to broadcast it). Key/value caches are padded to the
    longest; each row keeps its own length."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, list):
        return [stack_states([s[i] for s in states]) for i in range(len(first))]
    if isinstance(first, KVCache):
        n = max(int(s.lengths.max()) if s.lengths.numel() else 0 for s in states)

        def fit(t):  # (b, heads, capacity, dh) -> (b, heads, n, dh)
            t = t[:, :, :n]
            return F.pad(t, (0, 0, 0, n - t.shape[2]))

        return KVCache(torch.cat([fit(s.k) for s in states]), torch.cat([fit(s.v) for s in states]),
                       torch.cat([s.lengths for s in states]))
    if is_dataclass(first):
        return type(first)(**{f.name: stack_states([getattr(s, f.name) for s in states]) for f in fields(first)})
    return torch.cat(states, dim=0)


# ---------------------------------------------------------------------------------------------- pieces
def _stage(stage, x, mask, positions, st: StageState, keep: bool):
    """`HNetStage.forward` from a state: x (B, L, D_outer) -> (y (B, L, D_outer), routing list, new StageState);
    without `keep` the attention layers skip building their new key/value caches (the state is then partial)."""
    D = x.shape[-1]
    x = stage._pad(x)  # (B, L, d)
    if stage.is_innermost:
        y, main = _isotropic(stage.main, x, st.main, keep)
        return y[..., :D], [], StageState(main=main)
    h, encoder = _isotropic(stage.encoder, x, st.encoder, keep)
    residual = stage._residual(h)
    p, b, router = _route(stage.router, h, mask, st.router)  # (B, L)
    chunks, chunk_mask, idx = chunk(h, b)  # (B, M, d), (B, M), (B, M)
    if chunks.shape[1] > 0:
        z, inner_routing, inner = _stage(stage.inner, chunks, chunk_mask, torch.gather(positions, 1, idx), st.inner,
                                         keep)
    else:  # no boundary in this piece: the inner stage does not advance
        z, inner = chunks, st.inner
        inner_routing = [(positions[:, :0], b[:, :0]) for _ in _routed_below(stage.inner)]
    z_bar, dechunk = _dechunk(z, b, p, idx, st.dechunk)  # (B, L, d) fp32
    out = z_bar * confidence_ste(p, b)[..., None]
    out = (out if stage.inner_gain == 1.0 else out * stage.inner_gain) + residual
    y, decoder = _isotropic(stage.decoder, out.to(h.dtype), st.decoder, keep)
    routing = [(positions.masked_fill(~mask, -1), b), *inner_routing]
    return y[..., :D], routing, StageState(encoder=encoder, router=router, inner=inner, dechunk=dechunk,
                                           decoder=decoder)


def _routed_below(stage):
    out = []
    while not stage.is_innermost:
        out.append(stage)
        stage = stage.inner
    return out


def _isotropic(iso, x, states, keep):
    """`Isotropic.forward` from per-layer states -> (y, new per-layer states)."""
    new = []
    for layer, st in zip(iso.layers, states):
        if isinstance(layer, MambaBlock):
            y, s = layer.mixer.forward_with_state(layer.norm(x), st)
            x = x + y
        else:
            a, s = _attend(layer.mixer, layer.norm1(x), st, keep)
            x = x + a
            x = x + layer.mlp(layer.norm2(x))
        new.append(s)
    return iso.norm(x), new


def _attend(attn, x, cache: KVCache, keep: bool):
    """Causal attention of x (B, l, d) over the cached keys/values and its own; per-row cache lengths. Returns
    (output, the cache extended by x's keys/values, or None without `keep`)."""
    B, l, d = x.shape
    q, k, v = (t.transpose(1, 2) for t in attn._qkv(x))  # (B, heads, l, dh)
    lengths = cache.lengths
    pos = lengths[:, None] + torch.arange(l, device=x.device)  # (B, l) position of each query in this stage
    cos, sin = rope_angles(pos, attn.head_dim, attn.rope_base)  # (B, l, dh/2)
    q, k = apply_rope(q, cos[:, None], sin[:, None]), apply_rope(k, cos[:, None], sin[:, None])
    n = int(lengths.max()) if B else 0
    slots = torch.arange(n, device=x.device)
    keys = torch.cat([cache.k[:, :, :n].to(k.dtype), k], dim=2)  # (B, heads, n + l, dh)
    values = torch.cat([cache.v[:, :, :n].to(v.dtype), v], dim=2)
    key_pos = torch.cat([slots.expand(B, n), pos], dim=1)  # (B, n + l)
    key_ok = torch.cat([slots[None] < lengths[:, None], torch.ones_like(pos, dtype=torch.bool)], dim=1)
    visible = key_ok[:, None, :] & (key_pos[:, None, :] <= pos[:, :, None])  # (B, l, n + l)
    if attn.window:
        visible &= key_pos[:, None, :] > pos[:, :, None] - attn.window
    y = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible[:, None])  # (B, heads, l, dh)
    out = attn.out_proj(y.transpose(1, 2).reshape(B, l, d))
    if not keep:
        return out, None
    new_k = k.new_zeros(B, k.shape[1], n + l, k.shape[3])
    new_v = torch.zeros_like(new_k)
    new_k[:, :, :n], new_v[:, :, :n] = cache.k[:, :, :n], cache.v[:, :, :n]
    rows = torch.arange(B, device=x.device)[:, None]
    new_k[rows, :, pos] = k.transpose(1, 2)  # (B, l, heads, dh) into slot = position
    new_v[rows, :, pos] = v.transpose(1, 2)
    return out, KVCache(new_k, new_v, lengths + l)


def _route(router, h, mask, st: RouterState):
    """`Router.forward` from the last hidden state before this piece: p (B, L) fp32, b (B, L) bool, new state.
    The first position compares with that state (p = 1 for a row that has not started: position 0)."""
    B, L, _ = h.shape
    with torch.autocast(device_type=h.device.type, enabled=False):
        hf = h.float()
        ext = torch.cat([st.last.float()[:, None], hf], dim=1)  # (B, L + 1, d)
        p, _ = dispatch.boundary_prob(router.q_proj(ext), router.k_proj(ext))
    p = p[:, 1:].clone()  # (B, L)
    p[:, 0] = torch.where(st.seen, p[:, 0], torch.ones_like(p[:, 0]))
    b = (p > 0.5) & mask
    return p, b, RouterState(hf[:, -1].clone(), torch.ones_like(st.seen))


def _dechunk(z, b, p, idx, st: DechunkState):
    """`routing.dechunk` continuing the EMA from st.ema: z (B, M, d) -> (z̄ per position (B, L, d) fp32, state)."""
    B, L = b.shape
    if z.shape[1] > 0:
        P = torch.gather(p.float(), 1, idx).clamp(P_EPS, 1 - P_EPS)  # (B, M)
        # the EMA is linear: from a state e it is the EMA from zero plus e decayed by prod(1 - P) so far
        z_bar = dispatch.ema_scan(z, P).float() + torch.cumprod(1 - P, dim=1)[..., None] * st.ema[:, None]
        ext = torch.cat([st.ema[:, None].float(), z_bar], dim=1)  # (B, M + 1, d); chunk 0 = before this piece
    else:
        ext = st.ema[:, None].float()
    which = torch.cumsum(b.long(), dim=1)  # (B, L): the chunk each position reads (0 = the state's)
    out = torch.gather(ext, 1, which[..., None].expand(-1, -1, ext.shape[-1]))
    return out, DechunkState(ext[torch.arange(B, device=b.device), which[:, -1]])


__all__ = ["resume", "fresh_state", "stack_states"]
