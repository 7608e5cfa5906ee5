"""Whole-genome inference: windows stitch to the whole-sequence answer, circular origins get context, reverse
passes map back to forward coordinates, the cache skips the model, the CLI and the benchmark run.

The test model is the tiny preset with a finite receptive field (Mamba state forgets at once, attention in a
sliding window of 8 chunks), so a decided position must equal the whole-sequence answer exactly, not nearly.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dnahnet.config import HNetConfig
from dnahnet.hnet import DnaHNet
from dnahnet.infer import analyze, plan_windows
from dnahnet.trace import Trace

REPO = Path(__file__).resolve().parents[1]
WIN = dict(window=1024, margin=384, batch_size=2)  # windowed analysis of sequences of a few kb
WHOLE = dict(window=1 << 20, margin=384)  # one window covers everything


def local_model(seed: int = 0) -> DnaHNet:
    """Tiny dnaHNet whose output at t depends only on the last few hundred nt; routing is active at random init."""
    torch.manual_seed(seed)
    cfg = HNetConfig.preset("tiny")
    cfg.attention.window = [0, 8, 8]
    model = DnaHNet(cfg).eval()
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "A_log"):  # exp(dt * A) = exp(-5 * 16): the SSM state forgets at once
                m.A_log.fill_(float(np.log(16.0)))
                m.dt_bias.fill_(5.0)
    return model


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return local_model()


def random_dna(n: int, seed: int = 0) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


def revcomp(s: str) -> str:
    return s[::-1].translate(str.maketrans("ACGT", "TGCA"))


def assert_same_pass(a, b, where=None):
    """Stage positions, p, boundaries and logprob agree (restricted to record positions `where` when given)."""
    keep = (lambda x: x) if where is None else (lambda x: x[np.isin(x, where)])
    for sa, sb in zip(a.stages, b.stages):
        np.testing.assert_array_equal(keep(sa.boundaries), keep(sb.boundaries))
        np.testing.assert_array_equal(keep(sa.positions), keep(sb.positions))
        pa = dict(zip(sa.positions.tolist(), sa.p.tolist()))
        pb = dict(zip(sb.positions.tolist(), sb.p.tolist()))
        common = keep(sa.positions)
        np.testing.assert_allclose([pa[x] for x in common], [pb[x] for x in common], atol=1e-4)
    idx = slice(None) if where is None else where
    np.testing.assert_allclose(a.logprob[idx], b.logprob[idx], atol=1e-4, equal_nan=True)


@pytest.mark.parametrize("n_ext,lead,window,margin", [(5000, 0, 1024, 384), (5000, 384, 1024, 384),
                                                      (700, 0, 1024, 384), (1025, 100, 1024, 384),
                                                      (4096, 0, 1024, 1)])
def test_plan_windows_tile_each_position_once(n_ext, lead, window, margin):
    plan = plan_windows(n_ext, lead, window, margin)
    decided = np.concatenate([np.arange(lo, hi) for _, lo, hi in plan])
    np.testing.assert_array_equal(decided, np.arange(lead, n_ext))
    width = min(window, n_ext)
    for i, (start, lo, hi) in enumerate(plan):
        assert 0 <= start and start + width <= n_ext and hi <= start + width
        assert lo - start >= margin or (i == 0 and start == 0)


def test_windowed_equals_whole(model):
    seq = random_dna(5000)
    whole = analyze(seq, model, strands="+", cache=False, **WHOLE).passes[0]
    windowed = analyze(seq, model, strands="+", cache=False, **WIN).passes[0]
    assert whole.stages[0].n_chunks > 500 and whole.stages[1].n_chunks > 100  # routing is active
    assert_same_pass(whole, windowed)
    # structure: stage 0 ran everywhere, stage 1 ran on stage-0 boundaries, p_0 = 1 on a linear record
    np.testing.assert_array_equal(windowed.stages[0].positions, np.arange(5000))
    np.testing.assert_array_equal(windowed.stages[1].positions, windowed.stages[0].boundaries)
    assert set(windowed.stages[1].boundaries) <= set(windowed.stages[0].boundaries)
    assert windowed.stages[0].boundaries[0] == 0 and windowed.stages[0].p[0] == 1.0
    assert np.isnan(windowed.logprob[0]) and np.isfinite(windowed.logprob[1:]).all()
    assert (windowed.logprob[1:] <= 0).all()


def test_circular_origin_is_decided_with_context(model):
    seq, half = random_dna(3000, seed=1), 1500
    circ = analyze(seq, model, strands="+", circular=True, cache=False, **WIN).passes[0]
    rotated = analyze(seq[half:] + seq[:half], model, strands="+", cache=False, **WHOLE).passes[0]
    # express the rotated (linear, origin in the middle) analysis in record coordinates
    shift = lambda x: (x + half) % 3000  # noqa: E731
    near_origin = np.r_[0:600, 2400:3000]
    assert circ.circular and np.isfinite(circ.logprob).all()  # position 0 is predicted from the record's end
    for sc, sr in zip(circ.stages, rotated.stages):
        want = np.sort(shift(sr.boundaries)[np.isin(shift(sr.boundaries), near_origin)])
        got = np.sort(sc.boundaries[np.isin(sc.boundaries, near_origin)])
        np.testing.assert_array_equal(got, want)
    lp_rot = np.empty(3000, np.float32)
    lp_rot[shift(np.arange(3000))] = rotated.logprob
    np.testing.assert_allclose(circ.logprob[near_origin], lp_rot[near_origin], atol=1e-4)
    # a linear analysis of the same record does not see across the origin
    linear = analyze(seq, model, strands="+", circular=False, cache=False, **WIN).passes[0]
    assert np.isnan(linear.logprob[0]) and linear.stages[0].p[0] == 1.0 and circ.stages[0].p[0] < 1.0


def test_reverse_pass_maps_to_forward_coordinates(model):
    seq = random_dna(3000, seed=2)
    L = len(seq)
    minus = analyze(seq, model, strands="-", cache=False, **WIN).passes[0]
    rc_plus = analyze(revcomp(seq), model, strands="+", cache=False, **WIN).passes[0]
    assert minus.strand == "-" and minus.length == L
    for sm, sp in zip(minus.stages, rc_plus.stages):
        np.testing.assert_array_equal(sm.boundaries, L - 1 - sp.boundaries)  # reading order: descending
        np.testing.assert_array_equal(sm.positions, L - 1 - sp.positions)
        np.testing.assert_array_equal(sm.p, sp.p)
        assert np.all(np.diff(sm.boundaries) < 0)
    np.testing.assert_array_equal(minus.logprob, rc_plus.logprob[::-1])
    assert np.isnan(minus.logprob[L - 1])  # the reverse pass starts reading at the record's last base
    spans = minus.chunk_spans(0)
    assert spans[0, 1] == L and (spans[:, 1] > spans[:, 0]).all()
    # "both" gives the same two passes as separate runs
    both = analyze(seq, model, strands="both", cache=False, **WIN)
    assert [(p.record_id, p.strand) for p in both.passes] == [("sequence", "+"), ("sequence", "-")]
    np.testing.assert_array_equal(both.get("sequence", "-").stages[1].boundaries, minus.stages[1].boundaries)


@pytest.mark.parametrize("strand", ["+", "-"])
def test_region_matches_whole_record_inside_the_region(model, strand):
    seq, region = random_dna(4000, seed=3), (1500, 2600)
    whole = analyze(seq, model, strands=strand, cache=False, **WIN).passes[0]
    part = analyze(seq, model, strands=strand, region=region, cache=False, **WIN).passes[0]
    inside = np.arange(*region)
    assert part.region == region
    assert np.isnan(part.logprob[: region[0]]).all() and np.isnan(part.logprob[region[1]:]).all()
    np.testing.assert_array_equal(np.sort(part.stages[0].positions), inside)
    assert_same_pass(whole, part, where=inside)
    with pytest.raises(ValueError, match="outside record"):
        analyze(seq, model, region=(3000, 5000), cache=False, **WIN)


def test_latents_are_a_seeded_subsample_independent_of_windows(model):
    seq = random_dna(3000, seed=4)
    every = analyze(seq, model, strands="+", max_latents=None, cache=False, **WHOLE).passes[0]
    some = analyze(seq, model, strands="+", max_latents=40, cache=False, **WIN).passes[0]
    for s, (se, ss) in enumerate(zip(every.stages, some.stages)):
        assert se.latents.shape == (se.n_chunks, model.config.d_model[s]) and se.latents.dtype == np.float16
        assert ss.latents.shape == (40, model.config.d_model[s])
        assert np.all(np.diff(ss.latent_index) > 0) and ss.latent_index[-1] < ss.n_chunks
        np.testing.assert_allclose(ss.latents.astype(np.float32), se.latents[ss.latent_index].astype(np.float32),
                                   atol=2e-3)
    again = analyze(seq, model, strands="+", max_latents=40, cache=False, **WHOLE).passes[0]
    np.testing.assert_array_equal(again.stages[0].latent_index, some.stages[0].latent_index)


class CountingModel(torch.nn.Module):
    """Wraps a model and counts forward calls."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0
        self.config = inner.config

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)


