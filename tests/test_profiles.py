"""Codon profile (χ², MI), metagene profiles, 3-periodicity, chunk lengths and nesting: known answers."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dnahnet.trace import StageTrack, StrandPass, Trace
from interpret.annotations import annotate
from interpret.profiles import (cds_series, chunk_lengths, codon_profile, codon_stats, metagene, nesting,
                                periodicity)
from interpret.passes import pass_tracks
from interpret.stats import enrichment_table
from tests.synthetic import make_genome, plant_boundaries, random_trace


@pytest.fixture(scope="module")
def ann():
    return annotate(make_genome(30_000, 30, seed=1))


def test_codon_stats_by_hand():
    s = codon_stats([100, 100, 100], [10, 20, 30])
    # expected counts 20/80 per column: (10²/20 + 0 + 10²/20) + (10²/80 + 0 + 10²/80)
    assert s["chi2"] == pytest.approx(12.5)
    assert s["p_chi2"] == pytest.approx(math.exp(-12.5 / 2))  # χ² with 2 dof
    assert s["spread"] == pytest.approx(0.2)
    joint = np.array([[10, 20, 30], [90, 80, 70]]) / 300
    mi = sum(joint[i, j] * math.log2(joint[i, j] / (joint[i].sum() * joint[:, j].sum()))
             for i in range(2) for j in range(3))
    assert s["mi_bits"] == pytest.approx(mi)
    flat = codon_stats([50, 50, 50], [5, 5, 5])
    assert flat["mi_bits"] == pytest.approx(0, abs=1e-12) and flat["chi2"] == pytest.approx(0)


def test_codon_profile_of_planted_codon3(ann):
    tr = plant_boundaries(ann, "codon3", rate_elsewhere=0.1, seed=0)
    enr = enrichment_table(pass_tracks(tr, {ann.record_id: ann}, 0), ann.classes, n_boot=20)
    profile, tests = codon_profile(enr)
    both = tests.set_index("strand").loc["both"]
    assert both["rate_pos3"] == 1.0
    assert both["rate_pos1"] == pytest.approx(0.1, abs=0.02) and both["rate_pos2"] == pytest.approx(0.1, abs=0.02)
    assert both["p_chi2"] < 1e-10 and both["mi_bits"] > 0.5 and both["paper_pos3"] == 0.584
    assert set(profile["codon_pos"]) == {1, 2, 3}


def test_metagene_peaks_at_planted_start(ann):
    tr = plant_boundaries(ann, "start", rate_elsewhere=0.05, seed=0)
    m = metagene(tr, {ann.record_id: ann}, 0, "start_codon", flank=60, n_boot=200)
    assert m.loc[m["rate"].idxmax(), "offset"] == 0
    at0 = m[m["offset"] == 0].iloc[0]
    assert at0["rate"] == 1.0 and at0["n_anchors"] == len(ann.anchors["start_codon"])
    assert (m["rate_lo"] <= m["rate"] + 1e-9).all() and (m["rate"] <= m["rate_hi"] + 1e-9).all()
    assert m[m["offset"] != 0]["rate"].mean() == pytest.approx(0.05, abs=0.02)


def _region_trace(trace: Trace, lo: int, hi: int) -> Trace:
    """The stage-0 part of `trace` as if only [lo, hi) had been analysed (what a region run gives)."""
    passes = []
    for sp in trace.passes:
        st = sp.stages[0]
        keep = (st.positions >= lo) & (st.positions < hi)
        b = st.boundaries[(st.boundaries >= lo) & (st.boundaries < hi)]
        passes.append(StrandPass(sp.record_id, sp.strand, sp.length, sp.circular,
                                 [StageTrack(st.positions[keep], st.p[keep], b, np.zeros(0, np.int64),
                                             np.zeros((0, 0), np.float16))], sp.logprob, (lo, hi)))
    return Trace(passes, dict(trace.meta))


def test_metagene_counts_only_anchors_inside_the_region(ann):
    """A 7 kb region of a 30 kb genome: n and the band come from the start codons in the region, not all of them."""
    lo, hi = 5_000, 12_000
    tr = _region_trace(plant_boundaries(ann, "start", rate_elsewhere=0.05, seed=0, n_stages=1), lo, hi)
    starts = ann.anchors["start_codon"]["pos"].to_numpy()
    inside = int(((starts >= lo) & (starts < hi)).sum())
    assert 0 < inside < len(starts)
    m = metagene(tr, {ann.record_id: ann}, 0, "start_codon", flank=60, n_boot=200)
    assert (m["n_anchors"] == inside).all()
    at0 = m[m["offset"] == 0].iloc[0]
    assert at0["rate"] == 1.0 and at0["rate_lo"] == 1.0  # every resampled anchor is a real, planted one
    assert m[["rate_lo", "rate_hi"]].notna().all().all()


def test_metagene_direction_on_both_strands(ann):
    """Boundaries planted 3 nt downstream of each start (reading direction) peak at +3 for genes on either strand."""
    def downstream3(a, strand):
        m = np.zeros(a.length, bool)
        st = a.anchors["start_codon"]
        pos = st["pos"].to_numpy()[st["strand"].to_numpy() == strand]
        m[pos + (3 if strand == "+" else -3)] = True
        return m

    tr = plant_boundaries(ann, downstream3, rate_elsewhere=0.02, seed=0)
    for strand in ("+", "-"):
        sub = type(ann)(**{**ann.__dict__, "anchors": {"start_codon": ann.anchors["start_codon"].query(
            "strand == @strand")}})
        m = metagene(tr, {ann.record_id: sub}, 0, "start_codon", flank=20, n_boot=0)
        assert m.loc[m["rate"].idxmax(), "offset"] == 3, strand


def test_periodicity_of_planted_codon3_peaks_at_3(ann):
    tr = plant_boundaries(ann, "codon3", rate_elsewhere=0.1, seed=0)
    spec, summary = periodicity(tr, {ann.record_id: ann}, 0)
    s = summary.set_index("strand")
    assert (s["peak_period"] == 3).all() and (s["ratio_period3"] > 50).all()
    rnd = random_trace(ann.length, 0.3, seed=0)
    _, summary_r = periodicity(rnd, {ann.record_id: ann}, 0)
    assert (summary_r["ratio_period3"] < 5).all()
    assert set(spec["strand"]) == {"+", "-", "both"}


def test_cds_series_keeps_the_frame():
    # two genes on "+": positions 2..10 (3 codons) and a partial one 14..18 starting at codon position 2
    codon = np.zeros(24, np.int8)
    codon[2:11] = [1, 2, 3] * 3
    codon[14:19] = [2, 3, 1, 2, 3]
    boundary = np.zeros(24, bool)
    boundary[codon == 3] = True
    s = cds_series(boundary, codon, np.arange(24), "+")
    assert s.size == 12 and (s.reshape(-1, 3) == [0, 0, 1]).all()
    # the mirror image read on "-" gives the same series
    assert np.array_equal(cds_series(boundary[::-1], codon[::-1], np.arange(24)[::-1], "-"), s)
    # "+" codon positions read backwards run 3→2→1: no whole codon
    assert cds_series(boundary, codon, np.arange(24)[::-1], "-").size == 0


def _simple_trace(b0, b1, length=12):
    pos = np.arange(length)
    st0 = StageTrack(pos, np.zeros(length, np.float32), np.array(b0), np.zeros(0, np.int64), np.zeros((0, 0)))
    st1 = StageTrack(np.array(b0), np.zeros(len(b0), np.float32), np.array(b1), np.zeros(0, np.int64),
                     np.zeros((0, 0)))
    return Trace([StrandPass("r", "+", length, False, [st0, st1], np.zeros(length, np.float32))])


def test_nesting_known_answers(ann):
    tr = plant_boundaries(ann, "codon3", seed=0)
    summary, counts = nesting(tr)
    assert (summary["fraction_nested"] == 1.0).all()
    assert counts.groupby("strand")["count"].sum().loc["both"] == summary.set_index("strand").loc["both",
                                                                                                   "n_boundaries"]
    bad = _simple_trace([0, 3, 6, 9], [0, 5, 9])  # 5 is not a Stage 1 boundary
    s, c = nesting(bad)
    row = s[s["strand"] == "+"].iloc[0]
    assert row["fraction_nested"] == pytest.approx(2 / 3)
    # chunks [0,5): 0,3 → 2; [5,9): 6 → 1; [9,12): 9 → 1
    assert row["mean_finer_chunks_per_chunk"] == pytest.approx(4 / 3)
    assert dict(zip(c[c["strand"] == "+"]["finer_chunks"], c[c["strand"] == "+"]["count"])) == {1: 2, 2: 1}


def test_chunk_lengths_by_class(ann):
    tr = _simple_trace([0, 3, 6, 9], [0, 6])
    hist, summary = chunk_lengths(tr, {})
    h = hist[(hist["stage"] == 0) & (hist["strand"] == "+")]
    assert dict(zip(h["length"], h["count"])) == {3: 4}
    assert summary.set_index(["stage", "strand", "class"]).loc[(1, "+", "all"), "mean"] == 6
    tr2 = plant_boundaries(ann, "codon3", rate_elsewhere=0.0, seed=0)
    _, s2 = chunk_lengths(tr2, {ann.record_id: ann})
    pos3 = s2[(s2["stage"] == 0) & (s2["strand"] == "+") & (s2["class"] == "cds_pos3")]
    assert pos3["median"].iloc[0] == 3  # inside genes, chunks from a codon position 3 run 3 nt
    assert isinstance(s2, pd.DataFrame) and {"all", "cds_pos3"} <= set(s2["class"])
