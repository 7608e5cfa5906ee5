"""`analyze(..., partial=)`: snapshots of a running analysis grow window batch by window batch, agree with the finished
trace wherever they have decided, end equal to it, and are never cached."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import scrambled_model


@pytest.mark.parametrize("region", [None, (300, 2_900)])
def test_snapshots_grow_and_end_as_the_finished_trace(tmp_path, region):
    import dnahnet
    from dnahnet.partial_trace import is_partial

    rng = np.random.default_rng(3)
    seq = "".join(rng.choice(list("ACGT"), 3_200))
    model = scrambled_model()
    got = []  # (fraction, snapshot) at every window batch

    def partial(fraction, snapshot):
        got.append((fraction, snapshot()))

    trace = dnahnet.analyze(seq, model, strands="both", region=region, window=512, margin=64, batch_size=2,
                            partial=partial, cache=True, cache_dir=tmp_path)
    a, b = region or (0, 3_200)
    assert len(got) >= 4  # one snapshot per batch of two windows (each deciding ≤ 512 nt), two passes
    fractions = [f for f, _ in got]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert all(is_partial(t) for _, t in got) and not is_partial(trace)
    decided = [int(sum(sp.stages[0].positions.size for sp in t.passes)) for _, t in got]
    assert decided == sorted(decided) and decided[0] < decided[-1] == 2 * (b - a)
    assert [len(t.passes) for _, t in got][0] == 1 and len(got[-1][1].passes) == 2  # + first, then −
    last = got[-1][1]
    for strand in "+-":
        sp, done = last.get(trace.record_ids[0], strand), trace.get(trace.record_ids[0], strand)
        assert np.array_equal(sp.logprob, done.logprob, equal_nan=True) and sp.region == done.region
        for s in range(trace.n_stages):
            assert np.array_equal(sp.stages[s].positions, done.stages[s].positions)
            assert np.array_equal(sp.stages[s].p, done.stages[s].p)
            assert np.array_equal(sp.stages[s].boundaries, done.stages[s].boundaries)  # reading order too
    # a middle snapshot of the − pass holds exactly what the finished pass decided at those positions
    f, mid = next((f, t) for f, t in got if len(t.passes) == 2 and f < 1.0)
    sp, done = mid.get(trace.record_ids[0], "-"), trace.get(trace.record_ids[0], "-")
    assert 0 < sp.stages[0].positions.size < b - a
    keep = np.isin(done.stages[0].positions, sp.stages[0].positions)
    assert np.array_equal(np.sort(sp.stages[0].positions), np.sort(done.stages[0].positions[keep]))
    ok = np.isfinite(sp.logprob)
    assert np.array_equal(sp.logprob[ok], done.logprob[ok])
    assert sp.logprob[ok].size and not np.isfinite(sp.logprob[a:b]).all()
    # only the finished trace went to the cache: a second call is a hit that sends no snapshots
    got.clear()
    again = dnahnet.analyze(seq, model, strands="both", region=region, window=512, margin=64, batch_size=2,
                            partial=partial, cache=True, cache_dir=tmp_path)
    assert again.meta["cache"]["hit"] and not got and not is_partial(again)


def test_passes_side_by_side_report_from_the_callers_thread(tmp_path):
    """With workers=2 both strands run at once on threads of their own, yet progress and snapshots reach the caller
    on its own thread (Streamlit draws only there); snapshots hold the passes begun, in order, and the last equals
    the finished trace."""
    import threading

    import dnahnet

    seq = "".join(np.random.default_rng(4).choice(list("ACGT"), 6_000))
    got, threads_seen = [], set()

    def partial(fraction, snapshot):
        threads_seen.add(threading.current_thread().name)
        got.append((fraction, snapshot()))

    def progress(fraction, message):
        threads_seen.add(threading.current_thread().name)

    trace = dnahnet.analyze(seq, scrambled_model(), strands="both", window=512, margin=64, batch_size=2,
                            partial=partial, progress=progress, cache=False, workers=2)
    assert threads_seen == {threading.current_thread().name}
    fractions = [f for f, _ in got]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert all([sp.strand for sp in t.passes] in (["+"], ["-"], ["+", "-"]) for _, t in got)
    last = got[-1][1]
    for strand in "+-":
        sp, done = last.get(trace.record_ids[0], strand), trace.get(trace.record_ids[0], strand)
        assert np.array_equal(sp.logprob, done.logprob, equal_nan=True)
        for s in range(trace.n_stages):
            assert np.array_equal(sp.stages[s].boundaries, done.stages[s].boundaries)
