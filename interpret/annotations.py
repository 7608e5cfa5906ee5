"""Per-nucleotide, strand-aware classes of a record: codon positions, start/stop, RBS, promoter, RNA, intergenic.

`annotate(record)` turns GenBank features (and an optional promoter/TSS companion table) into one uint16
bitfield per strand, bit i = CLASSES[i]. Codon positions are counted in the gene's reading direction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from interpret.companion import Companion, as_table, match_records, read_companion, record_rows

CLASSES: tuple[str, ...] = (
    "cds_pos1", "cds_pos2", "cds_pos3", "start_codon", "stop_codon", "rbs",
    "promoter_35", "promoter_10", "tss", "rRNA", "tRNA", "other_RNA", "intergenic",
)
BIT = {c: i for i, c in enumerate(CLASSES)}
CLASS_LABELS: dict[str, str] = {
    "cds_pos1": "CDS codon position 1", "cds_pos2": "CDS codon position 2", "cds_pos3": "CDS codon position 3",
    "start_codon": "Start codon", "stop_codon": "Stop codon", "rbs": "RBS window (−20..−5)",
    "promoter_35": "Promoter −35 box", "promoter_10": "Promoter −10 box", "tss": "TSS",
    "rRNA": "rRNA", "tRNA": "tRNA", "other_RNA": "Other RNA", "intergenic": "Intergenic",
}
FEATURE_COLUMNS = ("type", "start", "end", "strand", "name", "locus_tag", "product", "parts")


@dataclass
class RecordAnnotation:
    """Classes of every nucleotide of one record, per strand, plus the feature table and metagene anchors."""

    record_id: str
    length: int
    circular: bool
    bits: dict[str, np.ndarray]  # strand "+"/"-" -> (length,) uint16, bit i = CLASSES[i]; intergenic in both
    codon_pos: dict[str, np.ndarray]  # strand -> (length,) int8, 0 = not in a CDS on that strand, else 1/2/3
    features: pd.DataFrame  # FEATURE_COLUMNS; start/end 0-based half-open forward strand, strand +1/-1
    anchors: dict[str, pd.DataFrame]  # "start_codon"/"stop_codon"/"tss" -> DataFrame(pos int64, strand "+"/"-")
    problems: list[str] = field(default_factory=list)
    classes: tuple[str, ...] = CLASSES

    def mask(self, strand: str, cls: str) -> np.ndarray:
        """(length,) bool: nucleotides of class `cls` on `strand` ("+" or "-")."""
        return (self.bits[strand] & np.uint16(1 << BIT[cls])) != 0

    def counts(self) -> pd.DataFrame:
        """Nucleotides per class and strand (a quick sanity table)."""
        rows = {s: {c: int(self.mask(s, c).sum()) for c in CLASSES} for s in ("+", "-")}
        return pd.DataFrame(rows)


GENE_TYPES = {"gene", "pseudogene", "CDS", "rRNA", "tRNA", "ncRNA", "tmRNA", "misc_RNA", "mRNA", "RNA", "precursor_RNA"}
OTHER_RNA_TYPES = {"ncRNA", "tmRNA", "misc_RNA", "RNA", "precursor_RNA"}
SIGNAL_CLASS = {"-10_signal": "promoter_10", "-35_signal": "promoter_35", "RBS": "rbs"}
REGULATORY_CLASS = {"minus_10_signal": "promoter_10", "minus_35_signal": "promoter_35",
                    "ribosome_binding_site": "rbs"}
COMPANION_CLASS = {"promoter_10": "promoter_10", "promoter_35": "promoter_35", "tss": "tss"}
RBS_WINDOW = (-20, -5)  # inclusive, relative to the first base of the start codon, upstream negative


# ------------------------------------------------------------------------------ feature geometry


def _strand_key(strand) -> str:
    return "-" if strand == -1 else "+"


def _parts_in_reading_order(location) -> list[tuple[int, int, int]]:
    return [(int(p.start), int(p.end), -1 if p.strand == -1 else 1) for p in location.parts]


def _span(parts: list[tuple[int, int, int]], length: int) -> tuple[int, int]:
    """(start, end) on the forward strand; a feature that crosses the origin gets end > length."""
    starts = [p[0] for p in parts]
    if len(parts) > 1:
        forward = parts[0][2] != -1
        for i in range(1, len(parts)):  # a step backwards in reading order = the origin was crossed
            wrapped = starts[i] < starts[i - 1] if forward else starts[i] > starts[i - 1]
            if wrapped:
                shift = range(i, len(parts)) if forward else range(0, i)
                moved = [(s + length, e + length, st) if k in shift else (s, e, st)
                         for k, (s, e, st) in enumerate(parts)]
                return min(p[0] for p in moved), max(p[1] for p in moved)
    return min(starts), max(p[1] for p in parts)


def _is_partial(location) -> tuple[bool, bool]:
    """(5' partial, 3' partial) from fuzzy ends '<' / '>' in the feature's reading direction."""
    from Bio.SeqFeature import AfterPosition, BeforePosition

    first, last = location.parts[0], location.parts[-1]
    if first.strand == -1:
        five = isinstance(first.end, AfterPosition)
    else:
        five = isinstance(first.start, BeforePosition)
    if last.strand == -1:
        three = isinstance(last.start, BeforePosition)
    else:
        three = isinstance(last.end, AfterPosition)
    return five, three


