"""The recursive H-Net stage and the `DnaHNet` language model over nucleotides.

Stage s: [pad to width d_s] -> encoder -> router -> chunk -> stage s+1 -> dechunk (EMA) -> ·STE(c) + residual
-> decoder -> [slice back to the outer width]. The innermost stage is a plain stack (the main network).
Every module has `forward` (whole sequence) and `step` (one token, with an inference cache), as in goombalab/hnet.
"""
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from dnahnet.config import HNetConfig, parse_layer_groups
from dnahnet.mamba2 import MambaBlock
from dnahnet.routing import (DechunkState, Router, chunk, confidence_ste, dechunk, dechunk_step, ratio_loss)
from dnahnet.transformer import RMSNorm, TransformerBlock


@dataclass
class StageRouting:
    """What one router did, in nucleotide coordinates of the model input. Padded entries hold -1 positions."""
    p: torch.Tensor  # (B, L_s) fp32 boundary probability at each position of this stage's input
    b: torch.Tensor  # (B, L_s) bool boundary decisions (False where mask is False)
    mask: torch.Tensor  # (B, L_s) bool valid positions
    positions: torch.Tensor  # (B, L_s) long nucleotide index of each position (-1 where masked)
    latents: torch.Tensor  # (B, M_s, D_s) encoder output at boundary rows (what the next stage reads)
    chunk_mask: torch.Tensor  # (B, M_s) bool
    chunk_positions: torch.Tensor  # (B, M_s) long nucleotide index where each chunk starts (-1 where masked)


@dataclass
class LMOutput:
    logits: torch.Tensor  # (B, L, V); logits[:, t] predicts the token at t+1
    loss: Optional[torch.Tensor] = None  # ce + ratio_loss_weight * sum(ratio_losses)
    ce: Optional[torch.Tensor] = None
    ratio_losses: list = field(default_factory=list)  # per stage, tensors
    compression: list = field(default_factory=list)  # per stage: valid inputs / chunks
    boundary_fraction: list = field(default_factory=list)  # per stage: chunks / valid inputs
    router_p: list = field(default_factory=list)  # per stage: (p (B, L_s), mask (B, L_s)), p with its gradient
    routing: Optional[list] = None  # list[StageRouting] when asked


class Isotropic(nn.Module):
    """A stack of blocks from a layout string like "T1m4", closed by an RMSNorm."""

    def __init__(self, layout: str, config: HNetConfig, stage: int):
        super().__init__()
        d, att = config.d_model[stage], config.attention
        blocks = []
        for kind, n in parse_layer_groups(layout):
            for _ in range(n):
                if kind == "m":
                    blocks.append(MambaBlock(d, config.mamba, config.norm_eps))
                else:
                    blocks.append(TransformerBlock(d, att.num_heads[stage], config.d_intermediate[stage] or 4 * d,
                                                   att.window[stage], att.rope_base, config.norm_eps))
        self.layers = nn.ModuleList(blocks)
        self.norm = RMSNorm(d, config.norm_eps)

    @property
    def height(self):
        return len(self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)

    def allocate_inference_cache(self, batch_size, device=None):
        return [layer.allocate_inference_cache(batch_size, device=device) for layer in self.layers]

    def step(self, x, cache, active=None):
        for layer, state in zip(self.layers, cache):
            x = layer.step(x, state, active)
        return self.norm(x)


@dataclass
class StageState:
    """Inference cache of one stage (only `main` for the innermost one)."""
    main: object = None
    encoder: object = None
    router: object = None
    inner: object = None
    dechunk: object = None
    decoder: object = None


