"""Checkpoint save/load: identical outputs, clear errors on missing, corrupt or changed files, stable hash."""
import hashlib
import json

import pytest
import torch

from dnahnet import checkpoint
from dnahnet.config import HNetConfig, tiny
from dnahnet.hnet import DnaHNet


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = DnaHNet(tiny()).eval()
    with torch.no_grad():
        model.backbone.residual_proj.weight.normal_(0, 0.1)  # non-default values must survive the round trip
    checkpoint.save(model, tmp_path / "ck", extra_meta={"steps": 3})
    return model, tmp_path / "ck"


def test_save_load_gives_identical_outputs(saved):
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "meta.json", "model.safetensors"]
    loaded = checkpoint.load(path, device="cpu")
    assert not loaded.training and loaded.config == model.config
    x = torch.randint(0, 5, (2, 80))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x).logits, atol=0, rtol=0)
    digests = {name: hashlib.sha256((path / name).read_bytes()).hexdigest()
               for name in ("config.json", "model.safetensors")}
    assert json.loads((path / "meta.json").read_text()) == {"steps": 3, "integrity": digests}


def test_load_accepts_the_weights_file_path(saved):
    _, path = saved
    assert isinstance(checkpoint.load(path / "model.safetensors", device="cpu"), DnaHNet)


def test_hash_is_stable_and_tracks_content(saved):
    _, path = saved
    h = checkpoint.checkpoint_hash(path)
    assert len(h) == 16 and h == checkpoint.checkpoint_hash(path)
    cfg = HNetConfig.load(path)
    cfg.ratio_loss_weight = 0.02
    cfg.save(path)
    assert checkpoint.checkpoint_hash(path) != h


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_model_hash_of_a_quantised_model(saved):
    """A dynamically int8-quantised copy (what `bench_inference --options` reads with) hashes like any model: the
    same weights give the same hash, a changed weight or the fp32 original another."""
    import copy

    def quantise(m):
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(m), {torch.nn.Linear}, dtype=torch.qint8)

    model, _ = saved
    first, again = checkpoint.model_hash(quantise(model)), checkpoint.model_hash(quantise(model))
    assert first == again and first != checkpoint.model_hash(model)
    with torch.no_grad():
        model.lm_head.weight[0, 0] += 1
    assert checkpoint.model_hash(quantise(model)) != first


def test_model_hash_checkpoint_info_and_card(saved):
    model, path = saved
    loaded = checkpoint.load(path, device="cpu")
    assert checkpoint.model_hash(loaded) == checkpoint.model_hash(model) and len(checkpoint.model_hash(model)) == 32
    with torch.no_grad():
        model.backbone.residual_proj.weight[0, 0] += 1
    assert checkpoint.model_hash(model) != checkpoint.model_hash(loaded)
    assert checkpoint.checkpoint_info(loaded) == {"checkpoint_name": "ck", "checkpoint_dir": str(path),
                                                  "checkpoint_file_hash": checkpoint.checkpoint_hash(path)}
    assert checkpoint.checkpoint_info(model)["checkpoint_name"] == "in-memory model"
    assert checkpoint.read_card(path) == {"meta": json.loads((path / "meta.json").read_text())}
    (path / "README.md").write_text("# a readme")
    (path / "MODEL_CARD.md").write_text("# the card")
    (path / "meta.json").write_text("{not json")
    assert checkpoint.read_card(path) == {"meta": {}, "card": "# the card"}


def test_missing_and_corrupt_files_give_clear_errors(saved, tmp_path):
    _, path = saved
    with pytest.raises(FileNotFoundError, match="not found"):
        checkpoint.load(tmp_path / "nowhere")
    (path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="model.safetensors"):
        checkpoint.load(path, device="cpu")
    (path / "config.json").write_text("{\"d_model\": [1, 2]}")
    with pytest.raises(ValueError, match="config.json"):
        checkpoint.load(path, device="cpu")
    (path / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        checkpoint.load(path, device="cpu")


@pytest.mark.parametrize("edit", [("mamba", "chunk_size", 16), ("attention", "rope_base", 500.0),
                                  (None, "norm_eps", 1e-3), ("attention", "num_heads", [2, 2, 8])])
def test_config_changed_after_saving_is_refused(saved, edit):
    _, path = saved
    section, key, value = edit
    cfg = json.loads((path / "config.json").read_text())
    (cfg[section] if section else cfg)[key] = value  # still a valid config with the same weight shapes
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    with pytest.raises(ValueError, match=r"config\.json does not match the sha256 recorded in meta\.json"):
        checkpoint.load(path, device="cpu")


def test_weights_changed_after_saving_are_refused(saved):
    _, path = saved
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-3] ^= 0x01  # one bit of the last weight: still a readable file of the right shapes
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.safetensors does not match the sha256 recorded in meta\.json"):
        checkpoint.load(path, device="cpu")