def _q(f, key: str, default: str = "") -> str:
    v = f.qualifiers.get(key)
    return str(v[0]) if v else default


def _name(f) -> str:
    for key in ("gene", "Name", "locus_tag", "label", "protein_id", "standard_name"):
        if f.qualifiers.get(key):
            return str(f.qualifiers[key][0])
    return ""


# -------------------------------------------------------------------------------------- annotate
# Everything below works on interval tables (one row per feature part) and difference arrays, so a whole
# genome costs a few passes over (length,) arrays rather than one Python step per nucleotide.


@dataclass
class _Parts:
    """One row per part of many features, parts of a feature in reading order."""

    feat: np.ndarray  # (k,) feature index
    start: np.ndarray  # (k,) 0-based
    end: np.ndarray  # (k,) exclusive
    minus: np.ndarray  # (k,) bool
    along: np.ndarray  # (k,) index along its feature of the part's first base (in reading order)

    @classmethod
    def of(cls, parts_lists: list[list[tuple[int, int, int]]]) -> "_Parts":
        rows = [(i, s, e, st == -1) for i, parts in enumerate(parts_lists) for (s, e, st) in parts]
        if not rows:
            z = np.zeros(0, dtype=np.int64)
            return cls(z, z, z, z.astype(bool), z)
        feat, start, end, minus = (np.array(c) for c in zip(*rows))
        width = (end - start).astype(np.int64)
        before = np.cumsum(width) - width
        first_row = np.searchsorted(feat, feat)  # row of each feature's first part (feat is sorted)
        return cls(feat.astype(np.int64), start.astype(np.int64), end.astype(np.int64), minus.astype(bool),
                   before - before[first_row])

    def select(self, rows: np.ndarray) -> "_Parts":
        return _Parts(self.feat[rows], self.start[rows], self.end[rows], self.minus[rows], self.along[rows])

    def position(self, feat: np.ndarray, along: np.ndarray) -> np.ndarray:
        """Record coordinate of nucleotide `along` (reading order) of feature `feat`, vectorised."""
        key = feat * (1 << 40) + along
        row = np.searchsorted(self.feat * (1 << 40) + self.along, key, side="right") - 1
        within = along - self.along[row]
        return np.where(self.minus[row], self.end[row] - 1 - within, self.start[row] + within)


