"""Inference benchmark: (a) whole-genome throughput of `dnahnet.analyze`; (b) dnaHNet against a
parameter-matched plain Transformer, forward only, at several lengths, side by side in one run; (c) with --sweep,
window settings side by side (speed, bits/nt, boundary agreement); (d) with --versus-checkpoint, two checkpoints'
`analyze` throughput side by side on one E. coli slice; (e) with --contention, each thread policy's throughput
quiet and beside one busy process that the script starts and stops itself (`dnahnet.threads`); (f) with --options,
ways to buy speed side by side (the strand passes one at a time or side by side, bf16 autocast, int8 dynamic
quantisation of the Linear layers, one 1-thread process per strand): nt/s and how many boundaries differ from the
default's; (g) with --versus-revision, this checkout's code against an earlier commit's on the same slice (a git
worktree, each run in a fresh process, alternating): nt/s and how many boundaries moved.

    python bench/bench_inference.py                    # E. coli K-12, both strands, bundled checkpoint, 2 threads
    python bench/bench_inference.py --limit 200000     # time a 200 kb prefix instead of the whole genome
    python bench/bench_inference.py --skip-genome --lengths 2048,8192,32768 --repeats 3
    python bench/bench_inference.py --quick            # tiny random model, short lengths (CI smoke run)
    python bench/bench_inference.py --sweep 2048:256:8,4096:256:4,2048:128:8   # E. coli 1.0-1.4 Mb, both strands
    python bench/bench_inference.py --versus-checkpoint checkpoints/dnahnet-v2      # the bundled one against it
    python bench/bench_inference.py --contention       # spin / fixed / adaptive threads, quiet vs one busy process
    python bench/bench_inference.py --options --repeats 3   # passes side by side or not / bf16 / int8 / processes
    python bench/bench_inference.py --versus-revision HEAD~3 --repeats 3   # this code against HEAD~3's
"""
from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dnahnet import threads  # noqa: E402 (before torch: it sets OMP_WAIT_POLICY, see dnahnet.threads)
import torch  # noqa: E402

from dnahnet.infer import DEFAULT_BATCH_SIZE, DEFAULT_MARGIN, DEFAULT_WINDOW  # noqa: E402
from bench.transformer_lm import matched_transformer  # noqa: E402
from sample_genomes.loader import data_dir  # noqa: E402  ($DNAHNET_DATA_DIR, else ../shared/data)

ECOLI = "Escherichia_coli_K12_MG1655_GCF_000005845.2.gbff.gz"


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform's guess."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_model(args):
    """(model, description, trained?) — the checkpoint, or a random tiny model in --quick mode; on the CPU."""
    from dnahnet.config import HNetConfig
    from dnahnet.hnet import DnaHNet

    if args.quick or args.config:
        torch.manual_seed(0)
        name = "tiny" if args.quick else args.config
        return DnaHNet(HNetConfig.preset(name)).eval(), f"{name} config, random init (untrained)", False
    from dnahnet.checkpoint import load

    try:
        model = load(args.checkpoint, device="cpu").eval()  # a CPU benchmark, also on a machine with a GPU
    except FileNotFoundError as e:
        raise SystemExit(f"{e}\n(use --checkpoint DIR, or --config small to time an untrained preset)") from None
    return model, f"checkpoint {args.checkpoint or '(bundled)'}", True


def genome_sequence(limit: int | None, quick: bool) -> tuple[str, str, bool, str]:
    """(sequence, name, circular, record id): E. coli K-12 from the data directory, or random DNA when it is absent."""
    d = data_dir()
    if d is None or quick:
        n = limit or 20_000
        rng = np.random.default_rng(0)
        return "".join(rng.choice(list("ACGT"), n)), f"random DNA ({n:,} nt)", False, "random"
    from dnahnet.genome_io import read_genome

    rec = read_genome(d / "genomes" / ECOLI).records[0]
    seq = str(rec.seq)
    circular = limit is None
    if limit:
        seq = seq[:limit]
    return seq, f"E. coli K-12 {rec.id} ({len(seq):,} nt{', circular' if circular else ' prefix'})", circular, rec.id


