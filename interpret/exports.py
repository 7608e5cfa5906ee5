"""File formats a user takes away: tables (CSV), tracks (BED/bedGraph/bigWig/GFF3, BGZF + tabix index for
browsers), an offline IGV page and zip bundles. Each writer turns data into bytes; which files a report holds is
`interpret.report`'s choice, and figures become bytes in `interpret.render`.

Coordinates: a Trace holds 0-based forward-strand positions. BED and bedGraph are 0-based half-open
(start = first base, end = one past the last); GFF3 is 1-based inclusive (start + 1, end). Chunks are the
half-open spans of `dnahnet.trace.chunk_spans`, so a chunk of the "-" pass covers (next boundary, boundary].
"""
from __future__ import annotations

import gzip
import io
import re
import zipfile
from typing import Iterable, Mapping
from urllib.parse import quote

import numpy as np
import pandas as pd

from dnahnet.csv_cells import inert
from interpret.fast_tsv import Const, Float, Int, Text, lookup, tsv_bytes
from interpret.style import stage_label

# ------------------------------------------------------------------------------------------- tables


def inert_table(df: pd.DataFrame) -> pd.DataFrame:
    """`df` ready for CSV: every text cell, column name and index label through `dnahnet.csv_cells.inert`, so no
    cell opens as a spreadsheet formula; numeric columns untouched."""
    out = df.copy(deep=False)
    for i, dtype in enumerate(df.dtypes):
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)):
            out.isetitem(i, df.iloc[:, i].map(inert))
    out.columns = df.columns.map(inert)
    out.index = df.index.map(inert) if not isinstance(df.index, pd.RangeIndex) else df.index
    return out


def table_to_csv(df: pd.DataFrame) -> bytes:
    """CSV bytes of a table (cells made `inert_table`); a meaningful (non-range) index is kept as columns."""
    keep_index = not isinstance(df.index, pd.RangeIndex)
    return inert_table(df).to_csv(index=keep_index).encode()


# ------------------------------------------------------------------------------------------- tracks

_GFF_SEQID_OK = re.compile(r"[^a-zA-Z0-9.:^*$@!+_?\-|]")


def _gff_seqid(s: str) -> str:
    return _GFF_SEQID_OK.sub(lambda m: quote(m.group(0), safe=""), str(s))


def _gff_attr(s: str) -> str:
    return quote(str(s), safe=" :^*$@!+_?-|./()'\"#<>[]{}~")


def _bed_name(s: str) -> str:
    return re.sub(r"\s+", "_", str(s))


def track_text(s) -> str:
    """A name or description safe inside a quoted UCSC `track` line value: no `=` (igv.js cuts a description
    there, taking the rest for another key), no double quote (it would end the value), no tab or line break."""
    s = re.sub(r"\s*=\s*", ": ", str(s))
    return re.sub(r"\s+", " ", s.replace('"', "'")).strip()


def track_line(name: str, description: str, type: str | None = None, **settings) -> bytes:
    """The `track` line of a BED / bedGraph file: `type` first (bedGraph needs it there), then the quoted name and
    description (through `track_text`), then plain settings (key=value, values with no space, quote or `=`)."""
    parts = ["track"] + ([f"type={type}"] if type else []) + [f'name="{track_text(name)}"',
                                                             f'description="{track_text(description)}"']
    for key, value in settings.items():
        value = str(value)
        if re.search(r'[\s"=]', value) or not re.fullmatch(r"[A-Za-z]+", key):
            raise ValueError(f"track setting {key}={value!r} would break the track line")
        parts.append(f"{key}={value}")
    return (" ".join(parts) + "\n").encode()


def _passes(trace, records: Iterable[str] | None, strands: Iterable[str]):
    keep_rec = set(records) if records is not None else None
    keep_str = set(strands)
    return [sp for sp in trace.passes if sp.strand in keep_str and (keep_rec is None or sp.record_id in keep_rec)]


def _p_at(stage_track, xs: np.ndarray) -> np.ndarray:
    """p of `stage_track` at record positions `xs` (0 where the router did not run there)."""
    pos = np.asarray(stage_track.positions)
    if pos.size == 0 or xs.size == 0:
        return np.zeros(xs.shape, dtype=np.float32)
    order = np.argsort(pos, kind="stable")
    spos = pos[order]
    i = np.clip(np.searchsorted(spos, xs), 0, spos.size - 1)
    hit = spos[i] == xs
    return np.where(hit, np.asarray(stage_track.p)[order][i], 0.0).astype(np.float32)


