"""On a GPU: the compiled Triton kernels at the model's real sizes against their PyTorch references, and the model
and `analyze` on the GPU against the CPU. Skips without CUDA (CI has none); on a GPU machine run it on its own:

    python -m pytest -q tests/test_kernels_cuda.py

tests/test_kernels_triton.py checks the same kernels under the Triton interpreter at tiny shapes and, on import, turns
the interpreter on for the whole pytest process; so this module skips when TRITON_INTERPRET=1 is set (a whole-suite
run): what it checks is the compiled code, the full-size launch grids, and that a GPU decides the CPU's boundaries.
"""
import importlib
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

from kernels.ema.chunked import ema_chunked  # noqa: E402
from kernels.routing import naive as routing_naive  # noqa: E402
from kernels.ssd import naive as ssd_naive  # noqa: E402
from kernels.ssd.chunked import ssd_chunked  # noqa: E402

GPU = torch.device("cuda")
NEAR_HALF = 1e-5  # a boundary decision may differ between two correct implementations only where |p - 0.5| < this


@pytest.fixture(autouse=True)
def compiled_triton():
    """Checked as each test runs: test_kernels_triton.py, collected after this module, turns the interpreter on."""
    pytest.importorskip("triton", reason="triton is not importable")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("the Triton interpreter is on (test_kernels_triton.py): run this module on its own")


def kernel(op):
    """`kernels.<op>.triton`, imported only here: importing it before test_kernels_triton.py sets the interpreter
    would leave that module's kernels compiled for a GPU."""
    return importlib.import_module(f"kernels.{op}.triton")


def _on_gpu(*tensors):
    return [t.to(GPU) if t is not None else None for t in tensors]


def _assert_close_to_scale(actual, expected, rel):
    """Largest error within `rel` of the largest reference magnitude (sums in another order differ by rounding)."""
    scale = expected.double().abs().max().item() + 1e-12
    err = (actual.double() - expected.double()).abs().max().item()
    assert err <= rel * scale, f"max error {err:.3g} exceeds {rel} x {scale:.3g}"


