"""Routing in Triton: fused boundary probability + boundary mask, and the gather of boundary rows into chunks.

`boundary_prob`: one program per (batch row, block of positions) streams q_{t-1} and k_t over d once, accumulating
q·k, |q|², |k|² in fp32, then p_t = clamp((1 - cos)/2, 0, 1), p_0 = 1, b_t = p_t > 0.5 (and `mask`, if given).
Forward only (no autograd): `kernels.dispatch` uses the reference when a gradient is needed.
`gather_chunks`: per-row counts and destination slots come from one torch cumsum; a Triton kernel then moves
each row to its slot. Boundary rows fill slots 0..count-1 in order; like the reference, the padded slots hold the
first non-boundary rows (masked out by `chunk_mask`). Differentiable: the backward pass is the same kernel
run the other way (each source row reads the gradient of its slot).
`bench/boundary_agreement.py` runs both paths on the same q, k and reports where rounding flips a decision.
References: `kernels/routing/naive.py`.
"""
import torch
import triton
import triton.language as tl

from kernels.triton_utils import block_size

_NORM_EPS = 1e-12  # F.normalize's eps, as in the reference


@triton.jit
def _boundary_prob_kernel(
    q_ptr, k_ptr, mask_ptr, p_ptr, b_ptr, seqlen, d,
    sq_b, sq_l, sq_d, sk_b, sk_l, sk_d, sm_b, sm_l, sp_b, sp_l, sbb_b, sbb_l,
    BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr, HAS_MASK: tl.constexpr, EPS: tl.constexpr,
):
    pid_b = tl.program_id(0)
    t = tl.program_id(1) * BLOCK_L + tl.arange(0, BLOCK_L)
    mask_t = t < seqlen
    has_prev = mask_t & (t >= 1)
    qk = tl.zeros((BLOCK_L,), dtype=tl.float32)
    qq = tl.zeros((BLOCK_L,), dtype=tl.float32)
    kk = tl.zeros((BLOCK_L,), dtype=tl.float32)
    for d0 in range(0, d, BLOCK_D):
        cols = d0 + tl.arange(0, BLOCK_D)
        mask_d = cols < d
        q = tl.load(q_ptr + pid_b * sq_b + (t - 1)[:, None] * sq_l + cols[None, :] * sq_d,
                    mask=has_prev[:, None] & mask_d[None, :], other=0.0).to(tl.float32)  # q_{t-1}
        k = tl.load(k_ptr + pid_b * sk_b + t[:, None] * sk_l + cols[None, :] * sk_d,
                    mask=has_prev[:, None] & mask_d[None, :], other=0.0).to(tl.float32)  # k_t
        qk += tl.sum(q * k, 1)
        qq += tl.sum(q * q, 1)
        kk += tl.sum(k * k, 1)
    cos = qk / (tl.maximum(tl.sqrt(qq), EPS) * tl.maximum(tl.sqrt(kk), EPS))
    p = tl.minimum(tl.maximum((1.0 - cos) * 0.5, 0.0), 1.0)
    p = tl.where(t == 0, 1.0, p)
    is_boundary = p > 0.5
    if HAS_MASK:
        is_boundary = is_boundary & (tl.load(mask_ptr + pid_b * sm_b + t * sm_l, mask=mask_t, other=0) != 0)
    tl.store(p_ptr + pid_b * sp_b + t * sp_l, p, mask=mask_t)
    tl.store(b_ptr + pid_b * sbb_b + t * sbb_l, is_boundary.to(tl.int8), mask=mask_t)


def boundary_prob(q, k, mask=None):
    """q, k (b,l,d) -> (p (b,l) fp32, b (b,l) bool); p_t = clamp((1 - cos(q_{t-1}, k_t))/2, 0, 1), p_0 = 1.

    mask (b,l) bool, optional: b is False where mask is False (padding); p is computed everywhere. No autograd.
    """
    if q.dim() != 3 or q.shape != k.shape:
        raise ValueError(f"boundary_prob: expected q, k (b,l,d) of one shape, got {tuple(q.shape)}, {tuple(k.shape)}")
    bsz, l, d = q.shape
    p = torch.empty(bsz, l, device=q.device, dtype=torch.float32)
    b = torch.empty(bsz, l, device=q.device, dtype=torch.int8)
    if p.numel() == 0:
        return p, b.bool()
    if mask is not None:
        if mask.shape != (bsz, l):
            raise ValueError(f"boundary_prob: mask {tuple(mask.shape)} should be {(bsz, l)}")
        mask = mask.to(torch.int8)
    m = mask if mask is not None else b  # dummy pointer when absent
    block_l, block_d = 32, block_size(d, lo=1, hi=128)
    _boundary_prob_kernel[(bsz, triton.cdiv(l, block_l))](
        q, k, m, p, b, l, d, *q.stride(), *k.stride(), *m.stride(), *p.stride(), *b.stride(),
        BLOCK_L=block_l, BLOCK_D=block_d, HAS_MASK=mask is not None, EPS=_NORM_EPS,
    )
    return p, b.bool()


