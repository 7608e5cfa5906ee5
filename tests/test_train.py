"""Training: schedule, determinism under a seed, resume at the saved step, data parallelism over gloo ranks (the
same parameters as one process on the combined batch; resume with another number of ranks), the bf16 path and its
fp32 fallback, router diagnostics, and a short real run on lambda phage."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dnahnet import train as train_module
from dnahnet.config import tiny
from dnahnet.train import TrainArgs, lr_factor, parse_args, train
from tests.conftest import free_port

REPO = Path(__file__).resolve().parent.parent

LAMBDA = "Enterobacteria_phage_lambda_NC_001416.gbk.gz"


@pytest.fixture
def genome_file(tmp_path):
    seq = "".join(np.random.default_rng(0).choice(list("ACGT"), 12_000))
    path = tmp_path / "toy.fasta"
    path.write_text(">toy\n" + seq + "\n")
    return path


def _args(data, out, tmp_path, **kw):
    base = dict(data=str(data), config="tiny", out=str(out), steps=4, batch_size=2, seq_len=64, lr=2e-3, warmup=2,
                eval_every=1000, eval_windows=2, save_every=1000, log_every=1, seed=3, progress=False,
                cache_dir=str(tmp_path / "cache"), precision="fp32")
    base.update(kw)
    return TrainArgs(**base)


def test_lr_schedule_warms_up_then_decays_to_floor():
    a = TrainArgs(data="", steps=110, warmup=10, min_lr_ratio=0.1)
    assert lr_factor(0, a) == pytest.approx(0.1)
    assert lr_factor(9, a) == pytest.approx(1.0)
    assert lr_factor(10, a) == pytest.approx(1.0)
    assert lr_factor(60, a) == pytest.approx(0.55)
    assert lr_factor(110, a) == pytest.approx(0.1)


def test_wsd_schedule_is_flat_then_decays_linearly():
    a = TrainArgs(data="", steps=110, warmup=10, min_lr_ratio=0.1, schedule="wsd", decay_frac=0.2)
    assert lr_factor(9, a) == pytest.approx(1.0)
    assert lr_factor(87, a) == pytest.approx(1.0)  # decay starts at step 110 - 22 = 88
    assert lr_factor(99, a) == pytest.approx(1.0 - 0.9 * 11 / 22)
    assert lr_factor(110, a) == pytest.approx(0.1)


def test_cli_parses_lists():
    args, resume = parse_args(["--data-dir", "x", "--holdout", "T7,lambda", "--lr-multipliers", "2,1.5,1",
                               "--steps", "7", "--schedule", "wsd"])
    assert args.holdout == ["T7", "lambda"] and args.lr_multipliers == [2.0, 1.5, 1.0]
    assert not resume and args.steps == 7 and args.schedule == "wsd"


def test_resume_keeps_the_saved_arguments_unless_given_again(genome_file, tmp_path):
    out = tmp_path / "run"
    train(_args(genome_file, out, tmp_path, steps=6, stop_at=1, schedule="wsd", lr=1e-3), log=lambda *a: None)
    args, resume = parse_args(["--resume", "--out", str(out), "--steps", "9", "--max-minutes", "5"])
    assert resume and args.data == str(genome_file) and args.config == "tiny" and args.seq_len == 64
    assert args.schedule == "wsd" and args.lr == 1e-3 and args.steps == 9 and args.max_minutes == 5
    with pytest.raises(SystemExit, match="no train_state"):
        parse_args(["--resume", "--out", str(tmp_path / "nothing")])


def test_same_seed_same_losses(genome_file, tmp_path):
    quiet = lambda *a: None
    first = train(_args(genome_file, tmp_path / "a", tmp_path), log=quiet)
    second = train(_args(genome_file, tmp_path / "b", tmp_path), log=quiet)
    assert len(first) == 4 and first == second
    other = train(_args(genome_file, tmp_path / "c", tmp_path, seed=4), log=quiet)
    assert other != first


def test_resume_continues_at_saved_step_with_same_state(genome_file, tmp_path):
    quiet = lambda *a: None
    straight = train(_args(genome_file, tmp_path / "full", tmp_path), log=quiet)
    part1 = train(_args(genome_file, tmp_path / "split", tmp_path, stop_at=2), log=quiet)
    state = json.loads((tmp_path / "split" / "train_state.json").read_text())
    assert state["step"] == 2 and state["nt_seen"] == 2 * 2 * 64
    with open(tmp_path / "split" / "train_log.jsonl", "a") as log:  # a killed run logged past its last save
        log.write(json.dumps({"step": 3, "loss": 99.0}) + "\n" + '{"step": 4, "lo')  # and a half-written line
    part2 = train(_args(genome_file, tmp_path / "split", tmp_path), resume=True, log=quiet)
    assert part1 + part2 == pytest.approx(straight, abs=1e-6)
    entries = [json.loads(line) for line in open(tmp_path / "split" / "train_log.jsonl") if '"loss"' in line]
    assert [e["step"] for e in entries] == [1, 2, 3, 4] and 99.0 not in [e["loss"] for e in entries]

    from dnahnet import checkpoint
    a, b = checkpoint.load(tmp_path / "full"), checkpoint.load(tmp_path / "split")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-6), name


@pytest.mark.slow
@pytest.mark.data
def test_short_lambda_run_lowers_validation_loss(genomes_dir, tmp_path):
    """About a minute on 2 cores: the tiny model on lambda phage (last 10% held out) must learn something."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the CPU is shared, and OpenMP threads stall when it is busy
    args = _args(genomes_dir / LAMBDA, tmp_path / "lambda", tmp_path, steps=60, batch_size=4, seq_len=256,
                 warmup=10, eval_every=60, eval_windows=8, log_every=10)
    try:
        train(args, log=lambda *a: None)
    finally:
        torch.set_num_threads(threads)
    evals = [json.loads(l) for l in open(tmp_path / "lambda" / "train_log.jsonl") if '"eval"' in l]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 60
    before, after = [list(e["eval"].values())[0] for e in (evals[0], evals[-1])]
    assert before > math.log2(4) and after < before - 0.2
    from dnahnet import load
    model = load(tmp_path / "lambda")
    assert model.config.arch_layout == tiny().arch_layout
    assert model.num_parameters() == tiny_parameter_count(model.config) == 147_076


