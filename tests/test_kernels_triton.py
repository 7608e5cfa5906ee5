"""Triton kernels against their PyTorch references, on CPU under the Triton interpreter (tiny shapes).

TRITON_INTERPRET=1 is set before Triton is imported; the kernel modules are reloaded in case another test module
imported them first without it. Skips cleanly when Triton cannot be imported.
"""
import importlib
import os
import sys

os.environ["TRITON_INTERPRET"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

triton = pytest.importorskip("triton", reason="triton is not importable; the Triton kernels cannot be tested")

from bench.boundary_agreement import compare_boundaries  # noqa: E402
from kernels import dispatch  # noqa: E402
from kernels.ema.chunked import ema_chunked  # noqa: E402
from kernels.ema.naive import ema_loop  # noqa: E402
from kernels.routing import naive as routing_naive  # noqa: E402
from kernels.ssd import naive as ssd_naive  # noqa: E402
from kernels.ssd.chunked import ssd_chunked  # noqa: E402

# imported earlier without the interpreter: rebuild the jitted functions, the shared helpers first
for _name in ("kernels.triton_utils", "kernels.ssd.triton", "kernels.ema.triton", "kernels.routing.triton"):
    if _name in sys.modules:
        importlib.reload(sys.modules[_name])
from kernels.ema import triton as ema_triton  # noqa: E402
from kernels.routing import triton as routing_triton  # noqa: E402
from kernels.ssd import triton as ssd_triton  # noqa: E402

FP32_TOL = dict(rtol=1e-4, atol=1e-4)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _close_bf16(actual, expected, rel=2e-2):
    """bf16 outputs: within a couple of bf16 rounding steps of the largest magnitude."""
    scale = expected.float().abs().max().item() + 1e-6
    err = (actual.float() - expected.float()).abs().max().item()
    assert err <= rel * scale, f"max error {err:.3g} exceeds {rel} x {scale:.3g}"


# ---- SSD ---------------------------------------------------------------------------------------------------------
def _ssd_inputs(b, l, h, p, g, n, dtype, seed, noncontiguous=False):
    gen = _gen(seed)
    if noncontiguous:  # x as a slice of a wider projection, like the model's in_proj split
        x = torch.randn(b, l, h * p + 5, generator=gen)[..., 3:3 + h * p].reshape(b, l, h, p)
    else:
        x = torch.randn(b, l, h, p, generator=gen)
    dt = F.softplus(torch.randn(b, l, h, generator=gen) - 1)
    A = -torch.rand(h, generator=gen) * 3 - 0.1
    B = torch.randn(b, l, g, n, generator=gen)
    C = torch.randn(b, l, g, n, generator=gen)
    D = torch.randn(h, generator=gen)
    s0 = torch.randn(b, h, p, n, generator=gen)
    return x.to(dtype), dt, A, B.to(dtype), C.to(dtype), D, s0


@pytest.mark.parametrize("b,l,h,p,g,n,chunk,dtype,use_d,use_init", [
    (2, 37, 4, 8, 2, 16, 16, torch.float32, True, True),  # odd length, several chunks, groups
    (1, 16, 2, 16, 1, 16, 16, torch.float32, False, False),  # exactly one chunk
    (1, 5, 2, 4, 2, 4, 64, torch.float32, True, False),  # shorter than a chunk, tiny p and n
    (1, 70, 2, 20, 1, 12, 64, torch.bfloat16, True, True),  # bf16, p and n not powers of two
])
def test_ssd_scan_matches_sequential_reference(b, l, h, p, g, n, chunk, dtype, use_d, use_init):
    x, dt, A, B, C, D, s0 = _ssd_inputs(b, l, h, p, g, n, dtype, seed=l, noncontiguous=(l == 37))
    D, s0 = (D if use_d else None), (s0 if use_init else None)
    y, final = ssd_triton.ssd_scan(x, dt, A, B, C, chunk, D=D, initial_state=s0)
    y_ref, final_ref = ssd_naive.ssd_sequential(x, dt, A, B, C, D=D, initial_state=s0)
    assert y.dtype == x.dtype and final.dtype == torch.float32 and final.shape == (b, h, p, n)
    torch.testing.assert_close(final, final_ref, **FP32_TOL)
    if dtype == torch.float32:
        torch.testing.assert_close(y, y_ref, **FP32_TOL)
    else:
        _close_bf16(y, y_ref)


def test_ssd_scan_then_step_continues_the_sequence():
    x, dt, A, B, C, D, s0 = _ssd_inputs(1, 21, 2, 8, 1, 16, torch.float32, seed=3)
    y_all, final_all = ssd_triton.ssd_scan(x, dt, A, B, C, 16, D=D, initial_state=s0)
    _, state = ssd_triton.ssd_scan(x[:, :-1], dt[:, :-1], A, B[:, :-1], C[:, :-1], 16, D=D, initial_state=s0)
    y_last, state = ssd_triton.ssd_step(state, x[:, -1], dt[:, -1], A, B[:, -1], C[:, -1], D=D)
    torch.testing.assert_close(y_last, y_all[:, -1], **FP32_TOL)
    torch.testing.assert_close(state, final_all, **FP32_TOL)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_ssd_step_matches_reference(dtype):
    x, dt, A, B, C, D, s0 = _ssd_inputs(3, 1, 4, 12, 2, 10, dtype, seed=5)
    y, new = ssd_triton.ssd_step(s0, x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D=D)
    y_ref, new_ref = ssd_naive.ssd_step(s0, x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D=D)
    torch.testing.assert_close(new, new_ref, **FP32_TOL)
    assert y.dtype == dtype
    torch.testing.assert_close(y.float(), y_ref.float(), **(FP32_TOL if dtype == torch.float32 else
                                                          dict(rtol=1e-2, atol=1e-2)))


def test_ssd_rejects_mismatched_shapes():
    x, dt, A, B, C, D, s0 = _ssd_inputs(1, 8, 2, 4, 1, 4, torch.float32, seed=0)
    with pytest.raises(ValueError, match="dt"):
        ssd_triton.ssd_scan(x, dt[:, :-1], A, B, C, 16)


# ---- EMA ---------------------------------------------------------------------------------------------------------
def _ema_inputs(b, m, d, dtype, seed, p_value=None):
    gen = _gen(seed)
    z = torch.randn(b, m, d, generator=gen).to(dtype)
    P = torch.rand(b, m, generator=gen).clamp(1e-4, 1 - 1e-4) if p_value is None else torch.full((b, m), p_value)
    return z, P


@pytest.mark.parametrize("b,m,d,dtype,p_value", [
    (2, 37, 20, torch.float32, None),  # odd length, two tiles
    (1, 64, 16, torch.float32, None),  # exactly two tiles of 32
    (1, 1, 3, torch.float32, None),  # a single chunk
    (2, 45, 70, torch.bfloat16, None),  # bf16, d over one slice
    (1, 40, 8, torch.float32, 1e-4),  # P at the lower clamp: z̄ barely moves
    (1, 40, 8, torch.float32, 1 - 1e-4),  # P at the upper clamp: z̄ ≈ z
])
def test_ema_forward_matches_loop(b, m, d, dtype, p_value):
    z, P = _ema_inputs(b, m, d, dtype, seed=m + d, p_value=p_value)
    out = ema_triton.ema_scan(z, P)
    ref = ema_loop(z.double(), P.double())
    assert out.dtype == dtype and out.shape == z.shape
    if dtype == torch.float32:
        torch.testing.assert_close(out.double(), ref, **FP32_TOL)
    else:
        _close_bf16(out, ref)


def test_ema_with_p_equal_one_copies_z():
    z, _ = _ema_inputs(1, 20, 8, torch.float32, seed=1)
    out = ema_triton.ema_scan(z, torch.ones(1, 20))
    torch.testing.assert_close(out, z, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("b,m,d,dtype,p_value", [
    (2, 37, 20, torch.float32, None),
    (1, 33, 70, torch.float32, 1 - 1e-4),
    (1, 33, 5, torch.float32, 1e-4),
    (2, 19, 12, torch.bfloat16, None),
])
def test_ema_gradients_match_reference_autograd(b, m, d, dtype, p_value):
    z, P = _ema_inputs(b, m, d, dtype, seed=2 * m + d, p_value=p_value)
    z.requires_grad_()
    P.requires_grad_()
    grad_out = torch.randn(b, m, d, generator=_gen(7))
    dz, dP = torch.autograd.grad(ema_triton.ema_scan(z, P), (z, P), grad_out.to(dtype))
    z64 = z.detach().double().requires_grad_()
    P64 = P.detach().double().requires_grad_()
    dz_ref, dP_ref = torch.autograd.grad(ema_loop(z64, P64), (z64, P64), grad_out.to(dtype).double())
    assert dz.dtype == dtype and dP.dtype == P.dtype
    if dtype == torch.float32:
        torch.testing.assert_close(dz.double(), dz_ref, **FP32_TOL)
        torch.testing.assert_close(dP.double(), dP_ref, rtol=1e-4, atol=1e-4 * dP_ref.abs().max().item())
    else:  # dP reduces in fp32 from the bf16 values; dz is rounded to bf16
        _close_bf16(dz, dz_ref)
        torch.testing.assert_close(dP.double(), dP_ref, rtol=1e-3, atol=1e-3 * dP_ref.abs().max().item())


def test_ema_gradient_of_z_only():
    z, P = _ema_inputs(1, 10, 4, torch.float32, seed=3)
    z.requires_grad_()
    (dz,) = torch.autograd.grad(ema_triton.ema_scan(z, P).sum(), (z,))
    z2 = z.detach().double().requires_grad_()
    (dz_ref,) = torch.autograd.grad(ema_loop(z2, P.double()).sum(), (z2,))
    torch.testing.assert_close(dz.double(), dz_ref, **FP32_TOL)


# ---- routing -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("b,l,d,dtype", [(2, 37, 20, torch.float32), (3, 50, 140, torch.bfloat16),
                                         (1, 1, 3, torch.float32)])
