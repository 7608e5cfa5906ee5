"""A plain causal Transformer language model over nucleotides: the speed baseline for dnaHNet (bench only).

Same blocks as dnaHNet's Transformer layers (`dnahnet.transformer`), every layer at full nucleotide rate, no
routing. `matched_config(n_params)` picks a width and depth whose parameter count is within a few percent of a
given dnaHNet, so a speed comparison is parameter-matched.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn as nn
import torch.nn.functional as F

from dnahnet.hnet import LMOutput
from dnahnet.transformer import RMSNorm, TransformerBlock


@dataclass
class TransformerLMConfig:
    d_model: int = 192
    n_layers: int = 3
    num_heads: int = 6
    d_intermediate: int = 512  # SwiGLU hidden width
    vocab_size: int = 5
    window: int = 0  # sliding attention window, 0 = full causal
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    initializer_range: float = 0.02

    def num_parameters(self) -> int:
        """Exact parameter count of `TransformerLM(self)` (embedding and untied LM head included)."""
        d, h = self.d_model, self.d_intermediate
        per_layer = 4 * d * d + 3 * d * h + 2 * d  # Wqkv + out_proj, SwiGLU fc1 + fc2, two RMSNorm weights
        return 2 * self.vocab_size * d + self.n_layers * per_layer + d


def matched_config(n_params: int, vocab_size: int = 5, head_dim: int = 32, aspect: float = 64.0,
                   tolerance: float = 0.10) -> TransformerLMConfig:
    """A config with about `n_params` parameters (within `tolerance`), width/depth near `aspect` (d ≈ aspect·layers).

    Widths are multiples of `head_dim`; the SwiGLU hidden width (2-4x d, multiple of 32) absorbs the remainder.
    """
    best, best_score = None, float("inf")
    for n_layers in range(1, 49):
        for d in range(head_dim, 4097, head_dim):
            fixed = TransformerLMConfig(d_model=d, n_layers=n_layers, d_intermediate=0, vocab_size=vocab_size)
            hidden = (n_params - fixed.num_parameters()) / (3 * d * n_layers)
            hidden = min(max(round(hidden / 32) * 32, 2 * d), 4 * d)
            cfg = TransformerLMConfig(d_model=d, n_layers=n_layers, num_heads=d // head_dim, d_intermediate=hidden,
                                      vocab_size=vocab_size)
            err = abs(cfg.num_parameters() - n_params) / n_params
            if err <= tolerance:
                score = abs(math.log(d / (aspect * n_layers))) + err
                if score < best_score:
                    best, best_score = cfg, score
    if best is None:
        raise ValueError(f"no Transformer within {tolerance:.0%} of {n_params:,} parameters")
    return best


class TransformerLM(nn.Module):
    """Embedding -> n_layers pre-norm Transformer blocks -> RMSNorm -> LM head."""

    def __init__(self, config: TransformerLMConfig):
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.d_model)
        self.layers = nn.ModuleList(
            TransformerBlock(c.d_model, c.num_heads, c.d_intermediate, c.window, c.rope_base, c.norm_eps)
            for _ in range(c.n_layers))
        self.norm = RMSNorm(c.d_model, c.norm_eps)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self):
        std = self.config.initializer_range
        nn.init.normal_(self.embedding.weight, 0.0, 1.0)
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                is_out = name.endswith("out_proj") or name.endswith("fc2")
                nn.init.normal_(m.weight, 0.0, std / max(self.config.n_layers, 1) ** 0.5 if is_out else std)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids, targets=None) -> LMOutput:
        """input_ids (B, L) -> LMOutput(logits (B, L, V)); logits[:, t] predicts the token at t+1."""
        x = self.embedding(input_ids.long())  # (B, L, d)
        for layer in self.layers:
            x = layer(x)
        logits = self.lm_head(self.norm(x))  # (B, L, V)
        out = LMOutput(logits=logits)
        if targets is not None:
            out.ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.long().reshape(-1),
                                     ignore_index=-100)
            out.loss = out.ce
        return out


def matched_transformer(model) -> TransformerLM:
    """A randomly initialised TransformerLM with about as many parameters as `model` (e.g. a DnaHNet)."""
    n = sum(p.numel() for p in model.parameters())
    vocab = getattr(getattr(model, "config", None), "vocab_size", 5)
    return TransformerLM(matched_config(n, vocab_size=vocab))


__all__ = ["TransformerLMConfig", "TransformerLM", "matched_config", "matched_transformer"]
