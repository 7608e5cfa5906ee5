"""The routing ops that define the answer, in plain PyTorch: boundary probability from the cosine similarity of
adjacent positions, and the gather of boundary rows into chunks.

Loop-free already, so they are also the CPU path (and the GPU path when a gradient is needed through
`boundary_prob`); the Triton kernels (`kernels/routing/triton.py`) are tested against them.
"""
import torch
import torch.nn.functional as F


def boundary_prob(q, k):
    """q, k (b,l,d) -> (p (b,l) fp32, b (b,l) bool); p_t = clamp((1 - cos(q_{t-1}, k_t)) / 2, 0, 1), p_0 = 1."""
    qn = F.normalize(q[:, :-1].float(), dim=-1)
    kn = F.normalize(k[:, 1:].float(), dim=-1)
    cos = (qn * kn).sum(-1)  # (b, l-1)
    p = torch.clamp((1 - cos) / 2, 0.0, 1.0)
    p = F.pad(p, (1, 0), value=1.0)  # (b, l): the first position always starts a chunk
    return p, p > 0.5


def gather_chunks(h, b):
    """Keep the rows of h where b is set, left-aligned and padded to the largest count in the batch.

    h (b,l,d), b (b,l) bool -> chunks (b,m,d), chunk_mask (b,m) bool, idx (b,m) long (source row of each chunk;
    padded slots point at some non-boundary row and are masked out).
    """
    bsz, l, d = h.shape
    counts = b.sum(dim=1)  # (b,)
    m = int(counts.max()) if bsz > 0 and l > 0 else 0
    # boundary rows sort first, in order; others after them
    key = torch.arange(l, device=h.device)[None, :] + (~b).long() * l
    idx = torch.argsort(key, dim=1)[:, :m]  # (b, m)
    chunks = torch.gather(h, 1, idx[..., None].expand(-1, -1, d))
    chunk_mask = torch.arange(m, device=h.device)[None, :] < counts[:, None]
    return chunks, chunk_mask, idx
