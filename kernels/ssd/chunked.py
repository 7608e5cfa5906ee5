"""The SSD (Mamba-2 scan) in chunked PyTorch form: loop-free over time, differentiable; the fast path on a CPU.

Recurrence (per head h, per batch): state_t = exp(dt_t A) state_{t-1} + dt_t x_t B_tᵀ;  y_t = state_t C_t + D x_t.
The chunked form follows the Mamba-2 paper's `ssd_minimal`: diagonal blocks (quadratic within a chunk),
chunk states, a recurrence between chunks, and state→output for each chunk. Tested against the loop in
`kernels/ssd/naive.py`; `kernels/ema/chunked.py` runs the EMA through `scan_chunked` too.
"""
import torch
import torch.nn.functional as F


def scan_chunked_per_head(X, logA, B, C, chunk_size, initial_state=None):
    """Chunked linear scan with an explicit (T x T) decay matrix per head (the `ssd_minimal` layout):
    state_t = exp(logA_t) state_{t-1} + X_t B_tᵀ, y_t = state_t C_t. All fp32.

    X (b,l,h,p) already scaled by dt; logA (b,l,h) = dt·A (≤ 0); B, C (b,l,g,n); initial_state (b,h,p,n).
    Returns y (b,l,h,p), final_state (b,h,p,n). Lengths need not be a multiple of chunk_size (zero-padded:
    dt = 0 means decay 1 and no input, so the final state is unchanged by the padding).
    """
    b, l, h, p = X.shape
    g, n = B.shape[-2:]
    j = h // g
    T = min(chunk_size, l) if l > 0 else chunk_size
    pad = (-l) % T
    if pad:
        X, logA, B, C = (F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) for t in (X, logA, B, C))
    c = X.shape[1] // T
    Xp = X.reshape(b, c, T, h, p).permute(0, 1, 3, 2, 4)  # (b, c, h, T, p)
    Bg = B.reshape(b, c, T, g, n).permute(0, 1, 3, 2, 4)  # (b, c, g, T, n)
    Cg = C.reshape(b, c, T, g, n).permute(0, 1, 3, 2, 4)  # (b, c, g, T, n)
    cs = logA.reshape(b, c, T, h).transpose(2, 3).cumsum(-1)  # (b, c, h, T)

    # 1. within-chunk outputs: y_l = sum_{s<=l} (C_l·B_s) exp(cs_l - cs_s) X_s
    causal = torch.ones(T, T, dtype=torch.bool, device=X.device).tril()
    scores = torch.exp((cs[..., :, None] - cs[..., None, :]).masked_fill_(~causal, float("-inf")))  # (b,c,h,T,T)
    CB = Cg @ Bg.transpose(-1, -2)  # (b, c, g, T, T)
    scores = scores.view(b, c, g, j, T, T)
    scores = scores.mul_(CB[:, :, :, None]) if not scores.requires_grad else scores * CB[:, :, :, None]
    Y = scores.view(b, c, h, T, T) @ Xp  # (b, c, h, T, p)

    # 2. each chunk's contribution to the state at its end
    Xd = Xp * torch.exp(cs[..., -1:] - cs)[..., None]  # (b, c, h, T, p)
    states = Xd.view(b, c, g, j, T, p).transpose(-1, -2) @ Bg[:, :, :, None]  # (b, c, g, j, p, n)
    states = states.view(b, c, h, p, n)

    # 3. recurrence between chunks
    chunk_decay = torch.exp(cs[..., -1])  # (b, c, h)
    state = X.new_zeros(b, h, p, n) if initial_state is None else initial_state.float()
    start, state = _chunk_recurrence(chunk_decay, states, state)  # (b, c, h, p, n)

    # 4. entering state -> outputs: exp(cs_l) C_l · state
    Y_off = (Cg[:, :, :, None] @ start.view(b, c, g, j, p, n).transpose(-1, -2)).view(b, c, h, T, p)
    Y = Y + Y_off * torch.exp(cs)[..., None]
    y = Y.permute(0, 1, 3, 2, 4).reshape(b, c * T, h, p)[:, :l]
    return y, state


def _chunk_recurrence(chunk_decay, chunk_states, state):
    """The state entering each chunk: start_k = state_{k-1}, state_k = decay_k · state_{k-1} + chunk_states_k.

    chunk_decay (b, c, h), chunk_states (b, c, h, p, n), state (b, h, p, n) entering chunk 0 ->
    (starts (b, c, h, p, n), final state (b, h, p, n)). A python loop over the few chunks; `unbind` keeps its
    backward to one stack (indexing `[:, k]` would allocate a full-size zero gradient per chunk).
    """
    starts = []
    for decay, contribution in zip(chunk_decay.unbind(1), chunk_states.unbind(1)):
        starts.append(state)
        state = decay[..., None, None] * state + contribution
    return torch.stack(starts, dim=1), state


# Largest total log-decay of one chunk for the factored form: each factor stays within exp(±80) in fp32.
SAFE_CHUNK_DECAY = 160.0


