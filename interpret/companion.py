"""Promoter and TSS tables (RegulonDB E. coli CSVs, generic CSV/TSV, BED, GFF3) → one tidy DataFrame.

Output columns: `type` (promoter_35 | promoter_10 | tss | promoter), `start`, `end` (0-based half-open on
the forward strand), `strand` (+1/-1), `name`, `seqid` ("" when the table does not say), `note`.
Rows that cannot be read are dropped and counted in `problems`, never silently; `match_records` says how many rows
each record of a genome gets and which seqids name no record.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dnahnet.genome_io import TooLarge, read_gff3, read_source, to_text

COLUMNS = ["type", "start", "end", "strand", "name", "seqid", "note"]
TYPES = ("promoter_35", "promoter_10", "tss", "promoter")
_TYPE_WORDS = {
    "promoter_35": {"promoter_35", "-35", "minus_35", "minus_35_signal", "-35_signal", "35", "box_35", "box35",
                    "-35_box", "-35box"},
    "promoter_10": {"promoter_10", "-10", "minus_10", "minus_10_signal", "-10_signal", "10", "box_10", "box10",
                    "-10_box", "-10box", "pribnow_box"},
    "tss": {"tss", "transcription_start_site", "transcriptional_start_site", "+1", "start_site", "tsp"},
    "promoter": {"promoter", "prom"},
}
_TYPE_OF_WORD = {w: t for t, words in _TYPE_WORDS.items() for w in words}
_COLUMN_NAMES = {
    "type": ("type", "feature", "feature_type", "kind", "class", "element"),
    "start": ("start", "left", "begin", "from", "chromstart", "start_pos"),
    "end": ("end", "right", "stop", "to", "chromend", "end_pos"),
    "position": ("position", "pos", "tss", "tss_position", "coordinate", "site", "location", "+1"),
    "strand": ("strand", "orientation", "direction", "str"),
    "name": ("name", "id", "label", "promoter", "promoter_name", "promoter_id", "gene", "tu_name"),
    "seqid": ("seqid", "chrom", "chromosome", "record", "seqname", "contig", "accession", "sequence", "replicon"),
}


@dataclass
class Companion:
    """A promoter/TSS table ready for `interpret.annotations.annotate(record, companion=...)`."""

    table: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    source_name: str = ""

    def __len__(self) -> int:
        return len(self.table)

    def counts(self) -> dict[str, int]:
        return {t: int((self.table["type"] == t).sum()) for t in TYPES}


def normalise_type(word) -> str | None:
    """'−10', 'minus_10_signal', 'TSS', ... → one of TYPES, or None."""
    if word is None or (isinstance(word, float) and np.isnan(word)):
        return None
    w = str(word).strip().lower().replace("−", "-").replace(" ", "_")
    return _TYPE_OF_WORD.get(w)


def parse_strand(values: pd.Series) -> pd.Series:
    """'+', '-', '1', '-1.0', 'forward', 'reverse', 'F', 'R' → +1/-1; anything else → 0 (unknown)."""
    s = values.astype(str).str.strip().str.lower()
    out = pd.Series(0, index=values.index, dtype=np.int8)
    out[s.isin({"+", "1", "1.0", "+1", "forward", "f", "fwd", "plus"})] = 1
    out[s.isin({"-", "-1", "-1.0", "reverse", "r", "rev", "minus", "−"})] = -1
    return out


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        COLUMNS, ["object", np.int64, np.int64, np.int8, "object", "object", "object"])})


def _tidy(df: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    """Drop rows without a usable strand or with start >= end (counted), fix dtypes and order."""
    if df.empty:
        return _empty()
    df = df.copy()
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = ""
    bad_strand = df["strand"] == 0
    if bad_strand.any():
        problems.append(f"{int(bad_strand.sum())} rows have no strand (+/-) and were skipped")
    bad_span = ~bad_strand & ~(df["end"] > df["start"])
    if bad_span.any():
        problems.append(f"{int(bad_span.sum())} rows have end before start and were skipped")
    df = df[~bad_strand & ~bad_span]
    df = df.astype({"start": np.int64, "end": np.int64, "strand": np.int8})
    for c in ("name", "seqid", "note"):
        df[c] = df[c].fillna("").astype(str)
    return df[COLUMNS].sort_values(["start", "type"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------ RegulonDB style


def _is_regulondb(cols: set[str]) -> bool:
    return "tss" in cols and {"box_10_left", "box_10_right"} <= cols


def _from_regulondb(raw: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    """RegulonDB promoter / TU / TSS tables: 1-based `tss`, `box_10_left/right`, `box_35_left/right`."""
    strand = parse_strand(raw["strand"])
    name = next((raw[c] for c in ("name", "promoter_id", "tss_recon_id", "locus_tag") if c in raw.columns),
                pd.Series("", index=raw.index)).fillna("").astype(str)
    note = raw["sigma_factor"].fillna("").astype(str) if "sigma_factor" in raw.columns else ""
    pieces = []
    tss = pd.to_numeric(raw["tss"], errors="coerce")
    has = tss.notna()
    if (~has).any():
        problems.append(f"{int((~has).sum())} promoters have no TSS position (their boxes are kept when given)")
    pieces.append(pd.DataFrame({"type": "tss", "start": tss[has] - 1, "end": tss[has], "strand": strand[has],
                                "name": name[has], "note": note if isinstance(note, str) else note[has]}))
    for typ, lo, hi in (("promoter_10", "box_10_left", "box_10_right"), ("promoter_35", "box_35_left", "box_35_right")):
        if lo not in raw.columns:
            continue
        a, b = pd.to_numeric(raw[lo], errors="coerce"), pd.to_numeric(raw[hi], errors="coerce")
        ok = a.notna() & b.notna()
        pieces.append(pd.DataFrame({"type": typ, "start": a[ok] - 1, "end": b[ok], "strand": strand[ok],
                                    "name": name[ok], "note": note if isinstance(note, str) else note[ok]}))
    df = pd.concat(pieces, ignore_index=True)
    dup = df.duplicated(["type", "start", "end", "strand"])
    if dup.any():
        problems.append(f"{int(dup.sum())} duplicate rows (same type, position and strand) merged")
        df = df[~dup]
    return df


# ------------------------------------------------------------------------------ generic tables


def _find(cols: dict[str, str], role: str) -> str | None:
    for want in _COLUMN_NAMES[role]:
        if want in cols:
            return cols[want]
    return None


def _from_generic(raw: pd.DataFrame, problems: list[str], one_based: bool, default_type: str | None) -> pd.DataFrame:
    """A table with start/end (or position) and strand columns, optionally type/name/seqid."""
    cols = {str(c).strip().lower(): c for c in raw.columns}
    c_start, c_end, c_pos = _find(cols, "start"), _find(cols, "end"), _find(cols, "position")
    c_strand, c_type = _find(cols, "strand"), _find(cols, "type")
    if c_strand is None:
        raise ValueError(f"no strand column (looked for {', '.join(_COLUMN_NAMES['strand'])}); "
                         f"columns are: {', '.join(map(str, raw.columns))}")
    shift = 1 if one_based else 0
    if c_start is not None and c_end is not None:
        start = pd.to_numeric(raw[c_start], errors="coerce") - shift
        end = pd.to_numeric(raw[c_end], errors="coerce")
    elif c_pos is not None:
        start = pd.to_numeric(raw[c_pos], errors="coerce") - shift
        end = start + 1
    else:
        raise ValueError("no coordinate columns: need start and end (or left/right), or position (or tss); "
                         f"columns are: {', '.join(map(str, raw.columns))}")
    if c_type is not None:
        typ = raw[c_type].map(normalise_type)
        unknown = typ.isna() & raw[c_type].notna()
        if unknown.any():
            shown = ", ".join(map(str, raw[c_type][unknown].astype(str).value_counts().index[:5]))
            problems.append(f"{int(unknown.sum())} rows of unknown type ({shown}) were skipped; "
                            f"known types: {', '.join(TYPES)}")
    else:
        guess = default_type or ("tss" if c_start is None else "promoter")
        typ = pd.Series(guess, index=raw.index)
        problems.append(f"no type column: every row read as {guess!r}")
    bad = start.isna() | end.isna()
    if bad.any():
        problems.append(f"{int(bad.sum())} rows have no readable coordinates and were skipped")
    keep = ~bad & typ.notna()
    c_name, c_seqid = _find(cols, "name"), _find(cols, "seqid")
    return pd.DataFrame({
        "type": typ[keep], "start": start[keep], "end": end[keep], "strand": parse_strand(raw[c_strand])[keep],
        "name": raw[c_name][keep] if c_name else "", "seqid": raw[c_seqid][keep] if c_seqid else "",
    })


def _from_bed(text: str, problems: list[str], default_type: str | None) -> pd.DataFrame:
    """BED: chrom, 0-based start, end, [name, score, strand]; type from the name when it says one."""
    rows, bad = [], 0
    for line in text.split("\n"):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        f = line.split("\t") if "\t" in line else line.split()
        try:
            rows.append((f[0], int(f[1]), int(f[2]), f[3] if len(f) > 3 else "", f[5] if len(f) > 5 else "."))
        except (IndexError, ValueError):
            bad += 1
    if bad:
        problems.append(f"{bad} BED lines could not be read (need chrom, start, end) and were skipped")
    df = pd.DataFrame(rows, columns=["seqid", "start", "end", "name", "strand"])
    typ = df["name"].map(normalise_type)
    guessed = typ.isna()
    if guessed.any():
        width_one = (df["end"] - df["start"]) == 1
        typ[guessed] = default_type or None
        if default_type is None:
            typ[guessed & width_one] = "tss"
            typ[guessed & ~width_one] = "promoter"
            problems.append(f"{int(guessed.sum())} BED rows name no type: 1-nt intervals read as TSS, "
                            "longer ones as promoters")
    df["type"] = typ
    df["strand"] = parse_strand(df["strand"])
    return df


def _from_gff3(text: str, problems: list[str]) -> pd.DataFrame:
    features, gff_problems = read_gff3(text)
    problems.extend(gff_problems)
    rows, skipped = [], {}
    for seqid, feats in features.items():
        for f in feats:
            word = f.qualifiers.get("regulatory_class", [f.type])[0] if f.type == "regulatory" else f.type
            typ = normalise_type(word)
            if typ is None:
                skipped[word] = skipped.get(word, 0) + 1
                continue
            name = (f.qualifiers.get("Name") or f.qualifiers.get("ID") or [""])[0]
            for p in f.location.parts:
                rows.append((typ, int(p.start), int(p.end), p.strand or 0, name, seqid))
    if skipped:
        problems.append("GFF3 features that are not promoters/TSS were ignored: "
                        + ", ".join(f"{k} ×{v}" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1])[:6]))
    return pd.DataFrame(rows, columns=["type", "start", "end", "strand", "name", "seqid"])


# ------------------------------------------------------------------------------------------ entry


def sniff_table(text: str) -> str:
    """'gff3' | 'bed' | 'csv' | 'tsv' from the first data lines."""
    lines = [l for l in text.split("\n")[:50] if l.strip()]
    if any(l.startswith("##gff-version") for l in lines[:5]):
        return "gff3"
    data = [l for l in lines if not l.startswith(("#", "track", "browser"))]
    if not data:
        return "csv"
    first = data[0]
    cells = first.split("\t") if "\t" in first else first.split()
    if len(cells) == 9 and cells[3].isdigit() and cells[4].isdigit():
        return "gff3"
    if len(cells) >= 3 and cells[1].isdigit() and cells[2].isdigit():
        return "bed"
    return "tsv" if "\t" in first else "csv"


def read_companion(source, fmt: str | None = None, name: str | None = None, one_based: bool = True,
                   default_type: str | None = None) -> Companion:
    """Read a promoter/TSS table. fmt: 'csv' | 'tsv' | 'bed' | 'gff3' | None (sniffed).

    CSV/TSV coordinates are taken as 1-based inclusive (as in GenBank, GFF3 and RegulonDB) unless
    `one_based=False`; BED is always 0-based half-open. `default_type` names the type of rows whose
    table has no type column.
    """
    problems: list[str] = []
    data, source_name = read_source(source, name)
    try:
        text = to_text(data, problems)
    except TooLarge as e:
        return Companion(_empty(), problems + [str(e)], source_name)
    if not text.strip():
        return Companion(_empty(), problems + ["file is empty"], source_name)
    fmt = (fmt or "").lower().lstrip(".") or None
    if fmt is None and source_name.lower().removesuffix(".gz").endswith(".bed"):
        fmt = "bed"
    fmt = {"gff": "gff3", "txt": None}.get(fmt, fmt) or sniff_table(text)
    try:
        if fmt == "gff3":
            df = _from_gff3(text, problems)
        elif fmt == "bed":
            df = _from_bed(text, problems, default_type)
        else:
            sep = "\t" if fmt == "tsv" else ","
            raw = pd.read_csv(io.StringIO(text), sep=sep, comment=None, dtype=str, skip_blank_lines=True)
            raw.columns = [str(c).strip() for c in raw.columns]
            raw = raw.loc[:, [c for c in raw.columns if c and not c.startswith("Unnamed")]]
            if _is_regulondb({c.lower() for c in raw.columns}):
                df = _from_regulondb(raw.rename(columns=str.lower), problems)
            else:
                df = _from_generic(raw, problems, one_based, default_type)
                problems.append("coordinates read as 1-based inclusive" if one_based
                                else "coordinates read as 0-based half-open")
    except (ValueError, pd.errors.ParserError) as e:
        return Companion(_empty(), problems + [f"could not read {source_name} as a promoter/TSS table: {e}"],
                         source_name)
    table = _tidy(df, problems)
    if table.empty:
        problems.append("no promoter or TSS rows could be read")
    return Companion(table, problems, source_name)


def record_rows(table: pd.DataFrame, record) -> pd.Series:
    """Which rows belong to `record` (bool per row): those without a seqid, and those whose seqid is its id, its name,
    or either without the .version. The one rule `annotate` and `match_records` share."""
    if "seqid" not in table.columns:
        return pd.Series(True, index=table.index)
    ids = {record.id, record.name, record.id.split(".")[0]}
    sid = table["seqid"].fillna("").astype(str)
    return (sid == "") | sid.isin(ids) | sid.str.split(".").str[0].isin(ids)


def match_records(companion, records) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """How the table's rows meet the genome's records: (rows per record id, rows per seqid that names no record,
    notes in words). A note is written when some seqid names no record (they are listed with the record ids
    there are) or when a record gets no row while others do; rows without a seqid count for every record."""
    table = as_table(companion)
    records = list(getattr(records, "records", records))
    if table is None or table.empty or not records:
        return {r.id: 0 for r in records}, {}, []
    masks = {r.id: record_rows(table, r) for r in records}
    per_record = {rid: int(m.sum()) for rid, m in masks.items()}
    matched = np.logical_or.reduce([m.to_numpy() for m in masks.values()])
    sid = table["seqid"].fillna("").astype(str) if "seqid" in table.columns else pd.Series("", index=table.index)
    unmatched = {str(k): int(v) for k, v in sid[~matched].value_counts().items()}
    notes = []
    counts = ", ".join(f"{rid} {n:,}" for rid, n in list(per_record.items())[:10])
    more = f" and {len(per_record) - 10} more records" if len(per_record) > 10 else ""
    if unmatched:
        shown = ", ".join(f"{k!r} ({v:,} row{'s' if v != 1 else ''})" for k, v in list(unmatched.items())[:10])
        notes.append(f"{sum(unmatched.values()):,} of {len(table):,} rows name a seqid that matches no record and "
                     f"were ignored: {shown}{' ...' if len(unmatched) > 10 else ''}. Records: "
                     f"{', '.join(list(per_record)[:10])}{more} (a seqid matches a record's id or name, with or "
                     f"without its .version); rows per record: {counts}")
    elif len(per_record) > 1 and 0 in per_record.values():
        notes.append(f"rows per record: {counts}{more}")
    return per_record, unmatched, notes


def as_table(companion) -> pd.DataFrame | None:
    """Accept a Companion, a DataFrame, or None (what `annotate` takes)."""
    if companion is None:
        return None
    return companion.table if isinstance(companion, Companion) else companion


__all__ = ["Companion", "read_companion", "normalise_type", "parse_strand", "sniff_table", "as_table",
           "record_rows", "match_records", "COLUMNS", "TYPES"]
