"""Mamba-2 SSD scan in Triton (inference): the chunked scan with the state kept in registers, and a one-step update.

Design (`_ssd_scan_kernel`): one program per (batch, head, slice of the head dimension). The recurrence
state_t = exp(dt_t A) state_{t-1} + dt_t x_t B_tᵀ is independent for every row p of the (p, n) state, so a
program owns a (BLOCK_P, n) slice of the state in fp32 registers and walks the sequence chunk by chunk:
  1. within the chunk (T positions): y = ((C Bᵀ) ∘ L) (dt·x), L[i, j] = exp(a_cs[i] - a_cs[j]) for j <= i,
  2. from the entering state: y += exp(a_cs) ∘ (C stateᵀ),
  3. state ← exp(a_total) state + (dt·x ∘ exp(a_total - a_cs))ᵀ B.
This is the same algebra as `kernels/ssd/chunked.py::scan_chunked` (the Mamba-2 paper's `ssd_minimal`), but the
inter-chunk recurrence happens in registers, so nothing of size (chunks × p × n) ever reaches memory and one
kernel launch does the whole scan. The price is a sequential loop over chunks per program; parallelism comes from
batch × heads × head-dim slices (the wrapper shrinks BLOCK_P until there are enough programs to fill a GPU).
The model's `chunk_size` is only a hint: any chunk length gives the same result up to rounding; the kernel uses
T = 16..64 so the (T, T) and (T, n) tiles fit in registers.
Matrix products use `tl.dot` in full fp32 ("ieee") so results match the fp32 reference closely; see
`kernels.triton_utils.DOT_PRECISION` to trade accuracy for tensor-core speed ("tf32").
References: `kernels/ssd/naive.py` (the loop, the ground truth) and `kernels/ssd/chunked.py`.
"""
import torch
import triton
import triton.language as tl

from kernels import triton_utils
from kernels.triton_utils import MIN_DOT_BLOCK, block_size, masked_exp, num_sms


