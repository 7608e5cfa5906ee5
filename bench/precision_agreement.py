"""Faster-but-not-exact inference variants against fp32: how many router boundaries move, how far p moves, how
bits/nt changes and what it buys in CPU time, on one E. coli slice read the way `dnahnet.infer` reads it.

    python bench/precision_agreement.py                                   # 1,000,000-1,020,000, both strands
    python bench/precision_agreement.py --region 0-200000 --variants int8,bf16,torch-kernels --threads 2

Variants (each against the same model in fp32 with the default kernels):
  int8           torch.ao dynamic int8 quantisation of the Linear layers inside the Mamba-2 and Transformer blocks
                 (the routers, residual projections and LM head stay fp32);
  bf16           torch.autocast("cpu", bfloat16) around the forward (bf16 matmuls; the routers and the fused Mamba-2
                 interior still compute in fp32);
  torch-kernels  DNAHNET_KERNELS=torch (the PyTorch reference paths instead of the fused numba interior): a check
                 that the fast path decides the same boundaries;
  cuda           the model on the GPU in fp32 with its default kernels (Triton): a check of the GPU path;
  cuda-bf16      the model on the GPU under bf16 autocast (`dnahnet.infer --precision bf16` on a GPU).
A boundary "moves" when it is in one boundary set and not the other (a symmetric difference over decided
positions, per strand). Positions are decided once, by the window where they lie past the margin (as `analyze`).
CPU seconds are the calling thread's (`time.thread_time`; at --threads 1 that is all the work, on a busy host too);
a GPU variant's are wall-clock seconds with the GPU synchronised, so its "time" column is not a CPU-time ratio.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnahnet.infer import DEFAULT_BATCH_SIZE, DEFAULT_MARGIN, DEFAULT_WINDOW, plan_windows  # noqa: E402
from sample_genomes.loader import data_dir  # noqa: E402

ECOLI = "Escherichia_coli_K12_MG1655_GCF_000005845.2.gbff.gz"
VARIANTS = ("int8", "bf16", "torch-kernels", "cuda", "cuda-bf16")


def quantized_int8(model):
    """A copy of the model whose block Linear layers (Mamba-2 in/out projections, attention, SwiGLU) are dynamically
    quantised to int8; routers, residual projections and the LM head stay fp32."""
    from torch.ao.quantization import quantize_dynamic

    from dnahnet.mamba2 import MambaBlock
    from dnahnet.transformer import TransformerBlock

    names = {f"{block}.{leaf}" for block, m in model.named_modules() if isinstance(m, (MambaBlock, TransformerBlock))
             for leaf, sub in m.named_modules() if isinstance(sub, torch.nn.Linear)}
    return quantize_dynamic(copy.deepcopy(model), names, dtype=torch.qint8)


@contextlib.contextmanager
def kernels_env(value):
    old = os.environ.get("DNAHNET_KERNELS")
    os.environ["DNAHNET_KERNELS"] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("DNAHNET_KERNELS")
        else:
            os.environ["DNAHNET_KERNELS"] = old


def read_pass(model, ext: np.ndarray, lead, window, margin, batch_size, context) -> dict:
    """One reading direction of `ext` (its first `lead` nt context only) -> per stage {position: (p, b)} of the
    decided positions, log-probabilities of decided positions, seconds (CPU thread time; wall time on a GPU)."""
    plan = plan_windows(len(ext), lead, window, margin)
    width = min(window, len(ext))
    device = next(model.parameters()).device
    clock = time.perf_counter if device.type == "cuda" else time.thread_time
    stages: list[dict] = []
    logprob = []
    cpu = 0.0
    for i in range(0, len(plan), batch_size):
        batch = plan[i:i + batch_size]
        x = torch.from_numpy(np.stack([ext[s:s + width] for s, _, _ in batch]).astype(np.int64)).to(device)
        c0 = clock()
        with torch.inference_mode(), context():
            out = model(x, return_routing=True)
            lp = torch.log_softmax(out.logits.float(), -1)[:, :-1].gather(-1, x[:, 1:, None])[..., 0]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        cpu += clock() - c0
        lp = lp.cpu()
        routing = [(r.mask.cpu(), r.positions.cpu(), r.p.float().cpu(), r.b.cpu()) for r in out.routing]
        for w, (start, lo, hi) in enumerate(batch):
            logprob.append(lp[w, lo - start - 1: hi - start - 1].numpy())
            for s, (mask, positions, p_all, b_all) in enumerate(routing):
                if len(stages) <= s:
                    stages.append({})
                m = mask[w]
                pos = (positions[w][m] + start).numpy()
                p, b = p_all[w][m].numpy(), b_all[w][m].numpy()
                for k in np.flatnonzero((pos >= lo) & (pos < hi)):
                    stages[s][int(pos[k])] = (float(p[k]), bool(b[k]))
    return {"stages": stages, "logprob": np.concatenate(logprob), "cpu": cpu}


def compare(ref: dict, other: dict) -> dict:
    """Boundary symmetric differences, boundary counts and max |Δp| (at positions both read) per stage."""
    row = {"bits_delta": float(-(other["logprob"].mean() - ref["logprob"].mean()) / np.log(2)),
           "cpu_ratio": other["cpu"] / ref["cpu"]}
    for s, (a, b) in enumerate(zip(ref["stages"], other["stages"])):
        ba = {k for k, (_, v) in a.items() if v}
        bb = {k for k, (_, v) in b.items() if v}
        common = a.keys() & b.keys()
        row[f"moved_s{s}"] = len(ba ^ bb)
        row[f"bounds_s{s}"] = len(ba)
        row[f"dp_s{s}"] = max((abs(a[k][0] - b[k][0]) for k in common), default=0.0)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--region", default="1000000-1020000", help="START-END of E. coli (random DNA without data)")
    ap.add_argument("--strands", default="both", choices=["both", "+", "-"])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    ap.add_argument("--margin", type=int, default=DEFAULT_MARGIN)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    bad = sorted(set(variants) - set(VARIANTS))
    if bad:
        raise SystemExit(f"unknown variant(s) {bad}; choose from {list(VARIANTS)}")
    torch.set_num_threads(args.threads)
    from dnahnet.checkpoint import load
    from dnahnet.tokenizer import encode, reverse_complement

    a, b = (int(v) for v in args.region.replace(",", "").split("-"))
    d = data_dir()
    if d is None:
        seq, name = encode("".join(np.random.default_rng(0).choice(list("ACGT"), b))), "random DNA"
    else:
        from dnahnet.genome_io import read_genome

        seq, name = encode(str(read_genome(d / "genomes" / ECOLI).records[0].seq)), "E. coli K-12"
    lo = max(a - args.margin, 0)
    forward = seq[lo:b]
    reads = {"+": forward, "-": reverse_complement(seq[a:min(b + args.margin, len(seq))])}
    strands = ["+", "-"] if args.strands == "both" else [args.strands]
    model = load(args.checkpoint, device="cpu").eval()  # the fp32 reference is the CPU, also beside a GPU
    plain = contextlib.nullcontext
    runs = {"fp32": (model, plain)}
    if "int8" in variants:
        runs["int8"] = (quantized_int8(model).eval(), plain)
    if "bf16" in variants:
        runs["bf16"] = (model, lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    if "torch-kernels" in variants:
        runs["torch-kernels"] = (model, lambda: kernels_env("torch"))
    if {"cuda", "cuda-bf16"} & set(variants):
        if not torch.cuda.is_available():
            raise SystemExit("the cuda variants need a GPU that PyTorch sees")
        on_gpu = copy.deepcopy(model).to("cuda")
        if "cuda" in variants:
            runs["cuda"] = (on_gpu, plain)
        if "cuda-bf16" in variants:
            runs["cuda-bf16"] = (on_gpu, lambda: torch.autocast("cuda", dtype=torch.bfloat16))
    warm = forward[: min(len(forward), 600)]
    results = {}
    for label, (m, context) in runs.items():
        read_pass(m, warm, 0, args.window, min(args.margin, len(warm) - 1), args.batch_size, context)  # warm-up
        per = [read_pass(m, reads[st], (a - lo) if st == "+" else min(args.margin, len(seq) - b), args.window,
                         args.margin, args.batch_size, context) for st in strands]
        results[label] = per
    print(f"{name} {a:,}-{b:,}, strands {args.strands}, window {args.window}, margin {args.margin}, batch "
          f"{args.batch_size}, {torch.get_num_threads()} thread(s); reference fp32: "
          + ", ".join(f"Stage {s + 1} {sum(len([1 for v in r['stages'][s].values() if v[1]]) for r in results['fp32'])}"
                      " boundaries" for s in range(len(results["fp32"][0]["stages"]))))
    n_stages = len(results["fp32"][0]["stages"])
    head = ["variant"] + [f"Stage {s + 1} boundaries moved" for s in range(n_stages)]
    head += [f"Stage {s + 1} max |dp|" for s in range(n_stages)] + ["bits/nt change", "time vs fp32 (CPU; GPU: wall)"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for label in runs:
        if label == "fp32":
            continue
        rows = [compare(r0, r1) for r0, r1 in zip(results["fp32"], results[label])]
        cells = [label] + [f"{sum(r[f'moved_s{s}'] for r in rows):,} of {sum(r[f'bounds_s{s}'] for r in rows):,}"
                           for s in range(n_stages)]
        cells += [f"{max(r[f'dp_s{s}'] for r in rows):.2e}" for s in range(n_stages)]
        cpu_ref = sum(r["cpu"] for r in results["fp32"])
        cpu = sum(r["cpu"] for r in results[label])
        cells += [f"{np.mean([r['bits_delta'] for r in rows]):+.5f}", f"{cpu / cpu_ref:.2f}x"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
