"""Routing ops (boundary probability, chunk gathering): `naive.py` (plain PyTorch, the reference and the CPU path)
and `triton.py` (the GPU kernels). Nothing is imported here, so importing the reference never imports Triton."""