def _chunk_arrays(trace, stage: int, records, strands, region) -> dict[str, np.ndarray]:
    """Chunks of one stage over the chosen passes as arrays: rec (index into trace.record_ids), minus (bool),
    index (1-based, reading order), start, end (0-based half-open), boundary, p."""
    rec_of = {r: i for i, r in enumerate(trace.record_ids)}
    cols: dict[str, list] = {k: [] for k in ("rec", "minus", "index", "start", "end", "boundary", "p")}
    for sp in _passes(trace, records, strands):
        st = sp.stages[stage]
        b = np.asarray(st.boundaries, dtype=np.int64)
        spans = sp.chunk_spans(stage)  # (n, 2)
        keep = spans[:, 1] > spans[:, 0]
        if region is not None:
            keep &= (spans[:, 1] > region[0]) & (spans[:, 0] < region[1])
        n = int(keep.sum())
        cols["rec"].append(np.full(n, rec_of[sp.record_id], dtype=np.int64))
        cols["minus"].append(np.full(n, sp.strand == "-"))
        cols["index"].append(np.arange(1, len(b) + 1, dtype=np.int64)[keep])
        cols["start"].append(spans[keep, 0])
        cols["end"].append(spans[keep, 1])
        cols["boundary"].append(b[keep])
        cols["p"].append(np.nan_to_num(_p_at(st, b[keep]), nan=0.0))
    empty = {"rec": np.int64, "minus": bool, "index": np.int64, "start": np.int64, "end": np.int64,
             "boundary": np.int64, "p": np.float32}
    return {k: (np.concatenate(v) if v else np.zeros(0, dtype=empty[k])) for k, v in cols.items()}


def chunk_table(trace, stage: int, records: Iterable[str] | None = None, strands: Iterable[str] = ("+", "-"),
                region: tuple[int, int] | None = None) -> pd.DataFrame:
    """One row per chunk: record_id, strand, stage, index (reading order, 1-based), start, end (0-based
    half-open), boundary (where the chunk starts in reading order), p (router probability there)."""
    a = _chunk_arrays(trace, stage, records, strands, region)
    ids = np.asarray(trace.record_ids, dtype=object)
    return pd.DataFrame({"record_id": ids[a["rec"]] if len(ids) else [], "strand": np.where(a["minus"], "-", "+"),
                         "stage": stage, "index": a["index"], "start": a["start"], "end": a["end"],
                         "boundary": a["boundary"], "p": a["p"]})


def boundaries_bed(trace, stage: int, records: Iterable[str] | None = None, strands: Iterable[str] = ("+", "-"),
                   region: tuple[int, int] | None = None, as_bytes: bool = False) -> str | bytes:
    """BED6 of the chunks of one stage: `chrom start end name score strand`, 0-based half-open, sorted.

    name = S<stage><strand>_<k> (k-th chunk in that pass's reading order), score = round(1000·p) at its boundary.
    """
    label = stage_label(stage)
    a = _chunk_arrays(trace, stage, records, strands, region)
    order = np.lexsort((a["minus"], a["start"], a["rec"]))
    a = {k: v[order] for k, v in a.items()}
    head = track_line(f"dnaHNet_{label.replace(' ', '')}_chunks",
                      f"dnaHNet {label} chunks (score: 1000 x boundary probability)", useScore=0)
    tag = f"S{stage + 1}"
    code = a["minus"].astype(np.int64)
    body = tsv_bytes([Text(lookup([_bed_name(r) for r in trace.record_ids], a["rec"])), Int(a["start"]),
                      Int(a["end"]), [Text(lookup([f"{tag}+_", f"{tag}-_"], code)), Int(a["index"])],
                      Int(np.clip(np.rint(1000 * a["p"].astype(np.float64)), 0, 1000).astype(np.int64)),
                      Text(lookup(["+", "-"], code))], len(order))
    return head + body if as_bytes else (head + body).decode()


