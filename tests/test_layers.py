"""Layers: Mamba-2 and attention step vs forward, router/chunk/dechunk on planted boundaries, STE, ratio loss."""
import pytest
import torch

from dnahnet.config import MambaConfig
from dnahnet.mamba2 import Mamba2, MambaBlock
from dnahnet.routing import (Router, chunk, confidence_ste, dechunk, dechunk_step, DechunkState, ratio_loss)
from dnahnet.transformer import CausalSelfAttention, TransformerBlock


def _run_steps(layer, x, cache, active=None):
    return torch.stack([layer.step(x[:, t], cache, None if active is None else active[:, t])
                        for t in range(x.shape[1])], dim=1)


@pytest.mark.parametrize("ngroups,length", [(1, 21), (2, 9)])
def test_mamba_step_matches_forward(ngroups, length):
    torch.manual_seed(0)
    layer = Mamba2(16, MambaConfig(d_state=8, headdim=8, expand=2, chunk_size=8, ngroups=ngroups))
    x = torch.randn(2, length, 16)
    with torch.no_grad():
        full = layer(x)
        stepped = _run_steps(layer, x, layer.allocate_inference_cache(2))
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-4)


def test_mamba_causal_conv_matches_conv1d_with_gradients():
    torch.manual_seed(0)
    layer = Mamba2(16, MambaConfig(d_state=8, headdim=8))
    for length in (1, 2, 9):
        x = torch.randn(2, length, layer.conv_dim, requires_grad=True)
        ours = layer._causal_conv(x)
        ref = layer.conv1d(x.transpose(1, 2))[..., :length].transpose(1, 2)
        torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-5)
        g1 = torch.autograd.grad(ours.square().sum(), [x, layer.conv1d.weight])
        g2 = torch.autograd.grad(ref.square().sum(), [x, layer.conv1d.weight])
        for a, b in zip(g1, g2):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_mamba_is_causal():
    torch.manual_seed(0)
    layer = MambaBlock(16, MambaConfig(d_state=8, headdim=8, chunk_size=4))
    x = torch.randn(1, 13, 16)
    x2 = x.clone()
    x2[:, 6] += 1.0
    with torch.no_grad():
        y, y2 = layer(x), layer(x2)
    torch.testing.assert_close(y[:, :6], y2[:, :6])
    assert (y[:, 6:] - y2[:, 6:]).abs().max() > 1e-3


def test_mamba_block_inference_residual_is_the_same_sum():
    """Without grad the block adds the residual in place into the mixer's output: the same bits as x + mixer(norm(x)),
    the input untouched; with grad it is the plain sum and the gradient reaches the input."""
    torch.manual_seed(0)
    block = MambaBlock(16, MambaConfig(d_state=8, headdim=8, chunk_size=4))
    x = torch.randn(2, 13, 16)
    x_before = x.clone()
    with torch.no_grad():
        expected = x + block.mixer(block.norm(x))
        got = block(x)
    assert torch.equal(got, expected) and torch.equal(x, x_before)
    with torch.inference_mode():
        assert torch.equal(block(x), expected)
    xg = x.clone().requires_grad_(True)
    y = block(xg)
    torch.testing.assert_close(y.detach(), expected)  # the training kernel: same maths, its own rounding
    (grad,) = torch.autograd.grad(y.sum(), xg)
    assert grad.abs().sum() > 0