def bench_genome(model, args):
    """(a) Whole-genome (or prefix) inference through `analyze`, both strands, no cache."""
    from dnahnet.infer import analyze

    seq, name, circular, record_id = genome_sequence(args.limit, args.quick)
    print(f"\n(a) whole-genome inference: {name}, strands={args.strands}, window={args.window}, "
          f"margin={args.margin}, batch={args.batch_size}, threads={torch.get_num_threads()}")
    t0 = time.perf_counter()
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    record = SeqRecord(Seq(seq), id=record_id)  # keeps the record id, so a saved trace matches the genome
    trace = analyze(record, model=model, strands=args.strands, window=args.window, margin=args.margin,
                    batch_size=args.batch_size, cache=False, circular=circular, progress=_progress_bar())
    dt = time.perf_counter() - t0
    if args.trace_out:
        print(f"  trace written to {trace.save(args.trace_out)} (reuse: python -m interpret.report ... --trace FILE)")
    nt = len(seq) * (2 if args.strands == "both" else 1)
    for t, sp in zip(trace.meta["timings"], trace.passes):
        comp = "  ".join(f"stage {s + 1} x{c:.2f}" for s, c in enumerate(_compression(sp)))
        print(f"  pass {t['strand']}: {t['nt']:,} nt in {t['seconds']:.1f} s = {t['nt_per_s']:,.0f} nt/s   {comp}")
    print(f"  total: {nt:,} nt (both strands counted) in {dt:.1f} s = {nt / dt:,.0f} nt/s")
    if args.limit:
        full = 4_641_652 * 2
        print(f"  extrapolated to whole E. coli K-12 (both strands, {full:,} nt): {full / (nt / dt) / 60:.1f} min")


def bench_versus_checkpoint(model, args):
    """(d) `analyze` on one E. coli slice, both strands, default windows, with the loaded checkpoint and with
    `--versus-checkpoint`, alternating over `--repeats` rounds; the median of each and their ratio."""
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    from dnahnet import load
    from dnahnet.infer import analyze

    a, b = (int(x) for x in args.sweep_region.split("-"))
    seq, _, _, record_id = genome_sequence(b, args.quick)
    record = SeqRecord(Seq(seq[a:b]), id=record_id)
    models = {args.checkpoint or "(bundled)": model,
              args.versus_checkpoint: load(args.versus_checkpoint, device="cpu").eval()}
    for m in models.values():  # warm-up (numba, allocations)
        analyze(SeqRecord(Seq(seq[a:a + 5000]), id=record_id), model=m, cache=False)
    rates = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, m in models.items():
            t0 = time.perf_counter()
            analyze(record, model=m, cache=False)
            rates[name].append(2 * (b - a) / (time.perf_counter() - t0))
    print(f"\n(d) checkpoints side by side: {record_id} {a:,}-{b:,}, both strands, default windows, "
          f"median of {args.repeats} alternating rounds")
    print("| checkpoint | parameters | nt/s | time vs first row |\n|---|---|---|---|")
    first = None
    for name, m in models.items():
        rate = statistics.median(rates[name])
        first = first or rate
        print(f"| {name} | {m.num_parameters():,} | {rate:,.0f} | {first / rate:.2f}x |")


def bench_sweep(model, args):
    """(c) Window settings side by side on one E. coli slice, both strands: nt/s, bits/nt, and how many boundaries
    of each stage stay put (Jaccard index against the first setting's)."""
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    from dnahnet.infer import analyze

    a, b = (int(x) for x in args.sweep_region.split("-"))
    seq, _, _, record_id = genome_sequence(b, args.quick)
    record = SeqRecord(Seq(seq[a:b]), id=record_id)
    settings = [tuple(int(x) for x in item.split(":")) for item in args.sweep.split(",")]
    print(f"\n(c) window settings: {record_id} {a:,}-{b:,}, both strands, best of {args.repeats}")
    print("| window | margin | batch | nt/s | bits/nt | Stage 1 boundary Jaccard vs first row | Stage 2 ditto |")
    print("|---|---|---|---|---|---|---|")
    analyze(SeqRecord(Seq(seq[a:a + 5000]), id=record_id), model=model, cache=False)  # warm-up (numba, allocations)
    first = None
    for window, margin, batch in settings:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            trace = analyze(record, model=model, window=window, margin=margin, batch_size=batch, cache=False)
            times.append(time.perf_counter() - t0)
        bits = -np.nanmean(np.concatenate([sp.logprob for sp in trace.passes])) / np.log(2)
        bounds = [{(sp.strand, int(x)) for sp in trace.passes for x in sp.stages[s].boundaries}
                  for s in range(len(trace.passes[0].stages))]
        first = first or bounds
        jaccard = " | ".join(f"{len(f & c) / max(len(f | c), 1):.3f}" for f, c in zip(first, bounds))
        print(f"| {window:,} | {margin:,} | {batch} | {2 * (b - a) / min(times):,.0f} | {bits:.5f} | {jaccard} |",
              flush=True)


