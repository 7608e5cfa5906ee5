"""Train a dnaHNet on a directory of genomes (or one genome file): `python -m dnahnet.train --help`.

AdamW (betas 0.9/0.95, weight decay 0.05) with per-stage learning-rate multipliers, linear warm-up then cosine
decay, gradient clipping, bf16 autocast on CUDA. Validation reports bits/nt per held-out genome and the achieved
compression per stage. The output directory holds the model (`checkpoint.save`), `train_state.safetensors` +
`train_state.json` (optimizer, step, RNG states; no pickle) and `train_log.jsonl`; `--resume` continues from it.
"""
import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: spinning threads stall on a busy CPU
import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file

from dnahnet.data import DEFAULT_HOLDOUT, WindowSampler, load_corpus, validation_windows

LN2 = math.log(2.0)


@dataclass
class TrainArgs:
    data: str
    config: str = "tiny"  # preset name or path to a config JSON
    out: str = "runs/dnahnet"
    holdout: list = field(default_factory=lambda: list(DEFAULT_HOLDOUT))
    steps: int = 1000
    batch_size: int = 16
    seq_len: int = 1024
    lr: float = 2e-3
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup: int = 100
    weight_decay: float = 0.05
    betas: tuple = (0.9, 0.95)
    lr_multipliers: list = field(default_factory=lambda: [2.0, 1.5, 1.0])
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch intra-op threads (0 = torch default)
    eval_every: int = 200
    eval_windows: int = 32  # validation windows per held-out genome (evenly spread tiles, both strands)
    eval_batch: int = 16
    save_every: int = 500
    log_every: int = 10
    max_minutes: float = 0.0  # stop (and save) after this much wall time; 0 = no limit
    stop_at: int = 0  # stop (and save) at this step, the schedule still planned for `steps`; 0 = run to `steps`
    print_every: int = 50  # a plain progress line (step, loss, bits/nt, compression, nt/s) every this many steps
    cache_dir: str = ""
    progress: bool = True


def lr_factor(step, args):
    """Linear warm-up over `warmup` steps, then cosine from 1 to min_lr_ratio at `steps`."""
    if step < args.warmup:
        return (step + 1) / args.warmup
    t = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def resolve_config(name_or_path):
    from dnahnet.config import HNetConfig
    if Path(name_or_path).suffix == ".json" or Path(name_or_path).exists():
        return HNetConfig.load(name_or_path)
    return HNetConfig.preset(name_or_path)


