"""Trace cache: stable keys that change with any input, atomic round trip, corrupt files are misses, LRU cap."""
from __future__ import annotations

import os
import time

import numpy as np

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
    assert cache.sequence_hash(ids) == cache.sequence_hash(ids.copy())
    assert cache.sequence_hash(ids) != cache.sequence_hash(ids[::-1].copy())


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