def _progress_bar():
    """A tqdm bar fed by analyze's progress(fraction, message) callback."""
    from tqdm import tqdm

    bar = tqdm(total=1000, unit="‰", leave=False, mininterval=2.0)

    def progress(fraction, message):
        bar.n = int(fraction * 1000)
        bar.set_description_str(message[:60], refresh=False)
        bar.refresh()
    return progress


def _compression(sp) -> list[float]:
    n_in, out = (sp.region[1] - sp.region[0]) if sp.region else sp.length, []
    for st in sp.stages:
        out.append(n_in / max(st.n_chunks, 1))
        n_in = st.n_chunks
    return out


def _time_forward(model, x, repeats) -> list[float]:
    times = []
    with torch.inference_mode():
        model(x[:, : min(256, x.shape[1])])  # warm-up (allocations, lazy init)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return times


def bench_versus_transformer(model, trained, args):
    """(b) dnaHNet vs a parameter-matched Transformer, forward only, batch 1, median of `repeats`."""
    from dnahnet.tokenizer import encode

    baseline = matched_transformer(model).eval()
    n_h, n_t = sum(p.numel() for p in model.parameters()), baseline.num_parameters()
    c = baseline.config
    print(f"\n(b) forward pass, batch 1, median of {args.repeats}, threads={torch.get_num_threads()}")
    print(f"  dnaHNet {n_h:,} params vs Transformer {n_t:,} params (d={c.d_model}, layers={c.n_layers}, "
          f"heads={c.num_heads}, ffn={c.d_intermediate}); {100 * (n_t - n_h) / n_h:+.1f}%")
    lengths = [int(x) for x in args.lengths.split(",")]
    seq, name, _, _ = genome_sequence(max(lengths), args.quick)
    print(f"  input: {name.split('(')[0].strip()}, first L nt")
    header = (f"  {'L (nt)':>8} | {'dnaHNet s':>9} {'nt/s':>9} | {'Transf. s':>9} {'nt/s':>9} | "
              f"{'speed-up':>8} | achieved compression")
    print(header)
    print("  " + "-" * (len(header) - 2))
    achieved = []
    for L in lengths:
        x = torch.from_numpy(encode(seq[:L]).astype(np.int64))[None]  # (1, L)
        with torch.inference_mode():
            comp = model(x).compression
        th = statistics.median(_time_forward(model, x, args.repeats))
        tt = statistics.median(_time_forward(baseline, x, args.repeats))
        achieved.append(comp)
        comp_text = "  ".join(f"stage {s + 1} x{v:.2f}" for s, v in enumerate(comp))
        print(f"  {L:>8,} | {th:>9.3f} {L / th:>9,.0f} | {tt:>9.3f} {L / tt:>9,.0f} | {tt / th:>7.2f}x | {comp_text}")
    target = getattr(model.config, "target_compression", None)
    if not trained:
        print("  WARNING: the dnaHNet here is untrained: its routers are not at their trained compression, so the "
              "speed-up is not meaningful.")
    elif target:
        print(f"  (trained targets: {'  '.join(f'stage {s + 1} x{t:g}' for s, t in enumerate(target))})")
        off = any(abs(c - t) / t > 0.25 for comp in achieved for c, t in zip(comp, target))
        if off:
            print("  WARNING: achieved compression is >25% off the targets (undertrained checkpoint?): the speed-up "
                  "does not show dnaHNet at its design compression.")


# ---------------------------------------------------------------------------------------------- (e) contention
CONTENTION_POLICIES = {  # policy -> (what the row says, OMP_WAIT_POLICY for its process; None = OpenMP's default)
    "spin": ("all cores, OpenMP default waiting (before dnahnet.threads)", None),
    "fixed": ("all cores, passive waiting", "PASSIVE"),
    "adaptive": ("cores others leave free, passive waiting (the default)", "PASSIVE"),
}