def scan_chunked(X, logA, B, C, chunk_size, initial_state=None, x_scale=None, safe_decay=SAFE_CHUNK_DECAY):
    """Chunked linear scan: state_t = exp(logA_t) state_{t-1} + X_t B_tᵀ, y_t = state_t C_t. All fp32.

    X (b,l,h,p) already scaled by dt (or scaled here by `x_scale` (b,l,h), which saves a pass over X);
    logA (b,l,h) = dt·A (≤ 0); B, C (b,l,g,n); initial_state (b,h,p,n).
    Returns y (b,l,h,p), final_state (b,h,p,n). Lengths need not be a multiple of chunk_size (zero-padded:
    dt = 0 means decay 1 and no input, so the final state is unchanged by the padding).

    CPU-friendly factored form: within a chunk the decay from s to l is exp(cs_l - r) · exp(r - cs_s) with
    r = half the chunk's total log-decay, so the (T x T) matrix tril(C Bᵀ) is shared by all heads of a group
    and each chunk costs one matmul over all heads, with no per-head (T x T) exponentials. Chunks whose total
    decay exceeds `safe_decay` would overflow the factors; then the exact per-head form is used instead.
    """
    b, l, h, p = X.shape
    g, n = B.shape[-2:]
    j = h // g
    T = min(chunk_size, l) if l > 0 else chunk_size
    pad = (-l) % T
    if x_scale is None:
        x_scale = torch.ones_like(logA)
    if pad:
        X, logA, B, C, x_scale = (F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) for t in (X, logA, B, C, x_scale))
    c = X.shape[1] // T
    cs = logA.reshape(b, c, T, h).cumsum(2)  # (b, c, T, h) log-decay from chunk start through step t
    total = cs[:, :, -1]  # (b, c, h)
    if l > 0 and float(total.detach().min()) < -safe_decay:
        y, state = scan_chunked_per_head(X * x_scale[..., None], logA, B, C, T, initial_state)
        return y[:, :l], state
    ref = 0.5 * total
    E = torch.exp(cs - ref[:, :, None])  # (b, c, T, h): exp(cs_l - r) <= exp(|total|/2)
    Fx = X.reshape(b, c, T, h, p) * (x_scale.reshape(b, c, T, h) * torch.exp(ref[:, :, None] - cs))[..., None]
    Bc = B.reshape(b, c, T, g, n)
    Cc = C.reshape(b, c, T, g, n)
    causal = torch.ones(T, T, dtype=torch.bool, device=X.device).tril()
    scale_ref = torch.exp(ref)  # (b, c, h) <= 1

    # per group: within-chunk mixing matrix tril(C Bᵀ) (b, c, T, T), and each chunk's own state at its end
    Y_diag, chunk_states = [], []
    for gi in range(g):
        heads = slice(gi * j, (gi + 1) * j)
        Fxg = Fx[:, :, :, heads].reshape(b * c, T, j * p)
        Bg, Cg = Bc[:, :, :, gi].reshape(b * c, T, n), Cc[:, :, :, gi].reshape(b * c, T, n)
        M = torch.bmm(Cg, Bg.transpose(1, 2)).masked_fill_(~causal, 0.0)  # (b*c, T, T)
        Y_diag.append(torch.bmm(M, Fxg))  # (b*c, T, j*p)
        # state at chunk end: sum_s exp(total - cs_s) X_s B_sᵀ = exp(r) · (Fx)ᵀ B
        chunk_states.append(torch.bmm(Fxg.transpose(1, 2), Bg).view(b, c, j, p, n))
    chunk_states = (chunk_states[0] if g == 1 else torch.cat(chunk_states, dim=2)) * scale_ref[..., None, None]

    # recurrence between chunks (c is small: a python loop over chunks is cheap and exact)
    chunk_decay = torch.exp(total)  # (b, c, h)
    state = X.new_zeros(b, h, p, n) if initial_state is None else initial_state.float()
    start, state = _chunk_recurrence(chunk_decay, chunk_states, state)
    start = start * scale_ref[..., None, None]  # (b, c, h, p, n), times exp(r)

    # y_l = exp(cs_l - r) · ( sum_s tril(CBᵀ)_ls Fx_s + C_l · exp(r) state_in )
    Y = []
    for gi in range(g):
        heads = slice(gi * j, (gi + 1) * j)
        Sg = start[:, :, heads].reshape(b * c, j * p, n)
        Yg = Y_diag[gi].view(b * c, T, j * p)
        Yg.baddbmm_(Cc[:, :, :, gi].reshape(b * c, T, n), Sg.transpose(1, 2))  # bmm does not save its output
        Y.append(Yg.view(b, c, T, j, p))
    Y = Y[0] if g == 1 else torch.cat(Y, dim=3)
    Y = Y * E[..., None] if Y.requires_grad else Y.mul_(E[..., None])  # (b, c, T, h, p)
    return Y.reshape(b, c * T, h, p)[:, :l], state


def ssd_chunked(x, dt, A, B, C, chunk_size, D=None, initial_state=None):
    """SSD via the chunked form. x (b,l,h,p), dt (b,l,h) softplus'ed, A (h,) negative, B/C (b,l,g,n).

    Returns (y (b,l,h,p) in x's dtype, final_state (b,h,p,n) fp32).
    """
    dtype = x.dtype
    with torch.autocast(device_type=x.device.type, enabled=False):  # matmuls here must stay fp32
        xf, dtf = x.float(), dt.float()
        y, final = scan_chunked(xf, dtf * A.float(), B.float(), C.float(), chunk_size, initial_state, x_scale=dtf)
        if D is not None:
            D = D.float()[:, None]
            y = torch.addcmul(y, xf, D) if y.requires_grad else y.addcmul_(xf, D)
    return y.to(dtype), final
