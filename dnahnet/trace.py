"""The trace: what whole-genome inference produces, and what `interpret` and the app read.

One `StrandPass` per record and reading direction. Every coordinate is a 0-based position on the
record's forward strand, whatever the pass, so annotations and tracks line up without conversion:
for the reverse pass ("-"), record position x is read as the complement base at pass index L-1-x.

A boundary at x means "a chunk starts at x in this pass's reading direction": on "+" the chunk runs
to the right (x, x+1, ...), on "-" to the left (x, x-1, ...). `chunk_spans` turns boundaries into
half-open [start, end) intervals on the forward strand either way.

Non-ACGT bases (N and the IUPAC codes the tokenizer reads as N) carry no signal: predicting them is meaningless
(~20 bits each) and the positions near them are read with an N in their context. Each pass records where they are
(`n_runs`) and `StrandPass.masked()` is the one rule every statistic applies: the run plus `MASK_FLANK` nt each side.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 2  # 2: each pass records its runs of non-ACGT bases (`n_runs`); 1 still loads (runs unknown)
READABLE_VERSIONS = (1, 2)
# Statistics leave out every non-ACGT base and MASK_FLANK nt on each side of each run of them, in record coordinates
# (both passes alike, so the pass reading away from the run is covered too): the positions whose prediction reads an N
# within that many nt of context (the k <= 12 contexts of the Markov baselines, two Stage 2 chunks of the model) and
# the chunk boundaries at the run's edges. One constant, used by `mask_runs` only.
MASK_FLANK = 16
STEP_NT = 1 << 20  # positions per step of elementwise float64 work over a record-length array (bounds its scratch)


def non_acgt_runs(ids) -> np.ndarray:
    """Token ids (N_ID = 4 for any non-ACGT base) -> (k, 2) int64 half-open [start, end) runs of non-ACGT bases."""
    bad = np.asarray(ids) >= 4
    if not bad.any():
        return np.zeros((0, 2), np.int64)
    d = np.diff(bad.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)], axis=1).astype(np.int64)


def mask_runs(runs, length: int, circular: bool, flank: int | None = None) -> np.ndarray:
    """(length,) bool, True on each run [start, end) widened by `flank` (default MASK_FLANK) nt on each side; the
    widening stops at the ends of a linear record and wraps around the origin of a circular one."""
    flank = MASK_FLANK if flank is None else int(flank)
    runs = np.asarray(runs, dtype=np.int64).reshape(-1, 2)
    if runs.shape[0] == 0:
        return np.zeros(length, bool)
    delta = np.zeros(length + 1, np.int32)  # +1 where a masked interval opens, -1 where it closes
    for a, b in runs:
        lo, hi = int(a) - flank, int(b) + flank
        if hi - lo >= length:
            return np.ones(length, bool)
        pieces = [(lo, hi)]
        if circular:
            pieces = [(lo % length, hi % length)] if lo < 0 or hi > length else pieces
            if pieces[0][0] >= pieces[0][1]:  # wraps: [lo, length) and [0, hi)
                pieces = [(pieces[0][0], length), (0, pieces[0][1])]
        for x, y in pieces:
            x, y = max(x, 0), min(y, length)
            if x < y:
                delta[x] += 1
                delta[y] -= 1
    return np.cumsum(delta[:-1]) > 0


@dataclass
class StageTrack:
    """One router's decisions over one strand pass (stage 0 = the paper's Stage 1)."""

    positions: np.ndarray  # (n_in,) int64, record coords where this router ran (stage 0: every position)
    p: np.ndarray  # (n_in,) float32, boundary probability at each of `positions`
    boundaries: np.ndarray  # (n_chunks,) int64, record coords where b = 1, in reading order
    latent_index: np.ndarray  # (n_kept,) int64, indices into `boundaries` whose latents are kept
    latents: np.ndarray  # (n_kept, d) float16, encoder output at those boundaries (what the inner net reads)

    @property
    def n_chunks(self) -> int:
        return int(self.boundaries.shape[0])


@dataclass
class StrandPass:
    """Model outputs for one record read in one direction."""

    record_id: str
    strand: str  # "+" reads the record 5'->3'; "-" reads its reverse complement
    length: int
    circular: bool
    stages: list[StageTrack]
    logprob: np.ndarray  # (length,) float32, natural-log probability of the observed base; NaN if undecided
    region: tuple[int, int] | None = None  # (start, end) analysed, record coords; None = whole record
    n_runs: np.ndarray | None = None  # (k, 2) int64 [start, end) runs of non-ACGT bases; None = not recorded

    def surprisal_bits(self) -> np.ndarray:
        """(length,) float32, -log2 p(observed base): (-logprob / ln 2) in float64, rounded to float32, a step of
        STEP_NT positions at a time so the float64 scratch stays small on a genome of many Mb."""
        lp = self.logprob
        bits = np.empty(lp.shape, np.float32)
        for i in range(0, lp.shape[0], STEP_NT):
            bits[i:i + STEP_NT] = -lp[i:i + STEP_NT] / np.log(2.0)
        return bits

    def masked(self) -> np.ndarray:
        """(length,) bool, True where statistics leave the position out: non-ACGT runs plus MASK_FLANK nt each
        side (`mask_runs`). All False when the pass does not record its runs (`n_runs` None)."""
        if self.n_runs is None:
            return np.zeros(self.length, bool)
        return mask_runs(self.n_runs, self.length, self.circular)

    def analysed(self) -> np.ndarray:
        """(length,) bool, True inside the analysed region (or the whole record)."""
        m = np.zeros(self.length, bool)
        a, b = self.region if self.region is not None else (0, self.length)
        m[a:b] = True
        return m

    def boundary_mask(self, stage: int) -> np.ndarray:
        """(length,) bool, True where `stage` starts a chunk."""
        m = np.zeros(self.length, dtype=bool)
        m[self.stages[stage].boundaries] = True
        return m

    def chunk_spans(self, stage: int) -> np.ndarray:
        """(n_chunks, 2) int64 half-open [start, end) on the forward strand, one row per boundary."""
        return chunk_spans(self.stages[stage].boundaries, self.strand, self.length, self.region)


def chunk_spans(boundaries: np.ndarray, strand: str, length: int, region=None) -> np.ndarray:
    """Spans of the chunks that start at `boundaries` (reading order) on a record of `length`."""
    lo, hi = region if region is not None else (0, length)
    b = np.asarray(boundaries, dtype=np.int64)
    if b.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if strand == "+":
        ends = np.append(b[1:], hi)
        return np.stack([b, ends], axis=1)
    # reverse pass: boundaries are in decreasing record order; a chunk covers (next boundary, b]
    nxt = np.append(b[1:], lo - 1)
    return np.stack([nxt + 1, b + 1], axis=1)


@dataclass
class Trace:
    """All strand passes of one analysis, with the settings and hashes that produced them."""

    passes: list[StrandPass]
    meta: dict = field(default_factory=dict)  # checkpoint hash, sequence hashes, window, margin, ...

    def get(self, record_id: str, strand: str) -> StrandPass:
        for sp in self.passes:
            if sp.record_id == record_id and sp.strand == strand:
                return sp
        raise KeyError(f"no pass for record {record_id!r} strand {strand!r}")

    @property
    def record_ids(self) -> list[str]:
        return list(dict.fromkeys(sp.record_id for sp in self.passes))

    @property
    def n_stages(self) -> int:
        return len(self.passes[0].stages) if self.passes else 0

    def summary(self) -> list[dict]:
        """One row per pass: length analysed, chunks and compression per stage, mean bits/nt, time, nt/s.

        bits/nt is the mean over `scored_nt` positions: those with a log-probability that `StrandPass.masked` keeps
        (non-ACGT runs and MASK_FLANK nt each side are left out); `nt_masked` counts the masked positions of the
        analysed region (NaN for a trace that does not record its non-ACGT runs: nothing could be masked)."""
        timing = {(t["record_id"], t["strand"]): t for t in self.meta.get("timings", [])}
        rows = []
        for sp in self.passes:
            n = (sp.region[1] - sp.region[0]) if sp.region else sp.length
            row = {"record": sp.record_id, "strand": sp.strand, "nt": n}
            n_in = n
            for s, st in enumerate(sp.stages):
                row[f"chunks_s{s}"] = st.n_chunks
                row[f"compression_s{s}"] = n_in / max(st.n_chunks, 1)
                n_in = st.n_chunks
            keep, masked = sp.analysed(), sp.masked()  # (length,) bool each; keep ends as "scored if finite"
            row["nt_masked"] = int(np.count_nonzero(keep & masked)) if sp.n_runs is not None else float("nan")
            keep &= ~masked
            del masked
            bits = sp.surprisal_bits()
            bits[~keep] = np.nan  # (length,) NaN: not scored (one record-length float array, filled in place)
            del keep
            row["scored_nt"] = int(np.count_nonzero(np.isfinite(bits)))
            row["bits_per_nt"] = float(np.nanmean(bits)) if row["scored_nt"] else float("nan")
            t = timing.get((sp.record_id, sp.strand), {})
            row["seconds"], row["nt_per_s"] = t.get("seconds", float("nan")), t.get("nt_per_s", float("nan"))
            rows.append(row)
        return rows

    # ---- portable file: one .npz, arrays by name plus a JSON header; no pickle ----
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        header = {"format_version": FORMAT_VERSION, "meta": self.meta, "passes": []}
        for i, sp in enumerate(self.passes):
            header["passes"].append(
                {"record_id": sp.record_id, "strand": sp.strand, "length": sp.length,
                 "circular": sp.circular, "n_stages": len(sp.stages),
                 "region": list(sp.region) if sp.region else None, "n_runs_known": sp.n_runs is not None}
            )
            arrays[f"p{i}_logprob"] = sp.logprob
            if sp.n_runs is not None:
                arrays[f"p{i}_n_runs"] = np.asarray(sp.n_runs, np.int64).reshape(-1, 2)
            for s, st in enumerate(sp.stages):
                for name in ("positions", "p", "boundaries", "latent_index", "latents"):
                    arrays[f"p{i}_s{s}_{name}"] = getattr(st, name)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        """The trace saved at `path`. Anything else (not a trace, another format version, a damaged member, which
        shows only when the member is read here) is a ValueError naming the file."""
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
            header = json.loads(bytes(z["header"]).decode())
            version = header.get("format_version")
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise ValueError(f"{path} is not a dnaHNet trace file ({e})") from e
        with z:
            if version not in READABLE_VERSIONS:
                raise ValueError(f"{path}: trace format {version} is not one of {READABLE_VERSIONS}")
            try:
                passes = []
                for i, h in enumerate(header["passes"]):
                    stages = [
                        StageTrack(**{n: z[f"p{i}_s{s}_{n}"] for n in
                                      ("positions", "p", "boundaries", "latent_index", "latents")})
                        for s in range(h["n_stages"])
                    ]
                    passes.append(StrandPass(record_id=h["record_id"], strand=h["strand"], length=h["length"],
                                             circular=h["circular"], stages=stages, logprob=z[f"p{i}_logprob"],
                                             region=tuple(h["region"]) if h["region"] else None,
                                             n_runs=z[f"p{i}_n_runs"] if h.get("n_runs_known") else None))
                return cls(passes=passes, meta=header["meta"])
            except Exception as e:  # noqa: BLE001 - a damaged member or header (BadZipFile, zlib.error, KeyError)
                raise ValueError(f"{path} is a damaged dnaHNet trace file ({type(e).__name__}: {e})") from e

    def record_non_acgt(self, sequences: dict) -> list[str]:
        """Fill in `n_runs` of passes that do not record them (traces of format 1) from {record_id: sequence}
        (str or token ids); returns the record ids filled. A sequence of another length is left alone."""
        from dnahnet.tokenizer import encode

        filled = []
        for sp in self.passes:
            seq = sequences.get(sp.record_id)
            if sp.n_runs is not None or seq is None:
                continue
            ids = encode(str(seq)) if not isinstance(seq, np.ndarray) else seq
            if len(ids) == sp.length:
                sp.n_runs = non_acgt_runs(ids)
                filled.append(sp.record_id)
        return list(dict.fromkeys(filled))

    def to_bytes(self) -> bytes:
        """The saved file's bytes (for downloads)."""
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            p = self.save(Path(d) / "trace.npz")
            return p.read_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Trace":
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "trace.npz"
            p.write_bytes(data)
            return cls.load(p)


__all__ = ["StageTrack", "StrandPass", "Trace", "chunk_spans", "mask_runs", "non_acgt_runs", "FORMAT_VERSION",
           "MASK_FLANK"]
