"""Train a dnaHNet on a directory of genomes (or one genome file): `python -m dnahnet.train --help`.

AdamW (betas 0.9/0.95, weight decay 0.05) with per-stage learning-rate multipliers, linear warm-up then cosine
decay (or warm-up / stable / decay for runs extended across sessions), gradient clipping, bf16 autocast where it
pays (always on CUDA; on a CPU only when a start-up probe finds it faster with the same loss). Validation reports
bits/nt per held-out genome, the compression per stage, each router's p histogram and undecided share, and what
removing each inner path costs. The output directory holds the model (`checkpoint.save`),
`train_state.safetensors` + `train_state.json` (optimizer, step; no pickle) and `train_log.jsonl`; `--resume`
continues from it.

Data parallel: `torchrun --nproc_per_node N -m dnahnet.train ...` (gloo on CPU, NCCL on CUDA). `--batch-size` is
the global batch; each rank draws its share of every step's batch (`WindowSampler.batch_at`), so the data stream
and the schedule do not depend on N, and `--resume` works with another N. Rank 0 alone validates and writes.
"""
import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dnahnet import threads  # first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see dnahnet.threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from dnahnet.data import DEFAULT_HOLDOUT, WindowSampler, load_corpus, validation_windows  # noqa: E402
from dnahnet.distributed import init_distributed, pick_device, shutdown  # noqa: E402 (evaluate.py: pick_device)
from dnahnet.routing import decisiveness  # noqa: E402

LN2 = math.log(2.0)
UNDECIDED = 0.05  # a router decision is "undecided" when |p - 0.5| < this
P_BINS = 20  # p histogram bins over [0, 1] in the validation log


@dataclass
class TrainArgs:
    data: str
    config: str = "tiny"  # preset name or path to a config JSON
    out: str = "runs/dnahnet"
    holdout: list = field(default_factory=lambda: list(DEFAULT_HOLDOUT))
    steps: int = 1000
    batch_size: int = 16  # global: split over the data-parallel ranks
    seq_len: int = 1024
    lr: float = 2e-3
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup: int = 100
    schedule: str = "cosine"  # cosine | wsd (warm-up, stable, then linear decay over the last decay_frac)
    decay_frac: float = 0.2
    weight_decay: float = 0.05
    betas: tuple = (0.9, 0.95)
    lr_multipliers: list = field(default_factory=lambda: [2.0, 1.5, 1.0])
    # per router: weight of a reward for decisive routing, mean min(|2p - 1|, margin), subtracted from the loss;
    # 0 or absent = H-Net as is
    router_confidence: list = field(default_factory=list)
    router_confidence_margin: float = 0.3
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch intra-op threads (0: as set; `main` uses `dnahnet.threads.configure_threads`)
    precision: str = "auto"  # auto | fp32 | bf16 (autocast); auto = bf16 on CUDA, on a CPU only if it pays
    eval_every: int = 200
    eval_windows: int = 32  # validation windows per held-out genome (evenly spread tiles, both strands)
    eval_batch: int = 16
    save_every: int = 500
    log_every: int = 10
    max_minutes: float = 0.0  # stop (and save) after this much wall time of this sitting; 0 = no limit
    stop_at: int = 0  # stop (and save) at this step, the schedule still planned for `steps`; 0 = run to `steps`
    print_every: int = 50  # a plain progress line (step, loss, bits/nt, compression, nt/s) every this many steps
    cache_dir: str = ""
    progress: bool = True


def lr_factor(step, args):
    """Linear warm-up over `warmup` steps, then to min_lr_ratio at `steps`: by a cosine (`cosine`), or flat until
    the last `decay_frac` of the steps and linear from there (`wsd`, which lets a run be extended before it decays)."""
    if step < args.warmup:
        return (step + 1) / args.warmup
    if args.schedule == "wsd":
        decay_start = args.steps - int(round(args.decay_frac * args.steps))
        if step < decay_start:
            return 1.0
        t = min(1.0, (step - decay_start) / max(1, args.steps - decay_start))
        return 1.0 - (1 - args.min_lr_ratio) * t
    if args.schedule != "cosine":
        raise ValueError(f"schedule must be cosine or wsd, not {args.schedule!r}")
    t = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def resolve_config(name_or_path):
    from dnahnet.config import HNetConfig
    if Path(name_or_path).suffix == ".json" or Path(name_or_path).exists():
        return HNetConfig.load(name_or_path)
    return HNetConfig.preset(name_or_path)


# ---- data parallel (torchrun; joining the job: dnahnet.distributed) ----------------------------------------