def track_values(sp, kind: str, stage: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(positions, values) of a per-position track of one pass: kind 'p' (of `stage`) or 'surprisal' (bits)."""
    if kind == "p":
        st = sp.stages[stage]
        return np.asarray(st.positions, dtype=np.int64), np.asarray(st.p, dtype=np.float64)
    if kind == "surprisal":
        return np.arange(sp.length, dtype=np.int64), sp.surprisal_bits().astype(np.float64)
    raise ValueError(f"unknown track {kind!r}: use 'p' or 'surprisal'")


def bedgraph(trace, kind: str, strand: str = "+", stage: int = 0, records: Iterable[str] | None = None,
             decimals: int | None = None, region: tuple[int, int] | None = None,
             as_bytes: bool = False) -> str | bytes:
    """bedGraph (4 columns, 0-based half-open) of p per stage or surprisal for one strand pass.

    Values are rounded to `decimals` (3 for p, 2 for surprisal) and runs of equal values on adjacent
    positions are merged into one line; undecided positions (NaN) are left out.
    """
    decimals = (3 if kind == "p" else 2) if decimals is None else decimals
    what = f"{stage_label(stage)} boundary probability" if kind == "p" else "surprisal (bits)"
    short = f"p_{stage_label(stage).replace(' ', '')}" if kind == "p" else "surprisal"
    head = track_line(f"dnaHNet_{short}_{'plus' if strand == '+' else 'minus'}",
                      f"dnaHNet {what}, {strand} strand pass", type="bedGraph", visibility="full", autoScale="on")
    out = [head]
    for sp in _passes(trace, records, [strand]):
        pos, val = track_values(sp, kind, stage)
        ok = np.isfinite(val)
        if region is not None:
            ok &= (pos >= region[0]) & (pos < region[1])
        pos, val = pos[ok], np.round(val[ok], decimals)
        if pos.size == 0:
            continue
        order = np.argsort(pos, kind="stable")
        pos, val = pos[order], val[order]
        new = np.ones(pos.size, dtype=bool)
        new[1:] = (pos[1:] != pos[:-1] + 1) | (val[1:] != val[:-1])
        first = np.flatnonzero(new)
        last = np.append(first[1:], pos.size) - 1
        out.append(tsv_bytes([Const(_bed_name(sp.record_id).encode()), Int(pos[first]), Int(pos[last] + 1),
                              Float(val[first], decimals)], len(first)))
    data = b"".join(out)
    return data if as_bytes else data.decode()


def chunks_gff3(trace, stages: Iterable[int] | None = None, records: Iterable[str] | None = None,
                strands: Iterable[str] = ("+", "-"), region: tuple[int, int] | None = None,
                as_bytes: bool = False) -> str | bytes:
    """GFF3 of the chunks (type biological_region, 1-based inclusive, score = p at the boundary), sorted.

    ID = S<stage><p|m>.<k> (k-th chunk of that stage in the pass's reading order; prefixed with the record id
    when there are several records). Each chunk of stage s gets Parent = the chunk of stage s+1 of the same
    pass that contains it, so Stage 1 chunks nest in Stage 2 ones. When stage s+1 is not in the file (one file
    per stage: `stages=[0]`, as browsers want them), the link is the attribute stage<s+2>_chunk instead (a Parent
    must name an ID of the same file), with the ID that chunk has in its own file.
    """
    stages = list(range(trace.n_stages)) if stages is None else sorted(set(stages))
    if any(not 0 <= s < trace.n_stages for s in stages):
        raise ValueError(f"stages must lie in 0..{trace.n_stages - 1} (code counts from 0), not {stages}")
    passes = _passes(trace, records, strands)
    head = ["##gff-version 3"]
    for rid in dict.fromkeys(sp.record_id for sp in passes):
        length = next(sp.length for sp in passes if sp.record_id == rid)
        head.append(f"##sequence-region {_gff_seqid(rid)} 1 {length}")
    ids = trace.record_ids
    multi = len({sp.record_id for sp in passes}) > 1
    n_st = max(stages) + 2 if stages else 1

    def prefixes(lead) -> list[str]:  # one string per (record, stage, strand) code; lead(stage) starts it
        return [f"{lead(s)}{_gff_attr(r) + '.' if multi else ''}S{s + 1}{'m' if m else 'p'}."
                for r in ids for s in range(n_st) for m in (0, 1)]

    arrays = {s: _chunk_arrays(trace, s, records, strands, region) for s in stages}
    containers = {s + 1: arrays[s + 1] if s + 1 in arrays else _chunk_arrays(trace, s + 1, records, strands, region)
                  for s in stages if s + 1 < trace.n_stages}
    frames = []
    for s in stages:
        a = dict(arrays[s])
        a["stage"] = np.full(a["start"].size, s, dtype=np.int64)
        a["parent"], a["has_parent"] = _parents(a, containers[s + 1]) if s + 1 in containers else (
            np.zeros(a["start"].size, np.int64), np.zeros(a["start"].size, bool))
        frames.append(a)
    a = {k: np.concatenate([f[k] for f in frames]) for k in frames[0]} if frames else {}
    n = a["start"].size if a else 0
    body = b""
    if n:
        order = np.lexsort((-a["stage"], a["start"], a["rec"]))  # parents before children at equal starts
        a = {k: v[order] for k, v in a.items()}
        code = (a["rec"] * n_st + a["stage"]) * 2 + a["minus"]
        parent_code = code + 2  # same record and strand, next stage
        body = tsv_bytes([
            Text(lookup([_gff_seqid(r) for r in ids], a["rec"])), Const(b"dnaHNet\tbiological_region"),
            Int(a["start"] + 1), Int(a["end"]), Float(a["p"], 3), Text(lookup(["+", "-"], a["minus"])), Const(b"."),
            [Const(b"ID="), Text(lookup(prefixes(lambda t: ""), code)), Int(a["index"]),
             Text(lookup(prefixes(lambda t: ";Parent=" if t in arrays else f";stage{t + 1}_chunk="), parent_code),
                  present=a["has_parent"]),
             Int(a["parent"], present=a["has_parent"])]], n)
    data = ("\n".join(head) + "\n").encode() + body
    return data if as_bytes else data.decode()


def _parents(child: dict, parent: dict) -> tuple[np.ndarray, np.ndarray]:
    """(index of the containing chunk in `parent` of the same record and pass, found?) per row of `child`."""
    out = np.zeros(child["start"].size, dtype=np.int64)
    found = np.zeros(child["start"].size, dtype=bool)
    for rec in np.unique(child["rec"]):
        for minus in (False, True):
            ci = np.flatnonzero((child["rec"] == rec) & (child["minus"] == minus))
            pi = np.flatnonzero((parent["rec"] == rec) & (parent["minus"] == minus))
            if ci.size == 0 or pi.size == 0:
                continue
            pi = pi[np.argsort(parent["start"][pi], kind="stable")]
            ps, pe = parent["start"][pi], parent["end"][pi]
            j = np.searchsorted(ps, child["start"][ci], side="right") - 1
            ok = (j >= 0) & (child["end"][ci] <= pe[np.clip(j, 0, None)])
            out[ci[ok]] = parent["index"][pi[j[ok]]]
            found[ci[ok]] = True
    return out, found


# --------------------------------------------------------------------------- indexed tracks (BGZF + tabix)

TBI_MAX_END = 1 << 29  # a .tbi index holds positions below 512 Mb; past that tabix needs a .csi index
TABIX_PRESETS = {"bed": ("bed", 1), "gff3": ("gff", 3)}  # format -> (tabix preset, 0-based column of start)


def _drop_track_lines(data: bytes) -> bytes:
    """`data` without its leading UCSC `track` / `browser` lines (tabix would index them as records)."""
    while data.startswith((b"track ", b"browser ")):
        data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
    return data


def _sorted_by_seqid_start(data: bytes, start_col: int) -> bytes:
    """Header (`#`) lines first, then the records sorted by seqid, then start (stable: ties keep their order)."""
    lines = data.split(b"\n")
    rows = [ln for ln in lines if ln and not ln.startswith(b"#")]
    try:
        keys = [(f[0], int(f[start_col])) for f in (ln.split(b"\t", start_col + 1) for ln in rows)]
    except (IndexError, ValueError) as e:
        raise ValueError(f"not a tab-separated track with an integer start in column {start_col + 1}: {e}") from e
    order = sorted(range(len(rows)), key=keys.__getitem__)
    return b"\n".join([ln for ln in lines if ln.startswith(b"#")] + [rows[i] for i in order]) + b"\n"


def tabix_track(data: bytes | str, fmt: str, csi: bool | None = None, level: int = 1) -> dict[str, bytes]:
    """A BED or GFF3 track as a BGZF file and its tabix index: {".gz": file, ".gz.tbi" (or ".gz.csi"): index}.

    Why: a browser (igv.js, IGV, JBrowse) then reads the blocks of the region it shows, not the whole file.
    The `track` line is left out (tabix would index it as a record; the IGV page's track config carries the
    display settings instead); GFF3 `#` lines stay, as the header tabix skips. Records must be grouped by seqid
    and sorted by start, as every writer here does; other input is sorted by seqid, then start. BGZF is gzip in
    64-kB members: gunzip, pandas and browsers read the .gz like any other. level: zlib's, 1 as `gzip_bytes`
    (about gzip -1's size; the default 6 is ~12 % smaller and four times slower). csi: None = a .tbi index,
    or a .csi one when tabix cannot index positions that far (records longer than TBI_MAX_END)."""
    import os
    import tempfile

    import pysam
    from pysam.libcbgzf import BGZFile

    if fmt not in TABIX_PRESETS:
        raise ValueError(f"tabix indexes {', '.join(TABIX_PRESETS)} tracks here, not {fmt!r}")
    preset, start_col = TABIX_PRESETS[fmt]
    body = _drop_track_lines(data.encode() if isinstance(data, str) else bytes(data))
    kinds = [False, True] if csi is None else [bool(csi)]
    attempts = [(False, k) for k in kinds] + [(True, k) for k in kinds]  # (sorted here?, .csi?)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"track.{fmt}.gz")
        for i, (sort, use_csi) in enumerate(attempts):
            if i == 0 or (sort and not attempts[i - 1][0]):
                if sort:  # tabix refused the order given: sort once, then retry
                    body = _sorted_by_seqid_start(body, start_col)
                with BGZFile(path, f"wb{int(level)}") as f:
                    f.write(body)
            last = i == len(attempts) - 1
            verbosity = pysam.set_verbosity(0)  # htslib's messages only for the last try
            if last:
                pysam.set_verbosity(verbosity)
            try:
                pysam.tabix_index(path, preset=preset, force=True, csi=use_csi)
            except OSError as e:
                if last:
                    raise ValueError(f"tabix could not index the {fmt} track (see the message above): {e}") from e
                continue
            finally:
                pysam.set_verbosity(verbosity)
            suffix = ".csi" if use_csi else ".tbi"
            with open(path, "rb") as f, open(path + suffix, "rb") as g:
                return {".gz": f.read(), ".gz" + suffix: g.read()}
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------- bigWig and IGV page

GC_WINDOW = 101  # nt of the centred window behind the per-base GC track (the browser's own GC view uses this too)


def chrom_sizes(trace, records: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """(chromosome name, length) per record of the trace in trace order: the names every track file uses."""
    keep = set(records) if records is not None else None
    out: dict[str, int] = {}
    for sp in trace.passes:
        if keep is None or sp.record_id in keep:
            out.setdefault(sp.record_id, int(sp.length))
    return [(_bed_name(r), n) for r, n in out.items()]


def bigwig(trace, kind: str, strand: str = "+", stage: int = 0, records: Iterable[str] | None = None,
           sequences: Mapping[str, str] | None = None, gc_window: int = GC_WINDOW,
           decimals: int | None = None) -> bytes:
    """bigWig bytes of one per-base track: kind 'p' (router probability of `stage`), 'surprisal' (bits) of the
    `strand` pass, or 'gc' (GC fraction in a centred `gc_window`, from `sequences`; strand-free).

    Why bigWig: browsers fetch the zoom level they show instead of a whole multi-hundred-MB bedGraph. The header
    holds every record's length (`chrom_sizes`); values at 0-based positions, rounded like the bedGraph (to
    `decimals`: 3 for p and GC, 2 for surprisal; rounded values compress about twice as well), 1 nt each, over
    the positions that have a value (undecided / NaN positions stay empty): fixed-step runs where positions are
    adjacent, one variable-step list where they are sparse (a run header per value would double the file), with
    zoom levels so a whole-genome view reads summaries, not bases.
    Positions come from the record (0 <= pos < length), so circular records never wrap past their end.
    """
    import os
    import tempfile

    import pyBigWig

    if kind not in ("p", "surprisal", "gc"):
        raise ValueError(f"unknown bigWig track {kind!r}: use 'p', 'surprisal' or 'gc'")
    if kind == "gc" and not sequences:
        raise ValueError("the GC track needs the record sequences")
    decimals = (2 if kind == "surprisal" else 3) if decimals is None else decimals
    sizes = chrom_sizes(trace, records)
    by_name = {_bed_name(sp.record_id): sp for sp in _passes(trace, records, [strand] if kind != "gc" else "+-")}
    fd, path = tempfile.mkstemp(suffix=".bw")
    os.close(fd)
    try:
        bw = pyBigWig.open(path, "w")
        bw.addHeader(sizes, maxZooms=10)
        for name, length in sizes:  # pyBigWig wants entries in header order
            if kind == "gc":
                rid = next((r for r in trace.record_ids if _bed_name(r) == name), name)
                seq = sequences.get(rid) if sequences else None
                if seq is None:
                    continue
                from interpret.figures_tracks import gc_track  # the one GC definition (windows clip at the ends)

                pos, val = gc_track(seq, 0, min(length, len(seq)), gc_window, length)
            else:
                sp = by_name.get(name)
                if sp is None:
                    continue
                pos, val = track_values(sp, kind, stage)
            ok = np.isfinite(val) & (pos >= 0) & (pos < length)
            pos, val = pos[ok], np.round(val[ok].astype(np.float64), decimals)
            if pos.size == 0:
                continue
            order = np.argsort(pos, kind="stable")
            pos, val = pos[order], val[order]
            cut = np.flatnonzero(pos[1:] != pos[:-1] + 1) + 1  # runs of adjacent positions
            if cut.size * 8 > pos.size:  # sparse (Stage 2 p: only at Stage 1 boundaries): one variable-step run
                bw.addEntries(name, pos.tolist(), values=val.tolist(), span=1)
                continue
            for lo, hi in zip(np.r_[0, cut], np.r_[cut, pos.size]):  # dense: fixed-step runs, no positions stored
                bw.addEntries(name, int(pos[lo]), values=val[lo:hi].tolist(), span=1, step=1)
        bw.close()
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def fasta_bytes(sequences: Mapping[str, str], width: int = 80) -> bytes:
    """FASTA of the records (names as in every track file) for the IGV page's reference."""
    out = []
    for rid, seq in sequences.items():
        s = str(seq)
        out.append(f">{_bed_name(rid)}\n" + "\n".join(s[i:i + width] for i in range(0, len(s), width)) + "\n")
    return "".join(out).encode()


def fasta_index(fasta: bytes) -> bytes:
    """The samtools faidx index (.fai) of a FASTA with lines of equal width (`fasta_bytes`): with it igv.js reads
    only the bases of the region shown."""
    import os
    import tempfile

    import pysam

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "genome.fa")
        with open(path, "wb") as f:
            f.write(fasta)
        pysam.faidx(path)
        with open(path + ".fai", "rb") as f:
            return f.read()


