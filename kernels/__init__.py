"""Scans and routing ops of dnaHNet, a folder per op (flash-linear-attention's layout): `ssd/`, `ema/`, `routing/`
each hold `naive.py` (the reference that defines the answer), the fast CPU path where there is one (`chunked.py`)
and the Triton kernel (`triton.py`); `mamba/` holds the fused numba interior of a Mamba-2 layer for CPU inference
and training; `triton_utils.py` what the Triton kernels share. The model calls `dispatch`, which picks one per
call (`DNAHNET_KERNELS` = auto | torch | triton). See kernels/README.md.
Nothing is imported here, so `import kernels.dispatch` never imports Triton on a CPU."""