def test_boundary_prob_matches_reference(b, l, d, dtype):
    gen = _gen(l)
    q, k = torch.randn(b, l, d, generator=gen).to(dtype), torch.randn(b, l, d, generator=gen).to(dtype)
    p, bnd = routing_triton.boundary_prob(q, k)
    p_ref, b_ref = routing_naive.boundary_prob(q, k)
    assert p.dtype == torch.float32 and bnd.dtype == torch.bool
    torch.testing.assert_close(p, p_ref, rtol=0, atol=1e-6)
    assert torch.equal(bnd, b_ref)
    assert bool((p[:, 0] == 1).all())


def test_boundary_prob_extremes_and_mask():
    gen = _gen(11)
    q = torch.randn(2, 30, 16, generator=gen)
    k = torch.roll(q, 1, dims=1)  # k_t = q_{t-1}: cos = 1, p = 0: no boundary except p_0
    p, bnd = routing_triton.boundary_prob(q, k)
    assert bool((p[:, 1:] <= 1e-6).all()) and bnd.sum().item() == 2 and bool(bnd[:, 0].all())
    p, bnd = routing_triton.boundary_prob(q, -k)  # cos = -1, p = 1: every position a boundary
    assert bool((p >= 1 - 1e-6).all()) and bool(bnd.all())
    mask = torch.rand(2, 30, generator=gen) > 0.3  # padding: never a boundary
    p_m, b_m = routing_triton.boundary_prob(q, -k, mask=mask)
    assert torch.equal(b_m, mask) and torch.equal(p_m, p)
    zeros = torch.zeros(1, 5, 4)  # zero vectors: cos = 0, p = 0.5 exactly, not a boundary (as the reference)
    p0, b0 = routing_triton.boundary_prob(zeros, zeros)
    p0_ref, b0_ref = routing_naive.boundary_prob(zeros, zeros)
    assert torch.equal(p0, p0_ref) and torch.equal(b0, b0_ref)


