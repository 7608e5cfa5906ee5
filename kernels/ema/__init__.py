"""The EMA of the dechunk step, z̄_k = P_k z_k + (1 - P_k) z̄_{k-1}: `naive.py` (the loop, the ground truth),
`chunked.py` (through the chunked SSD: the CPU path) and `triton.py` (the GPU kernel, with a backward).
Nothing is imported here, so importing the PyTorch forms never imports Triton."""
