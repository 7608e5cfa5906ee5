"""Mamba-2 layer (forward over a sequence and `step` for one token) and its pre-norm residual block.

in_proj -> (z, x, B, C, dt); depthwise causal conv1d + SiLU over (x, B, C); A = -exp(A_log);
dt = softplus(dt + dt_bias); SSD scan (kernels.dispatch); gated RMSNorm(y * silu(z)); out_proj.
`_inner` is the PyTorch code for everything between the projections; on a CPU the same maths runs fused in numba
(`kernels/mamba/cpu.py` for inference, `kernels/mamba/cpu_train.py` with its backward for training), which
`kernels.dispatch.mamba_inner` runs when it applies.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from kernels import dispatch
from dnahnet.config import MambaConfig
from dnahnet.transformer import RMSNorm


@dataclass
class MambaState:
    """Inference state: the last d_conv inputs of the conv and the SSM state."""
    conv: torch.Tensor  # (b, conv_dim, d_conv)
    ssm: torch.Tensor  # (b, nheads, headdim, d_state), fp32


class GatedRMSNorm(nn.Module):
    """RMSNorm(y * silu(z)) * weight, in fp32."""

    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, y, z):
        dtype = y.dtype
        y = y.float() * F.silu(z.float())
        return F.rms_norm(y, self.weight.shape, self.weight.float(), self.eps).to(dtype)


class Mamba2(nn.Module):
    def __init__(self, d_model: int, cfg: MambaConfig, dt_min=0.001, dt_max=0.1, dt_floor=1e-4):
        super().__init__()
        self.cfg = cfg
        self.d_inner = cfg.expand * d_model
        self.nheads = self.d_inner // cfg.headdim
        self.conv_dim = self.d_inner + 2 * cfg.ngroups * cfg.d_state
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + 2 * cfg.ngroups * cfg.d_state + self.nheads, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, cfg.d_conv, groups=self.conv_dim, padding=cfg.d_conv - 1)
        # dt initialised log-uniform in [dt_min, dt_max]; dt_bias is its inverse softplus (as in mamba_ssm)
        dt = torch.exp(torch.rand(self.nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(self.nheads).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(self.nheads))
        self.norm = GatedRMSNorm(self.d_inner)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def _split(self, zxbcdt):
        return torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _ssm_inputs(self, xBC):
        c = self.cfg
        x, B, C = torch.split(xBC, [self.d_inner, c.ngroups * c.d_state, c.ngroups * c.d_state], dim=-1)
        shape = xBC.shape[:-1]
        return (x.reshape(*shape, self.nheads, c.headdim), B.reshape(*shape, c.ngroups, c.d_state),
                C.reshape(*shape, c.ngroups, c.d_state))

    def _interior_weights(self):
        """The layer's tensors and sizes between in_proj and out_proj, as `kernels.dispatch.mamba_inner` takes them."""
        c = self.cfg
        return dict(conv_weight=self.conv1d.weight, conv_bias=self.conv1d.bias, dt_bias=self.dt_bias,
                    A_log=self.A_log, D=self.D, norm_weight=self.norm.weight, norm_eps=self.norm.eps,
                    headdim=c.headdim, d_state=c.d_state, ngroups=c.ngroups)

    def forward(self, u):
        """u (b, l, d_model) -> (b, l, d_model)."""
        zxbcdt = self.in_proj(u)  # (b, l, 2 d_inner + 2 g n + h)
        y = dispatch.mamba_inner(zxbcdt, **self._interior_weights())  # CPU: fused in C or numba; else None
        if y is None:
            y = self._inner(zxbcdt)
        return self.out_proj(y.to(zxbcdt.dtype))  # (b, l, d_model)

    def forward_with_state(self, u, state: MambaState | None = None):
        """u (b, l, d_model) continuing from `state` (None = a fresh start) -> (y (b, l, d_model), the MambaState
        after the last position). Inference only: the fused CPU interior with an initial state when it applies
        (`dispatch.mamba_inner_with_state`), else `_inner` with the state."""
        zxbcdt = self.in_proj(u)  # (b, l, 2 d_inner + 2 g n + h)
        conv0, ssm0 = (None, None) if state is None else (state.conv, state.ssm)
        out = dispatch.mamba_inner_with_state(zxbcdt, **self._interior_weights(), conv_state=conv0, ssm_state=ssm0)
        if out is None:
            if state is None:
                state = self.allocate_inference_cache(u.shape[0], dtype=zxbcdt.dtype)
            out = self._inner(zxbcdt, state.conv, state.ssm)
        y, conv, ssm = out  # (b, l, d_inner), (b, conv_dim, d_conv), (b, h, p, n)
        return self.out_proj(y.to(zxbcdt.dtype)), MambaState(conv=conv, ssm=ssm)

    def _inner(self, zxbcdt, conv_state=None, ssm_state=None):
        """in_proj output (b, l, 2 d_inner + 2 g n + h) -> out_proj input (b, l, d_inner): the PyTorch reference.

        With a state (see `forward_with_state`; either part may be None = zeros) it continues from it and returns
        (y, conv_state (b, conv_dim, d_conv), ssm_state (b, h, p, n))."""
        b, l, _ = zxbcdt.shape
        z, xBC, dt = self._split(zxbcdt)
        stateful = conv_state is not None or ssm_state is not None
        prev = None if conv_state is None else conv_state[..., 1:].transpose(1, 2)  # (b, d_conv - 1, conv_dim)
        conv_in = xBC
        xBC = F.silu(self._causal_conv(xBC, prev))
        x, B, C = self._ssm_inputs(xBC)  # (b,l,h,p), (b,l,g,n), (b,l,g,n)
        dt = F.softplus(dt.float() + self.dt_bias.float())  # (b, l, h)
        A = -torch.exp(self.A_log.float())
        y, final = dispatch.ssd_scan(x, dt, A, B, C, self.cfg.chunk_size, D=self.D, initial_state=ssm_state)
        y = self.norm(y.reshape(b, l, self.d_inner), z)
        if not stateful:
            return y
        k = self.cfg.d_conv
        before = conv_in.new_zeros(b, self.conv_dim, k) if conv_state is None else conv_state.to(conv_in.dtype)
        return y, torch.cat([before, conv_in[:, -k:].transpose(1, 2)], dim=-1)[..., -k:], final

    def _causal_conv(self, xBC, prev=None):
        """Depthwise causal conv as a sum of shifted products in (b, l, c) layout (no transposes; fast on CPU).

        The padded copy is contiguous, which keeps the four multiply-adds on PyTorch's fast path. prev (b, k-1, c):
        the inputs before position 0 (None = zeros)."""
        k, l = self.cfg.d_conv, xBC.shape[1]
        w = self.conv1d.weight[:, 0, :].to(xBC.dtype)  # (c, k); tap k-1 multiplies the current position
        padded = (F.pad(xBC, (0, 0, k - 1, 0)) if prev is None
                  else torch.cat([prev.to(xBC.dtype), xBC], dim=1))  # (b, l + k - 1, c)
        y = torch.addcmul(self.conv1d.bias.to(xBC.dtype), padded[:, :l], w[:, 0])
        for i in range(1, k):
            y = y.addcmul_(padded[:, i:i + l], w[:, i])
        return y

    def allocate_inference_cache(self, batch_size, device=None, dtype=None):
        device = device or self.in_proj.weight.device
        dtype = dtype or self.in_proj.weight.dtype
        c = self.cfg
        return MambaState(
            conv=torch.zeros(batch_size, self.conv_dim, c.d_conv, device=device, dtype=dtype),
            ssm=torch.zeros(batch_size, self.nheads, c.headdim, c.d_state, device=device, dtype=torch.float32),
        )

    def step(self, u, state: MambaState, active=None):
        """u (b, d_model) -> (b, d_model); updates `state` in place (only rows where `active`, if given)."""
        z, xBC, dt = self._split(self.in_proj(u))
        conv = torch.cat([state.conv[..., 1:], xBC.to(state.conv.dtype)[..., None]], dim=-1)  # (b, conv_dim, k)
        xBC = (conv * self.conv1d.weight[:, 0, :]).sum(-1) + self.conv1d.bias
        x, B, C = self._ssm_inputs(F.silu(xBC))
        dt = F.softplus(dt.float() + self.dt_bias.float())
        A = -torch.exp(self.A_log.float())
        y, ssm = dispatch.ssd_step(state.ssm, x, dt, A, B, C, D=self.D)
        _commit(state, "conv", conv, active)
        _commit(state, "ssm", ssm, active)
        y = self.norm(y.reshape(u.shape[0], self.d_inner), z)
        return self.out_proj(y)