def _boundaries(b, l, gen, rate):
    bnd = torch.rand(b, l, generator=gen) < rate
    bnd[:, 0] = True
    return bnd


@pytest.mark.parametrize("case", ["random", "all", "first_only", "empty_row", "bf16"])
def test_gather_chunks_matches_reference_with_gradient(case):
    gen = _gen(hash(case) % 1000)
    b, l, d = 3, 41, 24
    dtype = torch.bfloat16 if case == "bf16" else torch.float32
    h = torch.randn(b, l, d, generator=gen).to(dtype).requires_grad_()
    bnd = _boundaries(b, l, gen, {"all": 1.1, "first_only": 0.0}.get(case, 0.3))
    if case == "empty_row":
        bnd[1] = False
    chunks, cmask, idx = routing_triton.gather_chunks(h, bnd)
    chunks_ref, cmask_ref, idx_ref = routing_naive.gather_chunks(h, bnd)
    assert torch.equal(chunks, chunks_ref) and torch.equal(cmask, cmask_ref) and torch.equal(idx, idx_ref)
    grad = torch.randn(chunks.shape, generator=gen).to(dtype)
    (dh,) = torch.autograd.grad(chunks, h, grad)
    (dh_ref,) = torch.autograd.grad(chunks_ref, h, grad)
    assert torch.equal(dh, dh_ref)


