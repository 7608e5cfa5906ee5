"""A Mamba-2 layer fused for a CPU: `native.py` (C, `native.c`: the interior, or the whole pre-norm block, for
inference), `cpu.py` (numba: the interior for inference, optionally from a state; the fallback without a C
compiler) and `cpu_train.py` (numba: forward and backward, for training). Their reference is the layer's own
PyTorch code, `Mamba2._inner` and `MambaBlock` in dnahnet/mamba2.py (kernels never import dnahnet; the tests
compare them). Nothing is imported here, so numba loads only when `kernels.dispatch` picks these."""