def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---- optimizer / RNG state as safetensors + JSON (no pickle) ---------------------------------------------------
def save_train_state(out, optimizer, step, sampler, args, elapsed_s, nt_seen):
    tensors, groups = {}, []
    state = optimizer.state_dict()
    for idx, per_param in state["state"].items():
        for name, value in per_param.items():
            tensors[f"opt.{idx}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    for g in state["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
    tensors["rng.torch_cpu"] = torch.get_rng_state()
    meta = {"step": step, "param_groups": groups, "sampler": sampler.state_dict(), "args": asdict(args),
            "elapsed_s": elapsed_s, "nt_seen": nt_seen}
    tmp = Path(out) / "train_state.tmp.safetensors"
    save_file(tensors, str(tmp))
    os.replace(tmp, Path(out) / "train_state.safetensors")
    (Path(out) / "train_state.json").write_text(json.dumps(meta, indent=1))


def load_train_state(out, optimizer, sampler):
    """Restore optimizer, sampler and torch RNG; returns the JSON metadata (step, elapsed_s, nt_seen, args)."""
    meta = json.loads((Path(out) / "train_state.json").read_text())
    tensors = load_file(str(Path(out) / "train_state.safetensors"))
    per_param = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            per_param.setdefault(int(idx), {})[name] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    sampler.load_state_dict(meta["sampler"])
    torch.set_rng_state(tensors["rng.torch_cpu"])
    return meta


# ---- evaluation ------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_windows(model, windows, batch_size=16, device="cpu", autocast_dtype=None, on_batch=None):
    """bits/nt of the model on (n, L+1) id windows (positions 1..L, targets that are N skipped) and the mean
    compression per stage. Returns (bits_per_nt, [compression per stage], n_scored). `on_batch(n_windows)` is
    called after each batch (progress)."""
    model.eval()
    total, count, comps = 0.0, 0, []
    for i in range(0, len(windows), batch_size):
        x = torch.as_tensor(windows[i:i + batch_size], dtype=torch.long, device=device)
        with torch.autocast(device.type if hasattr(device, "type") else "cpu", dtype=autocast_dtype or torch.bfloat16,
                            enabled=autocast_dtype is not None):
            out = model(x[:, :-1])
        logp = torch.log_softmax(out.logits.float(), dim=-1)
        tgt = x[:, 1:]
        ok = tgt < 4
        lp = logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        total -= lp[ok].sum().item()
        count += int(ok.sum())
        comps.append([float(c) for c in out.compression])
        if on_batch:
            on_batch(len(x))
    model.train()
    return total / max(count, 1) / LN2, [float(v) for v in np.mean(comps, axis=0)] if comps else [], count


def run_validation(model, valid_sets, args, device, autocast_dtype):
    result, comps = {}, []
    for genome, windows in valid_sets.items():
        bits, comp, _ = evaluate_windows(model, windows, args.eval_batch, device, autocast_dtype)
        result[genome] = bits
        comps.append(comp)
    return result, [float(v) for v in np.mean(comps, axis=0)] if comps else []


# ---- training loop ---------------------------------------------------------------------------------------------
def _logged_step(line: str) -> float:
    """The step a train_log.jsonl line belongs to; inf for a blank or half-written line (dropped on resume)."""
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return float("inf")


def train(args: TrainArgs, resume=False, log=print):
    """Run (or resume) training; returns the list of per-step training losses of this call."""
    from dnahnet import checkpoint
    from dnahnet.hnet import DnaHNet

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    autocast_dtype = torch.bfloat16 if device.type == "cuda" else None

    corpus = load_corpus(args.data, args.holdout, cache_dir=args.cache_dir or None)
    log(corpus.summary())
    for problem in corpus.problems:
        log(f"  note: {problem}")
    valid_sets = {g: validation_windows(recs, args.seq_len, args.eval_windows)
                  for g, recs in corpus.genomes("valid").items()}
    valid_sets = {g: w for g, w in valid_sets.items() if len(w)}

    torch.manual_seed(args.seed)
    if resume:
        model = checkpoint.load(out, device=device)
        config = model.config
    else:
        config = resolve_config(args.config)
        model = DnaHNet(config).to(device)
    sampler = WindowSampler(corpus.train, args.seq_len, args.batch_size, seed=args.seed)
    optimizer = torch.optim.AdamW(model.param_groups(args.lr, args.lr_multipliers, args.weight_decay),
                                  lr=args.lr, betas=tuple(args.betas), weight_decay=args.weight_decay)
    for g in optimizer.param_groups:
        g.setdefault("initial_lr", g["lr"])
    step, elapsed0, nt_seen = 0, 0.0, 0
    if resume:
        meta = load_train_state(out, optimizer, sampler)
        step, elapsed0, nt_seen = meta["step"], meta["elapsed_s"], meta["nt_seen"]
        log(f"resumed at step {step} ({nt_seen:,} nt seen)")
    log(f"model: {model.num_parameters():,} parameters, {config.num_routers} routers, device {device}")

    log_path = out / "train_log.jsonl"
    if resume and log_path.exists():  # drop what a killed run logged after its last save, so steps stay unique
        kept = [line for line in log_path.read_text().splitlines() if _logged_step(line) <= step]
        log_path.write_text("".join(line + "\n" for line in kept))
    log_file = open(log_path, "a")

    def write(entry):
        log_file.write(json.dumps(entry) + "\n")
        log_file.flush()

    def save():
        elapsed = elapsed0 + time.time() - t_start
        meta = {"train": {"step": step, "nt_seen": nt_seen, "elapsed_s": round(elapsed, 1),
                          "data": str(args.data), "holdout": args.holdout, "seq_len": args.seq_len,
                          "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                          "valid_bits_per_nt": last_eval, "args": asdict(args)}}
        checkpoint.save(model, out, extra_meta=meta)
        save_train_state(out, optimizer, step, sampler, args, elapsed, nt_seen)

    if not resume:
        write({"event": "start", "args": asdict(args), "params": model.num_parameters(), "config": config.to_dict(),
               "corpus": corpus.summary()})
    bar = None
    if args.progress:
        from tqdm import tqdm
        bar = tqdm(total=args.steps, initial=step, dynamic_ncols=True, desc="train")
    losses, last_eval, t_start = [], {}, time.time()
    t_window, nt_window, rate = time.time(), 0, 0.0
    model.train()
    if not resume and valid_sets:
        last_eval, val_comp = run_validation(model, valid_sets, args, device, autocast_dtype)
        write({"step": 0, "eval": last_eval, "eval_compression": val_comp, "nt_seen": 0, "elapsed_s": 0.0})
    stop = min(args.steps, args.stop_at) if args.stop_at else args.steps
    while step < stop:
        if args.max_minutes and (elapsed0 + time.time() - t_start) > args.max_minutes * 60:
            log(f"time limit of {args.max_minutes} min reached at step {step}")
            break
        factor = lr_factor(step, args)
        for g in optimizer.param_groups:
            g["lr"] = g["initial_lr"] * factor
        batch = sampler.next_batch().to(device)  # (B, L+1)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            result = model(batch[:, :-1], targets=batch[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        step += 1
        nt = batch.shape[0] * (batch.shape[1] - 1)
        nt_seen += nt
        nt_window += nt
        loss, ce = result.loss.item(), result.ce.item()
        losses.append(loss)
        comp = [float(c) for c in result.compression]
        if bar is not None:
            post = {"loss": f"{loss:.3f}", "bits": f"{ce / LN2:.3f}",
                    "comp": "/".join(f"{c:.2f}" for c in comp)}
            if last_eval:
                post["val"] = f"{np.mean(list(last_eval.values())):.3f}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)
        if step % args.log_every == 0 or step == 1:
            now = time.time()
            rate = nt_window / max(now - t_window, 1e-9)
            write({"step": step, "loss": loss, "ce": ce, "bits_per_nt": ce / LN2,
                   "ratio_losses": [r.item() for r in result.ratio_losses], "compression": comp,
                   "lr": optimizer.param_groups[0]["lr"], "grad_norm": float(grad_norm), "nt_per_s": rate,
                   "nt_seen": nt_seen, "elapsed_s": round(elapsed0 + now - t_start, 2)})
            t_window, nt_window = now, 0
        if step % args.print_every == 0:
            (bar.write if bar is not None else log)(
                f"step {step}: loss {loss:.4f} bits/nt {ce / LN2:.4f} "
                f"compression {'/'.join(f'{c:.2f}' for c in comp)} lr {optimizer.param_groups[0]['lr']:.2e} "
                f"{rate:,.0f} nt/s")
        if valid_sets and (step % args.eval_every == 0 or step == args.steps):
            last_eval, val_comp = run_validation(model, valid_sets, args, device, autocast_dtype)
            write({"step": step, "eval": last_eval, "eval_compression": val_comp, "nt_seen": nt_seen,
                   "elapsed_s": round(elapsed0 + time.time() - t_start, 2)})
            msg = ", ".join(f"{g} {b:.3f}" for g, b in last_eval.items())
            (bar.write if bar is not None else log)(
                f"step {step}: valid bits/nt {msg}; compression {'/'.join(f'{c:.2f}' for c in val_comp)}")
            t_window, nt_window = time.time(), 0  # keep validation time out of the training rate
        if step % args.save_every == 0:
            save()
    if bar is not None:
        bar.close()
    save()
    log_file.close()
    log(f"saved {out} at step {step}")
    return losses


def parse_args(argv=None):
    d = TrainArgs(data="")
    p = argparse.ArgumentParser(prog="python -m dnahnet.train", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", "--data", dest="data", required=True,
                   help="directory of GenBank/FASTA files (gz too) or a single genome file")
    p.add_argument("--config", default=d.config, help="preset (tiny, small, medium) or path to a config JSON")
    p.add_argument("--out", default=d.out, help="output directory (checkpoint, train state, log)")
    p.add_argument("--holdout", default=",".join(d.holdout),
                   help="comma-separated file-name substrings of genomes held out for validation "
                        "(ignored for a single file: its last 10%% validates)")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seq-len", type=int, default=d.seq_len)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--lr-multipliers", default=",".join(map(str, d.lr_multipliers)),
                   help="per-stage learning-rate multipliers, outer stage first")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0 = default)")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--eval-windows", type=int, default=d.eval_windows)
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--max-minutes", type=float, default=d.max_minutes, help="stop and save after this wall time")
    p.add_argument("--stop-at", type=int, default=d.stop_at, help="stop and save at this step (schedule unchanged)")
    p.add_argument("--print-every", type=int, default=d.print_every)
    p.add_argument("--cache-dir", default="", help="where the encoded corpus is cached (default .cache/corpus)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (for log files)")
    ns = p.parse_args(argv)
    args = TrainArgs(
        data=ns.data, config=ns.config, out=ns.out, holdout=[h for h in ns.holdout.split(",") if h],
        steps=ns.steps, batch_size=ns.batch_size, seq_len=ns.seq_len, lr=ns.lr, min_lr_ratio=ns.min_lr_ratio,
        warmup=ns.warmup, weight_decay=ns.weight_decay,
        lr_multipliers=[float(v) for v in ns.lr_multipliers.split(",")], grad_clip=ns.grad_clip, seed=ns.seed,
        device=ns.device, threads=ns.threads, eval_every=ns.eval_every, eval_windows=ns.eval_windows,
        save_every=ns.save_every, log_every=ns.log_every, max_minutes=ns.max_minutes, stop_at=ns.stop_at,
        print_every=ns.print_every, cache_dir=ns.cache_dir,
        progress=not ns.no_progress)
    return args, ns.resume


def main(argv=None):
    args, resume = parse_args(argv)
    if resume:  # keep the saved run's data/config/schedule unless given again
        state = Path(args.out) / "train_state.json"
        if not state.exists():
            raise SystemExit(f"--resume: no train_state.json in {args.out}")
    train(args, resume=resume)


if __name__ == "__main__":
    main()
