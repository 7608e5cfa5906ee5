"""Forward and training throughput (nt/s) of the model presets on this CPU; prints a table.

    python bench/bench_model.py --preset small --batch 8 --length 4096 --threads 2 [--profile]
"""
import argparse
import time

import torch

from dnahnet.config import HNetConfig
from dnahnet.hnet import DnaHNet


def timed(fn, repeats):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="print the top ops of one forward")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DnaHNet(HNetConfig.preset(args.preset))
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
    model.train()
    t_train = timed(train_step, args.repeats)
    out = model(x, y)
    print(f"| preset | params | batch x length | threads | forward nt/s | train nt/s | compression |")
    print(f"| {args.preset} | {model.num_parameters():,} | {args.batch} x {args.length} | {args.threads} | "
          f"{nt / t_fwd:,.0f} | {nt / t_train:,.0f} | {', '.join(f'{c:.2f}' for c in out.compression)} |")
    if args.profile:
        model.eval()
        with torch.no_grad(), torch.profiler.profile() as prof:
            model(x)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