def _busy_loop(parent: int) -> None:
    """One CPU-bound process (pure Python arithmetic); ignores Ctrl-C (its parent stops it) and ends by itself
    when its parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    x = 1
    while os.getppid() == parent:
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


@contextlib.contextmanager
def busy_process():
    """A competing CPU-bound process for the duration of the block; stopped (killed if need be) however the block
    ends, Ctrl-C included."""
    proc = multiprocessing.get_context("fork").Process(target=_busy_loop, args=(os.getpid(),), daemon=True)
    proc.start()
    try:
        time.sleep(0.5)  # let it get going before anything is timed
        yield proc
    finally:
        proc.terminate()
        proc.join(2)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _contention_child_argv(args, policy: str) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--contention-child", policy,
            "--contention-nt", str(args.contention_nt), "--repeats", str(args.repeats),
            "--window", str(args.window), "--margin", str(args.margin), "--batch-size", str(args.batch_size)]
    if args.quick:
        argv.append("--quick")
    if args.checkpoint:
        argv += ["--checkpoint", args.checkpoint]
    if args.config:
        argv += ["--config", args.config]
    return argv


def _measure_policy(args, policy: str) -> dict:
    """One fresh process under `policy` (OpenMP reads its wait policy once, at load): its JSON result line."""
    env = {**os.environ, threads.POLICY_ENV: policy, "PYTHONPATH": str(REPO)}
    env.pop("OMP_NUM_THREADS", None)  # the policy decides the count
    wait = CONTENTION_POLICIES[policy][1]
    if wait is None:
        env.pop("OMP_WAIT_POLICY", None)
    else:
        env["OMP_WAIT_POLICY"] = wait
    done = subprocess.run(_contention_child_argv(args, policy), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {policy} measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def contention_child(args) -> int:
    """In a process of its own: `analyze` throughput of a slice under this process's thread policy, one JSON line."""
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    from dnahnet.infer import analyze

    choice = threads.configure_threads()
    start = choice.threads
    model, _, _ = load_model(args)
    seq, name, _, record_id = genome_sequence(args.contention_nt, args.quick)
    record = SeqRecord(Seq(seq), id=record_id)
    options = dict(window=args.window, margin=args.margin, batch_size=args.batch_size, cache=False, circular=False)
    analyze(SeqRecord(Seq(seq[:min(len(seq), 2 * args.window)]), id=record_id), model=model, **options)  # warm-up
    rates = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        analyze(record, model=model, progress=threads.governed(None), **options)
        rates.append(2 * len(seq) / (time.perf_counter() - t0))
    print(json.dumps({"policy": args.contention_child, "input": name, "threads_start": start,
                      "threads_end": torch.get_num_threads(), "nt_per_s": rates}))
    return 0


def bench_contention(args) -> None:
    """(e) Each thread policy's `analyze` throughput on a quiet host, then beside one busy process that this
    script starts and stops; policies alternate within each phase, each measurement in a fresh process."""
    policies = [p for p in args.policies.split(",") if p]
    unknown = set(policies) - set(CONTENTION_POLICIES)
    if unknown or not policies:
        raise SystemExit(f"--policies: expected some of {', '.join(CONTENTION_POLICIES)}, got {args.policies!r}")
    results = {p: {"quiet": [], "busy": []} for p in policies}
    print(f"\n(e) contention: {args.contention_nt:,} nt, both strands, window={args.window}, margin={args.margin}, "
          f"batch={args.batch_size}; {threads.available_cpus()} cores available; median of {args.repeats} per "
          f"process, {args.rounds} round(s) per phase", flush=True)
    for phase in ("quiet", "busy"):
        with busy_process() if phase == "busy" else contextlib.nullcontext():
            for _ in range(args.rounds):
                for p in policies:
                    results[p][phase].append(_measure_policy(args, p))
    print("| policy | threads quiet → busy | quiet nt/s | beside one busy process nt/s | ratio |")
    print("|---|---|---|---|---|")
    for p in policies:
        quiet = statistics.median(r for res in results[p]["quiet"] for r in res["nt_per_s"])
        busy = statistics.median(r for res in results[p]["busy"] for r in res["nt_per_s"])
        t_quiet = "/".join(sorted({str(res["threads_end"]) for res in results[p]["quiet"]}))
        t_busy = "/".join(sorted({f"{res['threads_start']}→{res['threads_end']}" if res["threads_start"]
                                  != res["threads_end"] else str(res["threads_end"]) for res in results[p]["busy"]}))
        print(f"| {p}: {CONTENTION_POLICIES[p][0]} | {t_quiet} → {t_busy} | {quiet:,.0f} | {busy:,.0f} | "
              f"{busy / quiet:.2f} |")
    print("  target (issue 18): ratio ≥ 0.45 beside one busy process (fair share on 2 cores would be 0.5)")