def features_bed(annotations: Mapping, skip_types: Iterable[str] = ("source", "gene")) -> bytes:
    """BED6 of the genome's annotated features (name = gene name or locus tag, score 0), 0-based half-open.

    A feature across the origin of a circular record (end > length in `RecordAnnotation.features`) is written as
    two lines, [start, length) and [0, end - length), so no coordinate passes the record's end."""
    skip = set(skip_types)
    rows = []
    for rid, ann in annotations.items():
        f = ann.features
        if f is None or len(f) == 0:
            continue
        f = f[~f["type"].isin(skip)]
        chrom, n = _bed_name(rid), int(ann.length)
        for t, s, e, st, name, tag in zip(f["type"], f["start"], f["end"], f["strand"], f["name"], f["locus_tag"]):
            label = _bed_name(name or tag or t) or str(t)
            label = f"{label}({t})" if t != "CDS" else label
            d = "-" if st == -1 else "+"
            for a, b in ((s, min(e, n)), (0, e - n)) if e > n else ((s, e),):
                if b > a:
                    rows.append((rid, int(a), int(b), label, d, chrom))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return "".join(f"{c}\t{a}\t{b}\t{lab}\t0\t{d}\n" for _, a, b, lab, d, c in rows).encode()


def data_uri(data: bytes, gzipped: bool | None = None) -> str:
    """`data:` URI of a file for igv.js (which decodes base64 and, when marked, gzip, in the page itself)."""
    import base64

    gzipped = data[:2] == b"\x1f\x8b" if gzipped is None else gzipped
    mime = "application/gzip" if gzipped else "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def igv_js() -> bytes | None:
    """igv.js (igv.min.js from the npm package `igv`, put in interpret/vendor by `make igv`), or None."""
    from pathlib import Path

    path = Path(__file__).parent / "vendor" / "igv.min.js"
    return path.read_bytes() if path.is_file() else None


