"""Causal self-attention with rotary embeddings in C for CPU inference: `native.py` (`native.c`). Its reference is
the model's own PyTorch code, `CausalSelfAttention.forward` in dnahnet/transformer.py (the tests compare the two)."""