# ------------------------------------------------------------------------------------------------- (f) options
OPTIONS = {  # option -> what its row says
    "fp32": "fp32, the strand passes side by side, 1 thread each (the default)",
    "one-at-a-time": "fp32, one strand pass after the other on all threads (before session 9)",
    "bf16": "bf16 autocast, one pass at a time (autocast is per thread; the numba Mamba-2 interior stays fp32)",
    "int8": "int8 dynamic quantisation of every nn.Linear (torch.ao, fbgemm/onednn)",
    "strands": "one 1-thread process per strand, side by side (fp32)",
}


def _option_record(args):
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    a, b = (int(x) for x in args.options_region.split("-"))
    seq, _, _, record_id = genome_sequence(b, args.quick)
    return SeqRecord(Seq(seq[a:b]), id=record_id), b - a


def options_child(args) -> int:
    """In a process of its own, 1 thread: one strand of the --options slice; prints its seconds as a JSON line."""
    from dnahnet.infer import analyze

    torch.set_num_threads(1)
    model, _, _ = load_model(args)
    record, _ = _option_record(args)
    analyze(record[:5000], model=model, strands=args.options_child, cache=False, circular=False)  # warm-up
    t0 = time.perf_counter()
    trace = analyze(record, model=model, strands=args.options_child, cache=False, circular=False)
    seconds = time.perf_counter() - t0
    trace.save(args.trace_out)
    print(json.dumps({"strand": args.options_child, "seconds": seconds}))
    return 0


def _strand_processes(args):
    """(wall seconds, both passes) for both strands, each in its own 1-thread process, started together (start-up
    excluded: each child times its own pass, and the pair is done when the slower one is)."""
    import tempfile
    import types

    from dnahnet.trace import Trace

    argv = [sys.executable, str(Path(__file__).resolve()), "--options-region", args.options_region]
    if args.quick:
        argv.append("--quick")
    if args.checkpoint:
        argv += ["--checkpoint", args.checkpoint]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {strand: Path(tmp) / f"{'plus' if strand == '+' else 'minus'}.npz" for strand in ("+", "-")}
        procs = [subprocess.Popen(argv + ["--options-child", strand, "--trace-out", str(path)], env=env,
                                  stdout=subprocess.PIPE, text=True) for strand, path in paths.items()]
        seconds = []
        for proc in procs:
            out, _ = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit("a strand process failed")
            seconds.append(json.loads(out.strip().splitlines()[-1])["seconds"])
        passes = [p for path in paths.values() for p in Trace.load(path).passes]
    return max(seconds), types.SimpleNamespace(passes=passes)


def bench_options(model, args):
    """(f) Options that trade exactness or simplicity for speed, on one E. coli slice, both strands, default
    windows, alternating over `--repeats` rounds: median nt/s, and how far each one's boundaries and bits/nt are
    from the fp32 default's (the boundaries are what users look at: an option is only free if none move)."""
    import copy
    import warnings

    from dnahnet.infer import analyze

    record, n = _option_record(args)
    with warnings.catch_warnings():  # torch.ao's eager quantisation is deprecated (torchao replaces it): still runs
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
    runs = {
        "fp32": lambda: analyze(record, model=model, cache=False, circular=False),
        "one-at-a-time": lambda: analyze(record, model=model, cache=False, circular=False, workers=1),
        "bf16": lambda: _in_bf16(lambda: analyze(record, model=model, cache=False, circular=False, workers=1)),
        "int8": lambda: analyze(record, model=int8, cache=False, circular=False),
    }
    wanted = [o for o in args.options.split(",") if o]
    unknown = set(wanted) - set(OPTIONS)
    if unknown or "fp32" not in wanted:
        raise SystemExit(f"--options: expected fp32 and some of {', '.join(OPTIONS)}, got {args.options!r}")
    print(f"\n(f) options: {record.id} {args.options_region}, both strands, window {DEFAULT_WINDOW}, margin "
          f"{DEFAULT_MARGIN}, batch {DEFAULT_BATCH_SIZE}, median of {args.repeats} alternating rounds", flush=True)
    for option in wanted:  # warm-up: numba, oneDNN's kernels for each dtype
        if option in runs:
            runs[option]()
    rates, traces = {o: [] for o in wanted}, {}
    for _ in range(args.repeats):
        for option in wanted:
            t0 = time.perf_counter()
            if option == "strands":
                seconds, traces[option] = _strand_processes(args)
            else:
                traces[option] = runs[option]()
                seconds = time.perf_counter() - t0
            rates[option].append(2 * n / seconds)
    _print_side_by_side("option", {o: f"{o}: {OPTIONS[o]}" for o in wanted}, rates, traces)