@triton.jit
def _move_rows_kernel(
    src_ptr, dst_ptr, slot_ptr, flag_ptr, idx_ptr, cmask_ptr, seqlen, d, n_slots,
    ss_b, ss_r, ss_d, sd_b, sd_r, sd_d, sl_b, sl_l, sf_b, sf_l, si_b, si_m, sc_b, sc_m,
    TO_SLOTS: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """TO_SLOTS: dst[slot[t]] = src[t] (+ idx, chunk_mask) for slot[t] < n_slots. Else: dst[t] = src[slot[t]] or 0."""
    pid_b = tl.program_id(0)
    t = tl.program_id(1) * BLOCK_L + tl.arange(0, BLOCK_L)
    cols = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_t = t < seqlen
    mask_d = cols < d
    slot = tl.load(slot_ptr + pid_b * sl_b + t * sl_l, mask=mask_t, other=0)
    has_slot = mask_t & (slot < n_slots)
    if TO_SLOTS:
        rows = tl.load(src_ptr + pid_b * ss_b + t[:, None] * ss_r + cols[None, :] * ss_d,
                       mask=has_slot[:, None] & mask_d[None, :], other=0.0)
        tl.store(dst_ptr + pid_b * sd_b + slot[:, None] * sd_r + cols[None, :] * sd_d, rows,
                 mask=has_slot[:, None] & mask_d[None, :])
        if tl.program_id(2) == 0:
            flag = tl.load(flag_ptr + pid_b * sf_b + t * sf_l, mask=mask_t, other=0)
            tl.store(idx_ptr + pid_b * si_b + slot * si_m, t.to(tl.int64), mask=has_slot)
            tl.store(cmask_ptr + pid_b * sc_b + slot * sc_m, flag, mask=has_slot)
    else:
        rows = tl.load(src_ptr + pid_b * ss_b + slot[:, None] * ss_r + cols[None, :] * ss_d,
                       mask=has_slot[:, None] & mask_d[None, :], other=0.0)
        tl.store(dst_ptr + pid_b * sd_b + t[:, None] * sd_r + cols[None, :] * sd_d, rows,
                 mask=mask_t[:, None] & mask_d[None, :])


def _move_rows(src, slot, n_rows_out, to_slots, flag=None):
    """Launch `_move_rows_kernel`; returns dst (and idx, chunk_mask when to_slots)."""
    bsz, l = slot.shape
    d = src.shape[-1]
    dst = torch.empty(bsz, n_rows_out, d, device=src.device, dtype=src.dtype)
    idx = torch.empty(bsz, n_rows_out if to_slots else 0, device=src.device, dtype=torch.long)
    cmask = torch.empty(bsz, n_rows_out if to_slots else 0, device=src.device, dtype=torch.int8)
    if bsz == 0 or l == 0 or (to_slots and n_rows_out == 0):
        return dst.zero_(), idx, cmask.bool()
    block_l, block_d = 32, block_size(d, lo=1, hi=128)
    flag = flag if flag is not None else slot
    grid = (bsz, triton.cdiv(l, block_l), triton.cdiv(d, block_d))
    _move_rows_kernel[grid](
        src, dst, slot, flag, idx, cmask, l, d, n_rows_out if to_slots else src.shape[1],
        *src.stride(), *dst.stride(), *slot.stride(), *flag.stride(), *idx.stride(), *cmask.stride(),
        TO_SLOTS=to_slots, BLOCK_L=block_l, BLOCK_D=block_d,
    )
    return dst, idx, cmask.bool()


def chunk_slots(b):
    """b (batch, l) bool -> (slot (batch, l) int32, counts (batch,) long): boundary rows take slots 0..count-1 in
    order, the other rows count+0, count+1, ... in order (the reference's padding order)."""
    csum = torch.cumsum(b.to(torch.int32), dim=1)  # inclusive
    counts = csum[:, -1].long() if b.shape[1] else b.new_zeros(b.shape[0], dtype=torch.long)
    pos = torch.arange(b.shape[1], device=b.device, dtype=torch.int32)
    slot = torch.where(b, csum - 1, counts[:, None].to(torch.int32) + pos[None, :] - csum)
    return slot, counts


class _GatherChunks(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, slot, flag, m):
        chunks, idx, cmask = _move_rows(h, slot, m, to_slots=True, flag=flag)
        ctx.save_for_backward(slot)
        ctx.seqlen = h.shape[1]
        return chunks, cmask, idx

    @staticmethod
    def backward(ctx, g_chunks, g_mask, g_idx):
        (slot,) = ctx.saved_tensors
        dh, _, _ = _move_rows(g_chunks, slot, ctx.seqlen, to_slots=False)
        return dh, None, None, None


def gather_chunks(h, b):
    """h (b,l,d), b (b,l) bool -> chunks (b,m,d), chunk_mask (b,m) bool, idx (b,m) long; m = largest count.

    Same output as `kernels.routing.naive.gather_chunks`, bit for bit (a pure copy); differentiable in h."""
    if h.dim() != 3 or b.shape != h.shape[:2]:
        raise ValueError(f"gather_chunks: expected h (b,l,d) and b (b,l), got {tuple(h.shape)}, {tuple(b.shape)}")
    b = b.bool()
    slot, counts = chunk_slots(b)
    m = int(counts.max()) if counts.numel() else 0
    return _GatherChunks.apply(h, slot, b.to(torch.int8), m)
