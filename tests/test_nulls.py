"""Nulls: exact shift counts against a brute-force loop, permuted lengths, p-values, BH, false positives."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from interpret.annotations import annotate
from interpret.nulls import (add_bh, add_p_text, bh_adjust, draw_shifts, empirical_p, format_p, null_table,
                             p_floor, perm_counts, shift_counts, z_scores)
from interpret.passes import pass_tracks
from tests.synthetic import make_genome, random_trace


def _random_case(n, rng, n_classes=4):
    b = rng.random(n) < 0.3
    bits = np.zeros(n, np.uint16)
    for c in range(n_classes):
        if c == 1:  # a codon-like class: every third position
            m = np.zeros(n, bool)
            m[rng.integers(0, 3)::3] = True
        elif c == 3:  # scattered
            m = rng.random(n) < 0.2
        else:  # a few intervals
            m = np.zeros(n, bool)
            for _ in range(4):
                s = rng.integers(0, n)
                m[s:s + rng.integers(1, 30)] = True
        bits |= m.astype(np.uint16) << c
    masks = ((bits[:, None] >> np.arange(n_classes)) & 1).astype(bool)
    return b, bits, masks


@pytest.mark.parametrize("n", [1, 2, 7, 50, 301, 1000])
@pytest.mark.parametrize("method", ["runs", "direct", "auto"])
def test_shift_counts_match_roll_loop(n, method):
    rng = np.random.default_rng(n)
    b, bits, masks = _random_case(n, rng)
    shifts = np.arange(n)
    brute = np.array([(np.roll(b, k)[:, None] & masks).sum(0) for k in shifts])
    assert (shift_counts(b, bits, shifts, 4, method=method) == brute).all()


def test_shift_p_value_matches_brute_force():
    rng = np.random.default_rng(5)
    n = 240
    b, bits, masks = _random_case(n, rng)
    b[np.flatnonzero(masks[:, 0])] = True  # class 0 enriched
    shifts = draw_shifts(n, 199, rng, min_shift=10)
    assert shifts.min() >= 10 and shifts.max() <= n - 10
    obs = masks[b].sum(0)
    fast = empirical_p(obs, shift_counts(b, bits, shifts, 4))
    for c in range(4):
        null = [int((np.roll(b, k) & masks[:, c]).sum()) for k in shifts]
        ge = 1 + sum(x >= obs[c] for x in null)
        le = 1 + sum(x <= obs[c] for x in null)
        assert fast[c] == pytest.approx(min(1.0, 2 * min(ge, le) / (len(null) + 1)))
    assert fast[0] == pytest.approx(2 / 200)


def test_empirical_p_and_z_by_hand():
    null = np.array([[1], [2], [3], [4]])
    assert empirical_p(np.array([4]), null)[0] == pytest.approx(min(1, 2 * 2 / 5))
    assert empirical_p(np.array([9]), null)[0] == pytest.approx(2 / 5)
    assert z_scores(np.array([4.0]), null.astype(float))[0] == pytest.approx((4 - 2.5) / np.std([1, 2, 3, 4], ddof=1))
    assert np.isnan(z_scores(np.array([1.0]), np.ones((5, 1)))[0])


def test_bh_by_hand():
    q = bh_adjust([0.01, 0.04, 0.03, 0.2, np.nan])
    assert q[:4] == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    assert np.isnan(q[4])
    import pandas as pd

    df = add_bh(pd.DataFrame({"g": [0, 0, 1], "p_x": [0.01, 0.02, 0.5]}), ("p_x",), by="g")
    assert df["q_x"].tolist() == pytest.approx([0.02, 0.02, 0.5])


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_perm_counts_constant_lengths_have_no_variance(engine):
    b = np.zeros(30, bool)
    b[::3] = True
    bits = (np.arange(30) % 3 == 0).astype(np.uint16) | ((np.arange(30) % 3 == 1).astype(np.uint16) << 1)
    out = perm_counts(b, bits, 7, 0, 2, engine=engine)
    assert (out == [[10, 0]] * 7).all()


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_perm_counts_mean_matches_enumeration(engine):
    # chunks of lengths 1, 2, 3, 6 starting at index 0 of a 12-nt track; class = a few positions
    b = np.zeros(12, bool)
    b[[0, 1, 3, 6]] = True
    cls = np.zeros(12, np.uint16)
    cls[[1, 2, 5, 9]] = 1
    exact = []
    for perm in set(itertools.permutations([1, 2, 3, 6])):
        starts = np.cumsum((0,) + perm[:-1])
        exact.append(cls[starts].sum())
    draws = perm_counts(b, cls, 4000, 11, 1, engine=engine)[:, 0]
    se = np.std(exact) / np.sqrt(draws.size)
    assert abs(draws.mean() - np.mean(exact)) < 4 * se
    assert set(np.unique(draws)) <= set(exact)


def test_random_tracks_are_rarely_significant():
    """A random boundary track: no BH-significant class in at least 19 of 20 seeds (both nulls, 1,000 draws)."""
    rec = make_genome(20_000, 20, seed=4, gene_len=(300, 900))
    ann = annotate(rec)
    classes = ann.classes
    hits = 0
    for seed in range(20):
        tr = random_trace(ann.length, 0.3, seed=seed, n_stages=1)
        tracks = pass_tracks(tr, {ann.record_id: ann}, 0)
        df = add_bh(null_table(tracks, classes, n_shift=1000, n_perm=1000, seed=seed))
        hits += bool(((df["q_shift"] < 0.05) | (df["q_perm"] < 0.05)).any())
    assert hits <= 1


def test_null_table_flags_planted_signal_and_skips_empty_classes():
    rec = make_genome(20_000, 20, seed=4, gene_len=(300, 900))
    ann = annotate(rec)
    from tests.synthetic import plant_boundaries

    tr = plant_boundaries(ann, "codon3", rate_elsewhere=0.3, seed=0)
    df = add_bh(null_table(pass_tracks(tr, {ann.record_id: ann}, 0), ann.classes, n_shift=300, n_perm=300))
    row = df[(df["strand"] == "both") & (df["class"] == "cds_pos3")].iloc[0]
    assert row["q_shift"] < 0.05 and row["q_perm"] < 0.05 and row["shift_z"] > 3
    assert df[df["class"] == "rRNA"]["p_shift"].isna().all()


def test_p_at_the_floor_is_written_as_a_bound():
    """n draws cannot give a two-sided p below 2/(n+1): there p is written "≤ floor", elsewhere as a number."""
    assert p_floor(999) == pytest.approx(0.002) and p_floor(1000) == pytest.approx(2 / 1001)
    assert format_p(2 / 1001, 1000) == "≤ 0.002" and format_p(0.002, 999) == "≤ 0.002"
    assert format_p(2 / 201, 200) == "≤ 0.01"  # the floor is rounded up, never down
    assert format_p(0.0137, 1000) == "0.014" and format_p(1.0, 1000) == "1" and format_p(np.nan, 1000) == ""
    assert format_p(0.5, 0) == "0.5"  # no draws: no floor
    assert format_p(0.0714, 1000, bound=True) == "≤ 0.072"  # a q computed from a floor p: a bound, rounded up


def test_planted_effect_sits_at_the_floor_and_z_is_against_the_null():
    """A planted codon-position-3 signal beats every one of 99 draws: p = 2/100 exactly, written "≤ 0.02";
    z is (observed − null mean) / null sd of the same draws and far beyond what p can say."""
    rec = make_genome(20_000, 20, seed=4, gene_len=(300, 900))
    ann = annotate(rec)
    from tests.synthetic import plant_boundaries

    tr = plant_boundaries(ann, "codon3", rate_elsewhere=0.3, seed=0)
    df = add_p_text(add_bh(null_table(pass_tracks(tr, {ann.record_id: ann}, 0), ann.classes, n_shift=99,
                                      n_perm=99)))
    row = df[(df["strand"] == "both") & (df["class"] == "cds_pos3")].iloc[0]
    assert row["shift_draws"] == 99 and row["perm_draws"] == 99
    assert row["p_shift"] == pytest.approx(2 / 100) and row["p_perm"] == pytest.approx(2 / 100)
    assert row["p_shift_text"] == "≤ 0.02" and row["p_perm_text"] == "≤ 0.02"
    # its q is an upper bound too (more draws could only lower it), rounded up, never down
    q_bound = row["q_shift_text"]
    assert q_bound.startswith("≤ ") and row["q_shift"] <= float(q_bound[2:]) <= 1.1 * row["q_shift"]
    assert row["shift_z"] == pytest.approx((row["observed"] - row["shift_mean"]) / row["shift_sd"])
    assert row["perm_z"] == pytest.approx((row["observed"] - row["perm_mean"]) / row["perm_sd"])
    assert row["shift_z"] > 5  # a normal tail at p = 0.02 is only |z| ≈ 2.3
    empty = df[df["class"] == "rRNA"]
    assert (empty["p_shift_text"] == "").all()


def test_z_against_a_known_null():
    """Observed 10 against draws 1..5: mean 3, sd (n − 1) √2.5, z = 7 / √2.5."""
    null = np.arange(1, 6, dtype=float)[:, None]
    assert z_scores(np.array([10.0]), null)[0] == pytest.approx(7 / np.sqrt(2.5))
    assert empirical_p(np.array([10]), null)[0] == pytest.approx(p_floor(5))
