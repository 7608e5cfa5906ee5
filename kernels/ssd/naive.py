"""The SSD (Mamba-2 scan) that defines the answer: the recurrence one step at a time, in plain PyTorch.

Per head h and batch row: state_t = exp(dt_t A) state_{t-1} + dt_t x_t B_tᵀ;  y_t = state_t C_t + D x_t.
`ssd_sequential` is the loop over time (slow; the ground truth the chunked form and the Triton kernel are tested
against); `ssd_step` is one step of it, which is also the reference for generation (`kernels.dispatch.ssd_step`).
"""
import torch


def _expand_groups(B, nheads):
    """(b, l, g, n) -> (b, l, h, n) by repeating each group over its heads."""
    g = B.shape[-2]
    return B if g == nheads else B.repeat_interleave(nheads // g, dim=-2)


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