# Runs in a fresh process with an arbitrary revision's code first on sys.path, so it uses only APIs every revision
# has had: checkpoint.load, analyze(record, model=, cache=, circular=), Trace.save.
_REVISION_CHILD = """
import json, sys, time
code, ckpt, fasta, trace_out, n_threads = sys.argv[1:6]
sys.path.insert(0, code)
import torch
from Bio import SeqIO
from dnahnet import checkpoint
from dnahnet.infer import analyze
torch.set_num_threads(int(n_threads))
model = checkpoint.load(ckpt, device="cpu").eval()
record = SeqIO.read(fasta, "fasta")
analyze(record[:5000], model=model, cache=False, circular=False)  # warm-up: numba's cache, oneDNN
t0 = time.perf_counter()
trace = analyze(record, model=model, cache=False, circular=False)
seconds = time.perf_counter() - t0
trace.save(trace_out)
print(json.dumps({"seconds": seconds}))
"""


def bench_versus_revision(args):
    """(g) This checkout's code against `--versus-revision`'s (a detached git worktree made for the run and removed
    after) on the --options slice, both strands, default settings, the bundled checkpoint of this checkout for both:
    each run a fresh process (two versions of a module cannot share one), alternating over `--repeats` rounds;
    median nt/s, and how far the revision's boundaries and bits/nt are from this code's."""
    import tempfile

    from Bio import SeqIO

    from dnahnet import checkpoint
    from dnahnet.trace import Trace

    record, n = _option_record(args)
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.versus_revision], check=True,
                         capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True).stdout.strip())
    ckpt = str(checkpoint.resolve(args.checkpoint))
    print(f"\n(g) this code ({head}{' + uncommitted changes' if dirty else ''}) against {rev}: {record.id} "
          f"{args.options_region}, both strands, {args.threads} threads, default windows, median of {args.repeats} "
          f"alternating rounds, each a fresh process", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / f"rev-{rev}"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev], check=True,
                       capture_output=True)
        try:
            fasta = Path(tmp) / "slice.fa"
            SeqIO.write(record, fasta, "fasta")
            codes = {"this code": REPO, rev: tree}
            rates, traces = {c: [] for c in codes}, {}
            for round_ in range(args.repeats):
                for name, code in codes.items():
                    out = Path(tmp) / f"{'this' if code == REPO else 'rev'}-{round_}.npz"
                    proc = subprocess.run([sys.executable, "-c", _REVISION_CHILD, str(code), ckpt, str(fasta),
                                           str(out), str(args.threads)], cwd=code, capture_output=True, text=True)
                    if proc.returncode != 0:
                        raise SystemExit(f"the run with {name} failed:\n{proc.stderr[-2000:]}")
                    rates[name].append(2 * n / json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])
                    traces[name] = Trace.load(out)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    _print_side_by_side("code", {name: name for name in codes}, rates, traces)


def _print_side_by_side(first_column: str, labels: dict, rates: dict, traces: dict) -> None:
    """A table row per run, in `labels`' order (key -> the row's first cell), the first run the reference: median
    nt/s of `rates[key]`, speed against the reference, boundaries moved per stage and bits/nt change of
    `traces[key]` against the reference's trace."""
    keys = list(labels)
    base = traces[keys[0]]
    n_stages = len(base.passes[0].stages)
    print(f"| {first_column} | nt/s | speed vs the first row | "
          + " | ".join(f"Stage {s + 1} boundaries moved" for s in range(n_stages)) + " | bits/nt change |")
    print("|---|---|---|" + "---|" * n_stages + "---|")
    base_rate = statistics.median(rates[keys[0]])
    for key in keys:
        rate = statistics.median(rates[key])
        moved = " | ".join(_moved(base, traces[key], s) for s in range(n_stages))
        bits = _bits(traces[key]) - _bits(base)
        print(f"| {labels[key]} | {rate:,.0f} | {rate / base_rate:.2f}x | {moved} | {bits:+.5f} |", flush=True)

