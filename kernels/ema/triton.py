"""EMA dechunk scan z̄_k = P_k ẑ_k + (1 - P_k) z̄_{k-1} in Triton, forward and backward (on the training path).

One program per (batch row, slice of d) walks the chunk axis in tiles of BLOCK_M rows. Inside a tile the
first-order recurrence (decay a = 1 - P, input u = P ẑ) is the lower-triangular product
  z̄ = L u + exp(cs) ∘ carry,   L[i, j] = exp(cs_i - cs_j) for j <= i,   cs = cumsum(log a) within the tile,
one `tl.dot` per tile (the same algebra as the chunked SSD, with a one-dimensional state), and the carry is the
last z̄ of the previous tile. All arithmetic is fp32; inputs may be bf16 or fp32. The backward pass runs the
tiles in reverse with Lᵀ:
  g_k = ∂L/∂z̄_k + (1 - P_{k+1}) g_{k+1},   ∂L/∂ẑ_k = P_k g_k,   ∂L/∂P_k = <g_k, ẑ_k - z̄_{k-1}>,
the last one reduced over d per program and summed over the d slices on the host.
(A `tl.associative_scan` with a custom combine would do the same, but the Triton interpreter runs it element by
element in Python, which makes the CPU tests unbearably slow.)
References: `kernels/ema/naive.py` (`ema_loop`, the ground truth) and `kernels/ema/chunked.py` (the fast CPU path).
"""
import torch
import triton
import triton.language as tl

from kernels import triton_utils
from kernels.triton_utils import block_size, masked_exp


@triton.jit
def _tile_log_decay(P_ptr, k, mask_m, sp_m):
    """Tile-local inclusive cumsum of log(1 - P) over rows k; padding rows have P = 0 (decay 1).
    1 - P is floored at 1e-30 so that P = 1 gives a vanishing decay instead of log(0) = -inf."""
    P = tl.load(P_ptr + k * sp_m, mask=mask_m, other=0.0).to(tl.float32)
    log_a = tl.log(tl.maximum(1.0 - P, 1e-30))
    return P, log_a, tl.cumsum(log_a, 0)


