"""Memory benchmark: peak RSS of whole-genome inference, `python -m dnahnet.infer` (default settings, bundled
checkpoint unless --checkpoint), each genome in its own child process with a fresh, empty trace cache, so every row
really computes. Synthetic genomes are random ACGT of the given sizes (one linear FASTA record, seeded); --genome
measures real files too. The table gives the child's peak RSS (ru_maxrss), bytes per nt (per nt of the genome, and
above the fixed cost of a child that only loads the model), the trace's size in memory and on disk, and wall time;
the last line says whether a GENOME_TARGET_MB genome fits in --limit-gb (measured when such a row ran, else
extrapolated linearly from the largest rows).

    python bench/bench_memory.py                          # 0.5, 2 and 12 Mb, both strands (12 Mb: ~20+ min of CPU)
    python bench/bench_memory.py --sizes 0.05             # a 50 kb smoke run
    python bench/bench_memory.py --sizes 0.5,2 --genome GCF_000203835.1.gbff.gz
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_inference import cpu_name  # noqa: E402

DEFAULT_SIZES_MB = "0.5,2,12"
GENOME_TARGET_MB = 12  # a Streptomyces-sized genome
DEFAULT_LIMIT_GB = 4.0
MB = 1_000_000  # nt per Mb
GB = 10**9  # decimal units throughout: the limit is 4 GB = 4e9 bytes
BASELINE_CODE = ("import sys; from dnahnet.checkpoint import load, resolve; import dnahnet.infer; "
                 "load(resolve(sys.argv[1] if len(sys.argv) > 1 else None))")


def write_synthetic(path: Path, n: int, seed: int = 0) -> Path:
    """A FASTA of one linear record of n random ACGT (80 nt per line)."""
    ids = np.random.default_rng(seed).integers(0, 4, size=n, dtype=np.uint8)
    seq = np.frombuffer(b"ACGT", np.uint8)[ids].tobytes()
    with open(path, "wb") as f:
        f.write(f">synthetic_{n} random ACGT, seed {seed}\n".encode())
        for i in range(0, n, 80):
            f.write(seq[i:i + 80] + b"\n")
    return path


def genome_length(path: Path) -> int:
    """nt in a genome file (all records), read the way inference reads it."""
    from dnahnet.genome_io import read_genome

    return sum(len(r.seq) for r in read_genome(path).records)


def run_child(cmd: list[str], env: dict, log: Path) -> tuple[int, int, float]:
    """Run cmd in a child process -> (exit code, its peak RSS in bytes, wall seconds); stdout+stderr go to `log`."""
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not every child's so far
    proc.returncode = os.waitstatus_to_exitcode(status)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return proc.returncode, usage.ru_maxrss * scale, time.perf_counter() - t0


def trace_in_memory(path: Path) -> int:
    """Bytes of the arrays a saved trace holds once loaded (one member at a time, so this stays light)."""
    total = 0
    with np.load(path, allow_pickle=False) as z:
        for name in z.files:
            total += z[name].nbytes
    return total


def measure(genome: Path, label: str, args) -> dict:
    """One genome through `python -m dnahnet.infer` in a child, with a fresh cache directory and output file."""
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        tmp = Path(tmp)
        out, cache = tmp / "genome.trace.npz", tmp / "cache"
        cmd = [sys.executable, "-m", "dnahnet.infer", str(genome), "--strands", args.strands, "--out", str(out),
               "--cache-dir", str(cache)]
        if args.checkpoint:
            cmd += ["--checkpoint", args.checkpoint]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        env = {**os.environ, "DNAHNET_CACHE_DIR": str(cache)}
        code, peak, wall = run_child(cmd, env, tmp / "child.log")
        if code != 0:
            tail = (tmp / "child.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"inference failed on {label} (exit {code}):\n{tail}")
        return {"genome": label, "length": genome_length(genome), "strands": args.strands, "peak": peak,
                "trace_mem": trace_in_memory(out), "trace_disk": out.stat().st_size, "seconds": wall}


def baseline_rss(args) -> int:
    """Peak RSS of a child that imports inference and loads the model, and does nothing else: the fixed cost."""
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        cmd = [sys.executable, "-c", BASELINE_CODE] + ([args.checkpoint] if args.checkpoint else [])
        code, peak, _ = run_child(cmd, dict(os.environ), Path(tmp) / "child.log")
        if code != 0:
            raise SystemExit(f"could not load the model: {(Path(tmp) / 'child.log').read_text(errors='replace')}")
    return peak


def verdict(rows: list[dict], limit_gb: float, target_mb: float) -> str:
    """Whether a target_mb genome fits in limit_gb: measured when a row that long ran, else extrapolated."""
    target, limit = target_mb * MB, limit_gb * GB
    done = [r for r in rows if r["length"] >= target]
    if done:
        r = max(done, key=lambda r: r["peak"])
        ok = r["peak"] <= limit
        return (f"{'PASS' if ok else 'FAIL'}: {r['genome']} ({r['length'] / MB:.2f} Mb, {r['strands']}) peaked at "
                f"{r['peak'] / GB:.2f} GB against the {limit_gb:g} GB limit (measured)")
    big = sorted(rows, key=lambda r: r["length"])[-2:]
    if len(big) < 2 or big[1]["length"] <= big[0]["length"]:
        return (f"UNKNOWN: one genome size only; the fixed cost (model, activations, JIT) hides the per-nt cost, so "
                f"give two sizes (e.g. --sizes 0.5,2) to extrapolate to {target_mb:g} Mb, or run {target_mb:g}")
    slope = (big[1]["peak"] - big[0]["peak"]) / (big[1]["length"] - big[0]["length"])  # bytes per nt
    at = big[1]["peak"] + slope * (target - big[1]["length"])
    ok = at <= limit
    return (f"{'PASS' if ok else 'FAIL'} (extrapolated, not measured): a {target_mb:g} Mb genome would peak at about "
            f"{at / GB:.2f} GB against the {limit_gb:g} GB limit (slope of the two largest rows, {slope:.1f} bytes/nt"
            f"{'; rows under 0.5 Mb are dominated by the fixed cost' if big[1]['length'] < MB / 2 else ''})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=DEFAULT_SIZES_MB,
                    help=f"synthetic genome sizes in Mb, comma-separated (default {DEFAULT_SIZES_MB}; '' for none)")
    ap.add_argument("--genome", action="append", default=[], help="also measure this genome file (repeatable)")
    ap.add_argument("--strands", default="both", choices=["both", "+", "-"])
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory or name (default: the bundled one)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of the child (default: its own)")
    ap.add_argument("--limit-gb", type=float, default=DEFAULT_LIMIT_GB, help="peak RSS allowed, GB")
    ap.add_argument("--target-mb", type=float, default=GENOME_TARGET_MB, help="genome size the limit is for, Mb")
    args = ap.parse_args(argv)
    try:
        sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--sizes must be numbers of Mb separated by commas, not {args.sizes!r}") from None
    if any(s <= 0 for s in sizes) or (not sizes and not args.genome):
        raise SystemExit("give at least one size > 0 (--sizes) or a --genome file")
    for g in args.genome:
        if not Path(g).is_file():
            raise SystemExit(f"no such genome file: {g}")

    print(f"host: {cpu_name()}, {os.cpu_count()} logical cores; python -m dnahnet.infer, strands={args.strands}, "
          f"default window/margin/batch, checkpoint {args.checkpoint or '(bundled)'}, fresh cache per row")
    base = baseline_rss(args)
    print(f"fixed cost (a child that only loads the model): {base / 1e6:,.0f} MB peak RSS", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_memory_genomes_") as tmp:
        for mb in sizes:
            n = int(round(mb * MB))
            path = write_synthetic(Path(tmp) / f"synthetic_{n}.fasta", n)
            rows.append(measure(path, f"synthetic {mb:g} Mb", args))
            path.unlink()
            print(f"  measured {rows[-1]['genome']}", flush=True)
    for g in args.genome:
        rows.append(measure(Path(g), Path(g).name, args))
        print(f"  measured {rows[-1]['genome']}", flush=True)
    print("| genome | length (nt) | strands | peak RSS (MB) | bytes/nt | bytes/nt above fixed cost | "
          "trace in memory (MB) | trace on disk (MB) | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['genome']} | {r['length']:,} | {r['strands']} | {r['peak'] / 1e6:,.0f} | "
              f"{r['peak'] / r['length']:,.1f} | {(r['peak'] - base) / r['length']:,.1f} | "
              f"{r['trace_mem'] / 1e6:,.1f} | {r['trace_disk'] / 1e6:,.1f} | {r['seconds']:,.1f} |")
    print(verdict(rows, args.limit_gb, args.target_mb))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