def test_cache_hit_skips_the_model(model, tmp_path):
    counting = CountingModel(model)
    seq = random_dna(1500, seed=5)
    messages = []
    first = analyze(seq, counting, cache_dir=tmp_path, progress=lambda f, m: messages.append((f, m)), **WIN)
    calls = counting.calls
    assert calls > 0 and not first.meta["cache"]["hit"] and messages[-1][0] == 1.0
    assert all(0 <= f <= 1 for f, _ in messages)
    messages.clear()
    second = analyze(seq, counting, cache_dir=tmp_path, progress=lambda f, m: messages.append((f, m)), **WIN)
    assert counting.calls == calls and second.meta["cache"]["hit"] and messages == [(1.0, "cached")]
    np.testing.assert_array_equal(second.passes[1].stages[1].boundaries, first.passes[1].stages[1].boundaries)
    analyze(seq, counting, cache_dir=tmp_path, window=1024, margin=256)  # another setting: a miss
    assert counting.calls > calls
    with torch.no_grad():  # other weights: a miss
        before, saved = counting.calls, model.lm_head.weight.clone()
        model.lm_head.weight[0, 0] += 1.0
        try:
            analyze(seq, counting, cache_dir=tmp_path, **WIN)
        finally:
            model.lm_head.weight.copy_(saved)
        assert counting.calls > before