def _cover(starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """(length,) bool, True inside any [start, end) interval (difference array)."""
    if starts.size == 0:
        return np.zeros(length, dtype=bool)
    d = np.bincount(starts, minlength=length + 1) - np.bincount(ends, minlength=length + 1)
    return np.cumsum(d[:length], dtype=np.int32) > 0


class _Marks:
    """Intervals and single positions per (strand, class), written into the bitfields once at the end."""

    def __init__(self, length: int):
        self.length = length
        self.spans: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
        self.points: dict[tuple[str, str], list[np.ndarray]] = {}

    def add_spans(self, strand: str, cls: str, starts: np.ndarray, ends: np.ndarray) -> None:
        if len(starts):
            self.spans.setdefault((strand, cls), []).append((np.asarray(starts), np.asarray(ends)))

    def add_points(self, strand: str, cls: str, positions: np.ndarray) -> None:
        if positions.size:
            self.points.setdefault((strand, cls), []).append(positions)

    def write(self, bits: dict[str, np.ndarray]) -> None:
        for (strand, cls), chunks in self.spans.items():
            s = np.concatenate([c[0] for c in chunks]).astype(np.int64)
            e = np.concatenate([c[1] for c in chunks]).astype(np.int64)
            bits[strand][_cover(s, e, self.length)] |= np.uint16(1 << BIT[cls])
        for (strand, cls), chunks in self.points.items():
            bits[strand][np.concatenate(chunks)] |= np.uint16(1 << BIT[cls])


_CODON_INDEX = np.full(256, -1, dtype=np.int16)
for _i, _c in enumerate(b"ACGT"):
    _CODON_INDEX[_c] = _i


def _codon_ids(seq: np.ndarray, triplets: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """(k,) codon number 0..63 (ACGT as base-4 digits) of (k, 3) positions read on their strand; -1 if not ACGT."""
    raw = _CODON_INDEX[seq[triplets]].astype(np.int32)  # (k, 3)
    idx = np.where(minus[:, None], 3 - raw, raw)  # complement: A<->T, C<->G
    ids = idx[:, 0] * 16 + idx[:, 1] * 4 + idx[:, 2]
    return np.where((raw < 0).any(axis=1), -1, ids)


def _codon_set(codons) -> np.ndarray:
    return np.array([int(_CODON_INDEX[ord(c[0])]) * 16 + int(_CODON_INDEX[ord(c[1])]) * 4
                     + int(_CODON_INDEX[ord(c[2])]) for c in codons], dtype=np.int32)


def _codon_name(i: int) -> str:
    return "ACGT"[i // 16] + "ACGT"[(i // 4) % 4] + "ACGT"[i % 4]


@dataclass
class _Cds:
    """What annotate needs to know about one CDS beyond its location."""

    label: str
    codon_start: int
    code: int
    five_partial: bool
    three_partial: bool


def annotate(record, companion=None, genetic_code=None) -> RecordAnnotation:
    """Classes per nucleotide per strand of a SeqRecord, from its features and an optional companion table.

    companion: `interpret.companion.read_companion(...)` or its DataFrame (type, start, end, strand, name[, seqid]).
    genetic_code: NCBI table id for CDS without /transl_table (default 11).
    """
    length = len(record)
    circular = str(record.annotations.get("topology", "linear")).lower() == "circular"
    seq = np.frombuffer(str(record.seq).upper().encode("ascii"), dtype=np.uint8)
    default_code = int(genetic_code) if genetic_code else 11
    problems: list[str] = []
    tally: dict[str, list[str]] = {}  # problem kind -> example names

    def note(kind: str, example: str) -> None:
        tally.setdefault(kind, []).append(example)

    feature_rows, genes, cds, cds_info, signals = [], [], [], [], []
    for f in record.features:
        if f.type == "source" or f.location is None:
            continue
        parts = _parts_in_reading_order(f.location)
        if max(p[1] for p in parts) > length or min(p[0] for p in parts) < 0:
            note("features reach past the record and were skipped", _name(f) or f.type)
            continue
        start, end = (parts[0][0], parts[0][1]) if len(parts) == 1 else _span(parts, length)
        feature_rows.append((f.type, start, end, parts[0][2], _name(f), _q(f, "locus_tag"), _q(f, "product"), parts))
        if f.type in GENE_TYPES:
            genes.append((f.type, parts))
        if f.type == "CDS":
            info = _cds_info(f, note, default_code)
            if info is not None:
                cds.append(parts)
                cds_info.append(info)
        cls = SIGNAL_CLASS.get(f.type) or (REGULATORY_CLASS.get(_q(f, "regulatory_class"))
                                           if f.type == "regulatory" else None)
        if cls:
            signals.append((cls, parts))

    marks = _Marks(length)
    # genes and RNAs: coverage (for intergenic) and the RNA classes
    gp = _Parts.of([p for _, p in genes])
    covered = _cover(gp.start, gp.end, length)
    gene_type = np.array([t for t, _ in genes], dtype=object)[gp.feat] if genes else np.zeros(0, dtype=object)
    for cls, types in (("rRNA", ["rRNA"]), ("tRNA", ["tRNA"]), ("other_RNA", sorted(OTHER_RNA_TYPES))):
        for s, on_minus in (("+", False), ("-", True)):
            rows = np.isin(gene_type, types) & (gp.minus == on_minus)
            marks.add_spans(s, cls, gp.start[rows], gp.end[rows])
    # signals written in the file (promoter boxes, RBS)
    for cls, parts in signals:
        for a, b, st in parts:
            marks.add_spans(_strand_key(st), cls, np.array([a]), np.array([b]))

    anchors: dict[str, list] = {"start_codon": [], "stop_codon": [], "tss": []}
    codon_pos = _mark_cds(cds, cds_info, seq, length, circular, marks, anchors, note, problems)
    companion = as_table(companion)
    if companion is not None and len(companion):
        feature_rows += _add_companion(companion, record, length, marks, anchors, problems)

    bits = {"+": np.zeros(length, dtype=np.uint16), "-": np.zeros(length, dtype=np.uint16)}
    for s in ("+", "-"):
        for k in (1, 2, 3):
            bits[s][codon_pos[s] == k] |= np.uint16(1 << BIT[f"cds_pos{k}"])
        bits[s][~covered] |= np.uint16(1 << BIT["intergenic"])
    marks.write(bits)

    problems[:0] = [f"{len(v)} {k} (e.g. {', '.join(v[:3])})" for k, v in tally.items()]
    features = pd.DataFrame(feature_rows, columns=list(FEATURE_COLUMNS))
    features = features.astype({"start": np.int64, "end": np.int64, "strand": np.int8})
    anchor_frames = {k: pd.DataFrame(v, columns=["pos", "strand"]).astype({"pos": np.int64})
                     .drop_duplicates().sort_values("pos", kind="stable").reset_index(drop=True)
                     for k, v in anchors.items()}
    return RecordAnnotation(record_id=record.id, length=length, circular=circular, bits=bits,
                            codon_pos=codon_pos, features=features, anchors=anchor_frames, problems=problems)


def _cds_info(f, note, default_code: int) -> _Cds | None:
    """Reading-frame facts of one CDS, or None for pseudogenes (no trustworthy frame)."""
    label = _name(f) or f"CDS at {int(f.location.start) + 1}"
    if "pseudo" in f.qualifiers or "pseudogene" in f.qualifiers:
        note("pseudogene CDS (/pseudo) get no codon classes (their reading frame is broken)", label)
        return None
    try:
        codon_start = int(_q(f, "codon_start", "1") or 1)
    except ValueError:
        codon_start = 0
    if codon_start not in (1, 2, 3):
        note("CDS with an invalid /codon_start were read as codon_start=1", label)
        codon_start = 1
    try:
        code = int(_q(f, "transl_table", str(default_code)) or default_code)
    except ValueError:
        code = default_code
    five, three = _is_partial(f.location)
    return _Cds(label, codon_start, code, five or codon_start != 1, three)


def _codon_track(p: _Parts, offset: np.ndarray, length: int, on_minus: bool, strand: str,
                 problems: list[str]) -> np.ndarray:
    """(length,) int8 codon positions of the CDS parts of one strand; 0 where CDS disagree on the frame.

    A part's codon position at x is ((x - key) % 3) + 1 on "+" and ((key - x) % 3) + 1 on "-", with one
    `key` per part; counting cover per key finds overlaps of different frames without touching single bases.
    """
    phase = (p.along - offset[p.feat]) % 3  # codon position - 1 of each part's first base
    key = np.where(p.minus, p.end - 1 + phase, p.start - phase) % 3
    f0, f1, f2 = (_cover(p.start[key == k], p.end[key == k], length) for k in range(3))
    n_frames = f0.astype(np.int8) + f1 + f2
    k = f1.astype(np.int8) + 2 * f2.astype(np.int8)  # the frame key where exactly one frame covers x
    x3 = (np.arange(length, dtype=np.int64) % 3).astype(np.int8)
    out = (((k - x3) if on_minus else (x3 - k)) % 3 + 1).astype(np.int8)
    out[n_frames != 1] = 0
    clash = n_frames > 1
    if clash.any():
        hits = np.r_[0, np.cumsum(clash)]
        n_cds = np.unique(p.feat[hits[p.end] - hits[p.start] > 0]).size
        problems.append(f"strand {strand}: {int(clash.sum()):,} nt where {n_cds} CDS overlap in different "
                        "reading frames get codon position 0")
    return out


def _mark_cds(cds, info: list[_Cds], seq, length, circular, marks: _Marks, anchors, note, problems):
    """Codon positions, start/stop codons and RBS windows of all CDS at once; returns codon_pos per strand."""
    from Bio.Data.CodonTable import unambiguous_dna_by_id

    p = _Parts.of(cds)
    offset = np.array([i.codon_start - 1 for i in info], dtype=np.int64)
    codon_pos = {s: _codon_track(p.select(p.minus == m), offset, length, m, s, problems)
                 for s, m in (("+", False), ("-", True))}
    if not cds:
        return codon_pos
    n = np.array([sum(e - s for s, e, _ in parts) for parts in cds], dtype=np.int64)  # CDS lengths
    minus = np.array([parts[0][2] == -1 for parts in cds])
    five = np.array([x.five_partial for x in info])
    three = np.array([x.three_partial for x in info])
    too_short = n < 6
    for i in np.flatnonzero((n % 3 != 0) & ~five & ~three):
        note("CDS whose length is not a multiple of 3 (codon positions counted from the start)", info[i].label)
    for i in np.flatnonzero(too_short):
        note("CDS shorter than 6 nt get no start/stop classes", info[i].label)
    for i in np.flatnonzero(five & ~too_short):
        note("5'-partial CDS ('<' or codon_start ≠ 1): no start codon or RBS class", info[i].label)
    for i in np.flatnonzero(three & ~too_short):
        note("3'-partial CDS ('>'): no stop codon class", info[i].label)

    has_start = np.flatnonzero(~too_short & ~five)
    has_stop = np.flatnonzero(~too_short & ~three)
    three_nt = np.arange(3)
    start3 = p.position(np.repeat(has_start, 3), np.tile(three_nt, has_start.size)).reshape(-1, 3)  # (k, 3)
    stop_along = (n[has_stop, None] - 3 + three_nt).ravel()
    stop3 = p.position(np.repeat(has_stop, 3), stop_along).reshape(-1, 3)
    lo, hi = RBS_WINDOW
    for s, on_minus in (("+", False), ("-", True)):
        a, b = minus[has_start] == on_minus, minus[has_stop] == on_minus
        marks.add_points(s, "start_codon", start3[a].ravel())
        marks.add_points(s, "stop_codon", stop3[b].ravel())
        anchors["start_codon"] += [(int(x), s) for x in start3[a, 0]]
        anchors["stop_codon"] += [(int(x), s) for x in stop3[b, 0]]
        upstream = -1 if on_minus else 1  # record direction of "downstream" for this strand
        rbs = (start3[a, 0][:, None] + upstream * np.arange(lo, hi + 1)).ravel()
        marks.add_points(s, "rbs", rbs % length if circular else rbs[(rbs >= 0) & (rbs < length)])

    # start and stop codons checked against each CDS's genetic code (reported, never dropped)
    codes = np.array([x.code for x in info])
    checks = ((has_start, _codon_ids(seq, start3, minus[has_start]), "start"),
              (has_stop, _codon_ids(seq, stop3, minus[has_stop]), "stop"))
    for code in np.unique(codes):
        table = unambiguous_dna_by_id.get(int(code))
        if table is None:
            for i in np.flatnonzero(codes == code):
                note(f"CDS with unknown genetic code {code} (start/stop not checked)", info[i].label)
            continue
        for rows, ids, what in checks:
            allowed = _codon_set(table.start_codons if what == "start" else table.stop_codons)
            bad = (codes[rows] == code) & (ids >= 0) & ~np.isin(ids, allowed)
            for i, c in zip(rows[bad], ids[bad]):
                note(f"CDS {what} with a codon that is not a {what} codon in genetic code {code} (kept)",
                     f"{info[i].label} {_codon_name(int(c))}")
    return codon_pos


def _add_companion(table: pd.DataFrame, record, length: int, marks: _Marks, anchors,
                   problems: list[str]) -> list[tuple]:
    """Mark promoter boxes and TSS from a companion table; rows of other records or off the record are dropped."""
    t = table[record_rows(table, record)]
    off = (t["start"] < 0) | (t["end"] > length) | (t["end"] <= t["start"])
    if off.any():
        problems.append(f"companion table: {int(off.sum())} rows lie outside record {record.id} "
                        f"({length:,} bp) and were ignored")
        t = t[~off]
    for typ, cls in COMPANION_CLASS.items():
        for s, sign in (("+", 1), ("-", -1)):
            g = t[(t["type"] == typ) & (np.sign(t["strand"]) == sign)]
            if g.empty:
                continue
            marks.add_spans(s, cls, g["start"].to_numpy(np.int64), g["end"].to_numpy(np.int64))
            if cls == "tss":
                anchors["tss"] += [(int(x), s) for x in g["start"]]
    names = t["name"].fillna("").astype(str) if "name" in t.columns else [""] * len(t)
    notes = t["note"].fillna("").astype(str) if "note" in t.columns else [""] * len(t)
    return [(str(typ), int(a), int(b), int(st), nm, "", f"{note} (companion table)".strip(),
             [(int(a), int(b), int(st))])
            for (typ, a, b, st), nm, note in zip(t[["type", "start", "end", "strand"]].itertuples(index=False),
                                                 names, notes)]


def annotate_all(genome, companion=None, genetic_code=None, problems: list[str] | None = None
                 ) -> dict[str, RecordAnnotation]:
    """`annotate` every record of a GenomeFile (or a list of SeqRecords), keyed by record id: what every command
    line does with a genome file and an optional promoter/TSS table.

    companion: a path (or bytes) read with `read_companion`, a Companion, or its DataFrame. problems: when given,
    the companion's notes go there as "companion: ..." (rows it skipped; how its rows meet the records). Each
    record's own notes stay in its `RecordAnnotation.problems`.
    """
    records = list(getattr(genome, "records", genome))
    if companion is not None and not isinstance(companion, (Companion, pd.DataFrame)):
        companion = read_companion(companion)
    if problems is not None and companion is not None:
        notes = companion.problems if isinstance(companion, Companion) else []
        problems.extend(f"companion: {p}" for p in notes + match_records(companion, records)[2])
    return {r.id: annotate(r, companion=companion, genetic_code=genetic_code) for r in records}


__all__ = ["CLASSES", "CLASS_LABELS", "BIT", "RecordAnnotation", "annotate", "annotate_all",
           "FEATURE_COLUMNS"]