def test_mamba_step_inactive_rows_keep_state():
    """A row marked inactive must leave its state untouched (the inner stage of an H-Net relies on it)."""
    torch.manual_seed(0)
    layer = Mamba2(16, MambaConfig(d_state=8, headdim=8, chunk_size=8))
    x = torch.randn(2, 10, 16)
    active = torch.ones(2, 10, dtype=torch.bool)
    active[1, ::2] = False  # row 1 only sees odd positions
    with torch.no_grad():
        stepped = _run_steps(layer, x, layer.allocate_inference_cache(2), active)
        only_odd = layer(x[1:, 1::2])
    torch.testing.assert_close(stepped[1, 1::2], only_odd[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("window", [0, 4])
def test_attention_step_matches_forward(window):
    torch.manual_seed(0)
    block = TransformerBlock(16, 2, 32, window=window)
    x = torch.randn(2, 11, 16)
    with torch.no_grad():
        full = block(x)
        cache = block.allocate_inference_cache(2)
        cache.k, cache.v = cache.k[:, :, :3], cache.v[:, :, :3]  # small capacity: exercises the buffer growth
        stepped = _run_steps(block, x, cache)
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=1e-4)


def test_attention_sliding_window_limits_context():
    torch.manual_seed(0)
    attn = CausalSelfAttention(16, 2, window=3)
    x = torch.randn(1, 10, 16)
    x2 = x.clone()
    x2[:, 2] += 1.0
    with torch.no_grad():
        y, y2 = attn(x), attn(x2)
    changed = (y - y2).abs().amax(-1)[0] > 1e-6
    assert changed.tolist() == [False, False, True, True, True] + [False] * 5


def test_attention_step_inactive_rows_do_not_advance():
    torch.manual_seed(0)
    attn = CausalSelfAttention(16, 2)
    x = torch.randn(2, 8, 16)
    active = torch.ones(2, 8, dtype=torch.bool)
    active[1, [1, 2, 5]] = False
    with torch.no_grad():
        stepped = _run_steps(attn, x, attn.allocate_inference_cache(2), active)
        kept = active[1].nonzero()[:, 0]
        sub = attn(x[1:, kept])
    torch.testing.assert_close(stepped[1, kept], sub[0], atol=1e-5, rtol=1e-4)


def test_router_identity_init_and_step_matches_forward():
    torch.manual_seed(0)
    router = Router(8)
    assert torch.equal(router.q_proj.weight, torch.eye(8))
    torch.nn.init.normal_(router.q_proj.weight)
    h = torch.randn(2, 12, 8)
    p, b = router(h)
    assert p[:, 0].tolist() == [1.0, 1.0] and b[:, 0].all()
    state = router.allocate_inference_cache(2)
    steps = [router.step(h[:, t], state) for t in range(12)]
    torch.testing.assert_close(torch.stack([s[0] for s in steps], 1), p)
    assert torch.equal(torch.stack([s[1] for s in steps], 1), b)


def test_chunk_dechunk_planted_boundaries_every_3():
    """Boundaries every 3 positions: each position reads the EMA of the chunk vectors up to its chunk."""
    L, d = 12, 4
    b = torch.zeros(1, L, dtype=torch.bool)
    b[0, ::3] = True
    p = torch.where(b, torch.tensor(0.8), torch.tensor(0.1))
    h = torch.randn(1, L, d)
    chunks, chunk_mask, idx = chunk(h, b)
    assert idx[0].tolist() == [0, 3, 6, 9]
    torch.testing.assert_close(chunks[0], h[0, ::3])
    z = torch.randn(1, 4, d)  # what an inner network would return per chunk
    out = dechunk(z, b, p, idx)
    ema, expected = torch.zeros(d), []
    for k in range(4):
        ema = 0.8 * z[0, k] + 0.2 * ema
        expected += [ema] * 3
    torch.testing.assert_close(out[0], torch.stack(expected), atol=1e-6, rtol=1e-5)
    # the same, one position at a time
    state = DechunkState(torch.zeros(1, d))
    stepped = [dechunk_step(z[:, max(int(b[0, :t + 1].sum()) - 1, 0)], b[:, t], p[:, t], state) for t in range(L)]
    torch.testing.assert_close(torch.stack(stepped, 1), out, atol=1e-6, rtol=1e-5)


def test_dechunk_clamps_P():
    b = torch.tensor([[True, True]])
    p = torch.tensor([[1.0, 1.0]])  # clamped to 1 - 1e-4: a little of the previous chunk leaks in
    z = torch.tensor([[[1.0], [0.0]]])
    out = dechunk(z, b, p, torch.tensor([[0, 1]]))
    torch.testing.assert_close(out[0, :, 0], torch.tensor([1 - 1e-4, (1 - 1e-4) * 1e-4]))


def test_confidence_ste_forward_one_gradient_to_p():
    p = torch.tensor([0.9, 0.2, 0.7], requires_grad=True)
    b = p.detach() > 0.5
    c = confidence_ste(p, b)
    assert c.tolist() == [1.0, 1.0, 1.0]
    (c * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert p.grad.tolist() == [1.0, -2.0, 3.0]  # d/dp of p, 1 - p, p


@pytest.mark.parametrize("N", [2.0, 3.0, 6.0])
def test_ratio_loss_minimum_at_target(N):
    L = 600
    def loss_at(frac):
        b = torch.zeros(1, L, dtype=torch.bool)
        b[0, : int(round(frac * L))] = True
        return float(ratio_loss(torch.full((1, L), frac), b, N))
    assert loss_at(1 / N) == pytest.approx(1.0, abs=1e-5)
    for frac in (0.05, 0.5 / N, 1.5 / N, 0.9):
        assert loss_at(frac) > 1.0 + 1e-3


def test_ratio_loss_ignores_masked_positions_and_F_has_no_grad():
    p = torch.tensor([[1 / 3, 1 / 3, 1 / 3, 0.99, 0.99]], requires_grad=True)
    b = torch.tensor([[True, False, False, True, True]])
    mask = torch.tensor([[True, True, True, False, False]])
    loss = ratio_loss(p, b, 3.0, mask)
    assert float(loss.detach()) == pytest.approx(1.0, abs=1e-6)
    loss.backward()
    assert p.grad[0, 3:].abs().sum() == 0
    # dL/dG = N/(N-1)((N-1)F - (1-F)) = 0 at F = 1/N: the gradient only pushes G towards F
    assert p.grad.abs().max() < 1e-6