def _all_mean(values, ranks):
    """Average a list of floats over the ranks (one small all-reduce); unchanged for a single process."""
    if ranks.world_size == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return (t / ranks.world_size).tolist()


# ---- precision -------------------------------------------------------------------------------------------------
def native_bf16(device) -> bool:
    """Whether the device does bf16 arithmetic natively (CUDA with bf16; a CPU with AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                or getattr(cpu, "_is_amx_tile_supported", lambda: False)())


def _timed_steps(model, batch, dtype, n):
    """Seconds per training step (forward + backward, no optimizer) and the first step's loss, under autocast."""
    losses, t0 = [], None
    for i in range(n + 1):
        if i == 1:
            t0 = time.perf_counter()
        with torch.autocast(batch.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = model(batch[:, :-1], targets=batch[:, 1:])
        out.loss.backward()
        losses.append(out.loss.item())
    model.zero_grad(set_to_none=True)
    return (time.perf_counter() - t0) / n, losses[0]


def choose_precision(requested, device, model, batch, log=print, probe_steps=3, min_speedup=1.1, loss_tol=0.01):
    """The autocast dtype for training (None = fp32), and a line saying why.

    fp32 / bf16 are taken as asked (bf16 falls back to fp32 where the device has no native bf16). `auto` means bf16
    on CUDA; on a CPU with native bf16 a short probe times a few steps of each on the same batch and picks bf16 only
    when it is at least `min_speedup` faster and its loss is within `loss_tol` nats of fp32's.
    """
    if requested not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, not {requested!r}")
    if requested == "fp32":
        return None, "precision fp32 (asked)"
    if not native_bf16(device):
        asked = "; bf16 was asked" if requested == "bf16" else ""
        return None, f"precision fp32 ({device.type} has no native bf16{asked})"
    if requested == "bf16" or device.type == "cuda":
        return torch.bfloat16, f"precision bf16 ({'asked' if requested == 'bf16' else 'CUDA'})"
    fp32_s, fp32_loss = _timed_steps(model, batch, None, probe_steps)
    bf16_s, bf16_loss = _timed_steps(model, batch, torch.bfloat16, probe_steps)
    speedup, gap = fp32_s / bf16_s, abs(bf16_loss - fp32_loss)
    use = speedup >= min_speedup and gap <= loss_tol
    why = (f"probe: bf16 {speedup:.2f}x the speed of fp32, loss gap {gap:.4f} nats "
           f"(needs >= {min_speedup}x and <= {loss_tol})")
    return (torch.bfloat16 if use else None), f"precision {'bf16' if use else 'fp32'} ({why})"


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
def evaluate_windows(model, windows, batch_size=16, device="cpu", autocast_dtype=None, on_batch=None, routers=None):
    """bits/nt of the model on (n, L+1) id windows (positions 1..L, targets that are N skipped) and the mean
    compression per stage. Returns (bits_per_nt, [compression per stage], n_scored). `on_batch(n_windows)` is
    called after each batch (progress). `routers`, a list, receives one p histogram per router (counts in P_BINS
    bins over [0, 1], summed over the windows)."""
    model.eval()
    total, count, comps = 0.0, 0, []
    device = torch.device(device)
    for i in range(0, len(windows), batch_size):
        x = torch.as_tensor(windows[i:i + batch_size], dtype=torch.long, device=device)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            out = model(x[:, :-1], return_routing=routers is not None)
        logp = torch.log_softmax(out.logits.float(), dim=-1)
        tgt = x[:, 1:]
        ok = tgt < 4
        lp = logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        total -= lp[ok].sum().item()
        count += int(ok.sum())
        comps.append([float(c) for c in out.compression])
        if routers is not None:
            for s, r in enumerate(out.routing):
                hist = torch.histc(r.p[r.mask].float().cpu(), bins=P_BINS, min=0.0, max=1.0).long().tolist()
                if s == len(routers):
                    routers.append([0] * P_BINS)
                routers[s] = [a + b for a, b in zip(routers[s], hist)]
        if on_batch:
            on_batch(len(x))
    model.train()
    return total / max(count, 1) / LN2, [float(v) for v in np.mean(comps, axis=0)] if comps else [], count


def undecided_share(hist):
    """Share of router decisions with |p - 0.5| < UNDECIDED, from a P_BINS histogram over [0, 1]."""
    width = 1.0 / P_BINS
    k = int(round(UNDECIDED / width))
    mid = P_BINS // 2
    return sum(hist[mid - k:mid + k]) / max(sum(hist), 1)


def run_validation(model, valid_sets, batch_size, device, autocast_dtype=None, ablate=True):
    """Held-out bits/nt per genome, mean compression per stage, and per router: its p histogram, its undecided
    share, and (with `ablate`) how many bits/nt are lost when the path through its inner stage is removed
    (a router whose inner path costs nothing when removed gets no learning signal)."""
    result, comps, hists = {}, [], []
    for genome, windows in valid_sets.items():
        bits, comp, _ = evaluate_windows(model, windows, batch_size, device, autocast_dtype, routers=hists)
        result[genome] = bits
        comps.append(comp)
    routers = [{"p_hist": h, "undecided": round(undecided_share(h), 4)} for h in hists]
    if ablate and result:
        mean_bits = float(np.mean(list(result.values())))
        for r, stage in zip(routers, model.routed_stages()):
            stage.inner_gain = 0.0
            try:
                lost = [evaluate_windows(model, w, batch_size, device, autocast_dtype)[0]
                        for w in valid_sets.values()]
            finally:
                stage.inner_gain = 1.0
            r["inner_path_bits"] = round(float(np.mean(lost)) - mean_bits, 5)
    return result, [float(v) for v in np.mean(comps, axis=0)] if comps else [], routers


# ---- training loop ---------------------------------------------------------------------------------------------
def _logged_step(line: str) -> float:
    """The step a train_log.jsonl line belongs to; inf for a blank or half-written line (dropped on resume)."""
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return float("inf")


def train(args: TrainArgs, resume=False, log=print):
    """Run (or resume) training; returns the list of per-step training losses of this call (the mean over ranks).

    Under torchrun each process calls this; rank 0 alone validates, saves and logs."""
    from dnahnet import checkpoint
    from dnahnet.hnet import DnaHNet

    if args.threads:
        threads.set_threads(args.threads)
    ranks = init_distributed(args.device)
    device = pick_device(args.device, ranks.local_rank)
    if not ranks.is_main:
        log = _silent
    out = Path(args.out)
    if ranks.is_main:
        out.mkdir(parents=True, exist_ok=True)

    corpus = load_corpus(args.data, args.holdout, cache_dir=args.cache_dir or None)
    log(corpus.summary())
    for problem in corpus.problems:
        log(f"  note: {problem}")
    valid_sets = {}
    if ranks.is_main:
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
    log(f"model: {model.num_parameters():,} parameters, {config.num_routers} routers, device {device}, "
        f"{ranks.world_size} rank(s) x {torch.get_num_threads()} thread(s), "
        f"{args.batch_size // ranks.world_size} of {args.batch_size} windows per rank")

    autocast_dtype, why = choose_precision(args.precision, device, model,
                                           sampler.batch_at(step, ranks.rank, ranks.world_size).to(device), log)
    if ranks.world_size > 1:  # one decision for all ranks: rank 0's
        flag = torch.tensor([autocast_dtype is not None], dtype=torch.int32)
        dist.broadcast(flag, 0)
        autocast_dtype = torch.bfloat16 if flag.item() else None
    log(why)
    net = model
    if ranks.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    log_path = out / "train_log.jsonl"
    log_file = None
    if ranks.is_main:
        if resume and log_path.exists():  # drop what a killed run logged after its last save, so steps stay unique
            kept = [line for line in log_path.read_text().splitlines() if _logged_step(line) <= step]
            log_path.write_text("".join(line + "\n" for line in kept))
        log_file = open(log_path, "a")

    def write(entry):
        if log_file is not None:
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()

    def save():
        if not ranks.is_main:
            return
        elapsed = elapsed0 + time.time() - t_start
        meta = {"train": {"step": step, "nt_seen": nt_seen, "elapsed_s": round(elapsed, 1),
                          "data": str(args.data), "holdout": args.holdout, "seq_len": args.seq_len,
                          "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                          "world_size": ranks.world_size, "precision": "bf16" if autocast_dtype else "fp32",
                          "valid_bits_per_nt": last_eval, "args": asdict(args)}}
        checkpoint.save(model, out, extra_meta=meta)
        sampler.step = step
        save_train_state(out, optimizer, step, sampler, args, elapsed, nt_seen)

    def validate():
        result, comp, routers = run_validation(model, valid_sets, args.eval_batch, device, autocast_dtype)
        write({"step": step, "eval": result, "eval_compression": comp, "routers": routers, "nt_seen": nt_seen,
               "elapsed_s": round(elapsed0 + time.time() - t_start, 2)})
        return result, comp, routers

    if not resume:
        write({"event": "start", "args": asdict(args), "params": model.num_parameters(), "config": config.to_dict(),
               "corpus": corpus.summary(), "world_size": ranks.world_size, "precision": why})
    else:
        write({"event": "resume", "step": step, "world_size": ranks.world_size, "precision": why,
               "threads": torch.get_num_threads()})
    bar = None
    if args.progress and ranks.is_main:
        from tqdm import tqdm
        bar = tqdm(total=args.steps, initial=step, dynamic_ncols=True, desc="train")
    losses, last_eval, t_start = [], {}, time.time()
    t_window, nt_window, rate = time.time(), 0, 0.0
    model.train()
    if not resume and valid_sets:
        last_eval, _, _ = validate()
    stop = min(args.steps, args.stop_at) if args.stop_at else args.steps
    interrupted = _stop_on_sigterm()
    tick_threads = threads.ticker()  # adaptive policy: re-check the other processes' load every few seconds
    while step < stop:
        tick_threads()
        out_of_time = bool(args.max_minutes) and (time.time() - t_start) > args.max_minutes * 60  # this sitting
        if _all_mean([float(out_of_time or interrupted.is_set())], ranks)[0] > 0:  # all ranks stop together
            log(f"{'stopped by SIGTERM' if interrupted.is_set() else f'time limit of {args.max_minutes} min reached'}"
                f" at step {step}")
            break
        factor = lr_factor(step, args)
        for g in optimizer.param_groups:
            g["lr"] = g["initial_lr"] * factor
        batch = sampler.batch_at(step, ranks.rank, ranks.world_size).to(device)  # (B / ranks, L+1)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            result = net(batch[:, :-1], targets=batch[:, 1:])
        objective = result.loss - sum(w * decisiveness(p, m, args.router_confidence_margin)
                                      for w, (p, m) in zip(args.router_confidence, result.router_p) if w)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()  # DDP averages the gradients over the ranks here
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        step += 1
        nt = args.batch_size * (batch.shape[1] - 1)
        nt_seen += nt
        nt_window += nt
        comp = [float(c) for c in result.compression]
        loss, ce, *comp = _all_mean([result.loss.item(), result.ce.item(), *comp], ranks)
        losses.append(loss)
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
                   "decisiveness": [decisiveness(p.detach(), m).item() for p, m in result.router_p],
                   "lr": optimizer.param_groups[0]["lr"], "grad_norm": float(grad_norm), "nt_per_s": rate,
                   "nt_seen": nt_seen, "elapsed_s": round(elapsed0 + now - t_start, 2)})
            t_window, nt_window = now, 0
        if step % args.print_every == 0:
            (bar.write if bar is not None else log)(
                f"step {step}: loss {loss:.4f} bits/nt {ce / LN2:.4f} "
                f"compression {'/'.join(f'{c:.2f}' for c in comp)} lr {optimizer.param_groups[0]['lr']:.2e} "
                f"{rate:,.0f} nt/s")
        if valid_sets and (step % args.eval_every == 0 or step == args.steps):
            last_eval, val_comp, routers = validate()
            msg = ", ".join(f"{g} {b:.3f}" for g, b in last_eval.items())
            rmsg = "; ".join(f"router {i + 1}: undecided {r['undecided']:.1%}, inner path "
                             f"{r.get('inner_path_bits', float('nan')):+.4f} bits/nt"
                             for i, r in enumerate(routers))
            (bar.write if bar is not None else log)(
                f"step {step}: valid bits/nt {msg}; compression {'/'.join(f'{c:.2f}' for c in val_comp)}; {rmsg}")
            t_window, nt_window = time.time(), 0  # keep validation time out of the training rate
        if step % args.save_every == 0:
            save()
    if bar is not None:
        bar.close()
    save()
    if log_file is not None:
        log_file.close()
    log(f"saved {out} at step {step}")
    return losses


