"""Variant scoring benchmark: saturation mutagenesis, variants/s of the fast path (shared reference windows, batched;
with prefix reuse, the default, and with whole windows) against scoring each variant from scratch (its reference and
mutant windows, each strand, one forward each), in the same run. The naive path is timed on a random sample of the
same variants (it is slow by design). Every path is warmed up first (numba compiles or loads its kernels).

    python bench/bench_variants.py --quick                      # tiny random model, a synthetic 100-nt region
    python bench/bench_variants.py --quick --positions 4 --naive-sample 2 --window 128 --threads 1   # dry run
    python bench/bench_variants.py                              # bundled checkpoint, E. coli lacZ (1 kb+ CDS)
    python bench/bench_variants.py --gene thrA --naive-sample 40 --window 1024 --batch-size 32
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dnahnet.scoring import DEFAULT_BATCH_SIZE, DEFAULT_WINDOW, score_variants  # noqa: E402
from dnahnet.variants import AMINO_ACIDS, Genome  # noqa: E402

ECOLI = "Escherichia_coli_K12_MG1655_GCF_000005845.2.gbff.gz"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny random model on a synthetic region (seconds)")
    ap.add_argument("--genome", default=None, help="genome file (default: E. coli K-12 from the data directory)")
    ap.add_argument("--gene", default="lacZ", help="CDS to saturate (every codon x 20 other amino acids + stop)")
    ap.add_argument("--codons", type=int, default=None, help="only the first N codons of the gene")
    ap.add_argument("--positions", type=int, default=100, help="--quick: positions saturated (x 3 bases)")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--naive-sample", type=int, default=30, help="variants timed on the naive path")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-whole", action="store_true", help="do not time the fast path without prefix reuse")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.quick:
        from dnahnet.config import HNetConfig
        from dnahnet.hnet import DnaHNet

        torch.manual_seed(0)
        model = DnaHNet(HNetConfig.preset("tiny")).eval()
        rng = np.random.default_rng(0)
        seq = "".join(rng.choice(list("ACGT"), 3000))
        genome = Genome.from_source(seq)
        variants = [f"{p + 1}{seq[p]}>{b}" for p in range(1000, 1000 + args.positions) for b in "ACGT" if b != seq[p]]
        what = f"tiny random model, {args.positions} positions x 3 bases"
        args.window = min(args.window, 512)
    else:
        from dnahnet.checkpoint import load, resolve

        path = Path(args.genome) if args.genome else Path(os.environ.get(
            "DNAHNET_DATA_DIR", REPO.parent / "shared" / "data")) / "genomes" / ECOLI
        if not path.is_file():
            print(f"no genome at {path}: pass --genome or use --quick", file=sys.stderr)
            return 2
        genome = Genome.from_source(path)
        cds = genome.find_cds(args.gene)
        n = min(cds.n_codons, args.codons or cds.n_codons)
        from dnahnet.variants import wild_type_aa

        variants = []
        for res in range(1, n + 1):
            wt = wild_type_aa(cds.codon(res)[0], cds.table, res == 1)
            variants += [f"{args.gene}:{wt}{res}{aa}" for aa in AMINO_ACIDS if aa != wt]
        model = load(resolve(args.checkpoint))
        what = f"{args.checkpoint or 'bundled checkpoint'}, {cds.label} codons 1-{n} x 20 ({cds.n_codons * 3} nt CDS)"

    sample = list(np.random.default_rng(1).choice(variants, min(args.naive_sample, len(variants)), replace=False))
    print(f"{what}; window {args.window}, both strands, {torch.get_num_threads()} threads", flush=True)
    for kw in (dict(fast=False), dict(reuse=False), dict(reuse=True)):  # warm-up: compile / load the kernels
        score_variants(genome, variants[:2], model, window=args.window, **kw)

    def timed(subset, **kw):
        t = time.perf_counter()
        df = score_variants(genome, subset, model, window=args.window, batch_size=args.batch_size, **kw)
        return df, len(subset) / (time.perf_counter() - t)

    naive, naive_rate = timed(sample, fast=False)
    paths = [("from scratch", naive, naive_rate)]
    if not args.skip_whole:
        whole, rate = timed(variants, reuse=False)
        paths.append((f"fast, whole windows (shared reference, batch {args.batch_size})", whole, rate))
    fast, fast_rate = timed(variants, reuse=True)
    paths.append((f"fast, prefix reuse (batch {args.batch_size})", fast, fast_rate))
    print("| path | variants | windows | variants/s | x from scratch |\n|---|---:|---:|---:|---:|")
    for name, df, rate in paths:
        print(f"| {name} | {len(df):,} | {df.attrs['timing']['forward_rows']:,} | {rate:,.2f} | "
              f"{rate / naive_rate:.2f} |")
    for name, df, _ in paths[1:]:
        check = df.set_index("variant").loc[sample, "score"].to_numpy() - naive["score"].to_numpy()
        print(f"max |{name.split(' (')[0]} - from scratch| on the sample = {np.abs(check).max():.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