def test_checkpoint_without_recorded_hashes_still_loads(saved):
    model, path = saved
    meta = json.loads((path / "meta.json").read_text())
    del meta["integrity"]  # as saved before hashes were recorded
    (path / "meta.json").write_text(json.dumps(meta))
    assert checkpoint.load(path, device="cpu").config == model.config
    (path / "meta.json").unlink()
    assert checkpoint.load(path, device="cpu").config == model.config


def test_unreadable_integrity_record_is_a_clear_error(saved):
    _, path = saved
    (path / "meta.json").write_text('{"integrity": {"config.json": 3}}')
    with pytest.raises(ValueError, match="integrity.*malformed"):
        checkpoint.load(path, device="cpu")
    (path / "meta.json").write_text('{"integrity": ')
    with pytest.raises(ValueError, match="meta.json is not a readable JSON object"):
        checkpoint.load(path, device="cpu")


@pytest.mark.parametrize("name", ["dnahnet-small", "dnahnet-small-2500", "dnahnet-v2"])
def test_bundled_checkpoints_load(name):
    if not (checkpoint.CHECKPOINT_DIR / name / "model.safetensors").is_file():
        pytest.skip(f"checkpoints/{name} is not in this checkout")
    assert isinstance(checkpoint.load(name, device="cpu"), DnaHNet)


def test_weights_that_do_not_match_the_config(saved):
    model, path = saved
    other = tiny()
    other.d_model = [32, 48, 80]
    other.save(path)
    with pytest.raises(ValueError, match="does not match"):
        checkpoint.load(path, device="cpu")


def test_bundled_default_explains_when_absent(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoint, "CHECKPOINT_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="dnahnet-small"):
        checkpoint.load()


def test_bundled_names_lists_complete_checkpoints_default_first(monkeypatch, tmp_path):
    """What the app's Model choice offers: folders with weights and config, the default first, then by name."""
    for name, files in {"zeta": ("model.safetensors", "config.json"), "alpha": ("model.safetensors", "config.json"),
                        checkpoint.DEFAULT_NAME: ("model.safetensors", "config.json"),
                        "no-config": ("model.safetensors",), "no-weights": ("config.json",)}.items():
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f).write_text("{}")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    monkeypatch.setattr(checkpoint, "CHECKPOINT_DIR", tmp_path)
    assert checkpoint.bundled_names() == [checkpoint.DEFAULT_NAME, "alpha", "zeta"]


def test_name_resolves_under_checkpoints(saved, monkeypatch):
    _, path = saved
    monkeypatch.setattr(checkpoint, "CHECKPOINT_DIR", path.parent)
    monkeypatch.chdir(path.parent.parent)
    assert checkpoint.resolve("ck") == path


def test_config_json_round_trip():
    for name in ("tiny", "small", "medium"):
        cfg = HNetConfig.preset(name)
        again = HNetConfig.from_json(cfg.to_json())
        assert again == cfg and again.num_routers == 2
    with pytest.raises(ValueError, match="unknown keys"):
        HNetConfig.from_dict({**tiny().to_dict(), "d_modle": 3})
    with pytest.raises(ValueError, match="layer string"):
        HNetConfig(arch_layout=["m4", ["X2"], "m4"], d_model=[8, 8], d_intermediate=[0, 16],
                   target_compression=[3.0])
    with pytest.raises(ValueError, match="one entry per router"):
        HNetConfig(arch_layout=["m1", ["T1"], "m1"], d_model=[16, 16], d_intermediate=[0, 32])