def _ssd_inputs(b, l, h, p, g, n, seed):
    """Random SSD inputs shaped like the small preset's outer stage, generated on the CPU (reproducible)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen)
    dt = F.softplus(torch.randn(b, l, h, generator=gen) - 2)
    A = -torch.rand(h, generator=gen) - 0.5
    B, C = torch.randn(b, l, g, n, generator=gen), torch.randn(b, l, g, n, generator=gen)
    D = torch.randn(h, generator=gen)
    s0 = torch.randn(b, h, p, n, generator=gen)
    return _on_gpu(x, dt, A, B, C, D, s0)


@pytest.mark.parametrize("dtype,rel", [(torch.float32, 1e-4), (torch.bfloat16, 2e-2)])
def test_ssd_scan_at_model_size(dtype, rel):
    """8 sequences of 8,192 positions, 4 heads of 32, state 32: the compiled scan against the chunked PyTorch form
    (which computes in fp32 whatever the input dtype), output and final state."""
    x, dt, A, B, C, D, s0 = _ssd_inputs(8, 8192, 4, 32, 1, 32, seed=0)
    x, B, C = x.to(dtype), B.to(dtype), C.to(dtype)
    y, final = kernel("ssd").ssd_scan(x, dt, A, B, C, 64, D=D, initial_state=s0)
    y_ref, final_ref = ssd_chunked(x, dt, A, B, C, 64, D=D, initial_state=s0)
    assert y.dtype == dtype and final.dtype == torch.float32
    _assert_close_to_scale(y, y_ref, rel)
    _assert_close_to_scale(final, final_ref, max(rel, 1e-4))


def test_ssd_step_at_model_size():
    x, dt, A, B, C, D, s0 = _ssd_inputs(64, 1, 4, 32, 1, 32, seed=1)
    y, state = kernel("ssd").ssd_step(s0, x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D=D)
    y_ref, state_ref = ssd_naive.ssd_step(s0, x[:, 0], dt[:, 0], A, B[:, 0], C[:, 0], D=D)
    _assert_close_to_scale(y, y_ref, 1e-5)
    _assert_close_to_scale(state, state_ref, 1e-5)


def test_ema_scan_forward_and_backward_at_model_size():
    """8 × 2,731 chunks of width 64 (a Stage-1 sequence of 8,192 nt): output and both gradients against the
    chunked PyTorch form (fp32, autograd)."""
    gen = torch.Generator().manual_seed(2)
    z, P = torch.randn(8, 2731, 64, generator=gen), torch.rand(8, 2731, generator=gen).clamp(1e-4, 1 - 1e-4)
    g = torch.randn(8, 2731, 64, generator=gen)
    z, P, g = _on_gpu(z, P, g)
    zt, Pt = z.clone().requires_grad_(), P.clone().requires_grad_()
    out = kernel("ema").ema_scan(zt, Pt)
    dz, dP = torch.autograd.grad(out, (zt, Pt), g)
    zr, Pr = z.clone().requires_grad_(), P.clone().requires_grad_()
    ref = ema_chunked(zr, Pr)
    dz_ref, dP_ref = torch.autograd.grad(ref, (zr, Pr), g)
    _assert_close_to_scale(out, ref, 1e-4)
    _assert_close_to_scale(dz, dz_ref, 1e-4)
    _assert_close_to_scale(dP, dP_ref, 1e-3)


def test_boundary_prob_and_gather_at_model_size():
    """8 × 32,768 positions of width 64: p within 1e-6 of the reference, decisions equal except where p is within
    rounding of 0.5; the chunk gather and its gradient exact."""
    gen = torch.Generator().manual_seed(3)
    q, k, h = (torch.randn(8, 32768, 64, generator=gen) for _ in range(3))
    q, k, h = _on_gpu(q, k, h)
    p, b = kernel("routing").boundary_prob(q, k)
    p_ref, b_ref = routing_naive.boundary_prob(q, k)
    assert (p - p_ref).abs().max().item() <= 1e-6
    differ = b != b_ref
    assert bool(((p_ref[differ] - 0.5).abs() < NEAR_HALF).all())
    h = h.requires_grad_()
    chunks, mask, idx = kernel("routing").gather_chunks(h, b_ref)
    chunks_ref, mask_ref, idx_ref = routing_naive.gather_chunks(h, b_ref)
    assert torch.equal(chunks, chunks_ref) and torch.equal(mask, mask_ref) and torch.equal(idx, idx_ref)
    grad = torch.randn(chunks.shape, device=GPU)
    assert torch.equal(torch.autograd.grad(chunks, h, grad)[0], torch.autograd.grad(chunks_ref, h, grad)[0])


def _dna_ids(n, seed):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 4, n)).long()


def test_bundled_model_triton_against_torch_on_the_gpu(monkeypatch):
    """The bundled checkpoint on 2 × 32,768 nt: `auto` (Triton) against `torch` on the GPU, fp32: logits to 1e-4
    and the same boundaries but where p is within rounding of 0.5."""
    from dnahnet.checkpoint import load

    model = load(device=GPU).eval()
    ids = torch.stack([_dna_ids(32768, 4), _dna_ids(32768, 5)]).to(GPU)
    outs = {}
    for mode in ("torch", "auto"):
        monkeypatch.setenv("DNAHNET_KERNELS", mode)
        with torch.no_grad():
            outs[mode] = model(ids, return_routing=True)
    _assert_close_to_scale(outs["auto"].logits, outs["torch"].logits, 1e-4)
    for r_ref, r in zip(outs["torch"].routing, outs["auto"].routing):
        differ = (r.b != r_ref.b) & r_ref.mask
        assert bool(((r_ref.p[differ] - 0.5).abs() < NEAR_HALF).all())


def test_analyze_on_the_gpu_decides_the_cpus_boundaries():
    """`analyze` of 60 kb, both strands, fp32, on the GPU and on the CPU: the same bits/nt, and every boundary
    that differs sits where the CPU's p is within rounding of 0.5 (the two sum in other orders)."""
    from dnahnet.checkpoint import load
    from dnahnet.infer import analyze

    seq = "".join(np.random.default_rng(6).choice(list("ACGT"), 60_000))
    cpu = analyze(seq, load(device="cpu"), cache=False, circular=False)
    gpu = analyze(seq, load(device=GPU), cache=False, circular=False)
    assert gpu.meta["settings"]["precision"] == "fp32" and gpu.meta["device"].startswith("cuda")
    for pc, pg in zip(cpu.passes, gpu.passes):
        ok = np.isfinite(pc.logprob)
        assert abs(np.mean(pc.logprob[ok]) - np.mean(pg.logprob[ok])) < 1e-5
        for sc, sg in zip(pc.stages, pg.stages):
            differ = np.setxor1d(sc.boundaries, sg.boundaries)
            p_at = dict(zip(sc.positions.tolist(), sc.p.tolist()))
            assert all(abs(p_at[int(k)] - 0.5) < 1e-4 for k in differ), (pc.strand, len(differ))
