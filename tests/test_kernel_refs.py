"""Kernel references against plain loops: chunked SSD vs the sequential recurrence, chunked EMA vs a loop,
boundary probability and chunk gathering on planted inputs."""
import pytest
import torch
import torch.nn.functional as F

from kernels import dispatch
from kernels.ema.chunked import ema_chunked
from kernels.ema.naive import ema_loop
from kernels.routing import naive as routing_naive
from kernels.ssd.chunked import scan_chunked, scan_chunked_per_head, ssd_chunked
from kernels.ssd.naive import ssd_sequential, ssd_step


def _ssd_inputs(b=2, l=37, h=4, p=8, g=1, n=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen)
    dt = F.softplus(torch.randn(b, l, h, generator=gen))
    A = -torch.rand(h, generator=gen) * 3 - 0.1
    B = torch.randn(b, l, g, n, generator=gen)
    C = torch.randn(b, l, g, n, generator=gen)
    D = torch.randn(h, generator=gen)
    s0 = torch.randn(b, h, p, n, generator=gen)
    return x, dt, A, B, C, D, s0


@pytest.mark.parametrize("l,chunk,g", [(37, 8, 1), (64, 16, 2), (5, 8, 1), (1, 4, 4), (100, 32, 1)])
def test_ssd_chunked_matches_sequential(l, chunk, g):
    x, dt, A, B, C, D, s0 = _ssd_inputs(l=l, g=g)
    y1, f1 = ssd_chunked(x, dt, A, B, C, chunk, D=D, initial_state=s0)
    y2, f2 = ssd_sequential(x, dt, A, B, C, D=D, initial_state=s0)
    torch.testing.assert_close(y1, y2, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(f1, f2, atol=1e-4, rtol=1e-4)


def test_ssd_chunked_without_initial_state_and_D():
    x, dt, A, B, C, _, _ = _ssd_inputs(l=23)
    y1, f1 = ssd_chunked(x, dt, A, B, C, 8)
    y2, f2 = ssd_sequential(x, dt, A, B, C)
    torch.testing.assert_close(y1, y2, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(f1, f2, atol=1e-4, rtol=1e-4)


def _mamba_layer(g=1, d_model=32, seed=0, d_conv=4, headdim=8):
    """A Mamba-2 layer with every parameter perturbed away from its initial value (D, norm weight, conv bias...)."""
    from dnahnet.config import MambaConfig
    from dnahnet.mamba2 import Mamba2

    torch.manual_seed(seed)
    layer = Mamba2(d_model, MambaConfig(d_state=8, headdim=headdim, expand=2, d_conv=d_conv, chunk_size=16,
                                        ngroups=g))
    with torch.no_grad():
        for prm in layer.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    return layer


def _inference_kernel(name):
    """(module, headdim) of a CPU inference interior: the numba one (headdim 8) or the C one (headdim 16, the
    narrowest its scan is built for; skipped without a C compiler)."""
    from kernels.mamba import cpu, native

    if name == "native" and not native.available(16):
        pytest.skip("no C compiler: kernels/mamba/native.c is not built (the numba interior runs instead)")
    return (cpu, 8) if name == "cpu" else (native, 16)


@pytest.mark.parametrize("kernel", ["cpu", "native"])
@pytest.mark.parametrize("threads", [1, 2])  # numba: 1 the serial twins (no GIL), 2 the parallel kernels; C: 2
@pytest.mark.parametrize("b,l,g", [(2, 37, 1), (1, 300, 2), (3, 3, 1), (1, 1, 4), (3, 131, 1)])  # splits the batch
def test_cpu_mamba_inner_matches_the_pytorch_layer(b, l, g, threads, kernel):
    """The fused interiors used for CPU inference: groups, lengths below d_conv, past one block (numba 256
    tokens, C 64, with a last block that is not a multiple of four steps)."""
    module, headdim = _inference_kernel(kernel)
    torch.set_num_threads(threads)
    try:
        _check_cpu_mamba_inner(module, b, l, g, headdim=headdim)
        assert torch.get_num_threads() == threads  # numba's OpenMP layer must not change torch's thread count
    finally:
        torch.set_num_threads(1)  # conftest's


@pytest.mark.parametrize("kernel", ["cpu", "native"])
@pytest.mark.parametrize("d_conv", [2, 3, 5])
def test_cpu_mamba_inner_with_other_conv_widths(d_conv, kernel):
    """Conv widths other than Mamba's 4 (numba: the general tap loop; 4 has a one-pass row of its own)."""
    module, headdim = _inference_kernel(kernel)
    _check_cpu_mamba_inner(module, 2, 41, 1, d_conv=d_conv, headdim=headdim)


@pytest.mark.parametrize("headdim", [32, 64])
def test_native_mamba_inner_with_the_models_head_widths(headdim):
    """The C scan's wider variants (two and four vectors per state row; the models use headdim 32)."""
    module, _ = _inference_kernel("native")
    _check_cpu_mamba_inner(module, 2, 70, 1, headdim=headdim, d_model=64)


def _check_cpu_mamba_inner(mamba_cpu, b, l, g, d_conv=4, headdim=8, d_model=32):
    layer = _mamba_layer(g, d_model=d_model, d_conv=d_conv, headdim=headdim)
    u = torch.randn(b, l, d_model, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        zxbcdt = layer.in_proj(u)
        expected = layer._inner(zxbcdt)
        c = layer.cfg
        args = (layer.conv1d.weight[:, 0, :], layer.conv1d.bias, layer.dt_bias, -torch.exp(layer.A_log),
                layer.D, layer.norm.weight, layer.norm.eps)
        fused = mamba_cpu.mamba_inner(zxbcdt, *args, headdim=c.headdim, d_state=c.d_state, ngroups=c.ngroups)
        assert fused.shape == expected.shape == (b, l, layer.d_inner) and fused.dtype == torch.float32
        torch.testing.assert_close(fused, expected, atol=1e-4, rtol=1e-4)
        rounded = zxbcdt.bfloat16()  # other dtypes are computed in fp32
        half = mamba_cpu.mamba_inner(rounded, *args, headdim=c.headdim, d_state=c.d_state, ngroups=g)
        torch.testing.assert_close(half, layer._inner(rounded.float()), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])  # the serial twin and the parallel kernel
@pytest.mark.parametrize("shape", [(8, 300, 64), (1, 5, 7), (2, 0, 16), (257, 96)])
def test_cpu_rms_norm_matches_torch(shape, threads):
    """kernels/norm/cpu.py against F.rms_norm: batches, odd widths, no rows, a row count past one block; bf16 input
    is computed in fp32."""
    from kernels.norm import cpu as norm_cpu

    gen = torch.Generator().manual_seed(4)
    x = 3 * torch.randn(*shape, generator=gen)
    w = torch.rand(shape[-1], generator=gen) + 0.5
    torch.set_num_threads(threads)
    try:
        got = norm_cpu.rms_norm(x, w, 1e-5)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(1)  # conftest's
    assert got.shape == x.shape and got.dtype == torch.float32
    torch.testing.assert_close(got, F.rms_norm(x, (shape[-1],), w, 1e-5), atol=2e-6, rtol=2e-6)
    half = norm_cpu.rms_norm(x.bfloat16(), w, 1e-5)
    torch.testing.assert_close(half, F.rms_norm(x.bfloat16().float(), (shape[-1],), w, 1e-5), atol=2e-6, rtol=2e-6)


def test_dispatch_rms_norm_is_numba_for_cpu_inference_only(monkeypatch):
    """auto + no gradient: the numba kernel; a gradient, or DNAHNET_KERNELS=torch: F.rms_norm itself (bit for bit,
    and differentiable)."""
    from kernels.norm import cpu as norm_cpu

    calls = []
    real = norm_cpu.rms_norm
    monkeypatch.setattr(norm_cpu, "rms_norm", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setenv("DNAHNET_KERNELS", "auto")
    x = torch.randn(4, 10, 24)
    w = torch.rand(24, requires_grad=True)
    expected = F.rms_norm(x, (24,), w, 1e-5)
    with torch.inference_mode():
        torch.testing.assert_close(dispatch.rms_norm(x, w, 1e-5), expected.detach(), atol=2e-6, rtol=2e-6)
    assert calls == [1]
    trained = dispatch.rms_norm(x, w, 1e-5)  # w needs a gradient
    assert calls == [1] and torch.equal(trained, expected) and trained.requires_grad
    monkeypatch.setenv("DNAHNET_KERNELS", "torch")
    with torch.inference_mode():
        assert torch.equal(dispatch.rms_norm(x, w, 1e-5), expected.detach())
    assert calls == [1]


@pytest.mark.parametrize("threads", [1, 2])  # the serial twin and the parallel kernel
@pytest.mark.parametrize("b,l,h,dh", [(2, 37, 4, 24), (1, 1, 5, 32), (3, 300, 2, 8), (1, 0, 2, 8)])
def test_cpu_rope_matches_the_reference_bit_for_bit(b, l, h, dh, threads):
    """kernels/rope/cpu.py on q as attention holds it (a strided view of the qkv projection) equals
    `dnahnet.transformer.apply_rope` exactly: compiled without fastmath, each op rounds as PyTorch's does."""
    from dnahnet.transformer import apply_rope, rope_angles
    from kernels.rope import cpu as rope_cpu

    qkv = 2 * torch.randn(b, l, 3, h, dh, generator=torch.Generator().manual_seed(5))
    q = qkv[:, :, 0].transpose(1, 2)  # (b, h, l, dh), not contiguous
    cos, sin = rope_angles(torch.arange(l) + 1000, dh, 10000.0)
    torch.set_num_threads(threads)
    try:
        got = rope_cpu.rope(q, cos, sin)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(1)  # conftest's
    assert got.shape == q.shape and got.is_contiguous()
    assert torch.equal(got, apply_rope(q, cos, sin))


def test_dispatch_rope_is_numba_for_fp32_cpu_inference_only(monkeypatch):
    """auto, fp32, no gradient, (l, dh/2) angles: the kernel; a gradient, bf16, per-row angles (the KV-cache step)
    or DNAHNET_KERNELS=torch: None (the reference runs); an attention layer's output is the same either way."""
    from dnahnet.transformer import CausalSelfAttention, rope_angles

    monkeypatch.setenv("DNAHNET_KERNELS", "auto")
    monkeypatch.setenv("DNAHNET_NATIVE", "0")  # the C attention (which rotates q and k itself) off: RoPE in numba
    x = torch.randn(2, 4, 10, 16)
    cos, sin = rope_angles(torch.arange(10), 16, 10000.0)
    with torch.inference_mode():
        assert dispatch.rope(x, cos, sin) is not None
        assert dispatch.rope(x.bfloat16(), cos, sin) is None
        assert dispatch.rope(x, cos[None].expand(2, -1, -1)[:, None], sin[None].expand(2, -1, -1)[:, None]) is None
    assert dispatch.rope(x.requires_grad_(), cos, sin) is None
    torch.manual_seed(0)
    attn = CausalSelfAttention(48, 3)
    u = torch.randn(2, 30, 48)
    with torch.inference_mode():
        fast = attn(u)
        monkeypatch.setenv("DNAHNET_KERNELS", "torch")
        assert dispatch.rope(x.detach(), cos, sin) is None
        assert torch.equal(fast, attn(u))


def test_dispatch_auto_fuses_the_mamba_layer_for_cpu_inference_only(monkeypatch):
    """auto + no gradient: the numba inference interior, same output as the reference; training: not this one
    (the training kernel, tests/test_mamba_train_kernel.py); `torch`: the reference."""
    from kernels.mamba import cpu as mamba_cpu

    calls = []
    real = mamba_cpu.mamba_inner
    monkeypatch.setattr(mamba_cpu, "mamba_inner", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setenv("DNAHNET_KERNELS", "auto")
    layer = _mamba_layer()
    u = torch.randn(2, 50, 32, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        y_fused = layer(u)
    assert calls == [1]
    y_train = layer(u)  # parameters require grad: a differentiable path (kernels.mamba.cpu_train in auto)
    assert y_train.requires_grad and calls == [1]
    torch.testing.assert_close(y_fused, y_train.detach(), atol=1e-4, rtol=1e-4)
    monkeypatch.setenv("DNAHNET_KERNELS", "torch")
    with torch.no_grad():
        layer(u)
    assert calls == [1]


def test_dispatch_prefers_the_c_interior_unless_turned_off(monkeypatch):
    """auto + no gradient + a headdim the C scan takes: kernels/mamba/native.py; DNAHNET_NATIVE=0 (read on every
    call) or headdim 8: the numba interior. Both give the reference's output."""
    from kernels.mamba import cpu as mamba_cpu

    native, headdim = _inference_kernel("native")
    calls = []
    for module, name in ((native, "native"), (mamba_cpu, "numba")):
        real = module.mamba_inner
        monkeypatch.setattr(module, "mamba_inner", lambda *a, real=real, name=name, **k: calls.append(name) or
                            real(*a, **k))
    monkeypatch.setenv("DNAHNET_KERNELS", "auto")
    u = torch.randn(2, 50, 32, generator=torch.Generator().manual_seed(2))
    for layer_headdim, native_env, expected in ((16, "1", "native"), (16, "0", "numba"), (8, "1", "numba")):
        monkeypatch.setenv("DNAHNET_NATIVE", native_env)
        layer = _mamba_layer(headdim=layer_headdim)
        calls.clear()
        with torch.inference_mode():
            torch.testing.assert_close(layer(u), layer.out_proj(layer._inner(layer.in_proj(u))), atol=1e-4,
                                       rtol=1e-4)
        assert calls == [expected]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("b,l,headdim,g", [(2, 37, 16, 1), (3, 131, 32, 1), (1, 1, 16, 2), (1, 3, 64, 1),
                                           (2, 200, 16, 4)])
def test_native_mamba_block_matches_the_blocks_modules(b, l, headdim, g, threads):
    """The whole pre-norm block in C (RMSNorm, in_proj, interior, out_proj, residual) against the block's own
    modules: blocks past 64 tokens with a ragged end, fewer tokens than d_conv, groups, the batch split over two
    threads. The C GEMM and the reference's MKL sum in other orders: ~1e-5 apart."""
    from dnahnet.config import MambaConfig
    from dnahnet.mamba2 import MambaBlock

    _inference_kernel("native")
    torch.manual_seed(5)
    block = MambaBlock(64, MambaConfig(d_state=8, headdim=headdim, expand=2, d_conv=4, chunk_size=16, ngroups=g))
    with torch.no_grad():
        for prm in block.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    x = torch.randn(b, l, 64, generator=torch.Generator().manual_seed(6))
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            fused = dispatch.mamba_block(x, block.norm.weight, block.norm.eps, block.mixer.in_proj.weight,
                                         block.mixer.out_proj.weight, **block.mixer._interior_weights())
            expected = x + block.mixer.out_proj(block.mixer._inner(block.mixer.in_proj(block.norm(x))))
            assert fused.shape == x.shape and fused.dtype == torch.float32
            torch.testing.assert_close(fused, expected, atol=2e-4, rtol=2e-4)
            torch.testing.assert_close(block(x), fused, atol=0, rtol=0)  # MambaBlock.forward takes this path
    finally:
        torch.set_num_threads(1)  # conftest's


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.ao's quantisation notices
def test_native_mamba_block_applies_to_fp32_cpu_inference_only(monkeypatch):
    """MambaBlock.forward runs the C block only for inference on fp32 CPU tensors in `auto` mode with plain
    Linear projections; training, autocast, `torch`, DNAHNET_NATIVE=0 and quantised projections run the modules."""
    from dnahnet.config import MambaConfig
    from dnahnet.mamba2 import MambaBlock
    from kernels.mamba import native as native_module

    _inference_kernel("native")
    calls = []
    real = native_module.mamba_block
    monkeypatch.setattr(native_module, "mamba_block", lambda *a, **k: calls.append(1) or real(*a, **k))
    block = MambaBlock(64, MambaConfig(d_state=8, headdim=16, expand=2, d_conv=4, chunk_size=16))
    x = torch.randn(2, 40, 64)
    with torch.inference_mode():
        block(x)
    assert calls == [1]
    block(x)  # parameters require grad: the modules
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        block(x)
    for env, value in (("DNAHNET_KERNELS", "torch"), ("DNAHNET_NATIVE", "0")):
        with monkeypatch.context() as m, torch.inference_mode():
            m.setenv(env, value)
            block(x)
    quantised = torch.ao.quantization.quantize_dynamic(block, {torch.nn.Linear}, dtype=torch.qint8)
    with torch.inference_mode():
        quantised(x)
    assert calls == [1]


def _attention_reference(qkv, heads, cos, sin):
    """apply_rope + F.scaled_dot_product_attention, as CausalSelfAttention.forward runs them without the C path."""
    from dnahnet.transformer import apply_rope

    b, l, d3 = qkv.shape
    dh = d3 // 3 // heads
    q, k, v = (t.transpose(1, 2) for t in qkv.unflatten(-1, (3, heads, dh)).unbind(-3))
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, l, d3 // 3)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("b,l,d,heads", [(2, 5, 32, 4), (3, 37, 96, 4), (1, 1, 96, 4), (2, 100, 160, 5),
                                         (1, 17, 16, 1), (3, 64, 192, 3)])
def test_native_attention_matches_rope_and_sdpa(b, l, d, heads, threads):
    """kernels/attention/native.c against apply_rope + SDPA: head widths 8-64 (24 and 32 in the models), lengths
    below, at and past a 16-query block, one token, the batch split over two threads; the qkv projection read in
    place (a strided view's numbers, not a copy's layout, matter)."""
    from dnahnet.transformer import rope_angles
    from kernels.attention import native as attention

    if not attention.available():
        pytest.skip("no C compiler: kernels/attention/native.c is not built")
    torch.set_num_threads(threads)
    try:
        qkv = 2 * torch.randn(b, l, 3 * d, generator=torch.Generator().manual_seed(7))
        cos, sin = rope_angles(torch.arange(l), d // heads, 10000.0)
        got = attention.causal_attention(qkv, heads, cos, sin)  # (dispatch: batches of at least `threads` items)
        assert (dispatch.causal_attention(qkv, heads, cos, sin) is None) == (b < threads)
        assert got.shape == (b, l, d) and got.dtype == torch.float32
        torch.testing.assert_close(got, _attention_reference(qkv, heads, cos, sin), atol=1e-5, rtol=1e-5)
    finally:
        torch.set_num_threads(1)  # conftest's


@pytest.mark.parametrize("l,shift", [(40, 0.0), (40, 80.0)])
def test_native_attention_softmax_is_stable(l, shift):
    """Scores far apart (a key 80 above the rest: exp would overflow without subtracting the row's maximum) and
    the causal mask: the first query sees only itself, so its output is its own value."""
    from dnahnet.transformer import rope_angles
    from kernels.attention import native as attention

    if not attention.available():
        pytest.skip("no C compiler: kernels/attention/native.c is not built")
    qkv = torch.randn(1, l, 3 * 32, generator=torch.Generator().manual_seed(8))
    qkv[0, 3, 32:64] += shift / 4  # a key aligned with every query in a big way (before rotation)
    qkv[:, :, :32] = qkv[:, :1, :32] * 4  # every query alike
    cos, sin = torch.ones(l, 8), torch.zeros(l, 8)  # no rotation: the big key stays big
    got = attention.causal_attention(qkv, 2, cos, sin)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, _attention_reference(qkv, 2, cos, sin), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[0, 0], qkv[0, 0, 64:], atol=1e-6, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.ao's quantisation notices
def test_native_attention_applies_to_fp32_cpu_inference_only(monkeypatch):
    """CausalSelfAttention.forward takes the C kernel for fp32 CPU inference without a window (or one longer than
    the sequence) and gives the reference's output; training, autocast, `torch`, DNAHNET_NATIVE=0 and a window
    shorter than the sequence run the PyTorch path."""
    from dnahnet.transformer import CausalSelfAttention
    from kernels.attention import native as attention

    if not attention.available():
        pytest.skip("no C compiler: kernels/attention/native.c is not built")
    calls = []
    real = attention.causal_attention
    monkeypatch.setattr(attention, "causal_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.manual_seed(9)
    attn = CausalSelfAttention(64, 4)
    x = torch.randn(2, 30, 64)
    with torch.inference_mode():
        fast = attn(x)
        assert calls == [1]
        attn.window = 100  # longer than the sequence: still plain causal
        attn(x)
        assert calls == [1, 1]
        attn.window = 8
        attn(x)
        attn.window = 0
    reference = attn(x)  # parameters require grad
    torch.testing.assert_close(fast, reference.detach(), atol=1e-5, rtol=1e-5)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        attn(x)
    for env, value in (("DNAHNET_KERNELS", "torch"), ("DNAHNET_NATIVE", "0")):
        with monkeypatch.context() as m, torch.inference_mode():
            m.setenv(env, value)
            attn(x)
    assert calls == [1, 1]


def _transformer_block(d, heads, hidden, seed=10):
    from dnahnet.transformer import TransformerBlock

    torch.manual_seed(seed)
    block = TransformerBlock(d, heads, hidden)
    with torch.no_grad():
        for prm in block.parameters():
            prm.add_(0.1 * torch.randn_like(prm))
    return block


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("b,l,d,heads,hidden", [(2, 5, 32, 4, 64), (3, 37, 96, 4, 192), (1, 1, 96, 4, 192),
                                                (2, 130, 160, 5, 384), (1, 66, 48, 3, 40)])
def test_native_transformer_block_matches_its_modules(b, l, d, heads, hidden, threads):
    """The whole pre-norm Transformer block in C (RMSNorm, Wqkv, RoPE attention, out_proj, residual, RMSNorm,
    SwiGLU, residual) against the block's modules: the models' widths (96/4/192, 160/5/384), lengths past a
    64-token block with a ragged end, one token, a hidden width that is not a multiple of 16; a batch smaller
    than the thread count runs the modules (PyTorch)."""
    from kernels.attention import native as attention

    if not attention.available():
        pytest.skip("no C compiler: kernels/attention/native.c is not built")
    block = _transformer_block(d, heads, hidden)
    x = torch.randn(b, l, d, generator=torch.Generator().manual_seed(11))
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            fused = block(x)
            assert fused.shape == x.shape and fused.dtype == torch.float32
            assert (block._fused(x) is not None) == (b >= threads)  # fewer items than threads: PyTorch
            h = x + block.mixer(block.norm1(x))
            expected = h + block.mlp(block.norm2(h))  # the modules (the attention module alone may take C too)
        torch.testing.assert_close(fused, expected, atol=1e-4, rtol=1e-4)
    finally:
        torch.set_num_threads(1)  # conftest's


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # torch.ao's quantisation notices
def test_native_transformer_block_applies_to_fp32_cpu_inference_only(monkeypatch):
    """TransformerBlock.forward takes the C block only for fp32 CPU inference in `auto` mode with plain Linears
    and no window shorter than the sequence; otherwise the modules run, with the same output."""
    from kernels.attention import native as attention

    if not attention.available():
        pytest.skip("no C compiler: kernels/attention/native.c is not built")
    calls = []
    real = attention.transformer_block
    monkeypatch.setattr(attention, "transformer_block", lambda *a, **k: calls.append(1) or real(*a, **k))
    block = _transformer_block(64, 4, 128)
    x = torch.randn(2, 30, 64)
    with torch.inference_mode():
        fast = block(x)
        assert calls == [1]
        block.mixer.window = 8
        block(x)
        block.mixer.window = 0
    torch.testing.assert_close(fast, block(x).detach(), atol=1e-4, rtol=1e-4)  # training: the modules
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        block(x)
    for env, value in (("DNAHNET_KERNELS", "torch"), ("DNAHNET_NATIVE", "0")):
        with monkeypatch.context() as m, torch.inference_mode():
            m.setenv(env, value)
            torch.testing.assert_close(block(x), fast, atol=1e-4, rtol=1e-4)
    quantised = torch.ao.quantization.quantize_dynamic(block, {torch.nn.Linear}, dtype=torch.qint8)
    with torch.inference_mode():
        quantised(x)
    assert calls == [1]


def test_ssd_chunked_gradients_match_sequential():
    x, dt, A, B, C, D, s0 = _ssd_inputs(l=19, h=2, p=4, n=8)
    leaves = [t.clone().requires_grad_() for t in (x, dt, B, C)]
    grads = []
    for fn in (lambda *a: ssd_chunked(*a, 8, D=D, initial_state=s0),
               lambda *a: ssd_sequential(*a, D=D, initial_state=s0)):
        xx, dd, bb, cc = leaves
        y, f = fn(xx, dd, A, bb, cc)
        grads.append(torch.autograd.grad(y.square().sum() + f.sum(), leaves))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


def test_ssd_split_sequence_carries_state():
    """Scanning two halves with the first half's final state equals one scan."""
    x, dt, A, B, C, D, _ = _ssd_inputs(l=40)
    y, f = dispatch.ssd_scan(x, dt, A, B, C, 16, D=D)
    y1, f1 = dispatch.ssd_scan(x[:, :17], dt[:, :17], A, B[:, :17], C[:, :17], 16, D=D)
    y2, f2 = dispatch.ssd_scan(x[:, 17:], dt[:, 17:], A, B[:, 17:], C[:, 17:], 16, D=D, initial_state=f1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(f2, f, atol=1e-4, rtol=1e-4)


def test_ssd_large_decays_take_the_exact_path():
    """Chunks whose total decay would overflow the factored form fall back to the per-head form: no NaN."""
    x, dt, A, B, C, D, s0 = _ssd_inputs(l=45)
    dt = dt * 40  # dt·A down to about -500 per step
    y1, f1 = ssd_chunked(x, dt, A, B, C, 16, D=D, initial_state=s0)
    y2, f2 = ssd_sequential(x, dt, A, B, C, D=D, initial_state=s0)
    assert torch.isfinite(y1).all()
    torch.testing.assert_close(y1, y2, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(f1, f2, atol=1e-3, rtol=1e-4)


def test_factored_and_per_head_forms_agree():
    x, dt, A, B, C, _, s0 = _ssd_inputs(l=50, g=2)
    X, logA = x * dt[..., None], dt * A
    y1, f1 = scan_chunked(X, logA, B, C, 16, s0)
    y2, f2 = scan_chunked(X, logA, B, C, 16, s0, safe_decay=-1.0)  # forces the per-head form
    y3, f3 = scan_chunked_per_head(X, logA, B, C, 16, s0)
    torch.testing.assert_close(y1, y3, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(y2, y3)
    torch.testing.assert_close(f1, f3, atol=1e-4, rtol=1e-4)


def test_ssd_step_is_one_recurrence_step():
    x, dt, A, B, C, D, s0 = _ssd_inputs(l=1)
    y, s1 = ssd_step(s0, x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D)
    decay = torch.exp(dt[:, 0] * A)[..., None, None]
    expected = decay * s0 + (dt[:, 0, :, None] * x[:, 0])[..., None] * B[:, 0, 0][:, None, None, :]
    torch.testing.assert_close(s1, expected)
    torch.testing.assert_close(y, torch.einsum("bhpn,bn->bhp", expected, C[:, 0, 0]) + x[:, 0] * D[:, None])


@pytest.mark.parametrize("m,chunk", [(29, 8), (3, 64), (64, 16)])
def test_ema_chunked_matches_loop(m, chunk):
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, m, 5, generator=gen)
    P = torch.rand(2, m, generator=gen).clamp(1e-4, 1 - 1e-4)
    out = ema_chunked(z, P, chunk)
    expected = torch.zeros_like(z)
    for bi in range(2):
        acc = torch.zeros(5)
        for k in range(m):
            acc = P[bi, k] * z[bi, k] + (1 - P[bi, k]) * acc
            expected[bi, k] = acc
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ema_loop(z, P), expected, atol=1e-6, rtol=1e-6)


def test_ema_is_differentiable_and_keeps_dtype():
    z = torch.randn(1, 10, 3, dtype=torch.bfloat16, requires_grad=True)
    P = torch.rand(1, 10).clamp(0.01, 0.99).requires_grad_()
    out = dispatch.ema_scan(z, P)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert z.grad is not None and P.grad is not None and torch.isfinite(P.grad).all()


def test_boundary_prob_known_values():
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    k = torch.tensor([[[9.0, 9.0], [1.0, 0.0], [-1.0, 0.0]]])
    p, b = routing_naive.boundary_prob(q, k)
    # p0 = 1; cos(q0, k1) = 1 -> 0; cos(q1, k2) = 0 -> 0.5 (not > 0.5)
    torch.testing.assert_close(p, torch.tensor([[1.0, 0.0, 0.5]]))
    assert b.tolist() == [[True, False, False]]


def test_gather_chunks_planted():
    h = torch.arange(20.0).view(2, 10, 1)
    b = torch.zeros(2, 10, dtype=torch.bool)
    b[0, [0, 3, 6, 9]] = True
    b[1, [0, 5]] = True
    chunks, chunk_mask, idx = routing_naive.gather_chunks(h, b)
    assert chunks.shape == (2, 4, 1)
    assert chunk_mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert idx[0].tolist() == [0, 3, 6, 9] and idx[1, :2].tolist() == [0, 5]
    assert chunks[0, :, 0].tolist() == [0, 3, 6, 9] and chunks[1, :2, 0].tolist() == [10, 15]


def test_dispatch_rejects_unknown_backend(monkeypatch):
    monkeypatch.setenv("DNAHNET_KERNELS", "cuda-magic")
    with pytest.raises(ValueError, match="DNAHNET_KERNELS"):
        dispatch.ema_scan(torch.zeros(1, 2, 3), torch.ones(1, 2) * 0.5)


@pytest.mark.parametrize("kernel", ["cpu", "native"])
@pytest.mark.parametrize("b,l1,l2,g", [(2, 37, 20, 1), (1, 5, 2, 2), (3, 260, 1, 1), (1, 2, 9, 4)])
def test_cpu_mamba_inner_continues_from_a_state(b, l1, l2, g, kernel):
    """The fused interior run in two pieces, the second from the first's (conv, SSM) state, equals the PyTorch
    reference over the whole sequence; its final state equals the reference's (pieces shorter than d_conv too)."""
    mamba_cpu, headdim = _inference_kernel(kernel)
    layer = _mamba_layer(g, headdim=headdim)
    u = torch.randn(b, l1 + l2, 32, generator=torch.Generator().manual_seed(3))
    c = layer.cfg
    args = (layer.conv1d.weight[:, 0, :], layer.conv1d.bias, layer.dt_bias, -torch.exp(layer.A_log), layer.D,
            layer.norm.weight, layer.norm.eps)
    kw = dict(headdim=c.headdim, d_state=c.d_state, ngroups=c.ngroups)
    with torch.inference_mode():
        zxbcdt = layer.in_proj(u)
        fresh = layer.allocate_inference_cache(b)
        whole, conv_ref, ssm_ref = layer._inner(zxbcdt, fresh.conv, fresh.ssm)  # the reference with a state
        torch.testing.assert_close(whole, layer._inner(zxbcdt), atol=0, rtol=0)  # zero state = no state
        y1, conv1, ssm1 = mamba_cpu.mamba_inner(zxbcdt[:, :l1], *args, **kw, return_state=True)
        y2, conv2, ssm2 = mamba_cpu.mamba_inner(zxbcdt[:, l1:], *args, **kw, conv_state=conv1, ssm_state=ssm1,
                                                return_state=True)
        assert y2.shape == (b, l2, layer.d_inner) and conv2.shape == (b, layer.conv_dim, c.d_conv)
        torch.testing.assert_close(torch.cat([y1, y2], 1), whole, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(conv2, conv_ref, atol=0, rtol=0)  # the last d_conv conv inputs, copied
        torch.testing.assert_close(ssm2, ssm_ref, atol=1e-4, rtol=1e-4)
        # the reference continued from the fused kernel's state: the same second piece
        ref2, _, _ = layer._inner(zxbcdt[:, l1:], conv1, ssm1)
        torch.testing.assert_close(y2, ref2, atol=1e-4, rtol=1e-4)
        # a zero state read explicitly gives what no state gives
        zero = mamba_cpu.mamba_inner(zxbcdt, *args, **kw, conv_state=fresh.conv, ssm_state=fresh.ssm)
        torch.testing.assert_close(zero, mamba_cpu.mamba_inner(zxbcdt, *args, **kw), atol=1e-6, rtol=1e-6)


def test_forward_with_state_takes_the_fused_path_in_auto_only(monkeypatch):
    """Mamba2.forward_with_state: the fused interior with a state under auto + no gradient (counted), the
    reference with the state under `torch`; both equal the whole-sequence forward when run in two pieces."""
    from kernels.mamba import cpu as mamba_cpu

    calls = []
    real = mamba_cpu.mamba_inner
    monkeypatch.setattr(mamba_cpu, "mamba_inner", lambda *a, **k: calls.append(k.get("return_state")) or real(*a, **k))
    layer = _mamba_layer()
    u = torch.randn(2, 40, 32, generator=torch.Generator().manual_seed(4))
    for mode, expected_calls in (("auto", [True, True]), ("torch", [])):
        monkeypatch.setenv("DNAHNET_KERNELS", mode)
        calls.clear()
        with torch.inference_mode():
            whole = layer(u)
            calls.clear()
            y1, state = layer.forward_with_state(u[:, :25])
            y2, state = layer.forward_with_state(u[:, 25:], state)
        assert calls == expected_calls
        torch.testing.assert_close(torch.cat([y1, y2], 1), whole, atol=1e-4, rtol=1e-4)
        assert state.ssm.shape == (2, layer.nheads, layer.cfg.headdim, layer.cfg.d_state)


def test_dispatch_mamba_inner_with_state_returns_the_kernels_output_or_none(monkeypatch):
    """dispatch.mamba_inner_with_state runs the fused interior from a state and returns (y, conv_state, ssm_state)
    exactly as the kernel gives them for the layer's weights (auto, no gradient); None under `torch` or when a
    gradient is needed (the layer then runs its reference with the state)."""
    from kernels.mamba import cpu as mamba_cpu

    layer = _mamba_layer()
    u = torch.randn(2, 30, 32, generator=torch.Generator().manual_seed(5))
    c = layer.cfg
    args = (layer.conv1d.weight[:, 0, :], layer.conv1d.bias, layer.dt_bias, -torch.exp(layer.A_log), layer.D,
            layer.norm.weight, layer.norm.eps)
    kw = dict(headdim=c.headdim, d_state=c.d_state, ngroups=c.ngroups)
    monkeypatch.setenv("DNAHNET_KERNELS", "auto")
    with torch.inference_mode():
        zxbcdt = layer.in_proj(u)
        _, conv0, ssm0 = mamba_cpu.mamba_inner(zxbcdt[:, :9], *args, **kw, return_state=True)
        got = dispatch.mamba_inner_with_state(zxbcdt[:, 9:], **layer._interior_weights(), conv_state=conv0,
                                              ssm_state=ssm0)
        want = mamba_cpu.mamba_inner(zxbcdt[:, 9:], *args, **kw, conv_state=conv0, ssm_state=ssm0, return_state=True)
        assert len(got) == 3 and all(torch.equal(a, b) for a, b in zip(got, want))
        monkeypatch.setenv("DNAHNET_KERNELS", "torch")
        assert dispatch.mamba_inner_with_state(zxbcdt, **layer._interior_weights()) is None
    monkeypatch.setenv("DNAHNET_KERNELS", "auto")
    assert dispatch.mamba_inner_with_state(layer.in_proj(u), **layer._interior_weights()) is None  # needs a gradient