@triton.jit
def _ema_fwd_kernel(
    z_ptr, P_ptr, out_ptr, m, d,
    sz_b, sz_m, sz_d, sp_b, sp_m, so_b, so_m, so_d,
    BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    rows = tl.arange(0, BLOCK_M)
    cols = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = cols < d
    lower = rows[:, None] >= rows[None, :]
    carry = tl.zeros((BLOCK_D,), dtype=tl.float32)  # z̄ of the row before the tile
    for start in range(0, m, BLOCK_M):
        k = start + rows
        mask_m = k < m
        mask = mask_m[:, None] & mask_d[None, :]
        P, log_a, cs = _tile_log_decay(P_ptr + pid_b * sp_b, k, mask_m, sp_m)
        z = tl.load(z_ptr + pid_b * sz_b + k[:, None] * sz_m + cols[None, :] * sz_d, mask=mask, other=0.0)
        u = P[:, None] * z.to(tl.float32)  # (BLOCK_M, BLOCK_D)
        L = masked_exp(cs[:, None] - cs[None, :], lower)
        zbar = tl.dot(L, u, input_precision=PRECISION) + tl.exp(cs)[:, None] * carry[None, :]
        tl.store(out_ptr + pid_b * so_b + k[:, None] * so_m + cols[None, :] * so_d,
                 zbar.to(out_ptr.dtype.element_ty), mask=mask)
        carry = tl.sum(tl.where((rows == BLOCK_M - 1)[:, None], zbar, 0.0), 0)  # padding rows keep the last value


@triton.jit
def _ema_bwd_kernel(
    gout_ptr, z_ptr, P_ptr, zbar_ptr, dz_ptr, dP_part_ptr, m, d,
    sg_b, sg_m, sg_d, sz_b, sz_m, sz_d, sp_b, sp_m, sb_b, sb_m, sb_d, sdz_b, sdz_m, sdz_d,
    sq_b, sq_s, sq_m,
    BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_d = tl.program_id(1)
    rows = tl.arange(0, BLOCK_M)
    cols = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_d = cols < d
    upper = rows[:, None] <= rows[None, :]
    carry = tl.zeros((BLOCK_D,), dtype=tl.float32)  # (1 - P_{k+1}) g_{k+1} for the row k ending this tile
    n_tiles = tl.cdiv(m, BLOCK_M)
    for i in range(0, n_tiles):
        k = (n_tiles - 1 - i) * BLOCK_M + rows
        mask_m = k < m
        mask = mask_m[:, None] & mask_d[None, :]
        P, log_a, cs = _tile_log_decay(P_ptr + pid_b * sp_b, k, mask_m, sp_m)
        gout = tl.load(gout_ptr + pid_b * sg_b + k[:, None] * sg_m + cols[None, :] * sg_d, mask=mask, other=0.0)
        # g_k = sum_{j >= k} exp(cs_j - cs_k) gout_j + exp(cs_last - cs_k) carry
        U = masked_exp(cs[None, :] - cs[:, None], upper)  # U[k, j]
        cs_last = tl.sum(log_a, 0)
        g = tl.dot(U, gout.to(tl.float32), input_precision=PRECISION) + tl.exp(cs_last - cs)[:, None] * carry[None, :]
        first = (rows == 0)[:, None]
        carry = tl.sum(tl.where(first, tl.exp(log_a)[:, None] * g, 0.0), 0)

        z = tl.load(z_ptr + pid_b * sz_b + k[:, None] * sz_m + cols[None, :] * sz_d, mask=mask, other=0.0)
        prev_mask = mask & (k >= 1)[:, None]
        prev = tl.load(zbar_ptr + pid_b * sb_b + (k - 1)[:, None] * sb_m + cols[None, :] * sb_d,
                       mask=prev_mask, other=0.0).to(tl.float32)
        tl.store(dz_ptr + pid_b * sdz_b + k[:, None] * sdz_m + cols[None, :] * sdz_d,
                 (P[:, None] * g).to(dz_ptr.dtype.element_ty), mask=mask)
        dP = tl.sum(g * (z.to(tl.float32) - prev), 1)  # (BLOCK_M,) partial over this d slice
        tl.store(dP_part_ptr + pid_b * sq_b + pid_d * sq_s + k * sq_m, dP, mask=mask_m)


def _blocks(m, d):
    """Tile sizes: BLOCK_M rows of the chunk axis (16..32), BLOCK_D columns of d (16..64)."""
    return block_size(m, hi=32), block_size(d, hi=64)


def _ema_forward(z, P, out_dtype):
    b, m, d = z.shape
    out = torch.empty(b, m, d, device=z.device, dtype=out_dtype)
    if out.numel() == 0:
        return out
    block_m, block_d = _blocks(m, d)
    _ema_fwd_kernel[(b, triton.cdiv(d, block_d))](
        z, P, out, m, d, *z.stride(), *P.stride(), *out.stride(),
        BLOCK_M=block_m, BLOCK_D=block_d, PRECISION=triton_utils.DOT_PRECISION)
    return out


def _ema_backward(gout, z, P, zbar):
    b, m, d = z.shape
    dz = torch.empty_like(z)
    block_m, block_d = _blocks(m, d)
    n_slices = triton.cdiv(d, block_d)
    dP_part = torch.empty(b, n_slices, m, device=z.device, dtype=torch.float32)
    if dz.numel() == 0:
        return dz.zero_(), torch.zeros_like(P)
    _ema_bwd_kernel[(b, n_slices)](
        gout, z, P, zbar, dz, dP_part, m, d,
        *gout.stride(), *z.stride(), *P.stride(), *zbar.stride(), *dz.stride(), *dP_part.stride(),
        BLOCK_M=block_m, BLOCK_D=block_d, PRECISION=triton_utils.DOT_PRECISION)
    return dz, dP_part.sum(1).to(P.dtype)


class EMAScan(torch.autograd.Function):
    """Autograd wrapper: forward and backward scans are both Triton kernels."""

    @staticmethod
    def forward(ctx, z, P):
        needs_grad = any(ctx.needs_input_grad)
        # keep z̄ in fp32 for the backward pass (the bf16 output would add rounding to dP)
        keep_fp32 = needs_grad and z.dtype != torch.float32
        zbar = _ema_forward(z, P, torch.float32 if keep_fp32 else z.dtype)
        if needs_grad:
            ctx.save_for_backward(z, P, zbar)
        return zbar.to(z.dtype) if keep_fp32 else zbar

    @staticmethod
    def backward(ctx, gout):
        z, P, zbar = ctx.saved_tensors
        dz, dP = _ema_backward(gout, z, P, zbar)
        return (dz if ctx.needs_input_grad[0] else None), (dP if ctx.needs_input_grad[1] else None)


def ema_scan(z, P):
    """z (b,m,d), P (b,m) -> (b,m,d) in z's dtype: z̄_k = P_k z_k + (1-P_k) z̄_{k-1}; differentiable in z and P."""
    if z.dim() != 3 or P.shape != z.shape[:2]:
        raise ValueError(f"ema_scan: expected z (b,m,d) and P (b,m), got {tuple(z.shape)} and {tuple(P.shape)}")
    return EMAScan.apply(z, P)