class HNetStage(nn.Module):
    def __init__(self, config: HNetConfig, stage: int):
        super().__init__()
        self.stage = stage
        layout = config.stage_layout(stage)
        d = config.d_model[stage]
        self.is_innermost = len(layout) == 1
        self.target_compression = None if self.is_innermost else config.target_compression[stage]
        if self.is_innermost:
            self.main = Isotropic(layout[0], config, stage)
        else:
            self.encoder = Isotropic(layout[0], config, stage)
            self.router = Router(d)
            self.inner = HNetStage(config, stage + 1)
            self.decoder = Isotropic(layout[2], config, stage)
            self.residual_proj = nn.Linear(d, d, dtype=torch.float32)  # kept in fp32, starts at zero
            nn.init.zeros_(self.residual_proj.weight)
            nn.init.zeros_(self.residual_proj.bias)
            self.residual_proj.weight._no_reinit = True
            self.inner_gain = 1.0  # 0 removes the inner path (diagnostics: is the next stage used at all?)
        d_outer = config.d_model[stage - 1] if stage > 0 else d
        self.pad = nn.Parameter(torch.zeros(d - d_outer)) if d > d_outer else None

    def _pad(self, x):
        if self.pad is None:
            return x
        return torch.cat([x, self.pad.to(x.dtype).expand(*x.shape[:-1], -1)], dim=-1)

    def _residual(self, h):
        with torch.autocast(device_type=h.device.type, enabled=False):
            return self.residual_proj(h.float())

    def forward(self, x, mask, positions):
        """x (B, L, D_outer), mask (B, L) bool, positions (B, L) long -> (y (B, L, D_outer), per-stage stats)."""
        D = x.shape[-1]
        x = self._pad(x)  # (B, L, d)
        if self.is_innermost:
            return self.main(x)[..., :D], []
        h = self.encoder(x)
        residual = self._residual(h)
        p, b = self.router(h, mask)  # (B, L)
        chunks, chunk_mask, idx = chunk(h, b)  # (B, M, d), (B, M), (B, M)
        chunk_positions = torch.gather(positions, 1, idx)
        z, inner_stats = self.inner(chunks, chunk_mask, chunk_positions)  # (B, M, d)
        out = dechunk(z, b, p, idx).float() * confidence_ste(p, b)[..., None]  # (B, L, d) fp32
        out = (out if self.inner_gain == 1.0 else out * self.inner_gain) + residual
        y = self.decoder(out.to(h.dtype))
        n_valid, n_chunks = mask.sum().item(), b.sum().item()
        stats = dict(
            ratio_loss=ratio_loss(p, b, self.target_compression, mask),
            compression=n_valid / max(n_chunks, 1),
            boundary_fraction=n_chunks / max(n_valid, 1),
            router_p=(p, mask),
            routing=StageRouting(
                p=p.detach(), b=b, mask=mask, positions=positions.masked_fill(~mask, -1),
                latents=chunks.detach(), chunk_mask=chunk_mask,
                chunk_positions=chunk_positions.masked_fill(~chunk_mask, -1)),
        )
        return y[..., :D], [stats, *inner_stats]

    def allocate_inference_cache(self, batch_size, device=None):
        if self.is_innermost:
            return StageState(main=self.main.allocate_inference_cache(batch_size, device))
        w = self.residual_proj.weight
        return StageState(
            encoder=self.encoder.allocate_inference_cache(batch_size, device),
            router=self.router.allocate_inference_cache(batch_size, device),
            inner=self.inner.allocate_inference_cache(batch_size, device),
            dechunk=DechunkState(torch.zeros(batch_size, w.shape[0], device=device or w.device)),
            decoder=self.decoder.allocate_inference_cache(batch_size, device),
        )

    def step(self, x, state: StageState, active=None):
        """x (B, D_outer) one position -> (B, D_outer). The inner stage only advances rows whose router fired."""
        D = x.shape[-1]
        x = self._pad(x)
        if self.is_innermost:
            return self.main.step(x, state.main, active)[..., :D]
        h = self.encoder.step(x, state.encoder, active)
        residual = self._residual(h)
        p, b = self.router.step(h, state.router, active)  # (B,), (B,)
        fire = b if active is None else b & active
        z = self.inner.step(h, state.inner, fire)  # rows that did not fire are computed but not committed
        z_bar = dechunk_step(z, b, p, state.dechunk, active)
        out = z_bar * confidence_ste(p, b)[:, None] + residual
        return self.decoder.step(out.to(h.dtype), state.decoder, active)[..., :D]


