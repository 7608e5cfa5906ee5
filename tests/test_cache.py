"""Trace cache: stable keys that change with any input, atomic round trip, corrupt files are misses, LRU cap."""
from __future__ import annotations

import logging
import os
import time
import zipfile

import numpy as np
import pytest

from dnahnet import cache
from dnahnet.trace import StageTrack, StrandPass, Trace


def small_trace(n: int = 50, seed: int = 0) -> Trace:
    rng = np.random.default_rng(seed)
    b = np.sort(rng.choice(n, 10, replace=False)).astype(np.int64)
    stage = StageTrack(positions=np.arange(n, dtype=np.int64), p=rng.random(n).astype(np.float32), boundaries=b,
                       latent_index=np.arange(3, dtype=np.int64),
                       latents=rng.standard_normal((3, 4)).astype(np.float16))
    sp = StrandPass(record_id="r", strand="+", length=n, circular=False, stages=[stage],
                    logprob=np.log(rng.random(n)).astype(np.float32))
    return Trace(passes=[sp], meta={"seed": seed})


def test_key_is_stable_and_sensitive_to_every_input():
    seqs = [{"record_id": "r", "sha256": "ab", "length": 10, "circular": False}]
    settings = {"window": 8192, "margin": 1024, "strands": "both"}
    key = cache.cache_key("ckpt", seqs, settings)
    assert key == cache.cache_key("ckpt", [dict(seqs[0])], dict(reversed(list(settings.items()))))
    assert key != cache.cache_key("other", seqs, settings)
    assert key != cache.cache_key("ckpt", [{**seqs[0], "circular": True}], settings)
    assert key != cache.cache_key("ckpt", seqs, {**settings, "margin": 512})
    ids = np.array([0, 1, 2, 3], np.uint8)
    assert cache.token_ids_hash(ids) == cache.token_ids_hash(ids.copy())
    assert cache.token_ids_hash(ids) != cache.token_ids_hash(ids[::-1].copy())
    # the full sha256 of the token bytes: cache keys written before the rename stay valid
    assert cache.token_ids_hash(ids) == "054edec1d0211f624fed0cbca9d4f9400b0e491c43742af2c5b0abebf0c990d8"


def test_store_then_lookup_round_trip_leaves_no_temp_files(tmp_path):
    assert cache.lookup("k1", tmp_path) is None
    path = cache.store("k1", small_trace(), tmp_path)
    assert path.exists() and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    back = cache.lookup("k1", tmp_path)
    assert back.meta == {"seed": 0}
    np.testing.assert_array_equal(back.passes[0].stages[0].boundaries, small_trace().passes[0].stages[0].boundaries)


def test_corrupt_entry_is_a_miss_and_removed(tmp_path):
    bad = tmp_path / f"k2{cache.SUFFIX}"
    bad.write_bytes(b"not a zip file")
    assert cache.lookup("k2", tmp_path) is None and not bad.exists()


def _flip_inside_first_member(path):
    """Damage the compressed bytes of the trace's first array, leaving the zip directory and the header intact."""
    with zipfile.ZipFile(path) as z:
        info = z.infolist()[0]
    data = bytearray(path.read_bytes())
    local = info.header_offset  # the local header's name and extra lengths say where the member's bytes start
    start = local + 30 + int.from_bytes(data[local + 26:local + 28], "little") + int.from_bytes(
        data[local + 28:local + 30], "little")
    middle = start + info.compress_size // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["member", "truncated", "garbage"])
def test_any_unloadable_entry_is_a_miss_removed_and_logged(tmp_path, caplog, damage):
    path = cache.store("k5", small_trace(), tmp_path)
    if damage == "member":
        _flip_inside_first_member(path)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(b"PK\x03\x04 and then nothing a zip reader wants")
    with caplog.at_level(logging.WARNING, logger="dnahnet.cache"):
        assert cache.lookup("k5", tmp_path) is None
    assert not path.exists()
    assert f"k5{cache.SUFFIX} could not be loaded" in caplog.text and "recomputed" in caplog.text


def test_entry_for_other_data_is_a_miss_removed_and_logged(tmp_path, caplog):
    asked = [{"record_id": "r", "length": 50, "sha256": "a" * 64, "circular": False}]
    trace = small_trace()
    trace.meta["sequences"] = asked
    cache.store("k6", trace, tmp_path)
    assert cache.lookup("k6", tmp_path, sequences=asked) is not None
    for other in ({"sha256": "b" * 64}, {"length": 51}, {"record_id": "q"}):
        cache.store("k6", trace, tmp_path)
        with caplog.at_level(logging.WARNING, logger="dnahnet.cache"):
            assert cache.lookup("k6", tmp_path, sequences=[{**asked[0], **other}]) is None
        assert not (tmp_path / f"k6{cache.SUFFIX}").exists() and "holds other sequences" in caplog.text
    trace.passes[0].length = 60  # metadata that says the right thing over passes of another length
    trace.passes[0].logprob = np.zeros(60, np.float32)
    cache.store("k6", trace, tmp_path)
    assert cache.lookup("k6", tmp_path, sequences=asked) is None
    del trace.meta["sequences"]  # a trace that does not say what it holds is not trusted either
    cache.store("k6", trace, tmp_path)
    assert cache.lookup("k6", tmp_path, sequences=asked) is None
    assert "does not say which sequences it holds" in caplog.text


def test_env_var_sets_the_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("DNAHNET_CACHE_DIR", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DNAHNET_CACHE_DIR")
    assert cache.cache_dir().parts[-3:] == (".cache", "dnahnet", "traces")


def test_size_cap_evicts_least_recently_used(tmp_path):
    paths = [cache.store(f"k{i}", small_trace(400, seed=i), tmp_path, max_bytes=10**9) for i in range(3)]
    now = time.time()
    for i, p in enumerate(paths):  # k0 oldest ... k2 newest
        os.utime(p, (now - 100 + i, now - 100 + i))
    assert cache.lookup("k0", tmp_path) is not None  # a hit makes k0 the most recently used
    size = paths[0].stat().st_size
    cache.store("k3", small_trace(400, seed=3), tmp_path, max_bytes=int(2.5 * size))
    left = sorted(p.name.split(".")[0] for p in tmp_path.glob(f"*{cache.SUFFIX}"))
    assert left == ["k0", "k3"]
    assert cache.clear(tmp_path) == 2 and not list(tmp_path.glob(f"*{cache.SUFFIX}"))
