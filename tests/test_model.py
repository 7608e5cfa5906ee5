"""DnaHNet end to end on the tiny config: shapes, losses, causality with routing active, forward vs step,
routing coordinates, 0-3 routers from the layout alone, parameter groups, bf16 autocast."""
import pytest
import torch

from dnahnet.config import AttentionConfig, HNetConfig, MambaConfig, tiny
from dnahnet.hnet import DnaHNet
from tests.conftest import scrambled_model


def ids(batch, length, seed=0):
    return torch.randint(0, 5, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_forward_shapes_and_losses():
    model = scrambled_model()
    x = ids(2, 97)
    out = model(x[:, :-1], x[:, 1:], return_routing=True)
    assert out.logits.shape == (2, 96, 5)
    assert torch.isfinite(out.loss) and len(out.ratio_losses) == 2
    expected = out.ce + model.config.ratio_loss_weight * sum(out.ratio_losses)
    torch.testing.assert_close(out.loss, expected)
    assert len(out.routing) == 2 and len(out.compression) == 2
    r0, r1 = out.routing
    assert r0.p.shape == (2, 96) and r0.b.dtype == torch.bool and r0.mask.all()
    assert r0.latents.shape[:2] == r0.chunk_mask.shape and r0.latents.shape[2] == model.config.d_model[0]
    assert r1.p.shape == r0.chunk_mask.shape and r1.latents.shape[2] == model.config.d_model[1]
    for s, r in enumerate(out.routing):
        assert out.compression[s] == pytest.approx(float(r.mask.sum()) / float(r.b.sum()))
        assert out.boundary_fraction[s] == pytest.approx(1 / out.compression[s])
    out.loss.backward()
    assert model.backbone.router.q_proj.weight.grad.abs().sum() > 0  # the router learns through the STE
    assert model.backbone.inner.router.q_proj.weight.grad.abs().sum() > 0


def test_routing_positions_map_to_nucleotides():
    model = scrambled_model()
    encoded = {}  # each stage's encoder output, (B, L_s, D_s)
    hooks = [enc.register_forward_hook(lambda m, i, o, s=s: encoded.setdefault(s, o))
             for s, enc in enumerate((model.backbone.encoder, model.backbone.inner.encoder))]
    out = model(ids(2, 120), return_routing=True)
    for h in hooks:
        h.remove()
    r0, r1 = out.routing
    assert torch.equal(r0.positions, torch.arange(120).expand(2, 120))
    for row in range(2):
        starts = r0.b[row].nonzero()[:, 0]
        n = len(starts)
        assert starts[0] == 0  # the first position always starts a chunk
        assert torch.equal(r0.chunk_positions[row, :n], starts)
        assert (r0.chunk_positions[row, n:] == -1).all() and not r0.chunk_mask[row, n:].any()
        # stage 1 runs over stage-0 chunks: its positions are stage-0 boundary positions
        assert torch.equal(r1.positions[row, :n], starts) and r1.mask[row].sum() == n
        s1 = r1.chunk_positions[row][r1.chunk_mask[row]]
        assert torch.isin(s1, starts).all() and torch.equal(s1, r1.positions[row][r1.b[row]])
        # latents are each stage's encoder outputs at its boundary rows (what the next stage reads)
        assert torch.equal(r0.latents[row, :n], encoded[0][row, starts])
        n1 = int(r1.chunk_mask[row].sum())
        assert torch.equal(r1.latents[row, :n1], encoded[1][row, r1.b[row]])
    assert 1 < out.compression[0] < 120 and out.compression[1] > 1


def test_latents_are_encoder_outputs_at_boundaries():
    model = scrambled_model()
    x = ids(1, 50)
    captured = {}
    hook = model.backbone.encoder.register_forward_hook(lambda m, i, o: captured.setdefault("h", o))
    out = model(x, return_routing=True)
    hook.remove()
    r0 = out.routing[0]
    torch.testing.assert_close(r0.latents[0], captured["h"][0, r0.b[0]])


@pytest.mark.parametrize("t", [0, 17, 40])
def test_causal_with_routing_active(t):
    model = scrambled_model()
    x = ids(1, 64)
    x2 = x.clone()
    x2[0, t] = (x2[0, t] + 1) % 5
    with torch.no_grad():
        a, b = model(x, return_routing=True), model(x2, return_routing=True)
    torch.testing.assert_close(a.logits[:, :t], b.logits[:, :t], atol=1e-5, rtol=1e-5)
    assert (a.logits[:, t:] - b.logits[:, t:]).abs().max() > 1e-4  # the change is seen from t on
    for ra, rb in zip(a.routing, b.routing):
        before_a = ra.positions[0][ra.mask[0]] < t
        before_b = rb.positions[0][rb.mask[0]] < t
        assert torch.equal(ra.positions[0][ra.mask[0]][before_a], rb.positions[0][rb.mask[0]][before_b])
        torch.testing.assert_close(ra.p[0][ra.mask[0]][before_a], rb.p[0][rb.mask[0]][before_b], atol=1e-5, rtol=1e-5)
        assert torch.equal(ra.b[0][ra.mask[0]][before_a], rb.b[0][rb.mask[0]][before_b])


def test_forward_matches_step_by_step_generation():
    model = scrambled_model()
    x = ids(3, 48, seed=3)
    with torch.no_grad():
        out = model(x, return_routing=True)
        cache = model.allocate_inference_cache(3)
        stepped = torch.stack([model.step(x[:, t], cache) for t in range(48)], dim=1)
    # routing is non-trivial in both stages, so the inner stages really skip positions in step mode
    assert 1.2 < out.compression[0] and 1.2 < out.compression[1]
    torch.testing.assert_close(stepped, out.logits, atol=1e-4, rtol=1e-4)


def _config(layout, widths):
    n = len(widths)
    return HNetConfig(arch_layout=layout, d_model=widths, d_intermediate=[2 * w for w in widths],
                      mamba=MambaConfig(d_state=8, headdim=8, chunk_size=8),
                      attention=AttentionConfig(num_heads=[2] * n, window=[0] * n),
                      target_compression=[3.0, 2.0, 2.0][: n - 1])


@pytest.mark.parametrize("layout,widths", [
    (["T2"], [16]),
    (["m1", ["T1"], "m1"], [16, 24]),
    (["m1", ["T1m1", ["T1"], "m1T1"], "m1"], [16, 16, 32]),
    (["m1", ["m1", ["m1", ["T1"], "m1"], "m1"], "m1"], [16, 24, 32, 32]),
])
def test_stage_count_comes_from_the_layout(layout, widths):
    config = _config(layout, widths)
    assert config.num_routers == len(widths) - 1
    model = scrambled_model(config)
    x = ids(2, 40)
    out = model(x[:, :-1], x[:, 1:], return_routing=True)
    assert out.logits.shape == (2, 39, 5) and len(out.routing) == config.num_routers
    assert torch.isfinite(out.loss)
    with torch.no_grad():
        cache = model.allocate_inference_cache(2)
        stepped = torch.stack([model.step(x[:, t], cache) for t in range(39)], dim=1)
    torch.testing.assert_close(stepped, out.logits.detach(), atol=1e-4, rtol=1e-4)


def test_param_groups_cover_every_parameter_once():
    model = DnaHNet(tiny())
    groups = model.param_groups(1e-3, [3.0, 2.0, 1.0], 0.1)
    seen = [id(p) for g in groups for p in g["params"]]
    assert len(seen) == len(set(seen)) == len(list(model.parameters()))
    by_name = {g["name"]: g for g in groups}
    assert by_name["stage0_decay"]["lr"] == pytest.approx(3e-3)
    assert by_name["stage2_decay"]["lr"] == pytest.approx(1e-3) and by_name["stage2_decay"]["weight_decay"] == 0.1
    assert all(g["weight_decay"] == 0.0 for g in groups if g["name"].endswith("no_decay"))
    assert model.embedding.weight in [p for p in by_name["stage0_no_decay"]["params"]]
    assert sum(model.num_parameters(s) for s in range(3)) == model.num_parameters()
    with pytest.raises(ValueError, match="one entry per stage"):
        model.param_groups(1e-3, [1.0], 0.1)


def test_init_follows_hnet():
    model = DnaHNet(tiny())
    assert float(model.embedding.weight.detach().std()) == pytest.approx(1.0, rel=0.3)
    assert torch.equal(model.backbone.residual_proj.weight, torch.zeros_like(model.backbone.residual_proj.weight))
    assert model.backbone.residual_proj.weight.dtype == torch.float32
    assert torch.equal(model.backbone.router.k_proj.weight, torch.eye(32))
    assert model.backbone.inner.pad.shape == (16,) and not model.backbone.inner.pad.any()
    in_proj = model.backbone.encoder.layers[0].mixer.in_proj.weight
    out_proj = model.backbone.encoder.layers[0].mixer.out_proj.weight
    assert float(in_proj.detach().std()) == pytest.approx(0.02, rel=0.15) and out_proj.std() < in_proj.std()


def test_bf16_autocast_runs_and_keeps_routing_fp32():
    model = scrambled_model()
    x = ids(2, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x[:, :-1], x[:, 1:], return_routing=True)
    assert torch.isfinite(out.loss)
    assert out.routing[0].p.dtype == torch.float32
    out.loss.backward()