def _in_bf16(fn):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return fn()


def _bits(trace) -> float:
    return float(-np.nanmean(np.concatenate([sp.logprob for sp in trace.passes])) / np.log(2))


def _moved(base, other, stage: int) -> str:
    """Boundaries in one trace but not the other, both strands, as a count and a share of the first row's."""
    a = {(sp.strand, int(x)) for sp in base.passes for x in sp.stages[stage].boundaries}
    b = {(sp.strand, int(x)) for sp in other.passes for x in sp.stages[stage].boundaries}
    moved = len(a ^ b)
    return f"{moved:,} ({100 * moved / max(len(a), 1):.2f}%)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory (default: the bundled one)")
    ap.add_argument("--config", default=None, help="time a random-init preset (tiny/small/medium) instead")
    ap.add_argument("--trace-out", default=None, help="also save the whole-genome trace (.npz) here")
    ap.add_argument("--limit", type=int, default=None, help="time only the first NT nucleotides of E. coli")
    ap.add_argument("--strands", default="both", choices=["both", "+", "-"])
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    ap.add_argument("--margin", type=int, default=DEFAULT_MARGIN)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--lengths", default="2048,8192,32768", help="comma-separated lengths for (b)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-genome", action="store_true", help="only (b)")
    ap.add_argument("--skip-versus", action="store_true", help="only (a)")
    ap.add_argument("--sweep", default=None, help="compare window settings WINDOW:MARGIN:BATCH,... instead (c)")
    ap.add_argument("--sweep-region", default="1000000-1400000", help="START-END of E. coli for --sweep")
    ap.add_argument("--versus-checkpoint", default=None,
                    help="time this checkpoint against --checkpoint on the --sweep-region slice instead (d)")
    ap.add_argument("--contention", action="store_true",
                    help="each thread policy quiet and beside one busy process this script starts and stops (e)")
    ap.add_argument("--contention-nt", type=int, default=100_000, help="--contention: nt of E. coli (or random DNA)")
    ap.add_argument("--rounds", type=int, default=1, help="--contention: measurements per policy and phase")
    ap.add_argument("--policies", default=",".join(CONTENTION_POLICIES),
                    help="--contention: the thread policies to compare, comma-separated")
    ap.add_argument("--contention-child", default=None, choices=list(CONTENTION_POLICIES), help=argparse.SUPPRESS)
    ap.add_argument("--options", nargs="?", const=",".join(OPTIONS), default=None,
                    help="(f) compare these options side by side on --options-region (default: all of "
                         f"{', '.join(OPTIONS)})")
    ap.add_argument("--options-region", default="1000000-1200000", help="START-END of E. coli for --options")
    ap.add_argument("--options-child", default=None, choices=["+", "-"], help=argparse.SUPPRESS)
    ap.add_argument("--versus-revision", default=None, metavar="REV",
                    help="(g) this checkout's code against git revision REV's on the --options slice")
    ap.add_argument("--quick", action="store_true", help="tiny random model, short inputs (CI smoke run)")
    args = ap.parse_args(argv)
    if args.quick:
        args.limit = args.limit or 3000
        args.window, args.margin, args.lengths, args.repeats = 1024, 256, "256,512", 1
        args.contention_nt = min(args.contention_nt, 3000)
    if args.contention_child:
        return contention_child(args)
    if args.options_child:
        return options_child(args)
    if args.contention:
        print(f"host: {cpu_name()}, {os.cpu_count()} logical cores (--threads is ignored: each policy decides)")
        bench_contention(args)
        return 0
    torch.set_num_threads(args.threads)
    model, desc, trained = load_model(args)
    print(f"dnaHNet: {desc}; torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    print(f"host: {cpu_name()}, {os.cpu_count()} logical cores (hosts differ between runs: compare rows of one run)")
    if args.quick:
        args.sweep_region = args.options_region = "0-3000"
    if args.options:
        bench_options(model, args)
        return 0
    if args.versus_revision:
        bench_versus_revision(args)
        return 0
    if args.sweep or args.versus_checkpoint:
        (bench_sweep if args.sweep else bench_versus_checkpoint)(model, args)
        return 0
    if not args.skip_genome:
        bench_genome(model, args)
    if not args.skip_versus:
        bench_versus_transformer(model, trained, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