def tiny_parameter_count(c) -> int:
    """DnaHNet's parameter count for the `tiny` layout (m2 | T1m1 | T1 | m1T1 | m2), added up by hand from config c."""
    mc = c.mamba

    def mamba(d):  # block norm, in_proj -> (z, xBC, dt), depthwise conv + bias, dt_bias/A_log/D, gated norm, out_proj
        e = mc.expand * d
        heads, conv = e // mc.headdim, e + 2 * mc.ngroups * mc.d_state
        return d + d * (e + conv + heads) + conv * (mc.d_conv + 1) + 3 * heads + e + e * d

    def attention(d, hidden):  # norm1, Wqkv, out_proj, norm2, SwiGLU fc1 (2 x hidden) and fc2
        return 2 * d + 3 * d * d + d * d + 3 * d * hidden

    def glue(d, d_next):  # encoder and decoder norms, router q and k, width pad, residual projection with bias
        return 2 * d + 2 * d * d + (d_next - d) + d * d + d

    (d0, d1, d2), (_, h1, h2) = c.d_model, c.d_intermediate
    outer = 4 * mamba(d0) + glue(d0, d1)  # m2 encoder, m2 decoder
    middle = 2 * attention(d1, h1) + 2 * mamba(d1) + glue(d1, d2)  # T1m1 encoder, m1T1 decoder
    inner = attention(d2, h2) + d2  # T1 and its final norm
    return 2 * c.vocab_size * d0 + outer + middle + inner  # + the embedding and the untied LM head


def test_tiny_parameter_count_by_hand():
    """The hand count above is the model's (so the lambda run's loaded checkpoint is checked against it)."""
    from dnahnet.hnet import DnaHNet

    assert DnaHNet(tiny()).num_parameters() == tiny_parameter_count(tiny()) == 147_076


