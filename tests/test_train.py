"""Training: schedule, determinism under a seed, resume at the saved step, and a short real run on lambda phage."""
import json
import math

import numpy as np
import pytest
import torch

from dnahnet.train import TrainArgs, lr_factor, parse_args, train

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
                cache_dir=str(tmp_path / "cache"))
    base.update(kw)
    return TrainArgs(**base)


def test_lr_schedule_warms_up_then_decays_to_floor():
    a = TrainArgs(data="", steps=110, warmup=10, min_lr_ratio=0.1)
    assert lr_factor(0, a) == pytest.approx(0.1)
    assert lr_factor(9, a) == pytest.approx(1.0)
    assert lr_factor(10, a) == pytest.approx(1.0)
    assert lr_factor(60, a) == pytest.approx(0.55)
    assert lr_factor(110, a) == pytest.approx(0.1)


def test_cli_parses_lists():
    args, resume = parse_args(["--data-dir", "x", "--holdout", "T7,lambda", "--lr-multipliers", "2,1.5,1",
                               "--resume", "--steps", "7"])
    assert args.holdout == ["T7", "lambda"] and args.lr_multipliers == [2.0, 1.5, 1.0]
    assert resume and args.steps == 7


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
    assert model.num_parameters() > 0