def igv_page(reference: Mapping, tracks: list[Mapping], title: str = "dnaHNet tracks in IGV",
             igv_src: str = "igv/igv.min.js", locus: str | None = None, note: str = "") -> str:
    """An HTML page that opens igv.js (loaded from `igv_src`, a path beside the page) on a FASTA reference and
    the given track configs (igv.js `tracks` entries: name, url, format, type, ...), with no network at view time.

    reference: {"id", "name", "fastaURL"} (+ "indexURL"). URLs are relative paths or `data:` URIs: with data URIs
    the page opens straight from disk (file://), with relative paths it needs a local web server because browsers
    refuse file:// pages' reads of other files (`interpret.serve`: it answers the range requests of indexed
    files). The default genome list (igv.org) is switched off."""
    import html
    import json

    config = {"reference": dict(reference), "tracks": [dict(t) for t in tracks], "loadDefaultGenomes": False,
              "genomeList": [], "showSampleNames": False, "queryParametersSupported": False}
    if locus:
        config["locus"] = locus
    cfg = json.dumps(config).replace("</", "<\\/")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:12px} #igv{margin-top:8px} .note{color:#555;font-size:13px}"
            "</style></head><body>"
            f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p><div id='igv'></div>"
            f"<script src='{html.escape(igv_src)}'></script><script>\n"
            "(function(){var el=document.getElementById('igv');\n"
            "if(typeof igv==='undefined'){el.textContent='igv.js did not load: it should lie beside this page at "
            f"{html.escape(igv_src)}.';return;}}\n"
            f"igv.createBrowser(el, {cfg}).then(function(b){{window.igvBrowser=b;}})"
            ".catch(function(e){el.textContent='IGV could not open the tracks: '+e+"
            "' (a page that reads the files beside it must be served: python -m interpret.serve FOLDER, then "
            "open localhost:8000/igv.html)';});})();\n</script></body></html>")


