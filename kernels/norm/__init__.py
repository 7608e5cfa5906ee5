"""RMSNorm: `cpu.py`, one numba pass per token for CPU inference. Its reference is PyTorch's `F.rms_norm` (what
`dnahnet.transformer.RMSNorm` runs otherwise; the tests compare the two). Nothing is imported here, so numba loads
only when `kernels.dispatch` picks it."""
