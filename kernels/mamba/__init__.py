"""The interior of a Mamba-2 layer (everything between in_proj and out_proj) fused in numba for a CPU: `cpu.py`
(inference, optionally from a state) and `cpu_train.py` (forward and backward, for training). Their reference is
the layer's own PyTorch code, `Mamba2._inner` in dnahnet/mamba2.py (kernels never import dnahnet; the tests
compare the two). Nothing is imported here, so numba loads only when `kernels.dispatch` picks these."""
