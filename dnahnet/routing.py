"""Dynamic chunking: the router (p, b), chunk (downsample), dechunk (EMA upsample), STE confidence, ratio loss.

Router: q = Wq h, k = Wk h; p_t = clamp((1 - cos(q_{t-1}, k_t)) / 2, 0, 1), p_0 = 1; b_t = p_t > 0.5.
Dechunk: z̄_k = P_k ẑ_k + (1 - P_k) z̄_{k-1} over chunks, P = p at kept rows clamped to [1e-4, 1 - 1e-4];
position t reads z̄ at chunk cumsum(b)_t - 1.
"""
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from kernels import dispatch

P_EPS = 1e-4


@dataclass
class RouterState:
    """Last hidden state seen per row, and whether any was seen (the first position is always a boundary)."""
    last: torch.Tensor  # (b, d)
    seen: torch.Tensor  # (b,) bool


@dataclass
class DechunkState:
    """The running EMA value z̄ per row (fp32)."""
    ema: torch.Tensor  # (b, d)


class Router(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        with torch.no_grad():
            self.q_proj.weight.copy_(torch.eye(d_model))
            self.k_proj.weight.copy_(torch.eye(d_model))
        self.q_proj.weight._no_reinit = True
        self.k_proj.weight._no_reinit = True

    def forward(self, h, mask=None):
        """h (b, l, d) -> p (b, l) fp32, b (b, l) bool (False where mask is False)."""
        with torch.autocast(device_type=h.device.type, enabled=False):
            hf = h.float()
            p, b = dispatch.boundary_prob(self.q_proj(hf), self.k_proj(hf))
        if mask is not None:
            b = b & mask
        return p, b

    def allocate_inference_cache(self, batch_size, device=None):
        w = self.q_proj.weight
        return RouterState(torch.zeros(batch_size, w.shape[1], device=device or w.device),
                           torch.zeros(batch_size, dtype=torch.bool, device=device or w.device))

    def step(self, h, state: RouterState, active=None):
        """h (b, d) -> p (b,), b (b,) bool; remembers h for the next step (rows where active)."""
        with torch.autocast(device_type=h.device.type, enabled=False):
            hf = h.float()
            q = F.normalize(self.q_proj(state.last), dim=-1)
            k = F.normalize(self.k_proj(hf), dim=-1)
            cos = (q * k).sum(-1)  # same arithmetic as kernels.routing.naive.boundary_prob
        p = torch.where(state.seen, torch.clamp((1 - cos) / 2, 0.0, 1.0), torch.ones_like(cos))
        keep = torch.ones_like(state.seen) if active is None else active
        state.last = torch.where(keep[:, None], hf, state.last)
        state.seen = state.seen | keep
        return p, p > 0.5


def chunk(h, b):
    """Keep boundary rows: h (b, l, d) -> chunks (b, m, d), chunk_mask (b, m), idx (b, m)."""
    return dispatch.gather_chunks(h, b)


def dechunk(z, b, p, idx):
    """Upsample inner outputs back to full rate.

    z (b, m, d) inner output per chunk, b (b, l) boundaries, p (b, l) probabilities, idx (b, m) chunk rows
    -> (b, l, d): EMA over chunks, then each position reads the chunk it belongs to.
    """
    P = torch.gather(p.float(), 1, idx).clamp(P_EPS, 1 - P_EPS)  # (b, m)
    z_bar = dispatch.ema_scan(z, P)  # (b, m, d)
    which = (torch.cumsum(b.long(), dim=1) - 1).clamp(min=0)  # (b, l)
    return torch.gather(z_bar, 1, which[..., None].expand(-1, -1, z.shape[-1]))


def dechunk_step(z, b, p, state: DechunkState, active=None):
    """One position: z (b, d) is the inner output (used only where b); returns z̄ (b, d) fp32."""
    P = p.float().clamp(P_EPS, 1 - P_EPS)[:, None]
    fire = b if active is None else b & active
    state.ema = torch.where(fire[:, None], P * z.float() + (1 - P) * state.ema, state.ema)
    return state.ema


class _STE(torch.autograd.Function):
    """Forward 1, backward identity: lets the gradient reach the router's confidence."""

    @staticmethod
    def forward(ctx, x):
        return torch.ones_like(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def confidence_ste(p, b):
    """c_t = p_t if b_t else 1 - p_t, passed through the straight-through estimator (value 1)."""
    return _STE.apply(torch.where(b, p, 1 - p))


def ratio_loss(p, b, target, mask=None):
    """H-Net's ratio loss with target compression N: N/(N-1)·((N-1)·F·G + (1-F)(1-G)), F=mean(b), G=mean(p).

    Means over valid positions. Minimum 1 at F = G = 1/N. Under data-parallel training the means are over the
    global batch: F and the position count are summed over the ranks, and each rank's G carries its share, so
    the averaged gradient is the one of a single process on the combined batch (H-Net itself took them per device).
    """
    N = float(target)
    if mask is None:
        mask = torch.ones_like(b)
    m = mask.float()
    n_bound, count = (b.float() * m).sum().detach(), m.sum().detach()
    ranks = _data_parallel_ranks()
    if ranks > 1:
        totals = torch.stack([n_bound, count])
        dist.all_reduce(totals)
        n_bound, count = totals[0], totals[1] / ranks  # count: the mean count per rank
    count = count.clamp(min=1)
    F_ = n_bound / (count * ranks)
    G = (p.float() * m).sum() / count
    return N / (N - 1) * ((N - 1) * F_ * G + (1 - F_) * (1 - G))


def decisiveness(p, mask, margin=1.0):
    """Mean of min(|2p - 1|, margin) over valid positions: 0 when every p sits at the threshold 0.5, `margin` when
    every decision is at least that far from it. As a reward it pushes undecided p outwards and, with a margin
    below 1, leaves decisions beyond the margin to the language-model gradient."""
    m = mask.float()
    return ((2 * p.float() - 1).abs().clamp(max=margin) * m).sum() / m.sum().clamp(min=1)


def _data_parallel_ranks():
    """The number of ranks taking a training step together (1 outside torch.distributed or without grad, e.g.
    when rank 0 validates alone)."""
    if torch.is_grad_enabled() and dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1
