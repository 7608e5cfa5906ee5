"""Rotary position embedding: `cpu.py`, one numba pass for CPU inference. Its reference is `apply_rope` in
dnahnet/transformer.py (kernels never import dnahnet; the tests compare the two bit for bit). Nothing is imported
here, so numba loads only when `kernels.dispatch` picks it."""
