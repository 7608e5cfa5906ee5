"""Whole-genome inference: run dnaHNet over records in overlapping windows and stitch one `Trace`.

Each strand pass reads a sequence (the record, or its reverse complement) in windows of `window` nt that overlap
by `margin` nt. The first `margin` positions of a window only warm the model up (they are masked); every position
is decided exactly once, by the one window where it lies past the margin. The model is causal (routing included),
so a decided position sees at least `margin` nt of real context. Circular records are wrapped: the first window
reads the last `margin` nt of the record as context. Results are written window by window straight into their final
arrays (`_Column`), so memory grows with the genome length only by about the trace's own size (~24 bytes per nt and
pass), not with the activations.

`python -m dnahnet.infer GENOME` runs it from the command line (see `main`); given several files or a directory it
analyses each genome and prints a per-genome summary, sharing the genomes out over the processes of a
`torchrun --nproc_per_node N` job (`run_batch`).
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from dnahnet import threads  # first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see dnahnet.threads)
import numpy as np
import torch

from dnahnet import cache as trace_cache
from dnahnet.cli import shown
from dnahnet.partial_trace import trace_so_far
from dnahnet.trace import FORMAT_VERSION, StageTrack, StrandPass, Trace, non_acgt_runs

DEFAULT_WINDOW = 2048
DEFAULT_MARGIN = 256
DEFAULT_BATCH_SIZE = 8
LATENT_SEED = 0
MARGIN_POLICY = (
    "Each window's first `margin` nt are warm-up context and masked; each position is decided once, by the window "
    "where it lies past the margin. Linear records: the first window decides its own first positions (they see less "
    "than `margin` nt of context, and position 0 of a pass has no log-probability). Circular records: the first "
    "window reads the record's last `margin` nt as context, so the origin is decided with context. A region reads "
    "up to `margin` nt before its start as context."
)


@dataclass
class SequenceInput:
    """One record to analyse: its id, its encoded forward strand, and whether it is circular."""

    record_id: str
    ids: np.ndarray  # (L,) uint8 token ids of the forward strand
    circular: bool


# ---------------------------------------------------------------------------------------------- inputs
def as_sequences(source, circular: bool | None = None) -> tuple[list[SequenceInput], list[str]]:
    """str (sequence or path), Path, SeqRecord, list of SeqRecords or GenomeFile -> sequences + problems.

    `circular` overrides the records' own topology (annotations["topology"] == "circular") when given.
    """
    from dnahnet.tokenizer import encode

    problems: list[str] = []
    if isinstance(source, (str, Path)) and _is_existing_file(source):
        from dnahnet.genome_io import read_genome

        source = read_genome(source)
    elif isinstance(source, str):
        text = "".join(source.split())
        if not text.isalpha():
            bad = sorted({c for c in text if not c.isalpha()})[:5]
            raise ValueError(f"input is neither an existing file nor a DNA sequence (unexpected characters {bad})")
        return [SequenceInput("sequence", encode(text), bool(circular))], problems
    elif isinstance(source, Path):
        raise FileNotFoundError(f"no such genome file: {source}")
    if hasattr(source, "records"):  # GenomeFile
        problems += list(getattr(source, "problems", []))
        records = list(source.records)
    elif hasattr(source, "seq"):  # SeqRecord
        records = [source]
    else:
        records = list(source)
    out, seen = [], set()
    for i, rec in enumerate(records):
        rid = str(getattr(rec, "id", None) or f"record_{i + 1}")
        if rid in seen:
            problems.append(f"record id {rid!r} appears twice; the copy at position {i + 1} is named {rid}_{i + 1}")
            rid = f"{rid}_{i + 1}"
        seen.add(rid)
        seq = str(rec.seq) if hasattr(rec, "seq") else str(rec)
        if len(seq) == 0:
            problems.append(f"record {rid!r} has no sequence; skipped")
            continue
        topo = str(getattr(rec, "annotations", {}).get("topology", "")).lower() == "circular"
        out.append(SequenceInput(rid, encode(seq), topo if circular is None else bool(circular)))
    return out, problems


def _is_existing_file(path) -> bool:
    try:
        return len(str(path)) < 4096 and Path(path).expanduser().is_file()
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- windows
def plan_windows(n_ext: int, lead: int, window: int, margin: int) -> list[tuple[int, int, int]]:
    """Windows over an extended sequence of n_ext nt whose first `lead` nt are context only.

    Returns (start, decide_from, decide_to): every window is [start, start + min(window, n_ext)) and decides the
    positions [decide_from, decide_to), at least `margin` nt past its start except for the first window when
    lead < margin. The decided ranges tile [lead, n_ext) exactly.
    """
    width = min(window, n_ext)
    plan, lo = [], lead
    while lo < n_ext:
        start = max(0, min(lo - margin, n_ext - width))
        hi = min(start + width, n_ext)
        plan.append((start, lo, hi))
        lo = hi
    return plan


def _pass_region(length: int, strand: str, region) -> tuple[int, int]:
    """Record region (forward coords) -> the same region in pass coordinates."""
    a, b = region if region is not None else (0, length)
    return (a, b) if strand == "+" else (length - b, length - a)


def _extended(pass_ids: np.ndarray, ra: int, rb: int, lead: int) -> np.ndarray:
    """pass_ids[ra - lead : rb], wrapping around the origin when ra - lead < 0 (circular records)."""
    lo = ra - lead
    if lo >= 0:
        return pass_ids[lo:rb]
    wrap = pass_ids[np.arange(lo, 0) % len(pass_ids)]
    return np.concatenate([wrap, pass_ids[:rb]])


# ---------------------------------------------------------------------------------------------- latents
def _hash_keys(positions: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random uint64 per position (splitmix64), so the subsample does not depend on windows."""
    with np.errstate(over="ignore"):
        x = positions.astype(np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class LatentSample:
    """Keeps the latents of at most `k` chunks: those with the smallest hash keys (a seeded uniform subsample).
    k=None keeps every chunk: the pieces are only collected, and copied once into the result."""

    def __init__(self, k: int | None, salt: int):
        self.k, self.salt = k, salt
        self.keys = np.zeros(0, np.uint64)
        self.where = np.zeros(0, np.int64)  # pass-local position of each kept chunk
        self.vecs: np.ndarray | None = None
        self.pieces: list[tuple[np.ndarray, np.ndarray]] = []  # k=None: (where, float16 vecs) per add, in order

    def add(self, where: np.ndarray, vecs: np.ndarray):
        if where.size == 0 or self.k == 0:
            return
        if self.k is None:  # everything is kept: no keys, no concatenation per window
            self.pieces.append((where, vecs.astype(np.float16)))
            return
        keys = _hash_keys(where, self.salt)
        if self.keys.size >= self.k:  # only candidates that can enter the sample
            take = keys < self.keys.max()
            where, keys, vecs = where[take], keys[take], vecs[take]
        vecs = vecs.astype(np.float16)
        self.keys = np.concatenate([self.keys, keys])
        self.where = np.concatenate([self.where, where])
        self.vecs = vecs if self.vecs is None else np.concatenate([self.vecs, vecs])
        if self.keys.size > 2 * self.k:
            self._trim()

    def _trim(self):
        keep = np.argpartition(self.keys, self.k - 1)[: self.k]
        self.keys, self.where, self.vecs = self.keys[keep], self.where[keep], self.vecs[keep]

    def _gather_pieces(self, d: int):
        """k=None: the collected pieces -> self.where, self.vecs, each piece freed once copied (peak: the result
        plus one piece, not twice the result)."""
        if not self.pieces:
            return
        self.where = np.concatenate([w for w, _ in self.pieces])
        self.vecs = np.empty((self.where.size, d), np.float16)  # (n_chunks, d)
        at = 0
        for j, (_, v) in enumerate(self.pieces):
            self.vecs[at:at + len(v)] = v
            at += len(v)
            self.pieces[j] = None
        self.pieces = []

    def result(self, boundary_where: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
        """(latent_index into the ascending `boundary_where`, latents (n_kept, d) float16), in reading order."""
        if self.k is None:
            self._gather_pieces(d)
        elif self.keys.size > self.k:
            self._trim()
        if self.vecs is None:
            return np.zeros(0, np.int64), np.zeros((0, d), np.float16)
        order = np.argsort(self.where, kind="stable")
        index = np.searchsorted(boundary_where, self.where[order]).astype(np.int64)
        if np.array_equal(order, np.arange(order.size)):  # already in reading order (k=None): no copy
            return index, np.ascontiguousarray(self.vecs)
        return index, np.ascontiguousarray(self.vecs[order])


# ---------------------------------------------------------------------------------------------- one pass
class _Column:
    """A 1-D array filled front to back, window by window, in ascending order when `ascending`. Room for `capacity`
    values is reserved up front (pages never written cost no memory) and `finish` trims it in place, so a pass holds
    its outputs once, at their final size: no per-window lists to concatenate, no dense per-position scratch."""

    def __init__(self, capacity: int, dtype, ascending: bool = False):
        self.data = np.empty(capacity, dtype)
        self.n, self.ascending = 0, ascending

    def extend(self, values: np.ndarray):
        m = values.size
        if m == 0:
            return
        if self.n + m > self.data.size:
            raise RuntimeError(f"internal error: more than {self.data.size} values for a pass of that many positions")
        if self.ascending and ((self.n and values[0] <= self.data[self.n - 1])
                               or (m > 1 and not (values[1:] > values[:-1]).all())):
            raise RuntimeError("internal error: a router's positions are not in reading order, or repeat")
        self.data[self.n:self.n + m] = values
        self.n += m

    def so_far(self) -> np.ndarray:
        """A copy of the values written so far (the buffer goes on filling)."""
        return self.data[:self.n].copy()

    def finish(self) -> np.ndarray:
        self.data.resize(self.n, refcheck=False)  # shrinks in place; nothing else refers to the buffer
        return self.data


def _to_record_inplace(k: np.ndarray, ra: int, length: int, strand: str) -> np.ndarray:
    """Pass-local indices k (int64) -> forward-strand record coordinates, overwriting k."""
    if strand == "+":
        k += ra
    else:
        np.subtract(length - 1 - ra, k, out=k)
    return k


def _run_pass(model, seq: SequenceInput, strand: str, region, window, margin, batch_size, max_latents,
              device, on_window, guard=contextlib.nullcontext(), precision: str = "fp32") -> StrandPass:
    """Analyse one record in one reading direction; outputs in forward-strand record coordinates.

    Every output is written, window by window, straight into its final array (`_Column`; the log-probability into
    the record-length array through a reversed view on "-"), so a pass holds about its trace's size, no more.
    `guard` (a lock when passes run side by side) is held while a batch's outputs are written and reported."""
    from dnahnet.tokenizer import reverse_complement

    length = len(seq.ids)
    pass_ids = seq.ids if strand == "+" else reverse_complement(seq.ids)
    ra, rb = _pass_region(length, strand, region)
    lead = margin if seq.circular else min(margin, ra)
    ext = _extended(pass_ids, ra, rb, lead)
    del pass_ids
    n = rb - ra  # decided positions; pass-local index k <-> extended index k + lead <-> pass coordinate ra + k
    plan = plan_windows(len(ext), lead, window, margin)
    width = min(window, len(ext))

    full = np.full(length, np.nan, np.float32)  # (length,) record coordinates; NaN where undecided
    a, b = region if region is not None else (0, length)
    logprob = full[a:b] if strand == "+" else full[a:b][::-1]  # (n,) view in pass-local order
    positions: list[_Column] = []  # per stage: pass-local positions where the router ran (ascending), then record
    p_values: list[_Column] = []  # per stage: p at those positions, float32
    bounds: list[_Column] = []  # per stage: pass-local positions with b = 1 (ascending), then record coordinates
    samples: list[LatentSample] = []
    widths: list[int] = []
    salt_base = int(hashlib.sha256(f"{seq.record_id}{strand}".encode()).hexdigest()[:8], 16) + LATENT_SEED
    finished: list[StrandPass] = []  # the pass once finished: a snapshot taken late gets it whole

    def so_far() -> StrandPass:
        return finished[0] if finished else _pass_so_far(seq, strand, region, ra, full, positions, p_values, bounds)

    batches = [plan[i:i + batch_size] for i in range(0, len(plan), batch_size)]
    inputs = (np.stack([ext[start:start + width] for start, _, _ in batch]).astype(np.int64) for batch in batches)
    for batch, x in zip(batches, inputs):
        lp, routing = _forward_windows(model, x, device, precision)  # (B, W-1), per stage a dict of (B, ...) arrays
        with guard:  # a snapshot of this pass (on another thread) never sees a batch half written
            if not positions:
                for s, r in enumerate(routing):
                    positions.append(_Column(n, np.int64, ascending=True))
                    p_values.append(_Column(n, np.float32))
                    bounds.append(_Column(n, np.int64, ascending=True))
                    samples.append(LatentSample(max_latents, salt_base + 1000 * s))
                    widths.append(int(r["latents"].shape[-1]))
            for i, (start, lo, hi) in enumerate(batch):
                t0 = max(lo - start, 1)  # window-local positions [t0, hi - start) get a log-probability
                logprob[start + t0 - lead: hi - lead] = lp[i, t0 - 1: hi - start - 1]
                for s, r in enumerate(routing):
                    mask = r["mask"][i]
                    pos = r["positions"][i][mask] + start  # extended coords where this router ran
                    sel = (pos >= lo) & (pos < hi)
                    k = pos[sel] - lead
                    p = r["p"][i][mask][sel]
                    bounds[s].extend(k[r["b"][i][mask][sel]])
                    scored = ~np.isnan(p)  # a NaN p counts as "not run", as a dense NaN-filled track would read it
                    positions[s].extend(k[scored])
                    p_values[s].extend(p[scored])
                    cmask = r["chunk_mask"][i]
                    cpos = r["chunk_positions"][i][cmask] + start
                    csel = (cpos >= lo) & (cpos < hi)
                    samples[s].add(cpos[csel] - lead, r["latents"][i][cmask][csel])
            del x, lp, routing  # this batch's outputs go before the next batch is computed
            on_window(sum(hi - lo for _, lo, hi in batch), so_far)

    with guard:  # finishing rewrites the columns in place (record coordinates): no snapshot in between
        stages = []
        for s in range(len(positions)):
            where_b = bounds[s].finish()  # pass-local, ascending: what the latent sample indexes into
            index, latents = samples[s].result(where_b, widths[s])
            stages.append(StageTrack(positions=_to_record_inplace(positions[s].finish(), ra, length, strand),
                                     p=p_values[s].finish(), boundaries=_to_record_inplace(where_b, ra, length, strand),
                                     latent_index=index, latents=latents))
        if stages and stages[0].positions.size != n:
            raise RuntimeError(f"internal error: stage 0 decided {stages[0].positions.size} of {n} positions")
        finished.append(StrandPass(record_id=seq.record_id, strand=strand, length=length, circular=seq.circular,
                                   stages=stages, logprob=full, region=tuple(region) if region is not None else None,
                                   n_runs=non_acgt_runs(seq.ids)))
    return finished[0]


def _pass_so_far(seq: SequenceInput, strand: str, region, ra: int, full: np.ndarray, positions, p_values,
                 bounds) -> StrandPass:
    """What a running pass has decided so far, as a StrandPass of new arrays (`dnahnet.partial_trace`): the positions,
    p and boundaries written so far, the log-probability with NaN where undecided, no latents."""
    length = len(seq.ids)
    stages = [StageTrack(positions=_to_record_inplace(pos.so_far(), ra, length, strand), p=p.so_far(),
                         boundaries=_to_record_inplace(bnd.so_far(), ra, length, strand),
                         latent_index=np.zeros(0, np.int64), latents=np.zeros((0, 0), np.float16))
              for pos, p, bnd in zip(positions, p_values, bounds)]
    return StrandPass(record_id=seq.record_id, strand=strand, length=length, circular=seq.circular, stages=stages,
                      logprob=full.copy(), region=tuple(region) if region is not None else None)


def _forward_windows(model, x: np.ndarray, device, precision: str = "fp32") -> tuple[np.ndarray, list[dict]]:
    """One batch of windows x (B, W) -> log-probability of each next observed nt (B, W-1) (lp[:, t-1] for local
    position t) and each stage's routing as numpy arrays. precision "bf16": under bf16 autocast (GPU only)."""
    xt = torch.from_numpy(x).to(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        out = model(xt, return_routing=True)
        logp = torch.log_softmax(out.logits.float(), dim=-1)  # (B, W, V)
        lp = logp[:, :-1].gather(-1, xt[:, 1:, None])[..., 0].cpu().numpy()  # (B, W-1)
        return lp, [_to_numpy(r) for r in out.routing]


def _to_numpy(r) -> dict:
    """A StageRouting's tensors as numpy arrays."""
    return {"positions": r.positions.cpu().numpy(), "mask": r.mask.cpu().numpy().astype(bool),
            "p": r.p.float().cpu().numpy(), "b": r.b.cpu().numpy().astype(bool),
            "chunk_positions": r.chunk_positions.cpu().numpy(), "chunk_mask": r.chunk_mask.cpu().numpy().astype(bool),
            "latents": r.latents.float().cpu().numpy()}


# ---------------------------------------------------------------------------------------------- analyze
def pass_workers(n_passes: int, device, asked: int | None = None) -> int:
    """How many strand passes `analyze` runs side by side: `asked`, else on a CPU one per torch thread (each pass
    single-threaded) or, under the adaptive thread policy, one per available core even when other processes keep
    some busy; else 1; never more than there are passes.

    Why: one pass on 2 threads meets both at a barrier after every op, and on a small model most ops are short; two
    single-threaded passes never wait for each other, so a busy core slows one of them instead of stalling both
    (the reason `dnahnet.threads` drops threads under load). Measured on a 2-core host, both strands of 200 kb and
    beside one busy process: `bench/bench_inference.py --options` / `--contention` (docs/BENCHMARKS.md)."""
    if asked is not None:
        return max(1, min(int(asked), n_passes))
    if device.type != "cpu":
        return 1
    cores = torch.get_num_threads()
    choice = threads.current_choice()
    if choice is not None and choice.policy == "adaptive":
        cores = max(cores, choice.cap)
    return max(1, min(cores, n_passes))


class _Cancelled(Exception):
    """Raised inside a pass when another pass failed or the caller was interrupted."""


def _run_passes(n: int, run_one, workers: int, on_window) -> list[tuple[StrandPass, float]]:
    """Passes 0..n-1, `workers` at a time -> [(pass, seconds)] in order. `run_one(i, on_pass_window, guard)` runs
    pass i and calls on_pass_window(i, n_decided, so_far) after each batch, holding `guard`.

    One worker: in this thread, one pass after another, on all of this thread's torch threads. Several: each pass
    on a thread of its own with an equal share of the torch threads (the Mamba-2 interior's serial numba twins
    release the GIL); `on_window` still runs in this thread, fed through a queue (Streamlit draws only from its
    script's thread), and a lock keeps a snapshot from reading a batch half written. The thread count is restored
    afterwards (to what a `dnahnet.threads.governed` progress callback last set, if it changed it)."""
    import queue
    import threading
    from concurrent.futures import ThreadPoolExecutor

    if workers <= 1:
        out = []
        with torch.inference_mode():
            for i in range(n):
                t0 = time.perf_counter()
                sp = run_one(i, on_window, contextlib.nullcontext())
                out.append((sp, time.perf_counter() - t0))
        return out

    threads_before = torch.get_num_threads()
    each = max(1, threads_before // workers)
    lock, events, stop = threading.Lock(), queue.Queue(), threading.Event()

    def on_pass_window(i, n_decided, so_far):  # in a worker, holding the lock
        if stop.is_set():
            raise _Cancelled
        events.put((i, n_decided, so_far))

    def work(i):
        try:
            torch.set_num_threads(each)  # OpenMP's count is per thread: set it where the pass computes
            with torch.inference_mode():
                t0 = time.perf_counter()
                sp = run_one(i, on_pass_window, lock)
                return sp, time.perf_counter() - t0
        finally:
            events.put((i, None, None))

    restore = threads_before
    torch.set_num_threads(each)  # before any worker starts: a new thread takes the process-wide count
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="dnahnet-pass") as pool:
            futures = [pool.submit(work, i) for i in range(n)]
            try:
                running = n
                while running:
                    i, n_decided, so_far = events.get()
                    if n_decided is None:
                        running -= 1
                        if futures[i].exception() is not None:
                            stop.set()  # the others stop at their next window
                        continue
                    if not stop.is_set():
                        on_window(i, n_decided, _locked(so_far, lock))
                    if torch.get_num_threads() != each:  # a governed callback re-set it: keep that for later
                        restore = torch.get_num_threads()
                        torch.set_num_threads(each)
            finally:
                stop.set()  # on any way out: running passes stop at their next window, waiting ones never start
                for f in futures:
                    f.cancel()
        errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
        if errors:  # the failure itself, not the passes it cancelled
            raise next((e for e in errors if not isinstance(e, _Cancelled)), errors[0])
        return [f.result() for f in futures]
    finally:
        torch.set_num_threads(restore)


def _locked(so_far, lock):
    """so_far() taken under `lock` (a worker may be writing that pass's next batch)."""
    def snapshot():
        with lock:
            return so_far()
    return snapshot


PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str, device) -> str:
    """`precision` if `analyze` offers it on `device`, else ValueError: "fp32" (the default everywhere), or "bf16"
    autocast, on a GPU only.

    Why fp32 on a GPU too: on an H200 whole E. coli ran at least as fast in fp32 as under bf16 autocast (this model's
    matmuls are too small to gain); bf16 moved 0.3% of the Stage-1 and 2.3% of the Stage-2 boundaries, while fp32's
    boundary counts were within 1 of the CPU's per strand and stage. On a CPU bf16 was slower and moved boundaries
    too (docs/BENCHMARKS.md, "GPU")."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "bf16" and device.type != "cuda":
        raise ValueError("bf16 inference is offered on a GPU only (on a CPU it is slower and moves boundaries)")
    return precision


def analyze(record_or_sequence, model=None, strands: str = "both", region=None, window: int = DEFAULT_WINDOW,
            margin: int = DEFAULT_MARGIN, batch_size: int = DEFAULT_BATCH_SIZE, max_latents: int | None = 20000,
            progress=None, cache: bool = True, cache_dir=None, circular: bool | None = None, partial=None,
            workers: int | None = None, precision: str = "fp32") -> Trace:
    """Analyse records (str, path, SeqRecord, list of SeqRecords, GenomeFile) with dnaHNet -> `Trace`.

    strands "both" | "+" | "-"; region (start, end) 0-based half-open forward coordinates, applied to every
    record; max_latents=None keeps every chunk's latent; progress(fraction, message) is called as windows finish.
    partial(fraction, snapshot) too: snapshot(), called inside it, gives a Trace of what is decided so far
    (`dnahnet.partial_trace`: marked partial, never cached). Both are called from the caller's thread.
    workers: strand passes run side by side (default `pass_workers`: on a CPU, one per thread or core this process
    may use); the results do not depend on it. precision: "fp32" | "bf16" (autocast, GPU only;
    `check_precision`).
    """
    order = {"both": ["+", "-"], "+": ["+"], "-": ["-"]}
    if strands not in order:
        raise ValueError(f"strands must be 'both', '+' or '-', not {strands!r}")
    if not (1 <= margin < window):
        raise ValueError(f"need 1 <= margin < window, got margin={margin}, window={window}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    seqs, problems = as_sequences(record_or_sequence, circular)
    if not seqs:
        raise ValueError("no sequence to analyse" + (f": {'; '.join(problems)}" if problems else ""))
    if region is not None:
        region = (int(region[0]), int(region[1]))
        for sq in seqs:
            if not (0 <= region[0] < region[1] <= len(sq.ids)):
                raise ValueError(f"region {region[0]}-{region[1]} is outside record {sq.record_id!r} "
                                 f"(length {len(sq.ids):,}); need 0 <= start < end <= length")
    from dnahnet.checkpoint import checkpoint_info, load, model_hash, resolve

    if model is None or isinstance(model, (str, Path)):
        model = load(resolve(model))
    device = next(model.parameters()).device
    precision = check_precision(precision, device)
    settings = {"strands": strands, "region": list(region) if region else None, "window": window, "margin": margin,
                "max_latents": max_latents, "latent_seed": LATENT_SEED,
                "precision": "bf16-autocast" if precision == "bf16" else "fp32",
                "format_version": FORMAT_VERSION}
    seq_hashes = [{"record_id": s.record_id, "sha256": trace_cache.token_ids_hash(s.ids), "length": len(s.ids),
                   "circular": s.circular} for s in seqs]
    report = progress or (lambda fraction, message: None)
    ckpt_hash = model_hash(model)
    key = trace_cache.cache_key(ckpt_hash, seq_hashes, settings)
    if cache:
        hit = trace_cache.lookup(key, cache_dir, sequences=seq_hashes)
        if hit is not None:
            hit.meta["cache"] = {"hit": True, "key": key}
            report(1.0, "cached")
            return hit

    plan = [(sq, strand) for sq in seqs for strand in order[strands]]
    total = sum((region[1] - region[0]) if region else len(s.ids) for s in seqs) * len(order[strands])
    done = [0]
    t_start = time.perf_counter()
    started: dict[int, object] = {}  # pass index -> its so_far(), once it reported a window

    def on_window(i: int, n_decided: int, running):
        started[i] = running
        done[0] += n_decided
        elapsed = time.perf_counter() - t_start
        rate = done[0] / max(elapsed, 1e-9)
        left = (total - done[0]) / max(rate, 1e-9)
        label = (f"{plan[i][0].record_id} ({plan[i][1]})" if workers == 1
                 else f"{len(plan)} passes, {workers} side by side")
        report(done[0] / total, f"{label}: {done[0]:,}/{total:,} nt, {rate:,.0f} nt/s, ~{_duration(left)} left")
        if partial is not None:
            partial(done[0] / total, lambda f=done[0] / total: trace_so_far([started[k]() for k in sorted(started)], f))

    def run_one(i, on_pass_window, guard):
        sq, strand = plan[i]
        return _run_pass(model, sq, strand, region, window, margin, batch_size, max_latents, device,
                         lambda k, running: on_pass_window(i, k, running), guard, precision)

    workers = pass_workers(len(plan), device, workers)
    was_training = model.training
    model.eval()
    try:
        results = _run_passes(len(plan), run_one, workers, on_window)
    finally:
        model.train(was_training)
    passes, timings = [sp for sp, _ in results], []
    for (sq, strand), (_, dt) in zip(plan, results):
        nt = (region[1] - region[0]) if region else len(sq.ids)
        timings.append({"record_id": sq.record_id, "strand": strand, "nt": nt, "seconds": round(dt, 3),
                        "nt_per_s": round(nt / max(dt, 1e-9), 1)})
    meta = {
        "checkpoint_hash": ckpt_hash, **checkpoint_info(model),
        "model_config": _config_dict(model), "sequences": seq_hashes, "settings": settings,
        "timings": timings, "total_seconds": round(time.perf_counter() - t_start, 3),
        "margin_policy": MARGIN_POLICY, "device": _device_name(device), "torch_threads": torch.get_num_threads(),
        "pass_workers": workers,
        "problems": problems, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "cache": {"hit": False, "key": key},
    }
    trace = Trace(passes=passes, meta=meta)
    if cache:
        trace_cache.store(key, trace, cache_dir)
    report(1.0, f"done in {_duration(meta['total_seconds'])}")
    return trace


def _config_dict(model):
    cfg = getattr(model, "config", None)
    return cfg.to_dict() if cfg is not None and hasattr(cfg, "to_dict") else None


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


# ---------------------------------------------------------------------------------------------- CLI
def parse_region(text: str) -> tuple[int, int]:
    """"START-END" (0-based, end exclusive; commas allowed) -> (start, end), or exit with a clear message."""
    try:
        a, b = text.replace(",", "").replace("_", "").split("-")
        return int(a), int(b)
    except ValueError:
        raise SystemExit(f"--region must look like START-END (0-based, end exclusive), not {text!r}") from None


# ---------------------------------------------------------------------------------------------- many genomes
SEQUENCE_FORMATS = ("genbank", "embl", "fasta")
GZIP_RATIO_GUESS = 4  # inflated / compressed bytes of sequence text, when a gzip trailer cannot say
GATHER_TIMEOUT = timedelta(hours=24)  # how long a rank that finished waits for the slowest one


def genome_files(paths) -> tuple[list[Path], list[str]]:
    """Files and directories -> genome files + problems. A directory gives every file inside (not recursing) whose
    extension names GenBank, EMBL or FASTA (`genome_io.format_from_name`, .gz ok), sorted by name; a file named
    directly is taken whatever its extension. Paths that do not exist and directories without genomes are problems;
    a file named twice is analysed once."""
    from dnahnet.genome_io import format_from_name

    files, problems, seen = [], [], set()
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.is_file() and format_from_name(p) in SEQUENCE_FORMATS)
            if not found:
                problems.append(f"{given}: directory holds no GenBank, EMBL or FASTA file (by extension)")
        elif given.is_file():
            found = [given]
        else:
            problems.append(f"{given}: no such file or directory")
            found = []
        for p in found:
            if p.resolve() not in seen:
                seen.add(p.resolve())
                files.append(p)
    return files, problems


def genome_size(path) -> int:
    """Bytes of text a genome file holds, the cheap stand-in for its length that sharding needs before any file is
    read: the file size, or for gzip the inflated size its trailer records (the last member's, so a multi-member
    file that claims less than its compressed size is guessed at GZIP_RATIO_GUESS times that)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b" or size < 18:
            return size
        f.seek(-4, os.SEEK_END)
        inflated = int.from_bytes(f.read(4), "little")  # ISIZE: inflated length mod 2**32
    return inflated if inflated >= size else size * GZIP_RATIO_GUESS


def assign_by_size(sizes: list[int], world_size: int) -> list[list[int]]:
    """Greedy longest-first: the indices of `sizes`, largest first (ties: input order), each go to the rank with the
    least total so far (ties: the lowest rank) -> per rank, its indices in the order it runs them. Deterministic,
    so every rank computes the same plan without talking to the others."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, not {world_size}")
    plan: list[list[int]] = [[] for _ in range(world_size)]
    load = [0] * world_size
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        rank = min(range(world_size), key=lambda r: (load[r], r))
        plan[rank].append(i)
        load[rank] += sizes[i]
    return plan


def genome_row(trace: Trace) -> dict:
    """One genome's summary from `Trace.summary()`'s per-pass rows: records, nt analysed per strand, bits/nt (mean over
    every scored position of every pass), compression per stage (input positions / chunks, pooled), nt/s of the
    model (nt of all passes / their seconds; a cached trace keeps the speed it was computed at)."""
    passes = trace.summary()
    n_strands = len({r["strand"] for r in passes})
    row = {"records": len(trace.record_ids), "length": sum(r["nt"] for r in passes) // max(n_strands, 1)}
    weights = np.array([r["scored_nt"] for r in passes], float)  # the positions behind each pass's mean
    bits = np.array([r["bits_per_nt"] for r in passes], float)
    ok = np.isfinite(bits) & (weights > 0)
    row["bits_per_nt"] = float(np.average(bits[ok], weights=weights[ok])) if ok.any() else float("nan")
    n_in = np.array([r["nt"] for r in passes], float)
    for s in range(trace.n_stages):
        chunks = np.array([r[f"chunks_s{s}"] for r in passes], float)
        row[f"compression_stage{s + 1}"] = float(n_in.sum() / max(chunks.sum(), 1.0))
        n_in = chunks
    seconds = sum(r["seconds"] for r in passes if math.isfinite(r["seconds"]))
    row["nt_per_s"] = sum(r["nt"] for r in passes) / seconds if seconds > 0 else float("nan")
    return row


def analyze_file(path: Path, model, out_dir: Path | None = None, out_name: str | None = None, progress=None,
                 **options) -> dict:
    """Read one genome file and `analyze` it -> its summary row (genome_row + genome, path, result "computed",
    "cached" or "failed", error, problems, seconds of this call). Never raises for a bad file or a failed analysis:
    the row says what went wrong, so one genome cannot stop a batch."""
    from dnahnet.genome_io import read_genome

    t0 = time.perf_counter()
    row = {"genome": path.name, "path": str(path), "result": "failed", "error": "", "problems": []}
    try:
        genome = read_genome(path)
        if not genome.records:
            raise ValueError("; ".join(genome.problems) or "no usable sequence record")
        row["problems"] = list(genome.problems)
        trace = analyze(genome, model=model, progress=progress, **options)
        row.update(genome_row(trace))
        row["result"] = "cached" if trace.meta.get("cache", {}).get("hit") else "computed"
        if out_dir is not None:
            trace.save(out_dir / (out_name or f"{path.name}.trace.npz"))
    except Exception as e:  # noqa: BLE001 - whatever one genome does wrong is reported in its row
        row["error"] = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"  # ValueError: bad input
    row["seconds"] = time.perf_counter() - t0
    return row


def trace_names(files: list[Path]) -> list[str]:
    """`<file name>.trace.npz` per genome file; a name that repeats (same file name in two directories) gets _2, _3."""
    names, used = [], set()
    for p in files:
        stem, k = p.name, 1
        while (name := f"{stem}{'' if k == 1 else f'_{k}'}.trace.npz") in used:
            k += 1
        used.add(name)
        names.append(name)
    return names


SUMMARY_COLUMNS = ["genome", "records", "length", "bits_per_nt", "compression_stage1", "compression_stage2",
                   "nt_per_s", "seconds", "result", "rank", "error", "problems", "path"]


def format_summary(rows: list[dict]) -> str:
    """The per-genome table a batch prints: Stage compression columns as many as the model has stages."""
    n_stages = max((int(k.removeprefix("compression_stage")) for r in rows for k in r
                    if k.startswith("compression_stage")), default=0)
    head = ["genome", "records", "length (nt)", "bits/nt"] + [f"Stage {s + 1} x" for s in range(n_stages)]
    head += ["nt/s", "seconds", "result"]
    table = [head]
    for r in rows:
        ok = r["result"] != "failed"
        cells = [shown(r["genome"]), f"{r['records']:,}" if ok else "-", f"{r['length']:,}" if ok else "-",
                 f"{r['bits_per_nt']:.4f}" if ok else "-"]
        cells += [f"{r[f'compression_stage{s + 1}']:.2f}" if ok else "-" for s in range(n_stages)]
        cells += [f"{r['nt_per_s']:,.0f}" if ok else "-", f"{r['seconds']:.1f}", r["result"]]
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in table]
    return "\n".join(lines)


def write_summary_csv(rows: list[dict], path) -> Path:
    """The summary as CSV (one row per genome, SUMMARY_COLUMNS plus any further stage), cells made inert."""
    import csv

    from dnahnet.csv_cells import inert

    extra = sorted({k for r in rows for k in r if k.startswith("compression_stage")} - set(SUMMARY_COLUMNS))
    columns = SUMMARY_COLUMNS[:6] + extra + SUMMARY_COLUMNS[6:]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            cells = {**r, "problems": "; ".join(r.get("problems", []))}
            w.writerow([inert(cells.get(c, "")) for c in columns])
    return path


def run_batch(args, ranks) -> int:
    """Analyse every genome of args.genomes; this rank takes its share of the longest-first plan, rank 0 gathers
    the rows and prints the table. Returns 0 when every genome was analysed, 1 when some failed, 2 on bad usage."""
    import sys

    from dnahnet.checkpoint import checkpoint_info, load, resolve
    from dnahnet.distributed import gather_to_main, pick_device

    say = print if ranks.is_main else (lambda *a, **k: None)
    files, problems = genome_files(args.genomes)
    if not files:
        for p in problems:
            say(f"error: {shown(p)}", file=sys.stderr)
        return 2
    plan = assign_by_size([genome_size(f) for f in files], ranks.world_size)
    names = trace_names(files)
    out_dir = Path(args.out_dir) if args.out_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    options = dict(strands=args.strands, region=parse_region(args.region) if args.region else None,
                   window=args.window, margin=args.margin, batch_size=args.batch_size,
                   max_latents=None if args.max_latents < 0 else args.max_latents, cache=not args.no_cache,
                   cache_dir=args.cache_dir, precision=args.precision)
    device = pick_device(args.device, ranks.local_rank)
    try:
        check_precision(args.precision, device)  # every rank sees the same kind of device: all stop here, or none
    except ValueError as e:
        say(f"error: {e}", file=sys.stderr)
        return 2
    mine = plan[ranks.rank]
    rows = []
    try:
        model = load(resolve(args.checkpoint), device=device)
    except Exception as e:  # noqa: BLE001 - reported per genome, so every rank still reaches the gather
        model, why = None, f"checkpoint could not be loaded: {type(e).__name__}: {e}"
        rows = [{"genome": files[i].name, "path": str(files[i]), "result": "failed", "error": why, "problems": [],
                 "seconds": 0.0} for i in mine]
    if model is not None:
        rows = _run_share(files, names, mine, model, out_dir, options, ranks)
    for row, i in zip(rows, mine):
        row["rank"], row["index"] = ranks.rank, i
    gathered = gather_to_main(rows, ranks)
    if not ranks.is_main:
        return 0
    rows = sorted((r for share in gathered for r in share), key=lambda r: r["index"])
    for r in rows:
        r.pop("index")
    meta = ""
    if model is not None:
        ckpt = checkpoint_info(model)
        meta = f"checkpoint {shown(ckpt['checkpoint_name'])} [{(ckpt.get('checkpoint_file_hash') or '')[:12]}], "
    print(f"{meta}{len(files)} genome(s) over {ranks.world_size} rank(s), {torch.get_num_threads()} thread(s) each")
    print(format_summary(rows))
    notes = problems + [f"{r['genome']}: {r['error']}" for r in rows if r["error"]]
    notes += [f"{r['genome']}: {p}" for r in rows for p in r["problems"]]
    if notes:
        print("problems:")
        for note in notes:
            print(f"  {shown(note)}")
    if args.summary_csv:
        print(f"wrote {write_summary_csv(rows, args.summary_csv)}")
    if out_dir is not None:
        print(f"traces in {out_dir}")
    return 1 if any(r["result"] == "failed" for r in rows) else 0


def _run_share(files, names, mine, model, out_dir, options, ranks) -> list[dict]:
    """This rank's genomes, in plan order: a progress bar for a single process, a line per genome under torchrun."""
    import sys

    from tqdm import tqdm

    rows = []
    bar = None
    if ranks.world_size == 1:
        bar = tqdm(total=len(mine), dynamic_ncols=True, file=sys.stderr,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total} genomes [{elapsed}<{remaining}]")
    for k, i in enumerate(mine):
        def progress(fraction, message, k=k, name=shown(files[i].name)):
            if bar is not None:
                bar.n = k + fraction
                bar.set_description_str(name)
                bar.refresh()

        row = analyze_file(files[i], model, out_dir, names[i], threads.governed(progress), **options)
        rows.append(row)
        if bar is not None:
            bar.n = k + 1
            bar.refresh()
        else:
            print(f"[rank {ranks.rank}/{ranks.world_size}] {k + 1}/{len(mine)} {shown(files[i].name)}: "
                  f"{row['result']} in {row['seconds']:.1f} s", file=sys.stderr, flush=True)
    if bar is not None:
        bar.close()
    return rows


def main(argv=None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(
        prog="python -m dnahnet.infer",
        description="Run dnaHNet over a genome (both strands) and write a trace (.npz); over several files or a "
                    "directory, print a per-genome summary. Under `torchrun --nproc_per_node N` the genomes are "
                    "shared out over the N processes (longest first).")
    ap.add_argument("genomes", nargs="+", metavar="GENOME",
                    help="GenBank/EMBL/FASTA file (gzip ok), several, or a directory of them")
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory or name (default: the bundled one)")
    ap.add_argument("--strands", default="both", choices=["both", "+", "-"])
    ap.add_argument("--region", default=None, help="START-END, 0-based half-open forward coordinates")
    ap.add_argument("--record", action="append", default=None,
                    help="analyse only this record id (repeatable; one genome file only)")
    ap.add_argument("--out", default=None, help="output .npz of one genome (default: <genome name>.trace.npz here)")
    ap.add_argument("--out-dir", default=None, help="several genomes: write <file name>.trace.npz per genome here "
                                                    "(without it the traces go to the cache only)")
    ap.add_argument("--summary-csv", default=None, help="several genomes: also write the summary table as CSV")
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    ap.add_argument("--margin", type=int, default=DEFAULT_MARGIN)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--max-latents", type=int, default=20000, help="latents kept per stage and pass (-1: all)")
    ap.add_argument("--no-cache", action="store_true", help="neither read nor write the trace cache")
    ap.add_argument("--cache-dir", default=None, help="trace cache directory (default: $DNAHNET_CACHE_DIR, else "
                                                      "~/.cache/dnahnet/traces)")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda (under torchrun: each rank its own GPU)")
    ap.add_argument("--precision", default="fp32", choices=PRECISIONS,
                    help="fp32 (default), or bf16 autocast (GPU only: no faster for this model, moves 0.3%%/2.3%% "
                         "of the Stage 1/2 boundaries)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads per process (default: the available cores / the processes on this "
                         "machine, less the cores other processes keep busy; see dnahnet/threads.py)")
    args = ap.parse_args(argv)

    from dnahnet.distributed import init_distributed, shutdown

    threads.configure_threads(args.threads)  # per process: the available cores / local ranks, less others' load
    batch = (len(args.genomes) > 1 or Path(args.genomes[0]).is_dir() or int(os.environ.get("WORLD_SIZE", "1")) > 1
             or args.out_dir or args.summary_csv)
    if not batch:
        return _main_one(args)
    for flag, value in (("--out", args.out), ("--record", args.record)):
        if value:
            print(f"error: {flag} is for one genome file; with several use --out-dir / all records", file=sys.stderr)
            return 2
    ranks = init_distributed(args.device, timeout=GATHER_TIMEOUT)
    finished = False
    try:
        code = run_batch(args, ranks)
        finished = True
        return code
    finally:
        shutdown(together=finished)


def _main_one(args) -> int:
    """One genome file: its trace to --out, one line per pass."""
    import sys

    from tqdm import tqdm

    from dnahnet.cli import open_genome

    path = Path(args.genomes[0])
    opened = open_genome(path, args.record)
    if opened is None:
        return 2
    records = opened[1]
    from dnahnet.checkpoint import load, resolve

    try:
        model = load(resolve(args.checkpoint), device=None if args.device == "auto" else args.device)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    region = parse_region(args.region) if args.region else None
    n_strands = 2 if args.strands == "both" else 1
    total = sum((region[1] - region[0]) if region else len(r) for r in records) * n_strands
    bar = tqdm(total=total, unit="nt", unit_scale=True, dynamic_ncols=True, file=sys.stderr)

    def progress(fraction, message):
        bar.n = int(round(fraction * total))
        bar.set_description_str(message.split(":")[0])
        bar.refresh()

    try:
        trace = analyze(records, model=model, strands=args.strands, region=region, window=args.window,
                        margin=args.margin, batch_size=args.batch_size,
                        max_latents=None if args.max_latents < 0 else args.max_latents,
                        progress=threads.governed(progress), cache=not args.no_cache, cache_dir=args.cache_dir,
                        precision=args.precision)
    except ValueError as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar.close()
    out = Path(args.out) if args.out else Path(path.name.split(".")[0] + ".trace.npz")
    trace.save(out)
    cached = " (from cache)" if trace.meta.get("cache", {}).get("hit") else ""
    meta = trace.meta
    ckpt_id = (meta.get("checkpoint_file_hash") or meta.get("checkpoint_hash", ""))[:12]
    print(f"checkpoint {meta.get('checkpoint_name')} [{ckpt_id}]{cached}")
    for row in trace.summary():
        stages = "  ".join(f"stage {s + 1}: {row[f'chunks_s{s}']:,} chunks (x{row[f'compression_s{s}']:.2f})"
                           for s in range(trace.n_stages))
        print(f"{shown(row['record'])} {row['strand']}  {row['nt']:,} nt  {stages}  {row['bits_per_nt']:.3f} bits/nt  "
              f"{row['seconds']:.1f} s  {row['nt_per_s']:,.0f} nt/s")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
