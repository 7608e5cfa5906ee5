"""SSD, the Mamba-2 scan: `naive.py` (the recurrence step by step, the ground truth; `ssd_step` for generation),
`chunked.py` (loop-free PyTorch, differentiable: the CPU path) and `triton.py` (the GPU kernel, forward only).
Nothing is imported here, so importing the PyTorch forms never imports Triton."""
