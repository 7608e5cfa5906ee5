"""Where to look: a gene name, locus tag or `record:start-end` typed by the user → one window of one record.

What the sidebar's region box and the URL's `locus` go through, before anything is analysed: the text is read
with the browser's locus grammar (`app.viewport.parse_locus`), then resolved on the genome: records and their
lengths, and names in the annotation (genes, CDS and RNAs, `app.viewport.find_features`), never in a trace.
Typed positions are 1-based inclusive (commas allowed); everything returned is 0-based half-open.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

CONTEXT_BP = 2_000  # analysed on each side of a gene found by name (clipped at the record's ends)
MIN_REGION = 30  # a typed range this long is analysed as typed; a shorter one (one base) gets CONTEXT_BP too
MAX_CHOICES = 50  # an ambiguous name lists at most this many loci


class LocusError(ValueError):
    """Text that names no window; the message says why in words a user can act on."""


@dataclass(frozen=True)
class Locus:
    """One window of one record: a gene found by name (with `context` nt each side) or a typed range."""

    record_id: str
    start: int  # 0-based, first base of the gene or range
    end: int  # exclusive; a feature across the origin of a circular record ends past the record's length
    text: str  # what resolves to exactly this locus again (the URL's `locus`, the region box after a choice)
    label: str  # what the user reads (user text: shown through app.components.plain)
    context: int = 0  # CONTEXT_BP for a gene found by name, 0 for a typed range

    def region(self, length: int) -> tuple[int, int]:
        """The part of the record to analyse: the locus and its context, clipped to [0, length). Circular records
        are clipped too (an analysed region never wraps the origin; a gene across it keeps its part before)."""
        return max(0, self.start - self.context), min(length, min(self.end, length) + self.context)


def feature_table(records) -> pd.DataFrame:
    """The searchable features of every record (interpret.annotations' table + `record_id`), in file order."""
    from interpret.annotations import annotate

    tables = [annotate(r).features.assign(record_id=r.id) for r in records]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["record_id"])


def resolve(text: str, lengths: dict[str, int], features: pd.DataFrame | None, record_id: str) -> list[Locus]:
    """The loci `text` names: one (resolved) or several (the user chooses); LocusError when it names none.

    lengths: record id → length, in file order. features: `feature_table(...)`. record_id: the record a range
    without `record:` belongs to (the one picked in the sidebar).
    """
    query = " ".join(str(text).split())
    if not query:
        raise LocusError("type a gene name, a locus tag or a range such as 1,000-2,000")
    typed = parse_range(query, lengths, record_id)
    return [typed] if typed is not None else find_loci(query, lengths, features)


def parse_range(text: str, lengths: dict[str, int], record_id: str) -> Locus | None:
    """`record:start-end`, `start-end` or one position (1-based inclusive, commas allowed; the grammar of the
    browser's locus box, `app.viewport.parse_locus`) → a Locus on one of the records; None when `text` is a name.

    A range of at least MIN_REGION nt is analysed as typed; a shorter one (a single base too) gets CONTEXT_BP each
    side like a gene. LocusError for a wrong range: order, bounds, an unknown record.
    """
    from app.viewport import parse_locus

    try:
        typed = parse_locus(text)
    except ValueError as e:
        raise LocusError(str(e)) from None
    if typed.name is not None:
        record, colon, rest = text.rpartition(":")
        if colon and record.strip() in lengths:
            raise LocusError(f"after “{record.strip()}:” give a range start-end, e.g. {record.strip()}:1,000-2,000")
        return None
    rid = _record(typed.record, lengths) if typed.record else record_id
    start, end, n = typed.lo + 1, typed.hi, lengths[rid]
    if end > n:
        raise LocusError(f"{rid} has {n:,} bp: {start:,}-{end:,} goes past its end")
    where = f"{start:,}–{end:,}" if end > start else f"{start:,}"
    context = 0 if end - start + 1 >= MIN_REGION else CONTEXT_BP
    return Locus(rid, start - 1, end, text=f"{rid}:{start}-{end}", label=f"{rid}:{where}", context=context)


def _record(name: str, lengths: dict[str, int]) -> str:
    """The record id `name` means: itself, else the one record it names without case or version."""
    from app.viewport import same_record

    if name in lengths:
        return name
    same = [r for r in lengths if same_record(name, r)]
    if len(same) == 1:
        return same[0]
    shown = ", ".join(list(lengths)[:5]) + (f" and {len(lengths) - 5} more" if len(lengths) > 5 else "")
    raise LocusError(f"this genome has no record “{name}” (its records: {shown})")


def find_loci(query: str, lengths: dict[str, int], features: pd.DataFrame | None) -> list[Locus]:
    """Genes whose name, locus tag or product contains `query` (`app.viewport.find_features`: genes, CDS and RNAs,
    a gene and its CDS as one hit); exact matches only when there are any. Several loci → a choice."""
    from app.viewport import feature_label, find_features

    example = f"{next(iter(lengths), 'record')}:1,000-2,000"
    if features is None or len(features) == 0 or "type" not in features.columns:
        raise LocusError(f"this genome has no annotated genes to search: type a range such as {example}")
    named = features[features["type"] != "source"]
    hits = [find_features(g, query, limit=len(g)) for _, g in named.groupby("record_id", sort=False)]
    hits = pd.concat(hits) if hits else named.iloc[0:0]
    if hits.empty:
        raise LocusError(f"no gene, CDS or RNA matches “{query}” (name, locus tag or product); "
                         f"a range looks like {example}")
    exact = _exact(hits, query)
    if exact.any():
        hits = hits[exact]
    loci = []
    for key, rows in hits.groupby(_locus_keys(hits), sort=False):
        row = rows.iloc[0]
        start, end = int(rows["start"].min()), int(rows["end"].max())
        label = feature_label(row)
        if len(lengths) > 1:
            label = f"{label} · {row['record_id']}"
        loci.append(Locus(str(row["record_id"]), start, end, _text_for(row, key, named), label, CONTEXT_BP))
        if len(loci) == MAX_CHOICES:
            break
    return loci


def _locus_keys(rows: pd.DataFrame) -> pd.Series:
    """One key per locus: record + locus tag (a gene and its CDS share it), else record + span + strand."""
    tag = rows["locus_tag"].fillna("").astype(str)
    span = rows["start"].astype(str) + "-" + rows["end"].astype(str) + rows["strand"].astype(str)
    return rows["record_id"].astype(str) + "\t" + tag.where(tag != "", span)


def _exact(rows: pd.DataFrame, query: str) -> pd.Series:
    """Rows whose name, locus tag or product is `query` (case-insensitive)."""
    q = query.strip().lower()
    out = pd.Series(False, index=rows.index)
    for c in ("name", "locus_tag", "product"):
        if c in rows.columns:
            out |= rows[c].fillna("").astype(str).str.lower() == q
    return out


def _text_for(row, key: str, features: pd.DataFrame) -> str:
    """The shortest text naming this locus alone: its locus tag, else its name (when no other feature of the file
    carries it as name, tag or product), else its record and range."""
    for col in ("locus_tag", "name"):
        value = str(row.get(col) or "")
        if value and _reads_as_name(value):
            same = features[_exact(features, value)]
            if set(_locus_keys(same)) == {key}:
                return value
    return f"{row['record_id']}:{int(row['start']) + 1}-{int(row['end'])}"


def _reads_as_name(text: str) -> bool:
    """Whether `text` typed back would be searched as a name (not read as a range or as record:range)."""
    from app.viewport import parse_locus

    try:
        return parse_locus(text).name is not None and ":" not in text
    except ValueError:
        return False
