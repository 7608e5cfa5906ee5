"""Order-k Markov baseline: counts and probabilities by hand, the N rule, periodic and random sequences."""
import math

import numpy as np
import pytest

from dnahnet.markov import MarkovModel, context_codes, tune_orders

A, C, G, T, N = 0, 1, 2, 3, 4
SEQ = np.array([A, C, G, T, A, C, N, G, T], dtype=np.uint8)  # "ACGTACNGT"


def test_counts_by_hand():
    m = MarkovModel.fit([SEQ], 1, both_strands=False)
    # order 0: every non-N base counts once: A2 C2 G2 T2
    assert m.counts[0].tolist() == [[2, 2, 2, 2]]
    # order 1: A->C twice, C->G once (C->N skipped), G->T twice, T->A once; N->G skipped
    expected = np.zeros((4, 4), int)
    expected[A, C], expected[C, G], expected[G, T], expected[T, A] = 2, 1, 2, 1
    assert m.counts[1].tolist() == expected.tolist()


def test_both_strands_adds_reverse_complement():
    seq = np.array([A, A, C], dtype=np.uint8)  # reverse complement GTT
    m = MarkovModel.fit([seq], 1)
    assert m.counts[1][A, A] == 1 and m.counts[1][A, C] == 1
    assert m.counts[1][G, T] == 1 and m.counts[1][T, T] == 1
    assert m.counts[1].sum() == 4


def test_additive_probabilities_by_hand():
    m = MarkovModel.fit([SEQ], 1, both_strands=False)
    p = m.probs(np.array([A, C, A, G], np.uint8), order=1, smoothing="additive", alpha=1.0)
    assert p[1] == pytest.approx((2 + 1) / (2 + 4))  # p(C | A)
    assert p[3] == pytest.approx((0 + 1) / (2 + 4))  # p(G | A)
    assert p[0] == pytest.approx((2 + 1) / (8 + 4))  # position 0: no context, order 0


def test_interpolated_probabilities_by_hand():
    m = MarkovModel.fit([SEQ], 1, both_strands=False)
    # order-1 counts hold n1 = 2 (C->G, T->A) and n2 = 2 (A->C, G->T): D = 2 / (2 + 2*2) = 1/3
    assert m.discounts()[1] == pytest.approx(1 / 3)
    p = m.probs(np.array([A, C, A, G], np.uint8), order=1)
    unigram = 3 / 12  # (2 + 1) / (8 + 4)
    assert p[1] == pytest.approx((2 - 1 / 3 + 1 / 3 * 1 * unigram) / 2)  # = 7/8
    assert p[3] == pytest.approx((1 / 3 * 1 * unigram) / 2)  # = 1/24
    full = [m.probs(np.array([A, x], np.uint8), order=1)[1] for x in range(4)]
    assert sum(full) == pytest.approx(1.0)


def test_contexts_stop_at_n_and_window_start():
    codes, avail = context_codes(np.array([A, C, N, G, T, A], np.uint8), 3)
    assert avail.tolist() == [0, 1, 2, 0, 1, 2]  # after the N only the bases since the N count
    assert codes[2] == (A << 2) | C  # most recent base in the low bits
    m = MarkovModel.fit([SEQ], 2, both_strands=False)
    p = m.probs(np.array([A, C, N, G], np.uint8), order=2, smoothing="additive")
    assert np.isnan(p[2])  # an N is never scored
    assert p[3] == pytest.approx(3 / 12)  # right after an N: no context, order 0


def test_bits_per_nt_skips_position_zero():
    m = MarkovModel.fit([SEQ], 1, both_strands=False)
    bits = m.bits_per_nt(np.array([A, C], np.uint8), order=1, smoothing="additive")
    assert bits == pytest.approx(-math.log2(0.5))


def test_periodic_sequence_is_almost_free_at_high_order():
    unit = np.array([A, C, G, T, T, C, A, G, G], np.uint8)  # period 9, each 2-mer context decides the next base
    seq = np.tile(unit, 500)
    m = MarkovModel.fit([seq], 8, both_strands=False)
    windows = np.tile(unit, 40)[: 10 * 33].reshape(10, 33)
    assert m.bits_per_nt(windows, order=1) > 0.5
    assert m.bits_per_nt(windows, order=8) < 0.05


def test_random_sequence_costs_two_bits_and_tuning_prefers_low_order():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 4, 200_000).astype(np.uint8)
    held_out = rng.integers(0, 4, 20_000).astype(np.uint8).reshape(20, 1000)
    m = MarkovModel.fit([train], 8)
    result = tune_orders(m, {"random": held_out}, orders=[1, 2, 8])
    assert result["bits"]["random"][1] == pytest.approx(2.0, abs=0.01)
    assert result["bits"]["random"][8] > result["bits"]["random"][1]  # sparse contexts overfit
    assert result["best_k"]["random"] in (1, 2) and result["best_k_overall"] in (1, 2)


def test_markov_baselines_per_tile_cache_matches_direct_scoring(tmp_path):
    from dnahnet.data import Corpus, EncodedRecord, validation_windows
    from dnahnet.evaluate import evaluation_table, markov_baselines, to_markdown

    rng = np.random.default_rng(1)
    unit = rng.integers(0, 4, 50).astype(np.uint8)
    train = [EncodedRecord("t", "t1", np.concatenate([np.tile(unit, 40), rng.integers(0, 4, 2000).astype(np.uint8)]))]
    valid = [EncodedRecord("v", "v1", np.tile(unit, 20))]
    corpus = Corpus(train, valid)
    result = markov_baselines(corpus, 63, None, 4, cache_dir=tmp_path, log=lambda *a: None)
    model = MarkovModel.fit([train[0].ids], 4)
    direct = model.bits_per_nt(validation_windows(valid, 63), 3)
    assert result["bits"]["v"][3] == pytest.approx(direct)
    assert result["best_k"]["v"] >= 2  # the repeat is learnable from context
    again = markov_baselines(corpus, 63, 4, 4, cache_dir=tmp_path, log=lambda *a: None)  # subset, from the cache
    sub = model.bits_per_nt(validation_windows(valid, 63, max_windows=4), 2)
    assert again["bits"]["v"][2] == pytest.approx(sub)
    rows = evaluation_table({"v": 0.5}, result, {"v": 1000})
    assert rows[0]["delta_vs_best_markov"] == pytest.approx(0.5 - result["bits"]["v"][result["best_k"]["v"]], abs=1e-4)
    assert to_markdown(rows).startswith("| genome |")