def test_damaged_or_foreign_cache_entry_is_recomputed(model, tmp_path, caplog):
    from dnahnet.cache import SUFFIX

    counting = CountingModel(model)
    seq = random_dna(1500, seed=6)
    first = analyze(seq, counting, strands="+", cache_dir=tmp_path, **WIN)
    entry = tmp_path / f"{first.meta['cache']['key']}{SUFFIX}"
    analyze(random_dna(1500, seed=7), counting, strands="+", cache=False, **WIN).save(entry)  # same id and length
    calls = counting.calls
    again = analyze(seq, counting, strands="+", cache_dir=tmp_path, **WIN)
    assert counting.calls > calls and not again.meta["cache"]["hit"] and "holds other sequences" in caplog.text
    np.testing.assert_array_equal(again.passes[0].logprob, first.passes[0].logprob)
    entry.write_bytes(entry.read_bytes()[:1000])  # an interrupted copy
    calls = counting.calls
    again = analyze(seq, counting, strands="+", cache_dir=tmp_path, **WIN)
    assert counting.calls > calls and not again.meta["cache"]["hit"] and "could not be loaded" in caplog.text
    assert analyze(seq, counting, strands="+", cache_dir=tmp_path, **WIN).meta["cache"]["hit"]  # stored afresh

def test_passes_side_by_side_give_the_trace_of_one_at_a_time(model):
    """workers=2 runs the strand passes on two threads of one torch thread each: the same trace, bit for bit, in
    the same order (two records, so four passes share two workers), and the caller's thread count comes back."""
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    records = [SeqRecord(Seq(random_dna(n, seed)), id=name) for n, seed, name in ((4_000, 5, "r1"), (2_500, 6, "r2"))]
    one = analyze(records, model, cache=False, circular=False, workers=1, **WIN)
    torch.set_num_threads(2)
    try:
        two = analyze(records, model, cache=False, circular=False, workers=2, **WIN)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert (one.meta["pass_workers"], two.meta["pass_workers"]) == (1, 2)
    assert [(sp.record_id, sp.strand) for sp in two.passes] == [("r1", "+"), ("r1", "-"), ("r2", "+"), ("r2", "-")]
    assert [(sp.record_id, sp.strand) for sp in one.passes] == [(sp.record_id, sp.strand) for sp in two.passes]
    for a, b in zip(one.passes, two.passes):
        np.testing.assert_array_equal(a.logprob, b.logprob)
        for sa, sb in zip(a.stages, b.stages):
            for name in ("positions", "p", "boundaries", "latent_index", "latents"):
                np.testing.assert_array_equal(getattr(sa, name), getattr(sb, name), err_msg=name)


