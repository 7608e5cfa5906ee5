"""Inference writes each pass straight into its final arrays (issue 14: memory). The trace must be exactly what the
dense accumulation gave: every window batch's model outputs are recorded and the pass is rebuilt from them here the
old way (record-length NaN/False tracks, then flatnonzero; latents = the k smallest hash keys), byte for byte. Also:
the column buffer refuses out-of-order input, the stepped surprisal and the summary equal their one-shot formulas,
and the memory benchmark's pieces (synthetic genome, verdict, trace size) give known answers."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord

import dnahnet.infer as infer
from dnahnet.tokenizer import encode, reverse_complement
from dnahnet.trace import StrandPass
from tests.conftest import scrambled_model

WIN = dict(window=512, margin=64, batch_size=2)


@pytest.fixture(scope="module")
def model():
    return scrambled_model()


def genome(n: int = 2_500, seed: int = 1) -> str:
    """Random DNA with a run of N, so the pass records non-ACGT runs too."""
    s = list(np.random.default_rng(seed).choice(list("ACGT"), n))
    s[700:730] = "N" * 30
    return "".join(s)


def recorded(monkeypatch):
    """Wrap `_forward_windows` so every batch's outputs are kept, in call order: [(x, lp, routing), ...]."""
    calls, real = [], infer._forward_windows

    def wrapper(model, x, *rest):
        lp, routing = real(model, x, *rest)
        calls.append((x.copy(), lp.copy(), [{k: v.copy() for k, v in r.items()} for r in routing]))
        return lp, routing
    monkeypatch.setattr(infer, "_forward_windows", wrapper)
    monkeypatch.setattr(infer, "pass_workers", lambda *a, **k: 1)  # one pass after the other: calls in pass order
    return calls


def dense_pass(calls, ids, record_id, strand, circular, region, window, margin, batch_size, max_latents):
    """The pass rebuilt from recorded batches the dense way (what `_run_pass` did before it wrote columns)."""
    length = len(ids)
    pass_ids = ids if strand == "+" else reverse_complement(ids)
    ra, rb = infer._pass_region(length, strand, region)
    lead = margin if circular else min(margin, ra)
    ext = infer._extended(pass_ids, ra, rb, lead)
    n = rb - ra
    plan = infer.plan_windows(len(ext), lead, window, margin)
    batches = [plan[i:i + batch_size] for i in range(0, len(plan), batch_size)]
    assert len(calls) == len(batches)
    logprob = np.full(n, np.nan, np.float32)
    n_stages = len(calls[0][2])
    p_track = [np.full(n, np.nan, np.float32) for _ in range(n_stages)]
    b_track = [np.zeros(n, bool) for _ in range(n_stages)]
    chunks = [([], []) for _ in range(n_stages)]  # per stage: pass-local where, float16 vectors
    for batch, (x, lp, routing) in zip(batches, calls):
        for i, (start, lo, hi) in enumerate(batch):
            assert np.array_equal(x[i], ext[start:start + x.shape[1]])
            t0 = max(lo - start, 1)
            logprob[start + t0 - lead: hi - lead] = lp[i, t0 - 1: hi - start - 1]
            for s, r in enumerate(routing):
                pos = r["positions"][i][r["mask"][i]] + start
                sel = (pos >= lo) & (pos < hi)
                p_track[s][pos[sel] - lead] = r["p"][i][r["mask"][i]][sel]
                b_track[s][pos[sel] - lead] = r["b"][i][r["mask"][i]][sel]
                cpos = r["chunk_positions"][i][r["chunk_mask"][i]] + start
                csel = (cpos >= lo) & (cpos < hi)
                chunks[s][0].append(cpos[csel] - lead)
                chunks[s][1].append(r["latents"][i][r["chunk_mask"][i]][csel].astype(np.float16))

    def to_record(k):
        return ((ra + k) if strand == "+" else (length - 1 - (ra + k))).astype(np.int64)

    salt_base = int(hashlib.sha256(f"{record_id}{strand}".encode()).hexdigest()[:8], 16) + infer.LATENT_SEED
    stages = []
    for s in range(n_stages):
        ran, where_b = np.flatnonzero(~np.isnan(p_track[s])), np.flatnonzero(b_track[s])
        where, vecs = np.concatenate(chunks[s][0]), np.concatenate(chunks[s][1])
        if max_latents is not None:  # the sample: the max_latents smallest keys, then reading order
            keep = np.argsort(infer._hash_keys(where, salt_base + 1000 * s), kind="stable")[:max_latents]
            where, vecs = where[keep], vecs[keep]
        order = np.argsort(where, kind="stable")
        stages.append(dict(positions=to_record(ran), p=p_track[s][ran], boundaries=to_record(where_b),
                           latent_index=np.searchsorted(where_b, where[order]).astype(np.int64),
                           latents=np.ascontiguousarray(vecs[order])))
    full = np.full(length, np.nan, np.float32)
    a, b = region if region is not None else (0, length)
    full[a:b] = logprob if strand == "+" else logprob[::-1]
    return full, stages


@pytest.mark.parametrize("circular,region,max_latents", [(True, None, 20_000), (False, None, 40),
                                                         (True, (300, 2_200), None), (False, (100, 1_900), 7)])
