"""Scans and routing ops of dnaHNet: PyTorch references (`*_ref.py`), Triton kernels (`*_triton.py`), and
`dispatch`, which picks one per call (`DNAHNET_KERNELS` = auto | torch | triton). See kernels/README.md.
Nothing is imported here, so `import kernels.dispatch` never imports Triton on a CPU."""