def test_pass_workers_follow_threads_and_the_cores_the_adaptive_policy_may_use(monkeypatch):
    from dnahnet import threads
    from dnahnet.infer import pass_workers

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(threads, "_CURRENT", None)
    assert pass_workers(2, cpu) == 1  # conftest: one torch thread, no policy configured
    assert pass_workers(2, cpu, asked=4) == 2 and pass_workers(1, cpu, asked=2) == 1 and pass_workers(2, cuda) == 1
    # under load the adaptive policy drops to 1 thread of 2; passes still run side by side, one thread each
    monkeypatch.setattr(threads, "_CURRENT", threads.ThreadChoice(1, 2, "adaptive", "other processes keep 1.0 busy"))
    assert pass_workers(2, cpu) == 2 and pass_workers(6, cpu) == 2
    monkeypatch.setattr(threads, "_CURRENT", threads.ThreadChoice(1, 1, "fixed", "asked for"))  # --threads 1
    assert pass_workers(2, cpu) == 1


def test_a_failing_pass_stops_the_others_and_raises_its_own_error(model, monkeypatch):
    import threading

    import dnahnet.infer as infer

    real, calls, lock = infer._forward_windows, [0], threading.Lock()

    def flaky(*args, **kwargs):
        with lock:
            calls[0] += 1
            if calls[0] == 3:
                raise RuntimeError("window batch 3 failed")
        return real(*args, **kwargs)

    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    monkeypatch.setattr(infer, "_forward_windows", flaky)
    records = [SeqRecord(Seq(random_dna(20_000, seed)), id=f"r{seed}") for seed in (7, 8)]  # 4 passes, 2 workers
    with pytest.raises(RuntimeError, match="window batch 3 failed"):
        analyze(records, model, cache=False, circular=False, workers=2, **WIN)
    batches_per_pass = -(-20_000 // (WIN["window"] - WIN["margin"]) // WIN["batch_size"])
    assert calls[0] < 2 * batches_per_pass  # the other running pass stopped, the waiting two never started
    assert torch.get_num_threads() == 1


def test_trace_save_load_round_trip(model, tmp_path):
    trace = analyze(random_dna(1200, seed=6), model, cache=False, **WIN)
    back = Trace.load(trace.save(tmp_path / "t.npz"))
    assert back.meta == trace.meta and back.record_ids == ["sequence"] and back.n_stages == 2
    for a, b in zip(trace.passes, back.passes):
        assert (a.record_id, a.strand, a.length, a.circular, a.region) == (b.record_id, b.strand, b.length,
                                                                            b.circular, b.region)
        np.testing.assert_array_equal(a.logprob, b.logprob)
        for sa, sb in zip(a.stages, b.stages):
            for name in ("positions", "p", "boundaries", "latent_index", "latents"):
                np.testing.assert_array_equal(getattr(sa, name), getattr(sb, name))
    meta = trace.meta
    assert meta["settings"]["window"] == 1024 and meta["settings"]["margin"] == 384
    assert "margin" in meta["margin_policy"] and meta["sequences"][0]["length"] == 1200
    assert len(meta["checkpoint_hash"]) == 32 and meta["device"].startswith("cpu")
    rows = trace.summary()
    assert rows[0]["nt"] == 1200 and rows[0]["chunks_s0"] == trace.passes[0].stages[0].n_chunks
    assert 0 < rows[0]["bits_per_nt"] < 10


def test_inputs_records_paths_and_bad_text(model, tmp_path):
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    a = SeqRecord(Seq(random_dna(800, seed=7)), id="chrA", annotations={"topology": "circular"})
    b = SeqRecord(Seq(random_dna(600, seed=8)), id="plasmidB")
    trace = analyze([a, b], model, strands="+", cache=False, **WIN)
    assert trace.record_ids == ["chrA", "plasmidB"]
    assert trace.get("chrA", "+").circular and not trace.get("plasmidB", "+").circular
    fasta = tmp_path / "two.fa"
    fasta.write_text(f">chrA\n{a.seq}\n>plasmidB\n{b.seq}\n")
    from_file = analyze(str(fasta), model, strands="+", cache=False, circular=True, **WIN)
    np.testing.assert_array_equal(from_file.get("chrA", "+").stages[0].boundaries,
                                  trace.get("chrA", "+").stages[0].boundaries)
    with pytest.raises(ValueError, match="neither an existing file nor a DNA sequence"):
        analyze("not/a/file.fa", model, cache=False)
    with pytest.raises(ValueError, match="strands"):
        analyze("ACGT", model, strands="up", cache=False)


def test_cli_on_a_small_fasta(model, tmp_path, capsys):
    from dnahnet.checkpoint import save

    ckpt = tmp_path / "ckpt"
    save(model, ckpt)
    fasta = tmp_path / "genome.fa"
    fasta.write_text(f">recA\n{random_dna(900, seed=9)}\n>recB\n{random_dna(700, seed=10)}\n>empty\n\n")
    out = tmp_path / "trace.npz"
    cmd = [sys.executable, "-m", "dnahnet.infer", str(fasta), "--checkpoint", str(ckpt), "--out", str(out),
           "--window", "512", "--margin", "128", "--no-cache", "--threads", "1"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    trace = Trace.load(out)
    assert [(p.record_id, p.strand) for p in trace.passes] == [("recA", "+"), ("recA", "-"), ("recB", "+"),
                                                               ("recB", "-")]
    assert "recA +  900 nt" in res.stdout and "nt/s" in res.stdout and "stage 2:" in res.stdout
    from dnahnet.infer import main  # the other options in-process (a subprocess costs seconds of imports)

    assert main(cmd[3:] + ["--record", "recB", "--region", "100-400", "--strands", "-"]) == 0
    trace = Trace.load(out)
    assert len(trace.passes) == 1 and trace.passes[0].region == (100, 400)
    assert main(cmd[3:] + ["--record", "nope"]) == 2 and "no record nope" in capsys.readouterr().err
    assert main(cmd[3:] + ["--region", "800-2000"]) == 2 and "outside record" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(cmd[3:] + ["--precision", "bf16"]) == 2 and "GPU only" in capsys.readouterr().err
        batch = [str(fasta), "--checkpoint", str(ckpt), "--out-dir", str(tmp_path / "batch"), "--no-cache",
                 "--threads", "1", "--precision", "bf16"]  # several-genome mode: refused once, before any genome
        assert main(batch) == 2 and "GPU only" in capsys.readouterr().err
        assert not list((tmp_path / "batch").glob("*.npz"))


def test_precision_is_fp32_unless_bf16_is_asked_for_on_a_gpu(model):
    """fp32 on every device by default (the trace records it, so a cached bf16 trace never answers an fp32 read);
    bf16 autocast is refused on a CPU, an unknown precision everywhere."""
    import inspect

    from dnahnet.infer import check_precision

    trace = analyze(random_dna(2000, seed=5), model, cache=False, circular=False, **WIN)
    assert trace.meta["settings"]["precision"] == "fp32"
    assert inspect.signature(analyze).parameters["precision"].default == "fp32"  # on a GPU too
    assert check_precision("bf16", torch.device("cuda")) == "bf16"
    assert check_precision("fp32", torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match="GPU only"):
        analyze(random_dna(2000, seed=5), model, cache=False, precision="bf16", **WIN)
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, not 'fp16'"):
        check_precision("fp16", torch.device("cpu"))


def test_benchmark_script_quick_mode():
    res = subprocess.run([sys.executable, "bench/bench_inference.py", "--quick", "--threads", "1"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "nt/s" in res.stdout and "speed-up" in res.stdout and "untrained" in res.stdout
    assert "     512 |" in res.stdout  # one table row per length


def test_benchmark_script_window_sweep():
    """--sweep: one row per setting; the first row agrees with itself, the same setting twice agrees exactly."""
    res = subprocess.run([sys.executable, "bench/bench_inference.py", "--quick", "--threads", "1",
                          "--sweep", "1024:256:4,512:128:2,1024:256:4"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if line.startswith("| 1,024 |") or line.startswith("| 512 |")]
    assert len(rows) == 3
    assert rows[0].endswith("| 1.000 | 1.000 |") and rows[2].endswith("| 1.000 | 1.000 |")


def test_benchmark_script_versus_checkpoint():
    """--versus-checkpoint: one row per checkpoint, the first at 1.00x."""
    res = subprocess.run([sys.executable, "bench/bench_inference.py", "--quick", "--threads", "1",
                          "--versus-checkpoint", "dnahnet-small"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if line.startswith("| ") and "x |" in line]
    assert len(rows) == 2 and rows[0].endswith("| 1.00x |") and "dnahnet-small" in rows[1]


def test_benchmark_script_options():
    """--options: a row per option; fp32 is the reference (1.00x, nothing moved); the strand processes run the same
    fp32 arithmetic, so their boundaries are the default's."""
    res = subprocess.run([sys.executable, "bench/bench_inference.py", "--quick", "--threads", "1", "--repeats", "1",
                          "--options"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = {line.split(":")[0][2:]: line for line in res.stdout.splitlines() if line.startswith("| ") and "x |" in line}
    assert set(rows) == {"fp32", "one-at-a-time", "bf16", "int8", "strands"}
    assert "| 1.00x | 0 (0.00%) | 0 (0.00%) | +0.00000 |" in rows["fp32"]
    assert rows["strands"].count("| 0 (0.00%)") == 2


def test_benchmark_script_versus_revision():
    """--versus-revision: this code and a revision's, each in fresh processes (a temporary git worktree, removed
    after); the first row is the reference."""
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    res = subprocess.run([sys.executable, "bench/bench_inference.py", "--quick", "--threads", "1", "--repeats", "1",
                          "--versus-revision", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line for line in res.stdout.splitlines() if line.startswith("| ") and "x |" in line]
    assert len(rows) == 2 and rows[0].startswith("| this code |")
    assert rows[0].endswith("| 1.00x | 0 (0.00%) | 0 (0.00%) | +0.00000 |")
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout
    assert "rev-" not in worktrees  # the temporary worktree is gone

def test_profile_script_times_the_fused_kernels():
    """bench/profile_inference.py on one small window: the compiled kernels (C, numba's serial twins) are timed."""
    res = subprocess.run([sys.executable, "bench/profile_inference.py", "--random", "--batches", "1", "--batch-size",
                          "1", "--window", "512", "--margin", "64", "--repeats", "1", "--top", "5"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    from kernels.mamba import native

    interior = "native::mamba_block" if native.available(32) else "numba::_gated_scan"  # C, or numba without cc
    assert interior in res.stdout and "by model part" in res.stdout


def test_parameter_matched_transformer_baseline(model):
    from bench.transformer_lm import TransformerLM, matched_config, matched_transformer

    for preset in ("tiny", "small"):
        n = DnaHNet(HNetConfig.preset(preset)).num_parameters()
        cfg = matched_config(n)
        assert abs(cfg.num_parameters() - n) / n < 0.10 and cfg.d_model % cfg.num_heads == 0
    baseline = matched_transformer(model).eval()
    assert baseline.num_parameters() == baseline.config.num_parameters()  # the formula is exact
    x = torch.randint(0, 4, (2, 64))
    y = x.clone()
    y[:, 40:] = (y[:, 40:] + 1) % 4
    with torch.inference_mode():
        a, b = baseline(x).logits, baseline(y).logits
    assert a.shape == (2, 64, 5)
    torch.testing.assert_close(a[:, :40], b[:, :40])  # causal: the future does not change the past
    assert not torch.allclose(a[:, 40:], b[:, 40:])
    out = TransformerLM(baseline.config)(x[:, :-1], targets=x[:, 1:])
    assert 1.0 < out.loss.item() < 2.5  # about log(5) = 1.61 at random init