# ---- data parallel, precision, router diagnostics -------------------------------------------------------------
def _torchrun(nproc, argv, tmp_path):
    """`torchrun --nproc_per_node nproc -m dnahnet.train argv` on this CPU (gloo), one thread per rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
           "127.0.0.1", "--master_port", str(free_port()), "-m", "dnahnet.train", *argv]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def _cli(data, out, tmp_path, **kw):
    """The command-line form of `_args` (torchrun runs the real entry point)."""
    a = _args(data, out, tmp_path, **kw)
    argv = ["--data-dir", a.data, "--config", a.config, "--out", a.out, "--steps", str(a.steps),
            "--batch-size", str(a.batch_size), "--seq-len", str(a.seq_len), "--lr", str(a.lr),
            "--warmup", str(a.warmup), "--eval-every", str(a.eval_every), "--eval-windows", str(a.eval_windows),
            "--save-every", str(a.save_every), "--log-every", str(a.log_every), "--seed", str(a.seed),
            "--cache-dir", a.cache_dir, "--precision", a.precision, "--no-progress"]
    if a.stop_at:
        argv += ["--stop-at", str(a.stop_at)]
    return argv


def _max_param_gap(dir_a, dir_b):
    from dnahnet import checkpoint
    a, b = checkpoint.load(dir_a), checkpoint.load(dir_b)
    return max(float((p - q).abs().max()) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


# Two ranks see the same windows as one process (the sampler slices each step's global batch), DDP averages their
# gradients and the ratio loss takes its statistics over the global batch, so the runs differ by float summation
# order alone: measured 3e-6 after 4 steps, where one AdamW update at lr 2e-3 moves weights by ~1e-3 (with the
# ratio loss taken per rank, as H-Net does, the gap was 4e-3).
DDP_TOLERANCE = 5e-5


def test_two_gloo_ranks_match_one_process_on_the_combined_batch(genome_file, tmp_path):
    train(_args(genome_file, tmp_path / "one", tmp_path, batch_size=4), log=lambda *a: None)
    text = _torchrun(2, _cli(genome_file, tmp_path / "two", tmp_path, batch_size=4), tmp_path)
    assert "2 rank(s)" in text and "2 of 4 windows per rank" in text
    gap = _max_param_gap(tmp_path / "one", tmp_path / "two")
    assert gap < DDP_TOLERANCE, gap
    state = json.loads((tmp_path / "two" / "train_state.json").read_text())
    assert state["step"] == 4 and state["nt_seen"] == 4 * 4 * 64  # nucleotides of all ranks
    losses = [json.loads(l)["loss"] for l in open(tmp_path / "two" / "train_log.jsonl") if '"loss"' in l]
    assert len(losses) == 4  # rank 0 alone writes the log


def test_resume_with_another_number_of_ranks_continues_schedule_and_data(genome_file, tmp_path):
    train(_args(genome_file, tmp_path / "straight", tmp_path, batch_size=4), log=lambda *a: None)
    _torchrun(2, _cli(genome_file, tmp_path / "split", tmp_path, batch_size=4, stop_at=2), tmp_path)
    assert json.loads((tmp_path / "split" / "train_state.json").read_text())["step"] == 2
    args, resume = parse_args(["--resume", "--out", str(tmp_path / "split"), "--no-progress", "--precision", "fp32"])
    assert args.batch_size == 4 and args.steps == 4
    train(args, resume=True, log=lambda *a: None)  # one process now
    entries = [json.loads(l) for l in open(tmp_path / "split" / "train_log.jsonl") if '"loss"' in l]
    straight = [json.loads(l) for l in open(tmp_path / "straight" / "train_log.jsonl") if '"loss"' in l]
    assert [e["step"] for e in entries] == [1, 2, 3, 4]
    assert [e["lr"] for e in entries] == pytest.approx([e["lr"] for e in straight])  # the schedule went on
    assert entries[-1]["nt_seen"] == straight[-1]["nt_seen"]
    gap = _max_param_gap(tmp_path / "straight", tmp_path / "split")
    assert gap < DDP_TOLERANCE, gap  # the same windows and schedule, too


def test_sampler_shares_do_not_depend_on_the_number_of_ranks():
    from dnahnet.data import EncodedRecord, WindowSampler
    ids = np.random.default_rng(0).integers(0, 4, 5_000).astype(np.uint8)
    sampler = WindowSampler([EncodedRecord("g", "r", ids)], 32, 8, seed=5)
    whole = sampler.batch_at(11)
    for world in (2, 4, 8):
        parts = [sampler.batch_at(11, rank, world) for rank in range(world)]
        assert torch.equal(torch.cat(parts), whole)
    assert not torch.equal(sampler.batch_at(12), whole)
    with pytest.raises(ValueError, match="not divisible"):
        sampler.batch_at(0, 0, 3)


def test_bf16_path_trains(genome_file, tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "native_bf16", lambda device: True)  # emulated where the CPU lacks it
    lines = []
    losses = train(_args(genome_file, tmp_path / "bf16", tmp_path, steps=30, warmup=3, batch_size=4,
                         precision="bf16"), log=lines.append)
    assert any("precision bf16" in line for line in lines)
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.1  # from ~ln 5 towards ln 4 on i.i.d. bases


def test_bf16_falls_back_to_fp32_where_unsupported(genome_file, tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "native_bf16", lambda device: False)
    for asked in ("bf16", "auto"):
        lines = []
        train(_args(genome_file, tmp_path / asked, tmp_path, steps=1, precision=asked), log=lines.append)
        assert any("precision fp32" in line and "no native bf16" in line for line in lines), lines
    meta = json.loads((tmp_path / "auto" / "meta.json").read_text())
    assert meta["train"]["precision"] == "fp32"


def test_auto_precision_probe_keeps_fp32_unless_bf16_pays(monkeypatch):
    from dnahnet.config import HNetConfig
    from dnahnet.hnet import DnaHNet
    model = DnaHNet(HNetConfig.preset("tiny"))
    batch = torch.randint(0, 4, (2, 65))
    monkeypatch.setattr(train_module, "native_bf16", lambda device: True)
    timings = {None: (1.0, 1.30), torch.bfloat16: (0.5, 1.30)}  # (seconds per step, loss)
    monkeypatch.setattr(train_module, "_timed_steps", lambda m, b, dtype, n: timings[dtype])
    dtype, why = train_module.choose_precision("auto", torch.device("cpu"), model, batch)
    assert dtype == torch.bfloat16 and "2.00x" in why
    timings[torch.bfloat16] = (0.5, 1.40)  # faster but a different loss
    assert train_module.choose_precision("auto", torch.device("cpu"), model, batch)[0] is None
    timings[torch.bfloat16] = (0.95, 1.30)  # same loss, not faster enough
    assert train_module.choose_precision("auto", torch.device("cpu"), model, batch)[0] is None


def test_validation_logs_router_histograms_and_inner_path_cost(genome_file, tmp_path):
    train(_args(genome_file, tmp_path / "r", tmp_path, steps=2, eval_every=2), log=lambda *a: None)
    evals = [json.loads(l) for l in open(tmp_path / "r" / "train_log.jsonl") if '"eval"' in l]
    assert [e["step"] for e in evals] == [0, 2]
    for e in evals:
        assert len(e["routers"]) == 2  # tiny has two routers
        for r in e["routers"]:
            assert len(r["p_hist"]) == train_module.P_BINS and sum(r["p_hist"]) > 0
            assert 0.0 <= r["undecided"] <= 1.0 and "inner_path_bits" in r


def test_undecided_share_counts_the_two_middle_bins():
    hist = [0] * train_module.P_BINS
    hist[9], hist[10], hist[0], hist[19] = 3, 1, 2, 2  # bins [0.45, 0.5) and [0.5, 0.55) are undecided
    assert train_module.undecided_share(hist) == pytest.approx(0.5)


def test_sigterm_stops_cleanly_and_saves(genome_file, tmp_path):
    """`kill PID` ends a background run at the end of its step, with the model and train state saved."""
    import signal
    import time
    out = tmp_path / "bg"
    cmd = [sys.executable, "-m", "dnahnet.train", *_cli(genome_file, out, tmp_path, steps=100_000)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = out / "train_log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and '"loss"' in log.read_text()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, text[-2000:]
    assert "stopped by SIGTERM" in text
    state = json.loads((out / "train_state.json").read_text())
    assert 0 < state["step"] < 100_000 and (out / "model.safetensors").exists()


def test_router_confidence_reward_makes_that_router_decisive(genome_file, tmp_path):
    """The reward acts on the routers it names: Stage 2 rewarded -> its mean |2p - 1| grows beyond the unrewarded
    run's, while the logged loss stays the language-model + ratio loss."""
    def last_decisiveness(out, **kw):
        train(_args(genome_file, tmp_path / out, tmp_path, steps=12, warmup=2, batch_size=4, **kw), log=lambda *a: None)
        entries = [json.loads(l) for l in open(tmp_path / out / "train_log.jsonl") if '"loss"' in l]
        return entries[-1]["decisiveness"], entries[-1]["loss"]

    (plain_1, plain_2), _ = last_decisiveness("plain")
    (rewarded_1, rewarded_2), loss = last_decisiveness("rewarded", router_confidence=[0.0, 0.5],
                                                       router_confidence_margin=1.0)
    assert rewarded_2 > plain_2 + 0.05
    assert loss > 0  # the reward is not folded into the logged loss
    args, _ = parse_args(["--data-dir", "x", "--router-confidence", "0,0.02"])
    assert args.router_confidence == [0.0, 0.02]


def test_decisiveness_is_capped_at_the_margin():
    from dnahnet.routing import decisiveness
    p = torch.tensor([[0.5, 0.6, 0.9, 0.0]], requires_grad=True)
    mask = torch.tensor([[True, True, True, False]])
    assert decisiveness(p, mask).item() == pytest.approx((0.0 + 0.2 + 0.8) / 3)
    capped = decisiveness(p, mask, margin=0.3)
    assert capped.item() == pytest.approx((0.0 + 0.2 + 0.3) / 3)
    capped.backward()
    assert p.grad[0, 2] == 0 and p.grad[0, 1] > 0 and p.grad[0, 3] == 0  # beyond the margin, or masked: no push
