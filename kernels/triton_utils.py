"""What the Triton kernels (`kernels/*/triton.py`) share: the precision of their matrix products, tile sizes, the
device's multiprocessor count, and the masked decay matrix of the chunked scans (SSD and EMA).

It imports Triton, so only the Triton modules import it (`kernels.dispatch` loads those lazily).
"""
import torch
import triton
import triton.language as tl

# tl.dot in full fp32 ("ieee") so the kernels match the fp32 references closely; "tf32" is faster on tensor cores
# but adds ~1e-3 relative error. Read at every launch by the SSD and EMA kernels: set it once for both.
DOT_PRECISION = "ieee"
MIN_DOT_BLOCK = 16  # tl.dot needs every tile dimension >= 16 on a GPU


def block_size(n, lo=MIN_DOT_BLOCK, hi=None):
    """A tile dimension for n elements: the power of two >= n, at least `lo` and at most `hi` (None: no cap)."""
    size = max(lo, triton.next_power_of_2(max(int(n), 1)))
    return min(size, hi) if hi is not None else size


def num_sms(device):
    """Streaming multiprocessors of a CUDA device: how many programs a grid needs to fill it."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 64  # the interpreter on CPU: any number works, this one keeps block choices like a GPU's


@triton.jit
def masked_exp(log_decay, mask):
    """exp(log_decay) where mask holds, 0 elsewhere: the (T, T) decay matrix L[i, j] = exp(cs_i - cs_j) of a chunk
    (or its transpose). The masked entries never reach exp, where their positive log-decays could overflow."""
    return tl.where(mask, tl.exp(tl.where(mask, log_decay, 0.0)), 0.0)