# ------------------------------------------------------------------------------------------ bundles


def gzip_bytes(data: bytes | str, level: int = 1) -> bytes:
    """gzip at a fast level: genome-wide tracks are large and mostly compress well anyway."""
    return gzip.compress(data.encode() if isinstance(data, str) else data, compresslevel=level, mtime=0)


def report_zip(files: Mapping[str, bytes | str], root: str = "dnahnet_report") -> bytes:
    """A zip of a whole report under `root/`: the {relative path: bytes} of `interpret.report.build_report_files`.
    Files already compressed (.gz, .png, .zip, .npz) are stored as they are, the rest deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, data in files.items():
            data = data.encode() if isinstance(data, str) else data
            already = name.endswith((".gz", ".png", ".zip", ".npz"))
            z.writestr(f"{root}/{name}" if root else name, data,
                       compress_type=zipfile.ZIP_STORED if already else zipfile.ZIP_DEFLATED)
    return buf.getvalue()


__all__ = ["inert_table", "table_to_csv", "chunk_table", "boundaries_bed", "bedgraph", "track_values", "chunks_gff3",
           "gzip_bytes", "tabix_track", "track_line", "track_text", "TBI_MAX_END", "report_zip", "chrom_sizes",
           "bigwig", "fasta_bytes", "fasta_index", "features_bed", "data_uri", "igv_js", "igv_page", "GC_WINDOW"]