@triton.jit
def _ssd_scan_kernel(
    x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, init_ptr, y_ptr, final_ptr,
    seqlen, headdim, dstate, heads_per_group,
    sx_b, sx_l, sx_h, sx_p,
    sdt_b, sdt_l, sdt_h,
    sB_b, sB_l, sB_g, sB_n,
    sC_b, sC_l, sC_g, sC_n,
    sy_b, sy_l, sy_h, sy_p,
    si_b, si_h, si_p, si_n,
    sf_b, sf_h, sf_p, sf_n,
    CHUNK: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_D: tl.constexpr, HAS_INIT: tl.constexpr, PRECISION: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_h = tl.program_id(1)
    pid_p = tl.program_id(2)
    group = pid_h // heads_per_group
    offs_t = tl.arange(0, CHUNK)
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    mask_p = offs_p < headdim
    mask_n = offs_n < dstate
    mask_pn = mask_p[:, None] & mask_n[None, :]
    causal = offs_t[:, None] >= offs_t[None, :]

    A = tl.load(A_ptr + pid_h).to(tl.float32)
    if HAS_D:
        D = tl.load(D_ptr + pid_h).to(tl.float32)
    if HAS_INIT:
        init_ptrs = init_ptr + pid_b * si_b + pid_h * si_h + offs_p[:, None] * si_p + offs_n[None, :] * si_n
        state = tl.load(init_ptrs, mask=mask_pn, other=0.0).to(tl.float32)  # (BLOCK_P, BLOCK_N)
    else:
        state = tl.zeros((BLOCK_P, BLOCK_N), dtype=tl.float32)

    x_base = x_ptr + pid_b * sx_b + pid_h * sx_h
    dt_base = dt_ptr + pid_b * sdt_b + pid_h * sdt_h
    B_base = B_ptr + pid_b * sB_b + group * sB_g
    C_base = C_ptr + pid_b * sC_b + group * sC_g
    y_base = y_ptr + pid_b * sy_b + pid_h * sy_h
    for start in range(0, seqlen, CHUNK):
        t = start + offs_t
        mask_t = t < seqlen
        mask_tp = mask_t[:, None] & mask_p[None, :]
        mask_tn = mask_t[:, None] & mask_n[None, :]
        dt = tl.load(dt_base + t * sdt_l, mask=mask_t, other=0.0).to(tl.float32)  # (T,)
        x = tl.load(x_base + t[:, None] * sx_l + offs_p[None, :] * sx_p, mask=mask_tp, other=0.0).to(tl.float32)
        Bc = tl.load(B_base + t[:, None] * sB_l + offs_n[None, :] * sB_n, mask=mask_tn, other=0.0).to(tl.float32)
        Cc = tl.load(C_base + t[:, None] * sC_l + offs_n[None, :] * sC_n, mask=mask_tn, other=0.0).to(tl.float32)

        a = dt * A  # log-decay per position, 0 on padding (decay 1, no input)
        a_cs = tl.cumsum(a, 0)  # (T,)
        a_total = tl.sum(a, 0)
        xdt = x * dt[:, None]  # (T, BLOCK_P)

        # 1. within the chunk
        CB = tl.dot(Cc, tl.trans(Bc), input_precision=PRECISION)  # (T, T)
        L = masked_exp(a_cs[:, None] - a_cs[None, :], causal)
        y = tl.dot(CB * L, xdt, input_precision=PRECISION)  # (T, BLOCK_P)
        # 2. from the state entering the chunk
        y += tl.dot(Cc, tl.trans(state), input_precision=PRECISION) * tl.exp(a_cs)[:, None]
        if HAS_D:
            y += D * x
        tl.store(y_base + t[:, None] * sy_l + offs_p[None, :] * sy_p, y.to(y_ptr.dtype.element_ty), mask=mask_tp)
        # 3. the state leaving the chunk
        xdt_to_end = xdt * tl.exp(a_total - a_cs)[:, None]
        state = state * tl.exp(a_total) + tl.dot(tl.trans(xdt_to_end), Bc, input_precision=PRECISION)

    final_ptrs = final_ptr + pid_b * sf_b + pid_h * sf_h + offs_p[:, None] * sf_p + offs_n[None, :] * sf_n
    tl.store(final_ptrs, state, mask=mask_pn)


def _check_ssd_shapes(x, dt, A, B, C):
    b, l, h, p = x.shape
    if dt.shape != (b, l, h) or A.shape != (h,):
        raise ValueError(f"ssd: dt {tuple(dt.shape)} / A {tuple(A.shape)} do not match x {tuple(x.shape)}")
    if B.shape[:2] != (b, l) or B.shape != C.shape or h % B.shape[2]:
        raise ValueError(f"ssd: B {tuple(B.shape)} / C {tuple(C.shape)} do not match x {tuple(x.shape)}")


def ssd_scan(x, dt, A, B, C, chunk_size=64, D=None, initial_state=None, block_p=None):
    """SSD forward. x (b,l,h,p), dt (b,l,h) softplus'ed, A (h,) negative, B/C (b,l,g,n), D (h,) | None,
    initial_state (b,h,p,n) | None -> (y (b,l,h,p) in x's dtype, final_state (b,h,p,n) fp32). No autograd."""
    _check_ssd_shapes(x, dt, A, B, C)
    b, l, h, p = x.shape
    g, n = B.shape[-2:]
    y = torch.empty_like(x)
    final = torch.empty(b, h, p, n, device=x.device, dtype=torch.float32)
    if initial_state is not None and initial_state.shape != (b, h, p, n):
        raise ValueError(f"ssd: initial_state {tuple(initial_state.shape)} should be {(b, h, p, n)}")
    chunk = block_size(chunk_size, hi=64)
    block_n = block_size(n)
    if block_p is None:  # shrink the p slice until batch × heads × slices can fill the device
        block_p = block_size(p, hi=64)
        while block_p > MIN_DOT_BLOCK and b * h * triton.cdiv(p, block_p) < 2 * num_sms(x.device):
            block_p //= 2
    init = initial_state if initial_state is not None else final  # dummy pointer when absent
    Dt = D if D is not None else A  # dummy pointer when absent
    grid = (b, h, triton.cdiv(p, block_p))
    _ssd_scan_kernel[grid](
        x, dt, A, B, C, Dt, init, y, final,
        l, p, n, h // g,
        *x.stride(), *dt.stride(), *B.stride(), *C.stride(), *y.stride(), *init.stride(), *final.stride(),
        CHUNK=chunk, BLOCK_P=block_p, BLOCK_N=block_n,
        HAS_D=D is not None, HAS_INIT=initial_state is not None, PRECISION=triton_utils.DOT_PRECISION,
    )
    return y, final


@triton.jit
def _ssd_step_kernel(
    state_ptr, x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, y_ptr, new_ptr,
    headdim, dstate, heads_per_group,
    ss_b, ss_h, ss_p, ss_n,
    sx_b, sx_h, sx_p,
    sdt_b, sdt_h,
    sB_b, sB_g, sB_n,
    sC_b, sC_g, sC_n,
    sy_b, sy_h, sy_p,
    sn_b, sn_h, sn_p, sn_n,
    BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr, HAS_D: tl.constexpr,
):
    pid_b = tl.program_id(0)
    pid_h = tl.program_id(1)
    pid_p = tl.program_id(2)
    group = pid_h // heads_per_group
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    mask_p = offs_p < headdim
    mask_n = offs_n < dstate
    mask_pn = mask_p[:, None] & mask_n[None, :]

    state = tl.load(state_ptr + pid_b * ss_b + pid_h * ss_h + offs_p[:, None] * ss_p + offs_n[None, :] * ss_n,
                    mask=mask_pn, other=0.0).to(tl.float32)
    x = tl.load(x_ptr + pid_b * sx_b + pid_h * sx_h + offs_p * sx_p, mask=mask_p, other=0.0).to(tl.float32)
    dt = tl.load(dt_ptr + pid_b * sdt_b + pid_h * sdt_h).to(tl.float32)
    A = tl.load(A_ptr + pid_h).to(tl.float32)
    Bv = tl.load(B_ptr + pid_b * sB_b + group * sB_g + offs_n * sB_n, mask=mask_n, other=0.0).to(tl.float32)
    Cv = tl.load(C_ptr + pid_b * sC_b + group * sC_g + offs_n * sC_n, mask=mask_n, other=0.0).to(tl.float32)

    state = tl.exp(dt * A) * state + (dt * x)[:, None] * Bv[None, :]
    y = tl.sum(state * Cv[None, :], 1)  # (BLOCK_P,)
    if HAS_D:
        y += tl.load(D_ptr + pid_h).to(tl.float32) * x
    tl.store(y_ptr + pid_b * sy_b + pid_h * sy_h + offs_p * sy_p, y.to(y_ptr.dtype.element_ty), mask=mask_p)
    tl.store(new_ptr + pid_b * sn_b + pid_h * sn_h + offs_p[:, None] * sn_p + offs_n[None, :] * sn_n,
             state, mask=mask_pn)


def ssd_step(state, x, dt, A, B, C, D=None):
    """One recurrence step for generation. state (b,h,p,n), x (b,h,p), dt (b,h), A (h,), B/C (b,g,n)
    -> (y (b,h,p) in x's dtype, new_state (b,h,p,n) fp32)."""
    b, h, p = x.shape
    g, n = B.shape[-2:]
    if state.shape != (b, h, p, n) or dt.shape != (b, h) or C.shape != B.shape or h % g:
        raise ValueError(f"ssd_step: shapes do not match: state {tuple(state.shape)}, x {tuple(x.shape)}, "
                         f"dt {tuple(dt.shape)}, B {tuple(B.shape)}, C {tuple(C.shape)}")
    y = torch.empty_like(x)
    new_state = torch.empty(b, h, p, n, device=x.device, dtype=torch.float32)
    block_p, block_n = block_size(p, lo=1, hi=64), block_size(n, lo=1)
    Dt = D if D is not None else A
    _ssd_step_kernel[(b, h, triton.cdiv(p, block_p))](
        state, x, dt, A, B, C, Dt, y, new_state,
        p, n, h // g,
        *state.stride(), *x.stride(), *dt.stride(), *B.stride(), *C.stride(), *y.stride(), *new_state.stride(),
        BLOCK_P=block_p, BLOCK_N=block_n, HAS_D=D is not None,
    )
    return y, new_state
