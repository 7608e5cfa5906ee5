"""The fused CPU Mamba-2 interior for training (`kernels/mamba/cpu_train.py`): its forward against the layer's
PyTorch code (`Mamba2._inner`), its gradients against autograd through that code (fp32) and against finite
differences (float64 gradcheck), its dispatch, and a tiny DnaHNet training with it vs the references."""
import copy

import pytest
import torch

from kernels import dispatch
from kernels.mamba import cpu as mamba_cpu
from kernels.mamba import cpu_train as mamba_cpu_train


def _layer(g=1, d_model=16, headdim=4, d_state=4, seed=0):
    """A small Mamba-2 layer with every parameter perturbed away from its initial value."""
    from dnahnet.config import MambaConfig
    from dnahnet.mamba2 import Mamba2

    torch.manual_seed(seed)
    layer = Mamba2(d_model, MambaConfig(d_state=d_state, headdim=headdim, expand=2, d_conv=4, chunk_size=8,
                                        ngroups=g))
    with torch.no_grad():
        for prm in layer.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    return layer


def _fused(layer, zxbcdt, every=mamba_cpu_train.CHECKPOINT_EVERY):
    c = layer.cfg
    return mamba_cpu_train.mamba_inner(zxbcdt, layer.conv1d.weight[:, 0, :], layer.conv1d.bias, layer.dt_bias,
                                       -torch.exp(layer.A_log), layer.D, layer.norm.weight, layer.norm.eps,
                                       headdim=c.headdim, d_state=c.d_state, ngroups=c.ngroups, every=every)


def _close(actual, expected, name, rel=1e-5, rtol=1e-4):
    """Equal within `rel` of the expected tensor's largest magnitude (and rtol elementwise)."""
    scale = max(float(expected.detach().abs().max()), 1e-3)
    torch.testing.assert_close(actual, expected, atol=rel * scale, rtol=rtol, msg=lambda m: f"{name}: {m}")


# (batch, length, checkpoint interval, groups): lengths not a multiple of the interval, shorter than it, shorter
# than the conv; batch 1 and 3
@pytest.mark.parametrize("b,l,every,g", [(1, 13, 4, 1), (3, 37, 8, 1), (3, 5, 32, 1), (1, 3, 2, 2)])
def test_forward_and_every_gradient_match_the_pytorch_layer(b, l, every, g):
    layer = _layer(g)
    zxbcdt = torch.randn(b, l, layer.in_proj.out_features, generator=torch.Generator().manual_seed(1))
    zxbcdt.requires_grad_()
    expected = layer._inner(zxbcdt)
    fused = _fused(layer, zxbcdt, every)
    assert fused.shape == expected.shape == (b, l, layer.d_inner) and fused.dtype == torch.float32
    _close(fused, expected, "forward")
    dout = torch.randn(expected.shape, generator=torch.Generator().manual_seed(2))
    inputs = [zxbcdt, layer.conv1d.weight, layer.conv1d.bias, layer.dt_bias, layer.A_log, layer.D, layer.norm.weight]
    names = ["zxbcdt", "conv weight", "conv bias", "dt_bias", "A_log", "D", "norm weight"]
    want = torch.autograd.grad(expected, inputs, dout)
    got = torch.autograd.grad(fused, inputs, dout)
    for name, a, e in zip(names, got, want):
        assert a.shape == e.shape and a.dtype == e.dtype, name
        _close(a, e, name, rel=2e-5)
    assert torch.get_num_threads() == 1  # numba must not change torch's thread count (conftest sets 1)


@pytest.mark.parametrize("b", [1, 3])
def test_gradcheck_in_float64(b):
    """Finite differences through the whole Function: every input, L = 7 with a checkpoint every 3 steps."""
    gen = torch.Generator().manual_seed(b)
    l, p, n, h, k = 7, 3, 2, 2, 4
    d_inner = h * p
    c = d_inner + 2 * n

    def rand(*shape, scale=1.0, shift=0.0):
        return (shift + scale * torch.randn(*shape, generator=gen, dtype=torch.float64)).requires_grad_()

    inputs = (rand(b, l, d_inner + c + h), rand(c, k, scale=0.5), rand(c, scale=0.3), rand(h, scale=0.5),
              (-0.2 - torch.rand(h, generator=gen, dtype=torch.float64)).requires_grad_(), rand(h),
              rand(d_inner, scale=0.3, shift=1.0))

    def fn(*args):
        return mamba_cpu_train.mamba_inner(*args, 1e-5, headdim=p, d_state=n, ngroups=1, every=3)

    assert fn(*inputs).dtype == torch.float64
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_bf16_input_gives_bf16_output_and_gradient():
    """Autocast hands the layer bf16: computed in fp32 inside, returned (and differentiated) in bf16."""
    layer = _layer()
    zxbcdt = torch.randn(2, 19, layer.in_proj.out_features, generator=torch.Generator().manual_seed(3))
    half = zxbcdt.bfloat16().requires_grad_()
    full = half.detach().float().requires_grad_()
    out_half, out_full = _fused(layer, half, 4), _fused(layer, full, 4)
    assert out_half.dtype == torch.bfloat16
    torch.testing.assert_close(out_half.float(), out_full, atol=2e-2, rtol=1e-2)  # bf16 rounding of the output
    dout = torch.randn(out_full.shape, generator=torch.Generator().manual_seed(4))
    (g_half,) = torch.autograd.grad(out_half, half, dout.bfloat16())
    (g_full,) = torch.autograd.grad(out_full, full, dout)
    assert g_half.dtype == torch.bfloat16
    torch.testing.assert_close(g_half.float(), g_full, atol=5e-2, rtol=2e-2)


