"""Training-step throughput (nt/s) of each training option, side by side in one run on this machine.

    python bench/bench_train.py [--rounds 2] [--steps 8] [--baseline-ref 8692e9e] [--checkpoint checkpoints/X ...]

Every option runs in its own process (thread counts and torchrun need that), on real windows of the
training corpus when ../shared/data/genomes is there (random bases otherwise), with AdamW steps as the trainer
takes them, starting from trained weights (`checkpoints/dnahnet-small` unless a row names another) so the
routers cut at their trained rates. The options are interleaved over `--rounds` rounds and each row reports its
median, so a neighbour's load spreads over all rows instead of one. `--baseline-ref` checks out an older commit
into a temporary git worktree and times it with the same probe: "today's recipe" measured in the same run as the
new code. The recipe runs twice: with the fused numba Mamba-2 layer (forward and backward,
`kernels/mamba/cpu_train.py`; DNAHNET_KERNELS=auto) and with its PyTorch reference (DNAHNET_KERNELS=torch).
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = "configs/dnahnet-small.json"


# ---- the probe: runs inside each option's process ----------------------------------------------------------------
def probe(spec):
    """Time `spec["steps"]` training steps after 3 warm-up steps; rank 0 prints one JSON line."""
    root = spec.get("root") or str(REPO)
    sys.path.insert(0, root)
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo")
    torch.set_num_threads(spec["threads"])
    from dnahnet.config import HNetConfig
    from dnahnet.hnet import DnaHNet

    cfg_path = Path(spec["config"])
    config = HNetConfig.load(cfg_path if cfg_path.is_absolute() else Path(root) / cfg_path) \
        if cfg_path.suffix == ".json" else HNetConfig.preset(spec["config"])
    torch.manual_seed(0)
    if spec.get("checkpoint"):  # trained routers: an untrained one fires at a random rate, so the inner stages'
        from dnahnet import checkpoint  # cost (and the step time) would be nothing like a real run's
        model = checkpoint.load(spec["checkpoint"], device="cpu")
        config = model.config
    else:
        model = DnaHNet(config)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    inner = model.module if world > 1 else model
    opt = torch.optim.AdamW(inner.param_groups(1e-3, [2.0, 1.5, 1.0][:config.num_stages], 0.05), lr=1e-3,
                            betas=(0.9, 0.95))
    B, L = spec["batch"] // world, spec["seq_len"]
    batches = _batches(spec, B, L, seed=rank)
    dtype = torch.bfloat16 if spec["precision"] == "bf16" else None

    def step(x):
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = model(x[:, :-1], targets=x[:, 1:])
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(inner.parameters(), 1.0)
        opt.step()
        return out

    for i in range(3):
        step(batches[i % len(batches)])
    times, comps = [], []
    for i in range(spec["steps"]):
        t0 = time.perf_counter()
        out = step(batches[(i + 3) % len(batches)])
        times.append(time.perf_counter() - t0)
        comps.append([float(c) for c in out.compression])
    per_step = statistics.median(times)
    if world > 1:
        t = torch.tensor([per_step])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)  # a step is done when the slowest rank is
        per_step = float(t)
        dist.destroy_process_group()
    if rank == 0:
        print("PROBE " + json.dumps({"nt_per_s": spec["batch"] * L / per_step, "step_s": per_step,
                                     "compression": [round(statistics.mean(c), 2) for c in zip(*comps)],
                                     "params": inner.num_parameters()}), flush=True)


def _batches(spec, B, L, seed):
    """A few real training windows (B, L+1) when the corpus is there, else random bases."""
    import torch
    data = REPO.parent / "shared" / "data" / "genomes"
    if data.is_dir():
        from dnahnet.data import WindowSampler, load_corpus
        corpus = load_corpus(str(data))
        sampler = WindowSampler(corpus.train, L, B, seed=100 + seed)
        return [sampler.next_batch() for _ in range(4)]
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 4, (B, L + 1), generator=g) for _ in range(4)]


# ---- the driver ------------------------------------------------------------------------------------------------
def run_option(spec, nproc=1, timeout=900):
    """Run one probe in a fresh process (under torchrun when nproc > 1); returns its JSON result or an error."""
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "PYTHONPATH": spec.get("root") or str(REPO),
           **spec.get("env", {})}
    env.setdefault("DNAHNET_CACHE_DIR", str(REPO / ".cache"))  # a baseline worktree reuses the encoded corpus
    me = [str(Path(__file__).resolve()), "--probe", json.dumps(spec)]
    if nproc > 1:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
               "127.0.0.1", "--master_port", str(port), *me]
    else:
        cmd = [sys.executable, *me]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)
    for line in done.stdout.splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[6:])
    return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]}


def baseline_worktree(ref):
    """A temporary git worktree of `ref` (removed at exit by the caller)."""
    path = Path(tempfile.mkdtemp(prefix="bench-train-")) / "tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), ref], check=True,
                   capture_output=True)
    return path


def options(args, baseline_root):
    """(name, spec, nproc) rows. The base row is today's recipe: small config, 8 x 1,024, 1 process x 2 threads."""
    small = REPO / "checkpoints" / "dnahnet-small"
    base = dict(config=DEFAULT_CONFIG, batch=8, seq_len=1024, threads=2, precision="fp32", steps=args.steps,
                checkpoint=str(small) if (small / "model.safetensors").exists() else "")
    rows = []
    if baseline_root:
        rows.append((f"recipe at {args.baseline_ref} (its code)", {**base, "root": str(baseline_root)}, 1))
    fused = {**base, "env": {"DNAHNET_KERNELS": "auto"}}  # auto: the numba Mamba-2 training path (kernels/)
    rows += [
        ("this code, same recipe (fused numba Mamba-2 forward + backward)", fused, 1),
        ("this code, same recipe, PyTorch Mamba-2 (DNAHNET_KERNELS=torch)",
         {**base, "env": {"DNAHNET_KERNELS": "torch"}}, 1),
        ("bf16 autocast", {**base, "precision": "bf16"}, 1),
        ("2 ranks x 1 thread (torchrun, gloo)", {**base, "threads": 1}, 2),
        ("batch 16 x 1,024", {**base, "batch": 16}, 1),
        ("batch 4 x 2,048", {**base, "batch": 4, "seq_len": 2048}, 1),
        ("batch 16 x 512", {**base, "batch": 16, "seq_len": 512}, 1),
    ]
    for ckpt in args.checkpoint:  # a trained checkpoint as the long run trains it: 1 x 2 threads and 2 ranks x 1
        spec = {**base, "checkpoint": str(Path(ckpt).resolve())}
        rows += [(f"checkpoint {Path(ckpt).name}", spec, 1),
                 (f"checkpoint {Path(ckpt).name}, 2 ranks x 1 thread", {**spec, "threads": 1}, 2),
                 (f"checkpoint {Path(ckpt).name}, 2 ranks x 1 thread, PyTorch Mamba-2",
                  {**spec, "threads": 1, "env": {"DNAHNET_KERNELS": "torch"}}, 2)]
    if args.only:
        rows = [r for r in rows if any(o in r[0] for o in args.only)]
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds; each row reports its median")
    p.add_argument("--steps", type=int, default=8, help="timed steps per probe (after 3 warm-up steps)")
    p.add_argument("--baseline-ref", default="", help="git commit whose code runs the first row (today's recipe)")
    p.add_argument("--checkpoint", action="append", default=[],
                   help="another trained checkpoint to time, from its weights (repeatable)")
    p.add_argument("--only", action="append", default=[], help="keep rows whose name contains this (repeatable)")
    p.add_argument("--probe", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe:
        return probe(json.loads(args.probe))

    sys.path.insert(0, str(REPO))
    from bench.bench_inference import cpu_name
    print(f"host: {cpu_name()}, {os.cpu_count()} logical cores; {args.rounds} interleaved rounds of {args.steps} "
          f"timed steps (compare rows of one run only)")
    tree = baseline_worktree(args.baseline_ref) if args.baseline_ref else None
    try:
        rows = options(args, tree)
        results = {name: [] for name, _, _ in rows}
        for r in range(args.rounds):
            for name, spec, nproc in rows:
                results[name].append(run_option(spec, nproc))
                print(f"  round {r + 1}: {name}: {results[name][-1]}", file=sys.stderr, flush=True)
    finally:
        if tree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    ref = None
    print("\n| option | params | nt/s (median) | x first row | compression | rounds |")
    print("|---|---|---|---|---|---|")
    for name, spec, nproc in rows:
        ok = [x for x in results[name] if "nt_per_s" in x]
        if not ok:
            print(f"| {name} | | failed: {results[name][-1].get('error')} | | | 0 |")
            continue
        rate = statistics.median(x["nt_per_s"] for x in ok)
        ref = ref or rate
        print(f"| {name} | {ok[0]['params']:,} | {rate:,.0f} | {rate / ref:.2f} | "
              f"{'/'.join(map(str, ok[-1]['compression']))} | {len(ok)} |")


if __name__ == "__main__":
    main()