def test_gather_chunks_without_any_boundary():
    h = torch.randn(2, 7, 4)
    chunks, cmask, idx = routing_triton.gather_chunks(h, torch.zeros(2, 7, dtype=torch.bool))
    assert chunks.shape == (2, 0, 4) and cmask.shape == (2, 0) and idx.shape == (2, 0)


def test_compare_boundaries_counts_flips_only_near_one_half():
    gen = _gen(4)
    q, k = torch.randn(2, 60, 32, generator=gen), torch.randn(2, 60, 32, generator=gen)
    report = compare_boundaries(q, k)
    assert report.n_positions == 120 and report.n_flips == 0 and report.max_abs_dp < 1e-6
    # k_t orthogonal to q_{t-1} (+ a tiny tilt): p sits at 0.5 within rounding, where decisions may flip
    prev = q[:, :-1]
    ortho = k[:, 1:] - (k[:, 1:] * prev).sum(-1, keepdim=True) / (prev * prev).sum(-1, keepdim=True) * prev
    k_half = torch.cat([k[:, :1], ortho + 1e-7 * torch.randn(ortho.shape, generator=gen)], dim=1)
    report = compare_boundaries(q, k_half)
    p_ref, b_ref = routing_naive.boundary_prob(q, k_half)
    _, b_tri = routing_triton.boundary_prob(q, k_half)
    assert report.n_flips == int((b_ref != b_tri).sum()) and report.n_near_half >= 100
    assert all(abs(p_r - 0.5) < 1e-5 and abs(p_t - 0.5) < 1e-5 for _, _, p_r, p_t in report.flips)
    assert "boundary decisions differ" in report.summary()


