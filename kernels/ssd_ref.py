"""Reference SSD (Mamba-2 scan) in plain PyTorch: chunked einsum form, sequential recurrence, single step.

Recurrence (per head h, per batch): state_t = exp(dt_t A) state_{t-1} + dt_t x_t B_tᵀ;  y_t = state_t C_t + D x_t.
The chunked form follows the Mamba-2 paper's `ssd_minimal`: diagonal blocks (quadratic within a chunk),
chunk states, a recurrence between chunks, and state→output for each chunk. It is the fast path on a CPU.
"""
import torch
import torch.nn.functional as F


def _expand_groups(B, nheads):
    """(b, l, g, n) -> (b, l, h, n) by repeating each group over its heads."""
    g = B.shape[-2]
    return B if g == nheads else B.repeat_interleave(nheads // g, dim=-2)


def segsum_exclusive(a_cumsum):
    """(..., T) cumulative log-decays -> (..., T, T) with [i, j] = sum_{j<k<=i} a_k for j <= i, -inf above."""
    T = a_cumsum.shape[-1]
    seg = a_cumsum[..., :, None] - a_cumsum[..., None, :]
    causal = torch.ones(T, T, dtype=torch.bool, device=a_cumsum.device).tril()
    return seg.masked_fill(~causal, float("-inf"))


def scan_chunked(X, logA, B, C, chunk_size, initial_state=None):
    """Chunked linear scan: state_t = exp(logA_t) state_{t-1} + X_t B_tᵀ, y_t = state_t C_t. All fp32.

    X (b,l,h,p) already scaled by dt; logA (b,l,h) = dt·A (≤ 0); B, C (b,l,g,n); initial_state (b,h,p,n).
    Returns y (b,l,h,p), final_state (b,h,p,n). Lengths need not be a multiple of chunk_size (zero-padded:
    dt = 0 means decay 1 and no input, so the final state is unchanged by the padding).
    """
    b, l, h, p = X.shape
    g, n = B.shape[-2:]
    T = min(chunk_size, l) if l > 0 else chunk_size
    pad = (-l) % T
    if pad:
        X, logA, B, C = (F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) for t in (X, logA, B, C))
    c = X.shape[1] // T
    hg = h // g
    X = X.reshape(b, c, T, h, p)
    B = B.reshape(b, c, T, g, n)
    C = C.reshape(b, c, T, g, n)
    A_cs = logA.reshape(b, c, T, h).permute(0, 3, 1, 2).cumsum(-1)  # (b, h, c, T)

    # 1. within-chunk outputs (diagonal blocks): y_l = sum_{s<=l} (C_l·B_s) exp(sum_{s<k<=l} a_k) X_s
    CB = torch.einsum("bclgn,bcsgn->bcgls", C, B)  # (b, c, g, T, T)
    decay = torch.exp(segsum_exclusive(A_cs))  # (b, h, c, T, T)
    scores = CB.repeat_interleave(hg, dim=2) * decay.permute(0, 2, 1, 3, 4)  # (b, c, h, T, T)
    Y = torch.einsum("bchls,bcshp->bclhp", scores, X)

    # 2. state contributed by each chunk (as of its end)
    decay_to_end = torch.exp(A_cs[..., -1:] - A_cs)  # (b, h, c, T)
    Xd = X * decay_to_end.permute(0, 2, 3, 1)[..., None]  # (b, c, T, h, p)
    Bh = _expand_groups(B.reshape(b, c * T, g, n), h).reshape(b, c, T, h, n)
    states = torch.einsum("bclhp,bclhn->bchpn", Xd, Bh)  # (b, c, h, p, n)

    # 3. recurrence between chunks (c is small: a python loop over chunks is cheap and exact)
    chunk_decay = torch.exp(A_cs[..., -1]).permute(0, 2, 1)  # (b, c, h)
    state = X.new_zeros(b, h, p, n) if initial_state is None else initial_state.float()
    starts = []
    for k in range(c):
        starts.append(state)
        state = chunk_decay[:, k, :, None, None] * state + states[:, k]
    start_states = torch.stack(starts, dim=1)  # (b, c, h, p, n): state entering each chunk

    # 4. contribution of the entering state to each output: C_l · state · exp(sum_{k<=l} a_k)
    Ch = _expand_groups(C.reshape(b, c * T, g, n), h).reshape(b, c, T, h, n)
    Y_off = torch.einsum("bclhn,bchpn->bclhp", Ch, start_states) * torch.exp(A_cs).permute(0, 2, 3, 1)[..., None]
    y = (Y + Y_off).reshape(b, c * T, h, p)[:, :l]
    return y, state


def ssd_chunked(x, dt, A, B, C, chunk_size, D=None, initial_state=None):
    """SSD via the chunked form. x (b,l,h,p), dt (b,l,h) softplus'ed, A (h,) negative, B/C (b,l,g,n).

    Returns (y (b,l,h,p) in x's dtype, final_state (b,h,p,n) fp32).
    """
    dtype = x.dtype
    xf, dtf = x.float(), dt.float()
    y, final = scan_chunked(xf * dtf[..., None], dtf * A.float(), B.float(), C.float(), chunk_size, initial_state)
    if D is not None:
        y = y + xf * D.float()[:, None]
    return y.to(dtype), final


def ssd_step(state, x, dt, A, B, C, D=None):
    """One recurrence step. state (b,h,p,n), x (b,h,p), dt (b,h), A (h,), B/C (b,g,n) -> (y (b,h,p), new_state)."""
    h = x.shape[1]
    xf, dtf = x.float(), dt.float()
    Bh = _expand_groups(B.float()[:, None], h)[:, 0]  # (b, h, n)
    Ch = _expand_groups(C.float()[:, None], h)[:, 0]
    decay = torch.exp(dtf * A.float())  # (b, h)
    new_state = decay[..., None, None] * state.float() + (dtf[..., None] * xf)[..., None] * Bh[:, :, None, :]
    y = torch.einsum("bhpn,bhn->bhp", new_state, Ch)
    if D is not None:
        y = y + xf * D.float()[:, None]
    return y.to(x.dtype), new_state


def ssd_sequential(x, dt, A, B, C, D=None, initial_state=None):
    """SSD as a plain loop over time (slow; the ground truth for tests)."""
    b, l, h, p = x.shape
    n = B.shape[-1]
    state = x.new_zeros(b, h, p, n, dtype=torch.float32) if initial_state is None else initial_state.float()
    ys = []
    for t in range(l):
        y, state = ssd_step(state, x[:, t], dt[:, t], A, B[:, t], C[:, t], D)
        ys.append(y)
    y = torch.stack(ys, dim=1) if ys else x.new_zeros(b, 0, h, p)
    return y, state