def _commit(state, name, new, active):
    """state.name = new, keeping the old rows where active is False."""
    old = getattr(state, name)
    if active is not None:
        new = torch.where(active.view(-1, *([1] * (new.dim() - 1))), new, old)
    setattr(state, name, new.to(old.dtype))


class MambaBlock(nn.Module):
    """Pre-norm residual block around a Mamba-2 layer (no MLP, as in H-Net's encoders/decoders)."""

    def __init__(self, d_model, cfg: MambaConfig, eps=1e-5):
        super().__init__()
        self.norm = RMSNorm(d_model, eps)
        self.mixer = Mamba2(d_model, cfg)

    def forward(self, x):
        fused = self._fused(x)  # CPU inference: the whole block in one C pass, else None
        if fused is not None:
            return fused
        y = self.mixer(self.norm(x))  # (b, l, d_model), a fresh tensor from out_proj
        if torch.is_grad_enabled():
            return x + y
        return y.add_(x)  # inference: the same sum (x + y == y + x exactly), without a new (b, l, d_model) buffer

    def _fused(self, x):
        """`kernels.dispatch.mamba_block` for plain bias-free Linear projections (not quantised ones), else None."""
        m = self.mixer
        if not (type(m.in_proj) is type(m.out_proj) is nn.Linear and m.in_proj.bias is None
                and m.out_proj.bias is None and type(self.norm) is RMSNorm):
            return None
        return dispatch.mamba_block(x, self.norm.weight, self.norm.eps, m.in_proj.weight, m.out_proj.weight,
                                    **m._interior_weights())

    def allocate_inference_cache(self, batch_size, device=None, dtype=None):
        return self.mixer.allocate_inference_cache(batch_size, device, dtype)

    def step(self, x, state, active=None):
        return x + self.mixer.step(self.norm(x), state, active)
