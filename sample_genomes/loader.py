"""Find a sample genome: the data directory, else the local cache, else NCBI by accession (saved to the cache).

`load_sample("ecoli_k12")` (or an accession) → `GenomeFile`. When every source fails, one error says what
was tried and why each failed, so a user can fix the one that matters (set DNAHNET_DATA_DIR, go online...).
"""
from __future__ import annotations

import gzip
import os
import re
import socket
from pathlib import Path
from typing import Callable

from Bio import Entrez

from dnahnet.genome_io import GenomeFile, read_genome
from sample_genomes.catalogue import BY_KEY, CATALOGUE, GenomeEntry, find

REPO_ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_EMAIL = "dnahnet-explorer@example.org"
NCBI_TIMEOUT_S = 60
_ACCESSION_RE = re.compile(r"^[A-Z]{1,6}_?[A-Z]{0,4}\d{5,12}(\.\d+)?$")
Progress = Callable[[float, str], None]


class SampleNotAvailable(FileNotFoundError):
    """No source could provide the genome; the message lists every source tried and why it failed."""


def data_dir_status() -> tuple[Path | None, str]:
    """(the data directory, "") or (None, why there is none). The one rule for app, bench and tests:
    `$DNAHNET_DATA_DIR` when set (a wrong one is not replaced, so it can also switch the data off), else
    <repo>/../shared/data; either counts only when it holds genomes/."""
    env = os.environ.get("DNAHNET_DATA_DIR")
    if env:
        p, what = Path(env).expanduser(), f"DNAHNET_DATA_DIR={env}"
    else:
        p = REPO_ROOT.parent / "shared" / "data"
        what = f"no DNAHNET_DATA_DIR set and {p}"
    if (p / "genomes").is_dir():
        return p, ""
    return None, f"{what} {'has no genomes/ folder' if p.is_dir() else 'does not exist'}"


def data_dir() -> Path | None:
    """The data directory (genomes/, annotations/, essentiality/), or None: see `data_dir_status`."""
    return data_dir_status()[0]


def cache_dir() -> Path:
    """Where fetched genomes are kept: $DNAHNET_CACHE_DIR, else ~/.cache/dnahnet (not created here)."""
    env = os.environ.get("DNAHNET_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dnahnet"


def _entry(key_or_accession: str) -> GenomeEntry:
    """The catalogue entry, or an ad-hoc one for an accession outside the catalogue."""
    e = find(key_or_accession)
    if e is not None:
        return e
    acc = key_or_accession.strip()
    if _ACCESSION_RE.match(acc):
        return GenomeEntry(key=acc, accessions=(acc,), organism=acc, description="NCBI record " + acc,
                           size_bp=0, n_records=0, genetic_code=11, kind="bacterium",
                           file_name=f"{acc}.gbk.gz")
    raise KeyError(f"{key_or_accession!r} is neither a sample genome nor an NCBI accession; "
                   f"sample genomes: {', '.join(sorted(BY_KEY))}")


def _cache_paths(e: GenomeEntry) -> list[Path]:
    d = cache_dir() / "genomes"
    return [d / e.file_name, d / f"{e.key}.gbk.gz"]


def resolve_path(key: str) -> Path | None:
    """The local file of a sample genome (data directory first, then cache), or None."""
    e = _entry(key)
    d = data_dir()
    candidates = ([d / "genomes" / e.file_name] if d else []) + _cache_paths(e)
    return next((p for p in candidates if p.is_file()), None)


def list_available() -> list[GenomeEntry]:
    """Catalogue entries that are on this machine now (no download needed)."""
    return [e for e in CATALOGUE if resolve_path(e.key) is not None]


def companion_path(key: str) -> Path | None:
    """The first promoter/TSS companion table of an entry that exists in the data directory."""
    e, d = _entry(key), data_dir()
    if d is None:
        return None
    return next((d / c for c in e.companion if (d / c).is_file()), None)


def _read_local(path: Path, what: str, tried: list[str]) -> GenomeFile | None:
    try:
        g = read_genome(path)
    except OSError as err:
        tried.append(f"{what} {path}: could not be read ({err})")
        return None
    if not g.records:
        tried.append(f"{what} {path}: no usable record ({'; '.join(g.problems[:3])})")
        return None
    return g


def fetch_ncbi(e: GenomeEntry, progress: Progress | None = None) -> Path:
    """Download an entry's records from NCBI (GenBank with parts) into the cache, gzipped; returns the file."""
    bad = [a for a in e.accessions if not _ACCESSION_RE.match(a)]
    if bad:
        raise ValueError(f"{', '.join(bad)} is not an NCBI accession, so it cannot be fetched")
    Entrez.email = os.environ.get("NCBI_EMAIL", PLACEHOLDER_EMAIL)
    if os.environ.get("NCBI_API_KEY"):
        Entrez.api_key = os.environ["NCBI_API_KEY"]
    out = _cache_paths(e)[1]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NCBI_TIMEOUT_S)
    try:
        with gzip.open(tmp, "wt") as fout:
            batch = 50
            for i in range(0, len(e.accessions), batch):
                ids = e.accessions[i:i + batch]
                if progress:
                    progress(0.2 + 0.7 * i / len(e.accessions),
                             f"Downloading {e.organism} from NCBI ({', '.join(ids[:2])}...)")
                handle = Entrez.efetch(db="nucleotide", id=",".join(ids), rettype="gbwithparts", retmode="text")
                try:
                    text = handle.read()
                finally:
                    handle.close()
                fout.write(text.decode() if isinstance(text, bytes) else text)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        socket.setdefaulttimeout(old_timeout)
    return out


