"""Training data: genome files → encoded uint8 records, held-out genomes, random training windows, fixed tiles.

A "genome" is one input file (all its records). Hold-outs are whole genomes chosen by file-name substring; with a
single input file the last 10% of every record is held out instead. Encoded records are cached as .npy files keyed
by the file's content hash, so a restart does not re-parse 50 Mb of GenBank.
"""
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

GENOME_SUFFIXES = (".gb", ".gbk", ".gbff", ".genbank", ".fa", ".fasta", ".fna", ".fas", ".ffn")
COMPLEMENT_IDS = np.array([3, 2, 1, 0, 4], dtype=np.uint8)  # A<->T, C<->G, N->N (ids of VOCAB "ACGTN")
N_ID = 4
CACHE_VERSION = "1"  # bump when parsing or encoding changes, so stale caches are not reused
DEFAULT_HOLDOUT = ("Enterobacteria_phage_T7", "Mycobacterium_tuberculosis", "mycoplasma_gallisepticum")


@dataclass
class EncodedRecord:
    """One sequence record: `genome` is the file stem it came from, `ids` its nucleotides as ids 0..4."""
    genome: str
    name: str
    ids: np.ndarray  # (length,) uint8

    def __len__(self):
        return len(self.ids)


@dataclass
class Corpus:
    train: list  # list[EncodedRecord]
    valid: list  # list[EncodedRecord]
    problems: list = field(default_factory=list)

    def genomes(self, split="valid"):
        """{genome name: [records]} of one split, in file order."""
        out = {}
        for rec in getattr(self, split):
            out.setdefault(rec.genome, []).append(rec)
        return out

    def summary(self):
        n_train, n_valid = sum(map(len, self.train)), sum(map(len, self.valid))
        return (f"train {len(self.genomes('train'))} genomes / {len(self.train)} records / {n_train:,} nt; "
                f"valid {len(self.genomes('valid'))} genomes / {n_valid:,} nt")


def reverse_complement_ids(ids):
    """Reverse complement of an id array (any leading shape; last axis is the sequence)."""
    return COMPLEMENT_IDS[ids[..., ::-1]]


def genome_stem(path):
    """File name without compression and sequence-format suffixes: 'E_coli.gbff.gz' -> 'E_coli'."""
    name = Path(path).name
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix in GENOME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def list_genome_files(data):
    """A directory → its genome files (sorted); a file → [file]."""
    data = Path(data)
    if data.is_file():
        return [data]
    if not data.is_dir():
        raise FileNotFoundError(f"no genome file or directory at {data}")
    files = sorted(p for p in data.iterdir()
                   if p.is_file() and genome_stem(p) != p.name.removesuffix(".gz"))
    if not files:
        raise FileNotFoundError(f"{data} holds no GenBank/FASTA files ({', '.join(GENOME_SUFFIXES)}, optionally .gz)")
    return files


def default_cache_dir():
    return Path(os.environ.get("DNAHNET_CACHE_DIR", Path(__file__).resolve().parent.parent / ".cache")) / "corpus"


def _file_hash(path):
    h = hashlib.sha1(CACHE_VERSION.encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:20]


def _read_sequences(path):
    """(record names, sequence strings, problems) of one genome file, via genome_io when present."""
    try:
        from dnahnet.genome_io import read_genome
    except ImportError:
        read_genome = None
    if read_genome is not None:
        gf = read_genome(str(path))
        names = [getattr(r, "id", None) or getattr(r, "name", f"record{i}") for i, r in enumerate(gf.records)]
        seqs = [str(r.seq) for r in gf.records]
        return names, seqs, [f"{Path(path).name}: {p}" for p in gf.problems]
    import gzip
    from Bio import SeqIO
    opener = gzip.open if str(path).endswith(".gz") else open
    fmt = "fasta" if any(s in str(path).lower() for s in (".fa", ".fna", ".fas", ".ffn")) else "genbank"
    with opener(path, "rt") as handle:
        recs = list(SeqIO.parse(handle, fmt))
    return [r.id for r in recs], [str(r.seq) for r in recs], []


