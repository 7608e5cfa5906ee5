"""Forward and training throughput (nt/s) of a model preset on this CPU, with a per-part time breakdown.

    python bench/bench_model.py --preset small --batch 8 --length 4096 --threads 2 [--routing planted|model]

An untrained router fires at almost every position of the inner stage, which makes the inner stages far more
expensive than in a trained model; `--routing planted` (default) fixes boundaries at the target compression
(every 3rd nucleotide, then every 2nd chunk) so the numbers reflect a trained model's cost.
"""
import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import kernels.dispatch as dispatch
from dnahnet import routing
from dnahnet.config import HNetConfig
from dnahnet.hnet import DnaHNet, Isotropic


def plant_routing(model):
    """Replace boundary_prob by fixed boundaries every round(N) positions (N = that stage's target)."""
    targets = iter([])

    def planted(q, k):
        N = int(round(next(targets)))
        idx = torch.arange(q.shape[1], device=q.device)
        p = torch.where(idx % N == 0, 0.9, 0.1).expand(q.shape[0], -1).clone()
        return p, p > 0.5

    def reset(*_):
        nonlocal targets
        targets = iter(model.config.target_compression)

    model.register_forward_pre_hook(reset)
    routing.dispatch = type("Planted", (), {"boundary_prob": staticmethod(planted),
                                            "gather_chunks": staticmethod(dispatch.gather_chunks),
                                            "ema_scan": staticmethod(dispatch.ema_scan)})


def timed(fn, repeats):
    """Best of `repeats` runs after a warm-up (the machine is shared: the minimum is the least disturbed)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def breakdown(model, x):
    """Seconds spent in each encoder / main / decoder of one no-grad forward."""
    spent, started, hooks = defaultdict(float), {}, []
    for name, module in model.named_modules():
        if isinstance(module, Isotropic):
            label = name.replace("backbone.", "").replace("inner.", "stage+1/") or name
            hooks.append(module.register_forward_pre_hook(
                lambda m, i, n=label: started.__setitem__(n, time.perf_counter())))
            hooks.append(module.register_forward_hook(
                lambda m, i, o, n=label: spent.__setitem__(n, spent[n] + time.perf_counter() - started[n])))
    with torch.no_grad():
        start = time.perf_counter()
        model(x)
        total = time.perf_counter() - start
    for h in hooks:
        h.remove()
    spent["routing, chunk, dechunk, embedding, head"] = total - sum(spent.values())
    return total, spent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--routing", choices=["planted", "model"], default="planted")
    ap.add_argument("--no-train", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DnaHNet(HNetConfig.preset(args.preset))
    if args.routing == "planted":
        plant_routing(model)
    ids = torch.randint(0, 4, (args.batch, args.length + 1))
    x, y = ids[:, :-1], ids[:, 1:]
    nt = args.batch * args.length

    def forward():
        with torch.no_grad():
            model(x)

    def train_step():
        out = model(x, y)
        out.loss.backward()
        model.zero_grad(set_to_none=True)

    model.eval()
    t_fwd = timed(forward, args.repeats)
    t_train = float("nan") if args.no_train else timed(train_step, args.repeats)
    model.train()
    with torch.no_grad():
        comp = model(x).compression
    print("| preset | params | batch x length | threads | routing | compression | forward nt/s | train nt/s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.preset} | {model.num_parameters():,} | {args.batch} x {args.length} | {args.threads} | "
          f"{args.routing} | {', '.join(f'{c:.2f}' for c in comp)} | {nt / t_fwd:,.0f} | {nt / t_train:,.0f} |")
    total, spent = breakdown(model.eval(), x)
    print(f"\nforward breakdown ({total * 1e3:.0f} ms):")
    for name, sec in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:42s} {sec * 1e3:8.0f} ms  {100 * sec / total:5.1f}%")


if __name__ == "__main__":
    main()
