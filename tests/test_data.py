"""Training data: loading + cache, hold-outs, the window sampler (deterministic, both strands), validation tiles."""
import gzip

import numpy as np
import pytest

from dnahnet.data import (WindowSampler, load_corpus, reverse_complement_ids, tiles, validation_windows,
                          EncodedRecord)

COMP = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


def _random_dna(n, seed):
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


@pytest.fixture
def genome_dir(tmp_path):
    d = tmp_path / "genomes"
    d.mkdir()
    (d / "alpha.fasta").write_text(">a1\n" + _random_dna(3000, 1) + "\n>a2\n" + _random_dna(500, 2) + "\n")
    with gzip.open(d / "beta_phage.fna.gz", "wt") as f:
        f.write(">b1 some phage\n" + _random_dna(2000, 3).lower() + "\n")
    (d / "notes.txt").write_text("not a genome")
    return d


def test_load_corpus_holds_out_by_file_name_and_caches(genome_dir, tmp_path):
    cache = tmp_path / "cache"
    corpus = load_corpus(genome_dir, holdout=["BETA"], cache_dir=cache)
    assert [r.name for r in corpus.train] == ["a1", "a2"]
    assert [r.genome for r in corpus.valid] == ["beta_phage"]
    assert len(corpus.valid[0]) == 2000 and corpus.valid[0].ids.max() < 4  # lowercase folded to ACGT ids
    assert len(list(cache.glob("*.npy"))) == 2
    again = load_corpus(genome_dir, holdout=["BETA"], cache_dir=cache)  # from the cache
    assert np.array_equal(again.train[0].ids, corpus.train[0].ids)
    with pytest.raises(ValueError, match="matched no file"):
        load_corpus(genome_dir, holdout=["gamma"], cache_dir=cache)


def test_single_file_holds_out_last_tenth(genome_dir, tmp_path):
    corpus = load_corpus(genome_dir / "beta_phage.fna.gz", holdout=["whatever"], cache_dir=tmp_path / "c")
    assert len(corpus.train[0]) == 1800 and len(corpus.valid[0]) == 200
    full = np.concatenate([corpus.train[0].ids, corpus.valid[0].ids])
    assert len(full) == 2000


def _records(n=5000, seed=0):
    ids = np.random.default_rng(seed).integers(0, 4, n).astype(np.uint8)
    return [EncodedRecord("g", "r", ids), EncodedRecord("g", "short", ids[:10])]


def test_sampler_is_deterministic_and_resumable():
    recs = _records()
    a, b = WindowSampler(recs, 64, 4, seed=7), WindowSampler(recs, 64, 4, seed=7)
    first = [a.next_batch() for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(first, [b.next_batch() for _ in range(3)]))
    assert first[0].shape == (4, 65)
    other = WindowSampler(recs, 64, 4, seed=8).next_batch()
    assert not np.array_equal(first[0], other)
    state = a.state_dict()
    expected = a.next_batch()
    c = WindowSampler(recs, 64, 4, seed=123)
    c.load_state_dict(state)
    assert np.array_equal(c.next_batch(), expected)


def test_sampler_draws_both_strands_from_real_positions():
    recs = _records(2000, seed=1)
    fwd = "".join("ACGT"[i] for i in recs[0].ids)
    rev = "".join(COMP[c] for c in reversed(fwd))
    sampler = WindowSampler(recs, 32, 50, seed=0)
    n_fwd = n_rev = 0
    for row in sampler.next_batch().numpy():
        text = "".join("ACGTN"[i] for i in row)
        in_fwd, in_rev = text in fwd, text in rev
        assert in_fwd or in_rev  # every window is a real stretch of one strand (the 10-nt record is never used)
        n_fwd += in_fwd
        n_rev += in_rev
    assert n_fwd >= 10 and n_rev >= 10


def test_reverse_complement_ids():
    ids = np.array([0, 1, 2, 3, 4, 0], np.uint8)
    assert reverse_complement_ids(ids).tolist() == [3, 4, 0, 1, 2, 3]


def test_validation_windows_are_fixed_non_overlapping_tiles():
    recs = _records(1000, seed=2)[:1]
    w = validation_windows(recs, 99, both_strands=False)
    assert w.shape == (10, 100)
    assert np.array_equal(w.reshape(-1), recs[0].ids.astype(np.int64))
    both = validation_windows(recs, 99)
    assert both.shape == (20, 100)
    assert np.array_equal(both[10], reverse_complement_ids(recs[0].ids)[:100])
    few = validation_windows(recs, 99, max_windows=5)
    assert len(few) == 5 and np.array_equal(few, validation_windows(recs, 99, max_windows=5))
    assert tiles(np.arange(7), 2).tolist() == [[0, 1, 2], [3, 4, 5]]
