"""On-disk cache of traces: one `.npz` per analysis, keyed by checkpoint hash + sequence hashes + settings.

Directory: `DNAHNET_CACHE_DIR`, else `~/.cache/dnahnet/traces`. Writes are atomic (unique temp file, then rename),
so concurrent writers and interrupted runs never leave a half-written trace. The directory is kept under a size
cap (`DNAHNET_CACHE_MAX_BYTES`, default 4 GB) by evicting the least recently used traces (hits touch the file).
A hit is not trusted blindly: an entry that cannot be loaded, or that holds other sequences than the request,
is a miss, removed and logged.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path

import numpy as np

from dnahnet.trace import FORMAT_VERSION, Trace

DEFAULT_MAX_BYTES = 4 * 1024**3
SUFFIX = ".trace.npz"
log = logging.getLogger(__name__)


def cache_dir(path: str | Path | None = None) -> Path:
    """The cache directory: `path`, else `$DNAHNET_CACHE_DIR`, else `~/.cache/dnahnet/traces`."""
    if path is None:
        path = os.environ.get("DNAHNET_CACHE_DIR") or Path.home() / ".cache" / "dnahnet" / "traces"
    return Path(path).expanduser()


def token_ids_hash(ids: np.ndarray) -> str:
    """sha256 of an encoded sequence (uint8 token ids), hex: the "sha256" of each sequence in a trace's metadata.
    (Not `genome_io.sequence_hash`, which hashes the sequence text.)"""
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.uint8).tobytes()).hexdigest()


def cache_key(checkpoint_hash: str, sequence_hashes: list, settings: dict) -> str:
    """A stable key for one analysis; any change of model, sequence or setting gives a new key."""
    blob = json.dumps({"checkpoint": checkpoint_hash, "sequences": sequence_hashes, "settings": settings,
                       "trace_format": FORMAT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def lookup(key: str, directory: str | Path | None = None, sequences: list[dict] | None = None) -> Trace | None:
    """The cached trace for `key`, or None (a miss). `sequences`: the request's records as `analyze` describes them
    (record_id, length, sha256); a hit must hold exactly those. An entry that cannot be loaded or holds other data is
    removed, logged, and a miss."""
    path = cache_dir(directory) / f"{key}{SUFFIX}"
    if not path.is_file():
        return None
    try:
        trace = Trace.load(path)
        wrong = _other_data(trace, sequences) if sequences is not None else None
    except Exception as e:  # noqa: BLE001 - whatever fails to load (or to check) is a miss, never an error
        wrong = f"could not be loaded ({e})"
    if wrong:
        log.warning("trace cache entry %s %s: removed, it will be recomputed", path.name, wrong)
        path.unlink(missing_ok=True)
        return None
    try:
        os.utime(path)  # mark as recently used for LRU eviction
    except OSError:
        pass
    return trace


def _other_data(trace: Trace, sequences: list[dict]) -> str | None:
    """Why `trace` is not the analysis of `sequences` (None when it is): the record ids, lengths and sequence hashes
    in its metadata, and the record and length of each pass, must all match the request."""
    want = [(s["record_id"], int(s["length"]), s["sha256"]) for s in sequences]
    have = [(s.get("record_id"), s.get("length"), s.get("sha256")) for s in trace.meta.get("sequences") or []]
    if have != want:
        return (f"holds other sequences (ids, lengths or hashes) than asked for (records {[h[0] for h in have][:5]}, "
                f"asked for {[w[0] for w in want][:5]})" if have else "does not say which sequences it holds")
    lengths = {record_id: length for record_id, length, _ in want}
    if set(trace.record_ids) != set(lengths) or any(lengths[sp.record_id] != sp.length for sp in trace.passes):
        return "has passes for other records or lengths than its metadata says"
    return None


def store(key: str, trace: Trace, directory: str | Path | None = None, max_bytes: int | None = None) -> Path:
    """Write `trace` under `key` atomically, then evict old traces beyond the size cap. Returns the path."""
    d = cache_dir(directory)
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"{key}{SUFFIX}"
    tmp = d / f".{key}.{uuid.uuid4().hex}.partial.npz"
    try:
        trace.save(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    if max_bytes is None:
        max_bytes = int(os.environ.get("DNAHNET_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES))
    evict(d, max_bytes, keep=final)
    return final


def evict(directory: str | Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES, keep: Path | None = None) -> list:
    """Delete least recently used traces until the directory holds at most `max_bytes`. Returns removed paths."""
    d = cache_dir(directory)
    entries = []
    for p in d.glob(f"*{SUFFIX}"):
        try:
            st = p.stat()
        except OSError:
            continue
        entries.append((st.st_mtime, st.st_size, p))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, p in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        if keep is not None and p == keep:
            continue
        p.unlink(missing_ok=True)
        total -= size
        removed.append(p)
    return removed


def clear(directory: str | Path | None = None) -> int:
    """Remove every cached trace; returns how many."""
    d = cache_dir(directory)
    n = 0
    for p in d.glob(f"*{SUFFIX}"):
        p.unlink(missing_ok=True)
        n += 1
    return n


__all__ = ["cache_dir", "token_ids_hash", "cache_key", "lookup", "store", "evict", "clear"]