def load_genome_file(path, cache_dir=None):
    """Encoded records of one genome file; cached as <hash>.npy (all records concatenated) + <hash>.json."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = _file_hash(path)
    npy, meta_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    if npy.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        flat = np.load(npy)
    else:
        from dnahnet.tokenizer import encode

        names, seqs, problems = _read_sequences(path)
        encoded = []
        for name, seq in zip(names, seqs):
            try:
                encoded.append(encode(seq))
            except ValueError as err:  # stray symbols: read them as N, keep the record, say so
                problems.append(f"{Path(path).name} {name}: {err}; those characters were read as N")
                encoded.append(encode(re.sub(r"[^ACGTUNRYSWKMBDHVacgtunryswkmbdhv]", "N", seq)))
        flat = np.concatenate(encoded) if encoded else np.zeros(0, np.uint8)
        meta = {"file": Path(path).name, "names": names, "lengths": [len(e) for e in encoded], "problems": problems}
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = npy.with_suffix(".tmp.npy")
        np.save(tmp, flat)
        os.replace(tmp, npy)
        meta_path.write_text(json.dumps(meta))
    stem, records, start = genome_stem(path), [], 0
    for name, length in zip(meta["names"], meta["lengths"]):
        records.append(EncodedRecord(stem, name, flat[start:start + length]))
        start += length
    problems = list(meta["problems"])
    if not records:
        problems.append(f"{Path(path).name}: no sequence records found; skipped")
    return records, problems


def load_corpus(data, holdout=DEFAULT_HOLDOUT, cache_dir=None, single_file_valid_fraction=0.1, progress=None):
    """Read every genome under `data` into a Corpus; genomes whose file name contains a `holdout` substring
    (case-insensitive) go to validation. A single file is split instead: the last 10% of each record validates."""
    files = list_genome_files(data)
    train, valid, problems = [], [], []
    single = len(files) == 1
    holdout = [h.strip() for h in (holdout or ()) if h.strip()]
    used = set()
    for i, path in enumerate(files):
        if progress:
            progress(i / len(files), f"reading {path.name}")
        records, file_problems = load_genome_file(path, cache_dir)
        problems += file_problems
        if single:
            for rec in records:
                cut = int(round(len(rec) * (1 - single_file_valid_fraction)))
                train.append(EncodedRecord(rec.genome, rec.name, rec.ids[:cut]))
                valid.append(EncodedRecord(rec.genome, rec.name + ":last10%", rec.ids[cut:]))
            continue
        hits = [h for h in holdout if h.lower() in path.name.lower()]
        used.update(hits)
        (valid if hits else train).extend(records)
    missing = [h for h in holdout if h not in used]
    if missing and not single:
        raise ValueError(f"hold-out names matched no file in {data}: {missing}")
    if not train:
        raise ValueError("no training records left after hold-out")
    if progress:
        progress(1.0, "corpus ready")
    return Corpus(train, valid, problems)


class WindowSampler:
    """Random windows of length L+1 from the training records, weighted by length, either strand (p = 0.5).

    Counter-based: the global batch of training step `s` is drawn from an RNG seeded by (seed, s) alone, and a
    data-parallel rank takes its slice of it. The data stream is therefore the same for any number of ranks, and
    resuming needs only the step (`state_dict()` / `load_state_dict()` carry it, JSON-safe).
    """

    def __init__(self, records, seq_len, batch_size, seed=0, rc_prob=0.5):
        self.window = seq_len + 1
        usable = [r for r in records if len(r) >= self.window]
        if not usable:
            raise ValueError(f"no training record is at least {self.window} nt long (seq_len {seq_len})")
        self.flat = np.concatenate([r.ids for r in usable])
        lengths = np.array([len(r) for r in usable], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.n_starts = lengths - self.window + 1  # valid start positions per record
        self.weights = self.n_starts / self.n_starts.sum()
        self.batch_size, self.rc_prob, self.seed = batch_size, rc_prob, seed
        self.step = 0  # the next step `next_batch` draws

    def batch_at(self, step, rank=0, world_size=1):
        """(B / world_size, L+1) LongTensor: rank `rank`'s share of the global batch of `step`."""
        if self.batch_size % world_size:
            raise ValueError(f"batch size {self.batch_size} is not divisible by {world_size} ranks")
        rng = np.random.Generator(np.random.PCG64([self.seed, step]))
        B = self.batch_size
        rec = rng.choice(len(self.weights), size=B, p=self.weights)
        start = self.offsets[rec] + (rng.random(B) * self.n_starts[rec]).astype(np.int64)
        flip = rng.random(B) < self.rc_prob
        share = slice(rank * B // world_size, (rank + 1) * B // world_size)
        start, flip = start[share], flip[share]
        windows = self.flat[start[:, None] + np.arange(self.window)]  # (B / world_size, L+1)
        windows[flip] = reverse_complement_ids(windows[flip])
        return torch.from_numpy(windows.astype(np.int64))

    def next_batch(self):
        """(B, L+1) LongTensor of token ids: the whole batch of the next step."""
        batch = self.batch_at(self.step)
        self.step += 1
        return batch

    def state_dict(self):
        return {"scheme": "counter", "seed": self.seed, "step": self.step}

    def load_state_dict(self, state):
        if state.get("scheme") != "counter":
            raise ValueError("this train state comes from the older sampler (an RNG state, not a step counter); "
                             "start a new run instead of resuming it")
        self.seed, self.step = state["seed"], state["step"]


def tiles(ids, seq_len):
    """Non-overlapping windows of length L+1 covering `ids` (the tail shorter than L+1 is dropped): (n, L+1)."""
    n = len(ids) // (seq_len + 1)
    return ids[: n * (seq_len + 1)].reshape(n, seq_len + 1)


def validation_windows(records, seq_len, max_windows=None, both_strands=True, return_index=False):
    """Fixed validation windows of one genome: non-overlapping tiles of each record (and of its reverse
    complement), evenly subsampled to at most `max_windows`. Deterministic. Returns (n, L+1) int64 array, and with
    `return_index` also the indices of the chosen tiles among all of them (to reuse per-tile results)."""
    parts = []
    for rec in records:
        parts.append(tiles(rec.ids, seq_len))
        if both_strands:
            parts.append(tiles(reverse_complement_ids(rec.ids), seq_len))
    windows = np.concatenate(parts) if parts else np.zeros((0, seq_len + 1), np.uint8)
    pick = np.arange(len(windows))
    if max_windows is not None and len(windows) > max_windows:
        pick = np.linspace(0, len(windows) - 1, max_windows).round().astype(np.int64)
        windows = windows[pick]
    windows = windows.astype(np.int64)
    return (windows, pick) if return_index else windows