def _silent(*_args, **_kw):
    pass


def _stop_on_sigterm():
    """An Event set by SIGTERM (`kill PID`): the loop then stops at the end of its step and saves."""
    import signal
    import threading
    event = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: event.set())
    return event


def parse_args(argv=None):
    """(TrainArgs, resume). On `--resume` the saved run's arguments are kept except those given again."""
    d = TrainArgs(data="")
    p = argparse.ArgumentParser(prog="python -m dnahnet.train", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", "--data", dest="data", default=None,
                   help="directory of GenBank/FASTA files (gz too) or a single genome file (required unless --resume)")
    p.add_argument("--config", default=d.config, help="preset (tiny, small, medium) or path to a config JSON")
    p.add_argument("--out", default=d.out, help="output directory (checkpoint, train state, log)")
    p.add_argument("--holdout", default=",".join(d.holdout),
                   help="comma-separated file-name substrings of genomes held out for validation "
                        "(ignored for a single file: its last 10%% validates)")
    p.add_argument("--steps", type=int, default=d.steps, help="planned steps (the schedule's length)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch, split over the ranks")
    p.add_argument("--seq-len", type=int, default=d.seq_len)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--schedule", choices=["cosine", "wsd"], default=d.schedule,
                   help="cosine decay, or wsd: flat, then linear decay over the last --decay-frac of the steps "
                        "(a wsd run can be extended with a larger --steps on --resume until its decay begins)")
    p.add_argument("--decay-frac", type=float, default=d.decay_frac)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--lr-multipliers", default=",".join(map(str, d.lr_multipliers)),
                   help="per-stage learning-rate multipliers, outer stage first")
    p.add_argument("--router-confidence", default="",
                   help="per router, outer first: weight of a reward for decisive routing, mean min(|2p - 1|, "
                        "margin) (e.g. 0,0.02: only the Stage-2 router; docs/TRAINING.md says why); empty = none")
    p.add_argument("--router-confidence-margin", type=float, default=d.router_confidence_margin,
                   help="decisions with |2p - 1| beyond this earn no more reward")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="torch CPU threads per process (0: the cores available, less those other processes keep "
                        "busy; $DNAHNET_THREAD_POLICY, see dnahnet/threads.py)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=d.precision,
                   help="autocast dtype; auto = bf16 on CUDA, and on a CPU only where a start-up probe finds it "
                        "faster with the same loss (logged)")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--eval-windows", type=int, default=d.eval_windows)
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--max-minutes", type=float, default=d.max_minutes,
                   help="stop and save after this many minutes of this sitting (a resumed run counts afresh)")
    p.add_argument("--stop-at", type=int, default=d.stop_at, help="stop and save at this step (schedule unchanged)")
    p.add_argument("--print-every", type=int, default=d.print_every)
    p.add_argument("--cache-dir", default="", help="where the encoded corpus is cached (default .cache/corpus)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out, with its saved "
                                                          "arguments except those given again")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (for log files)")
    ns = p.parse_args(argv)
    given = _given_options(p, argv)
    values = dict(
        data=ns.data, config=ns.config, out=ns.out, holdout=[h for h in ns.holdout.split(",") if h],
        steps=ns.steps, batch_size=ns.batch_size, seq_len=ns.seq_len, lr=ns.lr, min_lr_ratio=ns.min_lr_ratio,
        warmup=ns.warmup, schedule=ns.schedule, decay_frac=ns.decay_frac, weight_decay=ns.weight_decay,
        lr_multipliers=[float(v) for v in ns.lr_multipliers.split(",")],
        router_confidence=[float(v) for v in ns.router_confidence.split(",") if v],
        router_confidence_margin=ns.router_confidence_margin, grad_clip=ns.grad_clip,
        seed=ns.seed,
        device=ns.device, threads=ns.threads, precision=ns.precision, eval_every=ns.eval_every,
        eval_windows=ns.eval_windows, save_every=ns.save_every, log_every=ns.log_every, max_minutes=ns.max_minutes,
        stop_at=ns.stop_at, print_every=ns.print_every, cache_dir=ns.cache_dir, progress=not ns.no_progress)
    if ns.resume:
        state = Path(ns.out) / "train_state.json"
        if not state.exists():
            raise SystemExit(f"--resume: no train_state.json in {ns.out}")
        saved = json.loads(state.read_text())["args"]
        for key, value in saved.items():
            if key in values and key not in given and key not in _PER_SESSION:
                values[key] = list(value) if isinstance(value, tuple) else value
    if not values["data"]:
        raise SystemExit("--data-dir is required (unless --resume finds it in the saved run)")
    known = {f for f in TrainArgs.__dataclass_fields__}
    return TrainArgs(**{k: v for k, v in values.items() if k in known}), ns.resume


# Settings of one sitting, not of the run: a resumed run takes them from its own command line.
_PER_SESSION = {"max_minutes", "stop_at", "threads", "device", "progress", "print_every", "cache_dir", "precision"}


def _given_options(parser, argv):
    """The TrainArgs field names set explicitly on the command line."""
    import sys
    argv = sys.argv[1:] if argv is None else argv
    given = set()
    for action in parser._actions:
        if any(a == o or a.startswith(o + "=") for a in argv for o in action.option_strings):
            given.add({"no_progress": "progress"}.get(action.dest, action.dest))
    return given


def main(argv=None):
    args, resume = parse_args(argv)
    threads.configure_threads(args.threads or None)  # the cores available, less those other processes keep busy
    finished = False
    try:
        train(args, resume=resume)
        finished = True
    finally:
        shutdown(together=finished)


if __name__ == "__main__":
    main()