def test_bad_shapes_are_refused_in_words():
    layer = _layer()
    zxbcdt = torch.randn(1, 4, layer.in_proj.out_features + 1)
    with pytest.raises(ValueError, match="shapes do not fit"):
        _fused(layer, zxbcdt)
    with pytest.raises(ValueError, match=r"\(b, l, f\)"):
        _fused(layer, zxbcdt[0])


def test_dispatch_runs_the_training_kernel_when_a_gradient_is_needed(monkeypatch):
    """auto: dispatch runs the numba training path when autograd needs a gradient, the inference kernel without,
    and returns what the kernel returns for the layer's weights; torch: None (the reference). Through the whole
    layer (in_proj and out_proj included) the output and every gradient agree."""
    layer = _layer()
    u = torch.randn(2, 21, 16, generator=torch.Generator().manual_seed(5))
    weights = layer._interior_weights()
    zx = layer.in_proj(u)
    calls = []
    for module, name in ((mamba_cpu_train, "train"), (mamba_cpu, "inference")):
        monkeypatch.setattr(module, "mamba_inner",
                            lambda *a, _real=module.mamba_inner, _name=name, **k: calls.append(_name) or _real(*a, **k))
    monkeypatch.setenv("DNAHNET_KERNELS", "auto")
    y_train = dispatch.mamba_inner(zx, **weights)
    assert calls == ["train"] and y_train.requires_grad
    assert torch.equal(y_train, _fused(layer, zx))  # the weights reach the kernel as it takes them
    with torch.no_grad():
        y_infer = dispatch.mamba_inner(zx, **weights)
    assert calls == ["train", "train", "inference"] and not y_infer.requires_grad
    _close(y_infer, y_train.detach(), "inference kernel")
    calls.clear()
    y_fused = layer(u)
    assert calls == ["train"]
    grads_fused = torch.autograd.grad(y_fused.square().sum(), list(layer.parameters()))
    monkeypatch.setenv("DNAHNET_KERNELS", "torch")
    assert dispatch.mamba_inner(zx, **weights) is None
    y_ref = layer(u)
    assert calls == ["train"]
    grads_ref = torch.autograd.grad(y_ref.square().sum(), list(layer.parameters()))
    _close(y_fused, y_ref, "layer output")
    for (name, _), a, e in zip(layer.named_parameters(), grads_fused, grads_ref):
        _close(a, e, name, rel=2e-5)


def test_tiny_model_trains_with_the_same_losses_and_gradients(monkeypatch):
    """A tiny DnaHNet, three AdamW steps from the same weights on the same batches: auto (numba training path in
    every Mamba-2 layer) against DNAHNET_KERNELS=torch; first-step gradients and every loss agree."""
    from dnahnet.config import HNetConfig
    from dnahnet.hnet import DnaHNet

    torch.manual_seed(0)
    start = DnaHNet(HNetConfig.preset("tiny"))
    gen = torch.Generator().manual_seed(6)
    batches = [torch.randint(0, 4, (2, 97), generator=gen) for _ in range(3)]

    def train(mode):
        monkeypatch.setenv("DNAHNET_KERNELS", mode)
        model = copy.deepcopy(start)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        losses, first = [], None
        for x in batches:
            loss = model(x[:, :-1], targets=x[:, 1:]).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if first is None:
                first = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            opt.step()
            losses.append(float(loss.detach()))
        return losses, first

    calls = []
    real = mamba_cpu_train.mamba_inner
    monkeypatch.setattr(mamba_cpu_train, "mamba_inner", lambda *a, **k: calls.append(1) or real(*a, **k))
    fused_losses, fused_grads = train("auto")
    assert calls, "the numba training path did not run"
    ref_losses, ref_grads = train("torch")
    assert len(calls) == len(fused_losses) * sum(1 for m in start.modules() if type(m).__name__ == "Mamba2")
    assert fused_losses == pytest.approx(ref_losses, rel=1e-5)
    assert fused_grads.keys() == ref_grads.keys()
    for name in ref_grads:
        _close(fused_grads[name], ref_grads[name], name, rel=1e-4, rtol=1e-3)