def load_sample(key_or_accession: str, progress: Progress | None = None, offline: bool | None = None) -> GenomeFile:
    """A sample genome from the data directory, else the cache, else NCBI (cached for next time).

    offline: skip NCBI (default: $DNAHNET_OFFLINE set). Raises SampleNotAvailable listing every source tried.
    """
    e = _entry(key_or_accession)
    tried: list[str] = []
    if progress:
        progress(0.0, f"Looking for {e.organism}")
    d, why = data_dir_status()
    if d is None:
        tried.append(f"data directory: {why}")
    else:
        p = d / "genomes" / e.file_name
        if p.is_file():
            g = _read_local(p, "data directory file", tried)
            if g is not None:
                return _done(g, progress)
        else:
            tried.append(f"data directory: {p} not found")
    cached = [p for p in _cache_paths(e) if p.is_file()]
    if not cached:
        tried.append(f"cache: no {e.file_name} or {e.key}.gbk.gz in {cache_dir() / 'genomes'}")
    for p in cached:
        g = _read_local(p, "cached file", tried)
        if g is not None:
            return _done(g, progress)
    if offline if offline is not None else bool(os.environ.get("DNAHNET_OFFLINE")):
        tried.append("NCBI: skipped (offline)")
    else:
        try:
            p = fetch_ncbi(e, progress)
            g = _read_local(p, "file downloaded from NCBI", tried)
            if g is not None:
                return _done(g, progress)
        except Exception as err:  # noqa: BLE001 - network, HTTP and parse errors all end up in the report
            tried.append(f"NCBI efetch {','.join(e.accessions[:3])}{'...' if len(e.accessions) > 3 else ''}: "
                         f"{type(err).__name__}: {err}")
    raise SampleNotAvailable(f"could not load {e.key} ({e.organism}); tried:\n  - " + "\n  - ".join(tried))


def _done(g: GenomeFile, progress: Progress | None) -> GenomeFile:
    if progress:
        progress(1.0, f"Read {len(g.records)} record(s), {g.total_length:,} bp")
    return g


__all__ = ["data_dir", "data_dir_status", "cache_dir", "load_sample", "resolve_path", "list_available",
           "companion_path", "fetch_ncbi", "SampleNotAvailable"]