class DnaHNet(nn.Module):
    """Embedding -> recursive H-Net (its outer decoder ends with the final RMSNorm) -> LM head."""

    def __init__(self, config: HNetConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model[0])
        self.backbone = HNetStage(config, 0)
        self.lm_head = nn.Linear(config.d_model[0], config.vocab_size, bias=False)
        self._init_weights()

    # ---- init, parameters ------------------------------------------------------------------------------------
    def _init_weights(self):
        """Linear N(0, 0.02); out_proj/fc2 scaled by 1/sqrt(residual layers so far); embedding N(0, 1)."""
        std = self.config.initializer_range
        nn.init.normal_(self.embedding.weight, 0.0, 1.0)
        nn.init.normal_(self.lm_head.weight, 0.0, std)
        n_res, stage = 0, self.backbone
        while True:
            parts = [stage.main] if stage.is_innermost else [stage.encoder, stage.decoder]
            n_res += sum(part.height for part in parts)
            for part in parts:
                for name, m in part.named_modules():
                    if isinstance(m, nn.Linear) and not getattr(m.weight, "_no_reinit", False):
                        is_out = name.endswith("out_proj") or name.endswith("fc2")
                        nn.init.normal_(m.weight, 0.0, std / max(n_res, 1) ** 0.5 if is_out else std)
            if stage.is_innermost:
                break
            stage = stage.inner

    def routed_stages(self) -> list:
        """The stages that own a router, outer first: routed_stages()[s] routes into code stage s + 1."""
        stages, stage = [], self.backbone
        while not stage.is_innermost:
            stages.append(stage)
            stage = stage.inner
        return stages

    def num_parameters(self, stage=None) -> int:
        """Parameter count, of the whole model or of the parameters owned by one stage."""
        return sum(p.numel() for name, p in self.named_parameters() if stage is None or _stage_of(name) == stage)

    def param_groups(self, lr, lr_multipliers, weight_decay):
        """AdamW groups per stage (lr · multiplier[stage]) and decay (weight decay on matrices only).

        Each group carries `lr_multiplier` so a scheduler can set `group["lr"] = lr_now * group["lr_multiplier"]`.
        """
        n = self.config.num_stages
        if len(lr_multipliers) < n:
            raise ValueError(f"lr_multipliers needs one entry per stage ({n}), got {lr_multipliers}")
        groups = {}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            s = _stage_of(name)
            decay = p.dim() == 2 and "embedding" not in name
            key = (s, decay)
            if key not in groups:
                groups[key] = dict(params=[], lr=lr * lr_multipliers[s], lr_multiplier=lr_multipliers[s],
                                   weight_decay=weight_decay if decay else 0.0,
                                   name=f"stage{s}_{'decay' if decay else 'no_decay'}")
            groups[key]["params"].append(p)
        return [groups[k] for k in sorted(groups)]

    # ---- forward ---------------------------------------------------------------------------------------------
    def forward(self, input_ids, targets=None, return_routing=False) -> LMOutput:
        """input_ids (B, L) -> LMOutput; with targets (B, L) (ids shifted by one) also the losses."""
        input_ids = input_ids.long()
        B, L = input_ids.shape
        x = self.embedding(input_ids)  # (B, L, d0)
        mask = torch.ones(B, L, dtype=torch.bool, device=x.device)
        positions = torch.arange(L, device=x.device).expand(B, L)
        h, stats = self.backbone(x, mask, positions)
        logits = self.lm_head(h)  # (B, L, V)
        out = LMOutput(
            logits=logits,
            ratio_losses=[s["ratio_loss"] for s in stats],
            compression=[s["compression"] for s in stats],
            boundary_fraction=[s["boundary_fraction"] for s in stats],
            router_p=[s["router_p"] for s in stats],
            routing=[s["routing"] for s in stats] if return_routing else None,
        )
        if targets is not None:
            out.ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.long().reshape(-1),
                                     ignore_index=-100)
            out.loss = out.ce + self.config.ratio_loss_weight * sum(out.ratio_losses, torch.zeros((), device=x.device))
        return out

    # ---- generation ------------------------------------------------------------------------------------------
    def allocate_inference_cache(self, batch_size, device=None) -> StageState:
        return self.backbone.allocate_inference_cache(batch_size, device)

    @torch.no_grad()
    def step(self, token_ids, cache: StageState):
        """token_ids (B,) -> logits (B, V) for the next token; advances `cache` by one position."""
        x = self.embedding(token_ids.long())  # (B, d0)
        return self.lm_head(self.backbone.step(x, cache))


def _stage_of(param_name: str) -> int:
    """The stage that owns a parameter: the number of `.inner.` hops in its name."""
    return param_name.count("inner.")
