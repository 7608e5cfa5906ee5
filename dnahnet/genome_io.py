"""Read genomes as real files come: GenBank, EMBL, FASTA (+ GFF3), gzipped or not, messy or not.

`read_genome` never raises on bad content: it keeps every record it can read and says, in `problems`,
what it skipped or guessed and why. Records are Biopython `SeqRecord`s with an uppercase sequence and
`annotations["topology"]` set to "circular" or "linear"; a record the file cuts short keeps what was read and
has `annotations["truncated"] = True`. GFF3 is parsed here (Biopython has no GFF3 in core).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from Bio import BiopythonWarning, SeqIO
from Bio.Seq import Seq
from Bio.SeqFeature import CompoundLocation, SeqFeature, SimpleLocation
from Bio.SeqRecord import SeqRecord

DNA = b"ACGT"
IUPAC_AMBIGUOUS = b"NRYSWKMBDHV"
# file-name extension (lowercase, no dot; a .gz is looked through) -> format: the one table, also used by the app
FORMAT_BY_EXTENSION = {"gb": "genbank", "gbk": "genbank", "gbf": "genbank", "gbff": "genbank", "genbank": "genbank",
                       "embl": "embl", "fa": "fasta", "fna": "fasta", "fasta": "fasta", "fas": "fasta", "ffn": "fasta",
                       "fsa": "fasta", "gff": "gff3", "gff3": "gff3"}
_FORMAT_NAMES = {"genbank": "GenBank", "embl": "EMBL", "fasta": "FASTA", "gff3": "GFF3", "plain": "a bare sequence"}


@dataclass
class GenomeFile:
    """The records read from one file, and everything that was skipped or guessed on the way."""

    records: list[SeqRecord]
    problems: list[str] = field(default_factory=list)
    source_name: str = ""
    fmt: str = ""  # the format actually read

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    @property
    def total_length(self) -> int:
        return sum(len(r) for r in self.records)

    def record(self, record_id: str) -> SeqRecord:
        for r in self.records:
            if r.id == record_id:
                return r
        raise KeyError(f"{self.source_name or 'genome'} has no record {record_id!r} "
                       f"(records: {', '.join(self.ids[:10])})")

    def select(self, record_ids: list[str] | None) -> list[SeqRecord]:
        """The records named (all when None); a clear ValueError for unknown ids or an empty file."""
        if record_ids:
            known = set(self.ids)
            missing = [r for r in record_ids if r not in known]
            if missing:
                raise ValueError(f"no record {', '.join(missing)} in {self.source_name or 'genome'} "
                                 f"(records: {', '.join(self.ids[:10])})")
            return [r for r in self.records if r.id in record_ids]
        if not self.records:
            raise ValueError(f"no readable records in {self.source_name or 'genome'}")
        return list(self.records)

    def __len__(self) -> int:
        return len(self.records)


def sequence_hash(seq) -> str:
    """First 16 hex digits of the sha256 of the uppercase sequence (str, Seq, SeqRecord or bytes): a cache key.
    (`cache.token_ids_hash` is the other one: the full sha256 of the encoded tokens, kept in traces.)"""
    if isinstance(seq, SeqRecord):
        seq = seq.seq
    data = seq if isinstance(seq, (bytes, bytearray)) else str(seq).encode("ascii", "replace")
    return hashlib.sha256(bytes(data).upper()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- input


def read_source(source, name: str | None) -> tuple[bytes, str]:
    """Bytes of a path, bytes, or text/binary stream, and a name to use in messages (also reads companion tables)."""
    if isinstance(source, (str, Path)):
        p = Path(source)
        return p.read_bytes(), name or p.name
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "uploaded file"
    if hasattr(source, "read"):
        data = source.read()
        stream_name = getattr(source, "name", None)
        label = name or (Path(stream_name).name if isinstance(stream_name, str) else "stream")
        return (data.encode("utf-8") if isinstance(data, str) else bytes(data)), label
    raise TypeError(f"read_genome needs a path, bytes or a stream, not {type(source).__name__}")


MAX_INFLATED_BYTES = 256 * 2**20  # default cap on what a .gz may inflate to; env DNAHNET_MAX_INFLATED_BYTES


class TooLarge(ValueError):
    """A gzip input that inflates past the cap (`max_inflated_bytes`): refused, the rest never inflated."""


def max_inflated_bytes() -> int:
    """The most bytes a .gz input may inflate to: `$DNAHNET_MAX_INFLATED_BYTES`, else 256 MiB (a 16 Mb genome's
    GenBank file is about 50 MB; a decompression bomb stops here instead of filling the server's memory)."""
    raw = os.environ.get("DNAHNET_MAX_INFLATED_BYTES", "").strip()
    if not raw:
        return MAX_INFLATED_BYTES
    try:
        cap = int(raw)
    except ValueError:
        cap = 0
    if cap <= 0:
        raise ValueError(f"DNAHNET_MAX_INFLATED_BYTES must be a positive number of bytes, not {raw!r}")
    return cap


def to_text(data: bytes, problems: list[str]) -> str:
    """Decompress gzip (by magic bytes, capped: `TooLarge`), decode (UTF-8, else Latin-1), normalise line ends."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, problems)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        problems.append("file is not valid UTF-8; read as Latin-1")
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _gunzip(data: bytes, problems: list[str]) -> bytearray:
    """Inflate every gzip member (bgzip files have many) in pieces, never past `max_inflated_bytes()`; a damaged or
    cut stream keeps what inflated (a truncated download is still mostly readable)."""
    cap = max_inflated_bytes()
    out = bytearray()
    rest = data
    while rest[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = rest
        try:
            while True:
                piece = d.decompress(pending, cap + 1 - len(out))
                out += piece
                if len(out) > cap:
                    mib = f" ({cap / 2**20:,.0f} MiB)" if cap >= 2**20 else ""
                    raise TooLarge(f"the gzip file inflates to more than {cap:,} bytes{mib}, the limit set by "
                                   "DNAHNET_MAX_INFLATED_BYTES; refused without inflating the rest")
                pending = d.unconsumed_tail
                if d.eof or not (piece or pending):
                    break
        except zlib.error as e:
            problems.append(f"gzip stream is damaged or truncated ({e}); read what could be decompressed")
            return out
        if not d.eof:
            problems.append("gzip stream is damaged or truncated (it ends before its end marker); read what could "
                            "be decompressed")
            return out
        rest = d.unused_data
    if rest.strip(b"\x00"):
        problems.append(f"{len(rest):,} bytes after the end of the gzip data were ignored")
    return out


def sniff_format(text: str) -> str | None:
    """'genbank' | 'embl' | 'fasta' | 'gff3' from the first non-blank line, else None."""
    for line in text[:200_000].splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("LOCUS"):
            return "genbank"
        if s.startswith(">"):
            return "fasta"
        if line.startswith("ID   "):
            return "embl"
        if s.startswith("##gff-version") or (s.count("\t") == 8 and not s.startswith("#")):
            return "gff3"
        if s.startswith(("#", ";")):  # comment lines (FASTA allows both before the first '>')
            continue
        # a GenBank release file opens with a header of its own before the first LOCUS line
        return "genbank" if re.search(r"(?m)^LOCUS\b", text[:10_000]) else None
    return None


def format_from_name(path) -> str | None:
    """'genbank' | 'embl' | 'fasta' | 'gff3' from a file name's extension (a .gz is looked through), else None."""
    name = Path(str(path)).name.lower().removesuffix(".gz")
    return FORMAT_BY_EXTENSION.get(name.rpartition(".")[2]) if "." in name else None


# ----------------------------------------------------------------------------------------- main entry


def read_genome(source, fmt: str | None = None, gff=None, name: str | None = None,
                default_topology: str = "linear") -> GenomeFile:
    """Read a genome file into records + problems. fmt: 'genbank'/'embl'/'fasta'/'gff3' or None to sniff.

    `gff` (path, bytes or stream of GFF3) attaches features to the records by seqid (for FASTA input).
    A topology the file states is kept; records whose file states none get `default_topology`, except that a
    description saying "complete genome/sequence/chromosome" (and not virus, clone, region, RNA...) makes them
    circular; either guess from those words is reported. Protein records are skipped (one line in `problems`).
    A .gz input may inflate to at most `max_inflated_bytes()`; past it nothing is read (`problems` says why).
    """
    problems: list[str] = []
    data, source_name = read_source(source, name)
    try:
        text = to_text(data, problems)
    except TooLarge as e:
        return GenomeFile([], problems + [str(e)], source_name, "")
    if not text.strip():
        return GenomeFile([], problems + ["file is empty"], source_name, "")

    wanted = FORMAT_BY_EXTENSION.get(fmt.lower().lstrip("."), None) if fmt else None
    if fmt and wanted is None:
        problems.append(f"unknown format {fmt!r}; guessed from the content instead")
    found = sniff_format(text)
    if found is None:
        found = _plain_sequence_or_none(text)
    if found is None:
        first = next(l for l in text.splitlines() if l.strip())[:60]
        return GenomeFile([], problems + [f"not recognised as GenBank, EMBL, FASTA or GFF3 (first line: {first!r})"],
                          source_name, "")
    if wanted and wanted != found:
        problems.append(f"expected {_FORMAT_NAMES[wanted]} but the file is {_FORMAT_NAMES.get(found, found)}; "
                        f"read it as {_FORMAT_NAMES.get(found, found)}"
                        + (" (no features)" if found in ("fasta", "plain") else ""))

    if found in ("genbank", "embl"):
        records = _parse_flatfile(text, found, problems)
    elif found == "fasta":
        records = _parse_fasta(text, problems)
    elif found == "plain":
        records = _parse_fasta(f">{Path(source_name).stem or 'sequence'}\n{re.sub(r'[0-9]', '', text)}", problems)
        problems.append("no header line: the whole file was read as one sequence")
    else:  # gff3, maybe with an embedded ##FASTA section
        gff_text, fasta_text = _split_gff_fasta(text)
        if not fasta_text.strip():
            return GenomeFile([], problems + ["GFF3 file has no ##FASTA section: give the sequence as a FASTA "
                                              "file with this GFF3 alongside"], source_name, "gff3")
        records = _parse_fasta(fasta_text, problems)
        gff = gff_text.encode() if gff is None else gff

    dna, proteins = [], []
    for r in records:
        (proteins if _is_protein(r) else dna).append(r)
    if proteins:
        shown = ", ".join(r.id for r in proteins[:10]) + (", ..." if len(proteins) > 10 else "")
        problems.append(f"{len(proteins)} protein record{'s' if len(proteins) != 1 else ''} skipped (dnaHNet reads "
                        f"DNA): {shown}")
    records = dna
    records = [r for r in (_clean_record(r, problems, default_topology) for r in records) if r is not None]
    _dedupe_ids(records, problems)
    if gff is not None:
        gff_features, gff_problems = read_gff3(gff)
        problems.extend(gff_problems)
        attach_features(records, gff_features, problems)
    if not records:
        problems.append("no usable sequence record in the file")
    return GenomeFile(records, problems, source_name, found)


def _plain_sequence_or_none(text: str) -> str | None:
    """A bare sequence with no header (only letters and whitespace) → 'plain'."""
    sample = re.sub(r"[\s\d]", "", text[:20000])
    if sample and re.fullmatch(r"[ACGTUNRYSWKMBDHVacgtunryswkmbdhv\-.]+", sample):
        return "plain"
    return None


# ------------------------------------------------------------------------------- GenBank / EMBL

_RECORD_START = {"genbank": "LOCUS", "embl": "ID"}
_SEQUENCE_START = {"genbank": "ORIGIN", "embl": "SQ"}  # the line the sequence follows
_NO_SEQUENCE = {"genbank": "ORIGIN", "embl": "XX\nSQ   Sequence 0 BP;"}  # closes a record read without its sequence
_END_LINE = re.compile(r"(?m)^//[ \t]*$\n?")
_NOT_SEQUENCE = b" \t\n\r\v\f0123456789"  # what a sequence line holds besides its letters


def _split_flatfile(text: str, fmt: str, problems: list[str]) -> list[tuple[int, str, bool]]:
    """(file line number of its first line, text, closed) per record. Records end at a line that is just '//'; a
    last record without one was cut short (closed False). Lines before the first record (a release header) are
    skipped."""
    first = re.search(rf"(?m)^{_RECORD_START[fmt]}\b", text)
    pos = first.start() if first and not _END_LINE.search(text, 0, first.start()) else 0  # a header ends no record
    line_no = text.count("\n", 0, pos) + 1
    if text[:pos].strip():
        problems.append(f"{line_no - 1} line(s) before the first {_RECORD_START[fmt]} line (a release header) "
                        "were skipped")
    chunks = []
    for m in _END_LINE.finditer(text, pos):
        chunks.append((line_no, text[pos:m.start()], True))
        line_no += text.count("\n", pos, m.end())
        pos = m.end()
    tail = text[pos:]
    cut = re.search(r"\n/[ \t]*$", tail)  # a last '//' that lost its second '/': the record is whole
    chunks.append((line_no, tail[: cut.start() + 1] if cut else tail, bool(cut)))
    return [c for c in chunks if c[1].strip()]


def _parse_flatfile(text: str, fmt: str, problems: list[str]) -> list[SeqRecord]:
    """Parse record by record, so one malformed record costs only itself (and a malformed feature only itself)."""
    records = []
    for i, (line_no, chunk, closed) in enumerate(_split_flatfile(text, fmt, problems), start=1):
        label = _chunk_label(chunk, fmt)
        rec, notes = _read_record(chunk, fmt, line_no, label or f"record_{i}")
        if not closed and (rec is None or not rec.seq.defined):
            problems.append(f"record {label or f'#{i}'}: the file ends inside this record, before its sequence; "
                            "skipped")
            continue
        if rec is None:
            problems.append(f"record {label or f'#{i}'}: {notes[0]}")
            continue
        if _says_protein(chunk, fmt) or _is_protein(rec):
            rec.annotations["molecule_type"] = "protein"  # skipped in one line by read_genome, with no notes
            records.append(rec)
            continue
        length = _length_note(rec, chunk, fmt, closed)
        problems.extend(f"record {rec.id}: {n}" for n in notes + ([length] if length else []))
        records.append(rec)
    return records


def _id_line(chunk: str, fmt: str) -> str:
    """The record's LOCUS (GenBank) or ID (EMBL) line, or ''."""
    m = re.search(rf"(?m)^{_RECORD_START[fmt]}\b.*$", chunk)
    return m.group(0) if m else ""


def _says_protein(chunk: str, fmt: str) -> bool:
    """Whether the LOCUS/ID line says protein: length in aa (GenBank 'aa', EMBL 'AA.') or EMBL molecule 'PRT'."""
    line = _id_line(chunk, fmt)
    return bool(re.search(r"\s\d+\s+aa\b|[;\s]PRT\s*;", line, re.IGNORECASE))


def _chunk_label(chunk: str, fmt: str) -> str | None:
    key = _RECORD_START[fmt]
    for line in chunk.splitlines():
        if line.startswith(key):
            parts = line[len(key):].replace(";", " ").split()
            return parts[0] if parts else None
        if line.strip():
            return None
    return None


def _read_record(chunk: str, fmt: str, line_no: int, label: str) -> tuple[SeqRecord | None, list[str]]:
    """One record whose first line is line `line_no` of the file: (record, notes in words), or (None, [why not]).

    Biopython reads the header and the features; the sequence is read here (letters of the lines after ORIGIN/SQ),
    so a damaged sequence line costs no more than its own characters. Where Biopython refuses the header or the
    features, `_parse_repaired` retries with less, down to the sequence alone.
    """
    start = re.compile(rf"(?m)^{_SEQUENCE_START[fmt]}\b.*$")
    at = start.search(chunk)
    head = chunk[: at.end() if at else len(chunk)].split("\n")
    body = chunk[at.end():] if at else ""
    if start.search(body):  # a repeated ORIGIN line
        body = start.sub("", body)
    letters = body.encode("ascii", "replace").translate(None, _NOT_SEQUENCE)  # non-ASCII shows as '?' (not DNA)
    rec, notes = _parse_chunk("\n".join(head), fmt)
    if rec is None:
        rec, head, notes = _parse_repaired(head, fmt, line_no, len(letters), notes[0] if notes else "unknown error")
    if rec is None and letters:
        first = next((l for l in head if l.strip()), "")
        rec = SeqRecord(Seq(""), id=label, name=label[:16], description="", annotations={
            "molecule_type": "DNA", "topology": "circular" if re.search(r"\bcircular\b", first) else "linear"})
        notes = [f"its header and features could not be read ({notes[0]}); kept its sequence only"]
    if rec is None and at is None:
        return None, [f"has no sequence (no {_SEQUENCE_START[fmt]} section), skipped"]
    if rec is None:
        return None, [f"could not be read, skipped ({notes[0]})"]
    if letters:
        rec.seq = Seq(letters)
    unplaced = sum(f.location is None for f in rec.features)
    if unplaced:  # Biopython keeps a feature whose location it cannot read, with no location
        table = _feature_table(head, fmt)
        said = _unreadable_features(head, table, fmt, line_no)[1] if table else []
        notes = (said or [f"{unplaced} feature(s) whose location could not be read were skipped"]) + notes
        rec.features = [f for f in rec.features if f.location is not None]
    if rec.id in (".", "", "<unknown id>") and rec.name not in (".", "", "<unknown name>"):
        notes.append(f"has no accession (id {rec.id!r}); it is called by its name {rec.name!r}")
        rec.id = rec.name
    return rec, list(dict.fromkeys(notes))


def _parse_repaired(head: list[str], fmt: str, line_no: int, length: int,
                    error: str) -> tuple[SeqRecord | None, list[str], list[str]]:
    """(record, the header lines it was read from, notes) from the header lines Biopython refused as they are:
    without the features (or qualifiers) it cannot read, with a rebuilt LOCUS line, or without the feature table;
    else (None, head, [error]). Repairs keep the line numbering, so notes can say where things are."""
    bases = [(head, [])]
    fixed = _repair_locus(head, length) if fmt == "genbank" else None
    if fixed is not None:
        locus = next(l for l in head if l.startswith("LOCUS")).strip()
        bases.append((fixed, [f"malformed LOCUS line {locus!r} was rebuilt from the sequence ({error})"]))

    def attempts():
        for k, (lines, fixes) in enumerate(bases):
            if k:  # the header as it is was tried already
                yield lines, lines, fixes
            table = _feature_table(lines, fmt)
            if table is None:
                continue
            drop, said = _unreadable_features(lines, table, fmt, line_no)
            if drop:
                yield lines, _without_lines(lines, drop), fixes + said
            yield lines, _without_lines(lines, set(range(*table))), fixes + [
                f"its feature table could not be read ({error}); the record was kept without features"]

    for lines, kept, fixes in attempts():
        rec, notes = _parse_chunk("\n".join(kept), fmt)
        if rec is not None:
            return rec, lines, fixes + notes
    return None, head, [error]


def _without_lines(lines: list[str], drop: set[int]) -> list[str]:
    return [l for i, l in enumerate(lines) if i not in drop]


def _feature_table(lines: list[str], fmt: str) -> tuple[int, int] | None:
    """(first, end) line indexes of the feature table's entries, or None when the record has no table."""
    if fmt == "embl":
        rows = [i for i, l in enumerate(lines) if l.startswith("FT")]
        return (rows[0], rows[-1] + 1) if rows else None
    head = next((i for i, l in enumerate(lines) if l.startswith("FEATURES")), None)
    if head is None:
        return None
    end = next((i for i in range(head + 1, len(lines)) if lines[i][:1] not in ("", " ")), len(lines))
    return head + 1, end


def _feature_blocks(lines: list[str], table: tuple[int, int]) -> list[tuple[int, int]]:
    """(first, end) line indexes of each feature: a key in columns 3-21 starts one (Biopython's rule)."""
    blocks: list[list[int]] = []
    for i in range(*table):
        if lines[i][2:21].strip():
            blocks.append([i, i + 1])
        elif blocks:
            blocks[-1][1] = i + 1
    return [(a, b) for a, b in blocks]


def _unreadable_features(lines: list[str], table: tuple[int, int], fmt: str,
                         line_no: int) -> tuple[set[int], list[str]]:
    """Line indexes of the features Biopython cannot read, or of just their malformed qualifier, and a note for
    each naming the feature and its line. Each feature is tried alone under the record's own header."""
    head = lines[: table[0]]

    def readable(body: list[str]) -> bool:
        rec = _parse_chunk("\n".join(head + body + [_NO_SEQUENCE[fmt]]), fmt)[0]
        return rec is not None and all(f.location is not None for f in rec.features)

    if not readable([]):  # the header itself is the problem
        return set(), []
    drop, said = set(), []
    for first, end in _feature_blocks(lines, table):
        body = lines[first:end]
        if readable(body):
            continue
        key = body[0][2:21].strip()
        name = re.search(r'/(?:locus_tag|gene|label|product)="?([^"\n]*)', "\n".join(body))
        where = f"{key}{f' {name.group(1)!r}' if name else ''} at line {line_no + first}"
        starts = [i for i, l in enumerate(body) if i and l[21:].lstrip().startswith("/")]
        for a, b in zip(starts, starts[1:] + [len(body)]):
            if readable(body[:a] + body[b:]):
                drop.update(range(first + a, first + b))
                said.append(f"feature {where}: its malformed qualifier {_one_line(body[a][21:], 60)!r} "
                            "was left out")
                break
        else:
            drop.update(range(first, end))
            said.append(f"feature {where} (location {_one_line(body[0][21:], 60)!r}) could not be read; "
                        "that feature was skipped")
    return drop, said


def _length_note(rec: SeqRecord, chunk: str, fmt: str, closed: bool) -> str | None:
    """The sequence read against the length the LOCUS/ID line states; a record the file cuts short is kept and
    marked `annotations["truncated"] = True`."""
    key = _RECORD_START[fmt]
    m = re.search(rf"(?mi)^{key}\b.*?\b(\d+)\s*(?:bp|aa)\b", chunk)
    stated, n = (int(m.group(1)) if m else None), len(rec)
    if not closed:
        if stated is not None and n >= stated:
            return f"the file ends without the closing '//' line; the record's {n:,} bp are complete"
        rec.annotations["truncated"] = True
        of = f" of the {stated:,} bp its {key} line states" if stated is not None else ""
        return f"the file ends inside this record: kept the {n:,} bp read so far{of}; the record is marked truncated"
    if stated is not None and stated != n and rec.seq.defined:
        return f"the {key} line says {stated:,} bp but the sequence has {n:,} bp; the sequence was kept"
    if stated is None and fmt == "genbank":
        line = next((l.strip() for l in chunk.splitlines() if l.startswith(key)), "")
        return f"malformed {key} line ({_one_line(line, 100)!r}: no length); the {n:,} bp of its sequence were kept"
    return None


def _parse_chunk(chunk: str, fmt: str) -> tuple[SeqRecord | None, list[str]]:
    """(record, notes) where notes are the parser's warnings in words; record None on failure. EMBL in IMGT layout
    (an ID line of six ';'-separated fields, as IPD-IMGT/HLA writes) goes to Biopython's "imgt" parser."""
    parser = "imgt" if fmt == "embl" and _id_line(chunk, fmt).count(";") == 5 else fmt
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rec = SeqIO.read(io.StringIO(chunk.strip("\n") + "\n//\n"), parser)
        except Exception as e:  # noqa: BLE001 - any parser failure skips this record only
            return None, [_one_line(str(e)) or type(e).__name__]
    notes = [_describe_warning(str(w.message), chunk, fmt) for w in caught
             if issubclass(w.category, (BiopythonWarning, UserWarning))]
    return rec, list(dict.fromkeys(n for n in notes if n))


def _one_line(s: str, limit: int = 200) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


_WARNING_WORDS = [  # Biopython's parser warnings (regex) -> the reader's words ({0}: the group); None: said elsewhere
    (r"molecule type|seq_type", "the molecule type is not in upper case; read anyway"),
    (r"(?i)locus line", "malformed LOCUS line ({locus!r}); the record was read anyway"),
    (r"^Expected sequence length", None),  # the sequence is read here; `_length_note` compares
    (r"feature location to None", None),  # the feature is skipped and `_unreadable_features` names it
    (r"^Over indented (\S+) feature", "a {0} feature is indented further than the format allows; read anyway"),
    (r"^Non-standard feature line wrapping", "a feature location is wrapped across lines without a comma; "
                                             "read anyway"),
    (r"^line too short to contain a feature: (.*)", "a feature-table line too short to hold a feature was "
                                                    "ignored: {0}"),
    (r"^White space after equals in qualifier", "a qualifier has a space after '='; read anyway"),
    (r"double-quote characters", "a qualifier value has a double quote that is not doubled; kept as written"),
    (r"TITLE line without REFERENCE", "a TITLE line without a REFERENCE line was ignored"),
    (r"^Malformed DR line", "a malformed DR (cross-reference) line was ignored"),
    (r"^Structured comment not parsed on malformed header line: (.*)", "a malformed line of a structured COMMENT "
                                                                       "was left out: {0!r}"),
    (r"^Dropping trailing comma", "a feature location ends in a comma; the comma was dropped"),
    (r"^Dropping bond qualifier", "a bond() feature location was read as a plain location"),
    (r"^Attempting to fix invalid location ('[^']*')", "feature location {0} looks wrongly wrapped across the "
                                                       "origin; read as a join across it"),
]


def _describe_warning(msg: str, chunk: str, fmt: str) -> str | None:
    """A Biopython parser warning in the reader's words (None when another note says it)."""
    msg = _one_line(msg)
    for pattern, words in _WARNING_WORDS:
        m = re.search(pattern, msg)
        if m:
            if words is None:
                return None
            locus = next((l.strip() for l in chunk.splitlines() if l.startswith("LOCUS")), "")
            return words.format(*m.groups(), locus=_one_line(locus, 100))
    return f"the {_FORMAT_NAMES[fmt]} parser noted: {msg}; the record was read anyway"


def _repair_locus(head: list[str], length: int) -> list[str] | None:
    """The header with a LOCUS line Biopython accepts, rebuilt from the name and the length of the sequence."""
    at = next((i for i, l in enumerate(head) if l.startswith("LOCUS")), None)
    if at is None:
        return None
    fields = head[at].split()
    name = fields[1] if len(fields) > 1 else "unnamed"
    topology = "circular" if "circular" in fields else "linear"
    line = f"LOCUS       {name[:16]:<16} {length:>11} bp    DNA     {topology:<8} UNK 01-JAN-1980"
    return head[:at] + [line] + head[at + 1:]


# -------------------------------------------------------------------------------------------- FASTA


def _parse_fasta(text: str, problems: list[str]) -> list[SeqRecord]:
    """A tolerant FASTA reader: ';' comment lines dropped (and '#' ones before the first '>'), other text before
    the first '>' reported."""
    records = []
    head, *blocks = re.split(r"(?m)^>", text)
    other = [l for l in head.splitlines() if l.strip() and not l.lstrip().startswith(("#", ";"))]
    if other:
        problems.append(f"{len(other)} line(s) before the first '>' header were ignored")
    for block in blocks:
        header, _, body = block.partition("\n")
        header = header.strip()
        seq = "".join(l.strip() for l in body.split("\n") if not l.startswith(";"))
        seq = "".join(seq.split())
        rid = header.split()[0] if header else f"record_{len(records) + 1}"
        records.append(SeqRecord(Seq(seq), id=rid, name=rid[:16], description=header,
                                 annotations={"molecule_type": "DNA"}))
    return records


# ------------------------------------------------------------------------------ per-record checks

_AMINO_ACIDS = b"ACDEFGHIKLMNPQRSTVWYBZXJUO*-."  # one-letter codes, stop and gaps


def _is_protein(rec: SeqRecord) -> bool:
    """A protein record: by its molecule type (from the LOCUS/ID line), else by its letters: all amino-acid codes,
    and under 60% of them A C G T U N (a protein has about 25%, DNA with a few stray letters nearly 100%). A short
    peptide of nucleotide-looking letters (GSSNRAT) is caught only by the molecule type."""
    if "protein" in str(rec.annotations.get("molecule_type", "")).lower():
        return True
    try:
        raw = bytes(rec.seq).upper()
    except Exception:  # noqa: BLE001 - Biopython's UndefinedSequenceError: no sequence to judge
        return False
    return (bool(raw) and not raw.translate(None, _AMINO_ACIDS)
            and len(raw) - len(raw.translate(None, b"ACGTUN")) < 0.6 * len(raw))


_COMPLETE = re.compile(r"\bcomplete (genome|sequence|chromosome)\b", re.IGNORECASE)
_LINEAR_HINT = re.compile(r"\b(virus|clone|BAC|YAC|cosmid|fosmid|contig|scaffold|segment|region|genes?|spacers?|"
                          r"partial|mRNA|cDNA)\b", re.IGNORECASE)


def _guess_topology(rec: SeqRecord, default_topology: str) -> tuple[str, str | None]:
    """(topology, note) of a record whose file states none: circular when its description says complete genome/
    sequence/chromosome and nothing says otherwise (a virus, a clone, a gene region, RNA), else `default_topology`.
    The note, for the user who can correct it, says what was guessed from which words."""
    desc = " ".join((rec.description or "").split())
    complete = _COMPLETE.search(desc)
    if complete is None:
        return default_topology, None
    fix = "state it on the LOCUS line (GenBank) or ID line (EMBL); FASTA cannot, so use GenBank or EMBL for it"
    molecule = str(rec.annotations.get("molecule_type", ""))
    hint = _LINEAR_HINT.search(desc)
    against = (f"{hint.group(0)!r} in it" if hint else f"molecule type {molecule!r}" if "RNA" in molecule.upper()
               else None)
    if against is None:
        return "circular", (f"its file does not say circular or linear; it is read as circular because its "
                            f"description says {complete.group(0)!r}. If it is linear, {fix}")
    return default_topology, (f"its file does not say circular or linear; its description says "
                              f"{complete.group(0)!r} but {against} suggests otherwise, so it is read as "
                              f"{default_topology}. If it is circular, {fix}")


def _clean_record(rec: SeqRecord, problems: list[str], default_topology: str) -> SeqRecord | None:
    """Uppercase the sequence, count IUPAC letters, skip records with no sequence or non-DNA characters, and give
    a record whose file states no topology a guessed one (said in `problems`)."""
    try:
        raw = bytes(rec.seq)
    except Exception:  # noqa: BLE001 - Biopython's UndefinedSequenceError: features without sequence
        raw = b""
    if not raw:
        problems.append(f"record {rec.id}: has no sequence (features or CONTIG only), skipped")
        return None
    up = raw.upper()
    other = up.translate(None, DNA)
    if other:
        counts = Counter(other)
        bad = {chr(c): k for c, k in counts.items() if c not in IUPAC_AMBIGUOUS}
        if bad.keys() == {"U"}:
            up = up.replace(b"U", b"T")
            problems.append(f"record {rec.id}: {bad['U']:,} U (RNA) letters read as T")
            bad = {}
        if bad:
            first = min(up.find(c.encode()) for c in bad)
            shown = ", ".join(f"{c!r}×{k:,}" for c, k in sorted(bad.items(), key=lambda kv: -kv[1])[:6])
            problems.append(f"record {rec.id}: skipped, its sequence has characters that are not DNA "
                            f"({shown}; first at position {first + 1:,})")
            return None
        n_amb = sum(k for c, k in counts.items() if c in IUPAC_AMBIGUOUS and c != ord("N"))
        if n_amb:  # kept for display and export; dnahnet.tokenizer reads them as N
            letters = "".join(sorted(chr(c) for c in counts if c in IUPAC_AMBIGUOUS and c != ord("N")))
            problems.append(f"record {rec.id}: {n_amb:,} IUPAC ambiguity letters ({letters}) are kept in the "
                            "sequence as written; the model reads each as N (an unknown base)")
    if up != raw:
        rec.seq = Seq(up.decode("ascii"))
    rec.annotations.setdefault("molecule_type", "DNA")
    topo = str(rec.annotations.get("topology", "")).lower()
    if topo not in ("circular", "linear"):  # a stated topology is trusted; only an unstated one is guessed
        topo, note = _guess_topology(rec, default_topology)
        if note:
            problems.append(f"record {rec.id}: {note}")
    rec.annotations["topology"] = topo
    return rec


def _dedupe_ids(records: list[SeqRecord], problems: list[str]) -> None:
    seen: Counter = Counter()
    for r in records:
        seen[r.id] += 1
        if seen[r.id] > 1:
            new = f"{r.id}_{seen[r.id]}"
            problems.append(f"record id {r.id!r} occurs more than once; this copy is called {new!r}")
            r.id = new


# --------------------------------------------------------------------------------------------- GFF3


def _split_gff_fasta(text: str) -> tuple[str, str]:
    m = re.search(r"(?m)^##FASTA\s*$", text)
    return (text, "") if m is None else (text[: m.start()], text[m.end():])


def _parse_attributes(col: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in col.strip().strip(";").split(";"):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:  # GTF-style 'key "value"'
            key, _, value = item.partition(" ")
            value = value.strip('"')
        out[unquote(key.strip())] = [unquote(v) for v in value.split(",")]
    return out


def read_gff3(source) -> tuple[dict[str, list[SeqFeature]], list[str]]:
    """GFF3 → ({seqid: [SeqFeature]}, problems). 1-based inclusive → 0-based half-open; lines sharing an
    ID (CDS parts) or, for ID-less CDS, a Parent become one feature with a CompoundLocation in reading order.
    CDS phase of the first part becomes /codon_start = phase + 1."""
    problems: list[str] = []
    if isinstance(source, str) and "\t" in source and "\n" in source:
        text = source  # already GFF3 text
    else:
        data, _ = read_source(source, None)
        try:
            text = to_text(data, problems)
        except TooLarge as e:
            return {}, problems + [f"GFF3: {e}"]
    text, _ = _split_gff_fasta(text)
    groups: dict[tuple, list] = {}  # group key -> list of (seqid, type, start, end, strand, phase, attrs)
    bad_lines: list[int] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) != 9:
            bad_lines.append(lineno)
            continue
        seqid, _src, ftype, start, end, _score, strand, phase, attr_col = cols
        try:
            start_i, end_i = int(start), int(end)
            if start_i < 1 or end_i < start_i:
                raise ValueError
        except ValueError:
            bad_lines.append(lineno)
            continue
        attrs = _parse_attributes(attr_col)
        fid = attrs.get("ID", [None])[0]
        if fid is not None:
            key = (seqid, "ID", fid)
        elif ftype == "CDS" and "Parent" in attrs:
            key = (seqid, "Parent", attrs["Parent"][0], ftype)
        else:
            key = (seqid, "line", lineno)
        strand_i = {"+": 1, "-": -1}.get(strand, None)
        phase_i = int(phase) if phase in ("0", "1", "2") else None
        groups.setdefault(key, []).append((seqid, unquote(ftype), start_i - 1, end_i, strand_i, phase_i, attrs))
    if bad_lines:
        shown = ", ".join(map(str, bad_lines[:5])) + (" ..." if len(bad_lines) > 5 else "")
        problems.append(f"GFF3: {len(bad_lines)} line(s) skipped (not 9 tab-separated columns with "
                        f"1 <= start <= end): line {shown}")

    by_id = {k[2]: rows[0][6] for k, rows in groups.items() if k[1] == "ID"}
    features: dict[str, list[SeqFeature]] = defaultdict(list)
    for key, rows in groups.items():
        seqid, ftype, strand = rows[0][0], rows[0][1], rows[0][4]
        rows = sorted(rows, key=lambda r: r[2], reverse=(strand == -1))  # reading order
        parts = [SimpleLocation(r[2], r[3], strand=strand) for r in rows]
        loc = parts[0] if len(parts) == 1 else CompoundLocation(parts)
        quals: dict[str, list[str]] = {}
        for r in rows:
            for k, v in r[6].items():
                quals.setdefault(k, v)
        parent = by_id.get(quals.get("Parent", [None])[0]) if "Parent" in quals else None
        for k in ("locus_tag", "gene", "product", "Name"):  # inherit from the parent gene when missing
            if k not in quals and parent and k in parent:
                quals[k] = parent[k]
        if ftype == "CDS" and rows[0][5] is not None:
            quals["codon_start"] = [str(rows[0][5] + 1)]
        features[seqid].append(SeqFeature(loc, type=ftype, qualifiers=quals))
    return dict(features), problems


def _wrap_origin(f: SeqFeature, length: int) -> SeqFeature:
    """A GFF3 feature whose end passes the end of a circular record → a join across the origin."""
    parts = []
    for p in f.location.parts:
        s, e = int(p.start), int(p.end)
        if e <= length:
            parts.append(p)
        elif s >= length:
            parts.append(SimpleLocation(s - length, e - length, strand=p.strand))
        else:
            a, b = SimpleLocation(s, length, strand=p.strand), SimpleLocation(0, e - length, strand=p.strand)
            parts.extend([a, b] if p.strand != -1 else [b, a])
    f.location = parts[0] if len(parts) == 1 else CompoundLocation(parts)
    return f


def attach_features(records: list[SeqRecord], features: dict[str, list[SeqFeature]], problems: list[str]) -> None:
    """Give each record the GFF3 features of its seqid (matched on id, name, or id without .version)."""
    index: dict[str, SeqRecord] = {}
    for r in records:
        for k in (r.id, r.name, r.id.split(".")[0]):
            index.setdefault(k, r)
    for seqid, feats in features.items():
        rec = index.get(seqid) or index.get(seqid.split(".")[0])
        if rec is None:
            problems.append(f"GFF3: seqid {seqid!r} matches no sequence record ({len(feats)} features ignored)")
            continue
        if any(f.qualifiers.get("Is_circular", [""])[0].lower() == "true" for f in feats):
            rec.annotations["topology"] = "circular"
        old = [f for f in rec.features if f.type != "source"]
        if old:
            problems.append(f"record {rec.id}: its {len(old)} features from the file were replaced by "
                            f"{len(feats)} GFF3 features")
        kept, beyond = [], 0
        for f in feats:
            if f.type == "region" and int(f.location.start) == 0 and int(f.location.end) == len(rec):
                f.type = "source"  # GFF3's whole-sequence region is GenBank's source feature
            if int(f.location.end) > len(rec):
                if rec.annotations.get("topology") == "circular" and int(f.location.start) < len(rec):
                    f = _wrap_origin(f, len(rec))
                else:
                    beyond += 1
                    continue
            kept.append(f)
        if beyond:
            problems.append(f"record {rec.id}: {beyond} GFF3 features end past the sequence "
                            f"({len(rec):,} bp) and were skipped")
        rec.features = [f for f in rec.features if f.type == "source"] + kept


# ------------------------------------------------------------------------------------------ writing


def write_gff3(features_by_seqid: dict[str, list[SeqFeature]], lengths: dict[str, int] | None = None) -> str:
    """GFF3 text of features (the inverse of `read_gff3`, for exports and round-trip tests)."""
    out = ["##gff-version 3"]
    for seqid, n in (lengths or {}).items():
        out.append(f"##sequence-region {seqid} 1 {n}")
    for seqid, feats in features_by_seqid.items():
        for k, f in enumerate(feats):
            q = dict(f.qualifiers)
            fid = q.get("ID", [f"{f.type}{k + 1}"])[0]
            q["ID"] = [fid]
            phase_first = int(q.pop("codon_start", ["1"])[0]) - 1 if f.type == "CDS" else None
            attrs = ";".join(f"{key}={','.join(_gff_escape(v) for v in vals)}" for key, vals in q.items())
            for i, p in enumerate(f.location.parts):
                strand = {1: "+", -1: "-"}.get(p.strand, ".")
                phase = "." if phase_first is None else str(phase_first if i == 0 else _next_phase(f, i, phase_first))
                out.append("\t".join([seqid, "dnahnet", f.type, str(int(p.start) + 1), str(int(p.end)),
                                      ".", strand, phase, attrs]))
    return "\n".join(out) + "\n"


def _next_phase(f: SeqFeature, i: int, phase0: int) -> int:
    used = sum(len(p) for p in f.location.parts[:i]) - phase0
    return (3 - used % 3) % 3


def _gff_escape(v: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in ";=,&\t\n%" else c for c in str(v))


__all__ = ["GenomeFile", "read_genome", "read_gff3", "attach_features", "write_gff3", "sequence_hash",
           "sniff_format", "format_from_name", "FORMAT_BY_EXTENSION", "read_source", "to_text", "TooLarge",
           "max_inflated_bytes", "MAX_INFLATED_BYTES"]
