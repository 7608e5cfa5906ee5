"""The trace: what whole-genome inference produces, and what `interpret` and the app read.

One `StrandPass` per record and reading direction. Every coordinate is a 0-based position on the
record's forward strand, whatever the pass, so annotations and tracks line up without conversion:
for the reverse pass ("-"), record position x is read as the complement base at pass index L-1-x.

A boundary at x means "a chunk starts at x in this pass's reading direction": on "+" the chunk runs
to the right (x, x+1, ...), on "-" to the left (x, x-1, ...). `chunk_spans` turns boundaries into
half-open [start, end) intervals on the forward strand either way.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1


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

    def surprisal_bits(self) -> np.ndarray:
        """(length,) float32, -log2 p(observed base)."""
        return (-self.logprob / np.log(2.0)).astype(np.float32)

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

    # ---- portable file: one .npz, arrays by name plus a JSON header; no pickle ----
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        header = {"format_version": FORMAT_VERSION, "meta": self.meta, "passes": []}
        for i, sp in enumerate(self.passes):
            header["passes"].append(
                {"record_id": sp.record_id, "strand": sp.strand, "length": sp.length,
                 "circular": sp.circular, "n_stages": len(sp.stages),
                 "region": list(sp.region) if sp.region else None}
            )
            arrays[f"p{i}_logprob"] = sp.logprob
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
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: trace format {version} is not {FORMAT_VERSION}")
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
                                             region=tuple(h["region"]) if h["region"] else None))
                return cls(passes=passes, meta=header["meta"])
            except Exception as e:  # noqa: BLE001 - a damaged member or header (BadZipFile, zlib.error, KeyError)
                raise ValueError(f"{path} is a damaged dnaHNet trace file ({type(e).__name__}: {e})") from e

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


__all__ = ["StageTrack", "StrandPass", "Trace", "chunk_spans", "FORMAT_VERSION"]
