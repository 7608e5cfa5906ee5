"""Where one inference forward spends its CPU time: per aten op, per (op, input shapes) and per model part, as
fractions of the thread's CPU time, for `dnahnet.infer`'s windows on a slice of E. coli (or random DNA).

    python bench/profile_inference.py                          # bundled checkpoint, 2 batches of 8 x 2,048 nt
    python bench/profile_inference.py --checkpoint checkpoints/dnahnet-v2 --batches 1 --top 25

Times are the calling thread's CPU time (`time.thread_time_ns`) around each op, not wall time, so the fractions
hold on a busy host where this process is pre-empted (torch.profiler's wall-clock times do not). Single-threaded
by default (torch and numba), so all the work runs on the measured thread. "python + dispatch" is the forward's
CPU time that no op accounts for: Python, module calls, numpy conversions (the difference of two runs,
so noisy on a busy host). The compiled kernels are timed as ops: the fused Mamba-2 interior as
`native::mamba_inner` (C, `kernels/mamba/native.py`) or, without a C compiler, `numba::<kernel>`
(`kernels/mamba/cpu.py`); RMSNorm (`kernels/norm/cpu.py`) and the rotary embedding (`kernels/rope/cpu.py`) as
`numba::<kernel>`.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnahnet.infer import DEFAULT_BATCH_SIZE, DEFAULT_MARGIN, DEFAULT_WINDOW, _forward_windows, plan_windows  # noqa
from sample_genomes.loader import data_dir  # noqa: E402

ECOLI = "Escherichia_coli_K12_MG1655_GCF_000005845.2.gbff.gz"
COMPILED_KERNELS = {  # module -> (label, its kernels); a numba kernel's serial twin is timed under its name too
    "kernels.mamba.native": ("native", ("mamba_block", "mamba_inner")),  # C, when a compiler built them
    "kernels.attention.native": ("native", ("transformer_block", "causal_attention")),
    "kernels.mamba.cpu": ("numba", ("_causal_conv", "_gated_scan", "_normalize")),  # else the numba one
    "kernels.norm.cpu": ("numba", ("_rms_norm",)),
    "kernels.rope.cpu": ("numba", ("_rope",)),
}


class OpTimes(TorchDispatchMode):
    """Thread CPU time per aten op, per (op, shapes) and per innermost module (set by `ModuleStack`)."""

    def __init__(self, where):
        super().__init__()
        self.where = where
        self.by_op, self.by_shape, self.by_part = defaultdict(float), defaultdict(float), defaultdict(float)
        self.count = defaultdict(int)

    def add(self, name, shapes, seconds):
        self.by_op[name] += seconds
        self.by_shape[(name, shapes)] += seconds
        self.by_part[self.where[-1] if self.where else "(outside modules)"] += seconds
        self.count[name] += 1

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        t0 = time.thread_time_ns()
        out = func(*args, **(kwargs or {}))
        dt = (time.thread_time_ns() - t0) * 1e-9
        shapes = tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))
        self.add(str(func.overloadpacket.__name__), shapes, dt)
        return out


def module_labels(model) -> dict:
    """module -> a short label: its class, the attribute that holds it in its parent, the stage it runs at."""
    labels = {}
    for name, m in model.named_modules():
        stage = name.count("inner.") if not name.endswith("inner") else name.count("inner.") + 1
        leaf = name.rsplit(".", 1)[-1] if name else "model"
        if leaf.isdigit():
            leaf = type(m).__name__
        parent_cls = ""
        if "." in name:
            parent = model.get_submodule(name.rsplit(".", 1)[0])
            parent_cls = type(parent).__name__ + "." if not isinstance(parent, torch.nn.ModuleList) else ""
        labels[m] = f"Stage {stage} {parent_cls}{leaf}"
    return labels


def install_module_stack(model, where: list):
    labels = module_labels(model)
    hooks = []
    for m, label in labels.items():
        hooks.append(m.register_forward_pre_hook(lambda mod, inp, label=label: where.append(label)))
        hooks.append(m.register_forward_hook(lambda mod, inp, out: where.pop() and None))  # None: keep the output
    return hooks


def wrap_compiled(recorder_ref):
    """Time the compiled kernels (the fused Mamba-2 interior in C or numba, RMSNorm, RoPE) as ops: they run outside
    the dispatcher."""
    import importlib

    for module_name, (label, names) in COMPILED_KERNELS.items():
        module = importlib.import_module(module_name)
        for name in names:
            for attr in (name, name + "_serial"):
                fn = getattr(module, attr, None)
                if fn is None:
                    continue

                def timed(*a, fn=fn, name=f"{label}::{name}", **kw):
                    t0 = time.thread_time_ns()
                    out = fn(*a, **kw)
                    if recorder_ref[0] is not None:
                        recorder_ref[0].add(name, (), (time.thread_time_ns() - t0) * 1e-9)
                    return out
                setattr(module, attr, timed)


def windows(args) -> np.ndarray:
    """(batches * batch, window) int64 token ids: consecutive windows of `plan_windows` over an E. coli slice."""
    from dnahnet.tokenizer import encode

    need = args.batches * args.batch_size * (args.window - args.margin) + args.window
    d = data_dir()
    if d is None or args.random:
        seq = encode("".join(np.random.default_rng(0).choice(list("ACGT"), need)))
    else:
        from dnahnet.genome_io import read_genome

        seq = encode(str(read_genome(d / "genomes" / ECOLI).records[0].seq)[args.start:args.start + need])
    plan = plan_windows(len(seq), 0, args.window, args.margin)[: args.batches * args.batch_size]
    return np.stack([seq[s:s + args.window] for s, _, _ in plan]).astype(np.int64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    ap.add_argument("--margin", type=int, default=DEFAULT_MARGIN)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--start", type=int, default=1_000_000, help="E. coli offset of the first window")
    ap.add_argument("--random", action="store_true", help="random DNA instead of E. coli")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2, help="unprofiled runs (the fastest is the reference)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from dnahnet.checkpoint import load

    model = load(args.checkpoint, device="cpu").eval()  # a CPU profile, also on a machine with a GPU
    x = windows(args)
    device = torch.device("cpu")
    batches = [x[i:i + args.batch_size] for i in range(0, len(x), args.batch_size)]
    recorder = [None]
    wrap_compiled(recorder)
    _forward_windows(model, batches[0], device)  # warm-up: numba load, allocations

    wall = cpu_plain = float("inf")
    for _ in range(args.repeats):  # the least disturbed of the unprofiled runs
        t0, c0 = time.perf_counter(), time.thread_time()
        for b in batches:
            _forward_windows(model, b, device)
        wall, cpu_plain = min(wall, time.perf_counter() - t0), min(cpu_plain, time.thread_time() - c0)

    where: list = []
    hooks = install_module_stack(model, where)
    rec = OpTimes(where)
    recorder[0] = rec
    c0 = time.thread_time()
    with rec:
        for b in batches:
            _forward_windows(model, b, device)
    cpu_profiled = time.thread_time() - c0
    for h in hooks:
        h.remove()
    recorder[0] = None

    nt = sum(len(b) for b in batches) * (args.window - args.margin)
    ops = sum(rec.by_op.values())
    print(f"{len(x)} windows of {args.window} nt (margin {args.margin}, batch {args.batch_size}), "
          f"{torch.get_num_threads()} thread(s); unprofiled: {cpu_plain:.2f} s CPU ({wall:.2f} s wall), "
          f"{nt / cpu_plain:,.0f} decided nt per CPU-second")
    other = max(cpu_plain - ops, 0.0)
    print(f"ops {ops:.2f} s CPU; python + dispatch (unprofiled CPU - ops) {other:.2f} s; "
          f"profiled run {cpu_profiled:.2f} s CPU")
    total = ops + other

    def table(title, items, label):
        print(f"\n{title} (fraction of {total:.2f} s)")
        for key, sec in sorted(items, key=lambda kv: -kv[1])[: args.top]:
            print(f"  {100 * sec / total:5.1f}%  {sec * 1e3:8.1f} ms  {label(key)}")

    table("by op", list(rec.by_op.items()) + [("python + dispatch", other)],
          lambda k: f"{k} (x{rec.count[k]})" if k in rec.count else k)
    table("by op and input shapes", rec.by_shape.items(), lambda k: f"{k[0]} {list(map(list, k[1]))}"[:110])
    table("by model part (innermost module)", rec.by_part.items(), str)


if __name__ == "__main__":
    main()