def test_trace_equals_the_dense_accumulation_byte_for_byte(model, monkeypatch, circular, region, max_latents):
    seq = genome()
    calls = recorded(monkeypatch)
    trace = infer.analyze(SeqRecord(Seq(seq), id="syn"), model, strands="both", region=region, cache=False,
                          circular=circular, max_latents=max_latents, **WIN)
    ids = encode(seq)
    at = 0
    for sp in trace.passes:
        ra, rb = infer._pass_region(len(ids), sp.strand, region)
        lead = WIN["margin"] if circular else min(WIN["margin"], ra)
        n_windows = len(infer.plan_windows(rb - ra + lead, lead, WIN["window"], WIN["margin"]))
        n_batches = -(-n_windows // WIN["batch_size"])
        mine, at = calls[at:at + n_batches], at + n_batches
        full, stages = dense_pass(mine, ids, "syn", sp.strand, circular, region, max_latents=max_latents, **WIN)
        assert sp.logprob.dtype == np.float32 and sp.logprob.tobytes() == full.tobytes()
        assert len(sp.stages) == len(stages) == 2
        for got, want in zip(sp.stages, stages):
            assert got.boundaries.size > 10 and got.latent_index.size > 0  # routing really decided something
            for name, arr in want.items():
                have = getattr(got, name)
                assert have.dtype == arr.dtype and have.shape == arr.shape, (sp.strand, name)
                assert have.tobytes() == arr.tobytes(), (sp.strand, name)
        assert sp.n_runs.tolist() == [[700, 730]]
    assert at == len(calls)


def test_column_fills_in_order_and_trims_in_place():
    col = infer._Column(10, np.int64, ascending=True)
    col.extend(np.array([1, 4]))
    col.extend(np.array([], np.int64))
    col.extend(np.array([5, 9]))
    assert col.so_far().tolist() == [1, 4, 5, 9]
    out = col.finish()
    assert out.tolist() == [1, 4, 5, 9] and out.dtype == np.int64 and out.flags.owndata
    for bad in ([4, 6], [6, 5], [7, 7]):  # not after what is there, descending, repeated
        col = infer._Column(10, np.int64, ascending=True)
        col.extend(np.array([1, 4]))
        with pytest.raises(RuntimeError, match="reading order"):
            col.extend(np.array(bad))
    with pytest.raises(RuntimeError, match="more than 3"):
        infer._Column(3, np.float32).extend(np.zeros(4, np.float32))


def test_stepped_surprisal_and_summary_equal_the_one_shot_formulas(monkeypatch):
    import dnahnet.trace as trace_mod

    monkeypatch.setattr(trace_mod, "STEP_NT", 777)  # several steps, a short last one
    rng = np.random.default_rng(0)
    n = 5_000
    lp = np.log(rng.random(n, dtype=np.float32))
    lp[:3] = np.nan
    lp[10] = -np.inf
    sp = StrandPass("r", "-", n, True, [], lp, region=(0, 4_000), n_runs=np.array([[4_990, 5_000], [100, 130]]))
    want = (-lp / np.log(2.0)).astype(np.float32)
    assert sp.surprisal_bits().tobytes() == want.tobytes()
    row = trace_mod.Trace(passes=[sp]).summary()[0]
    keep = sp.analysed() & ~sp.masked()
    bits = np.where(keep, want, np.float32(np.nan))
    # masked inside the analysed region: [0, 16) wrapped from the run at the end, and [84, 146)
    assert row["nt_masked"] == int((sp.analysed() & sp.masked()).sum()) == 16 + 62
    assert row["scored_nt"] == int(np.isfinite(bits).sum())
    assert row["bits_per_nt"] == float(np.nanmean(bits))


def test_memory_benchmark_genome_and_verdict(tmp_path):
    from bench.bench_memory import GB, MB, genome_length, trace_in_memory, verdict, write_synthetic

    path = write_synthetic(tmp_path / "g.fasta", 1_000, seed=3)
    assert genome_length(path) == 1_000
    assert path.read_text().splitlines()[1] == "".join("ACGT"[i] for i in
                                                      np.random.default_rng(3).integers(0, 4, 1_000, np.uint8)[:80])
    row = dict(genome="g", strands="both")
    small, mid = {**row, "length": 1 * MB, "peak": 1 * GB}, {**row, "length": 2 * MB, "peak": 1.1 * GB}
    assert verdict([small, mid], 4, 12).startswith("PASS (extrapolated")  # 1.1 GB + 10 Mb x 100 B/nt
    assert "2.10 GB" in verdict([small, mid], 4, 12)
    assert verdict([small, {**mid, "peak": 1.4 * GB}], 4, 12).startswith("FAIL (extrapolated")  # 5.4 GB
    assert verdict([small], 4, 12).startswith("UNKNOWN: one genome size")
    assert verdict([small, {**row, "length": 12 * MB, "peak": 3.9 * GB}], 4, 12).startswith("PASS: g (12.00 Mb")
    assert verdict([{**row, "length": 13 * MB, "peak": 4.1 * GB}], 4, 12).startswith("FAIL: g")
    trace = tmp_path / "t.npz"
    np.savez_compressed(trace, a=np.zeros(100, np.float32), b=np.zeros((3, 4), np.int64))
    assert trace_in_memory(trace) == 400 + 96