# ---- dispatch ----------------------------------------------------------------------------------------------------
@pytest.fixture
def spy(monkeypatch):
    """Counts calls into the Triton wrappers that dispatch can reach."""
    calls = {}

    def wrap(module, name):
        fn = getattr(module, name)

        def counted(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return fn(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)

    for module, names in ((ssd_triton, ("ssd_scan", "ssd_step")), (ema_triton, ("ema_scan",)),
                          (routing_triton, ("boundary_prob", "gather_chunks"))):
        for name in names:
            wrap(module, name)
    return calls


def test_dispatch_forced_triton_uses_kernels(monkeypatch, spy):
    monkeypatch.setenv("DNAHNET_KERNELS", "triton")
    x, dt, A, B, C, D, s0 = _ssd_inputs(1, 20, 2, 8, 1, 8, torch.float32, seed=9)
    y, final = dispatch.ssd_scan(x, dt, A, B, C, 16, D=D, initial_state=s0)
    y_ref, final_ref = ssd_chunked(x, dt, A, B, C, 16, D=D, initial_state=s0)
    torch.testing.assert_close(y, y_ref, **FP32_TOL)
    dispatch.ssd_step(s0, x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D=D)
    z, P = _ema_inputs(1, 12, 8, torch.float32, seed=2)
    torch.testing.assert_close(dispatch.ema_scan(z, P), ema_chunked(z, P), **FP32_TOL)
    p, bnd = dispatch.boundary_prob(x[..., 0, :], x[..., 1, :])
    dispatch.gather_chunks(x[..., 0, :], bnd)
    assert spy == {"ssd_scan": 1, "ssd_step": 1, "ema_scan": 1, "boundary_prob": 1, "gather_chunks": 1}


def test_dispatch_torch_and_auto_on_cpu_use_references(monkeypatch, spy):
    z, P = _ema_inputs(1, 12, 8, torch.float32, seed=2)
    for mode in ("torch", "auto"):
        monkeypatch.setenv("DNAHNET_KERNELS", mode)
        dispatch.ema_scan(z, P)
        dispatch.boundary_prob(z, z)
    assert spy == {}
    monkeypatch.setenv("DNAHNET_KERNELS", "bogus")
    with pytest.raises(ValueError, match="DNAHNET_KERNELS"):
        dispatch.ema_scan(z, P)


def test_dispatch_forward_only_kernels_fall_back_when_grad_is_needed(monkeypatch, spy):
    monkeypatch.setenv("DNAHNET_KERNELS", "triton")
    x, dt, A, B, C, D, _ = _ssd_inputs(1, 20, 2, 8, 1, 8, torch.float32, seed=9)
    D.requires_grad_()
    y, _ = dispatch.ssd_scan(x, dt, A, B, C, 16, D=D)
    assert y.requires_grad and "ssd_scan" not in spy
    with torch.no_grad():
        dispatch.ssd_scan(x, dt, A, B, C, 16, D=D)
    assert spy == {"ssd_scan": 1}


def test_model_with_triton_kernels_matches_torch(monkeypatch, spy):
    """The tiny model: same logits and boundaries on both paths; same gradients in training."""
    from dnahnet.config import HNetConfig
    from dnahnet.hnet import DnaHNet

    torch.manual_seed(0)
    model = DnaHNet(HNetConfig.preset("tiny"))
    ids = torch.randint(0, 4, (2, 41), generator=_gen(0))
    results = {}
    for mode in ("torch", "triton"):
        monkeypatch.setenv("DNAHNET_KERNELS", mode)
        model.eval()
        with torch.no_grad():
            out = model(ids[:, :-1], return_routing=True)
        model.train()
        model.zero_grad(set_to_none=True)
        model(ids[:, :-1], ids[:, 1:]).loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results[mode] = (out, grads)
    (out_t, g_t), (out_k, g_k) = results["torch"], results["triton"]
    assert {"ssd_scan", "ema_scan", "boundary_prob", "gather_chunks"} <= set(spy)
    torch.testing.assert_close(out_k.logits, out_t.logits, **FP32_TOL)
    for r_t, r_k in zip(out_t.routing, out_k.routing):
        assert torch.equal(r_k.b, r_t.b)
    assert g_t.keys() == g_k.keys()
    for name in g_t:
        scale = g_t[name].abs().max().item() + 1e-12
        assert (g_k[name] - g_t[name]).abs().max().item() <= 1e-4 * scale, name


def test_bench_quick_runs_on_cpu(capsys):
    """The benchmark's --quick mode prints its tables (reference rows only without a GPU)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "bench_kernels.py"
    spec = importlib.util.spec_from_file_location("bench_kernels", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--quick", "--lengths", "256", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "copy bandwidth" in out and "| ssd_scan |" in out and "| gather_chunks |" in out
    assert "## Whole-model inference" in out and "| 256 |" in out
    if not torch.cuda.is_available():
        assert "Triton rows skipped" in out
        assert "## CPU RMSNorm" in out and "## CPU Mamba-2 layer interior" in out and "## CPU rotary" in out
        from kernels.mamba import native

        if native.available(32):
            assert "## CPU C blocks vs numba + PyTorch" in out and "| Transformer block, stage 2 |" in out
