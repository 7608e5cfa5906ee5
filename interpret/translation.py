"""Amino acids of a short stretch of DNA for the genome browser's translation track (as IGV draws it).

Three frames per strand over a window, and the codons of every CDS that reaches into it (its own frame,
`/codon_start`, joins and `/transl_table`), merged so a CDS's codons are marked and its start codon reads M.
Genetic codes are NCBI's, through Biopython's `CodonTable`; a CDS without `/transl_table` uses table 11.
Coordinates are 0-based forward-strand like every coordinate in code; a frame is the forward-strand position of
a codon's first base (in its reading direction) modulo 3, so the + and − frames of a position agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_TABLE = 11  # bacterial, archaeal and plant plastid code
COLUMNS = ["strand", "frame", "start", "end", "centre", "codon", "aa", "kind", "in_cds", "cds"]
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


@dataclass(frozen=True)
class CdsFrame:
    """What a CDS says about its reading frame: parts in reading order (start, end, strand ±1), 0-based."""

    parts: tuple[tuple[int, int, int], ...]
    codon_start: int = 1
    table: int = DEFAULT_TABLE
    label: str = "CDS"
    five_partial: bool = False

    @property
    def strand(self) -> int:
        return -1 if self.parts[0][2] < 0 else 1

    @property
    def extent(self) -> tuple[int, int]:
        return min(p[0] for p in self.parts), max(p[1] for p in self.parts)


def codon_table(table_id: int):
    """Biopython's unambiguous DNA codon table `table_id`, or ValueError naming the problem."""
    from Bio.Data import CodonTable

    try:
        return CodonTable.unambiguous_dna_by_id[int(table_id)]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"no NCBI genetic code {table_id!r} (known: "
                         f"{', '.join(map(str, sorted(CodonTable.unambiguous_dna_by_id)))})") from None


def translate_codon(codon: str, table) -> str:
    """One letter: the amino acid, '*' for a stop, 'X' for a codon holding N or other letters."""
    codon = codon.upper()
    if codon in table.stop_codons:
        return "*"
    return table.forward_table.get(codon, "X")


def _read(sequence, positions: np.ndarray) -> str:
    """Forward-strand letters at `positions` (uppercase) from a str, Bio Seq or SeqRecord."""
    if hasattr(sequence, "seq"):
        sequence = sequence.seq
    if len(positions) == 0:
        return ""
    lo, hi = int(positions.min()), int(positions.max()) + 1
    chunk = str(sequence[lo:hi]).upper()
    return "".join(chunk[p - lo] for p in positions.tolist())


def three_frames(sequence, lo: int, hi: int, strand: int, table: int = DEFAULT_TABLE) -> pd.DataFrame:
    """Every whole codon inside [lo, hi) read on `strand` (+1 or −1), in all three frames, translated."""
    code = codon_table(table)
    text = str((sequence.seq if hasattr(sequence, "seq") else sequence)[lo:hi]).upper()
    rows = []
    for s in range(lo, hi - 2):
        codon = text[s - lo:s - lo + 3]
        if strand < 0:
            codon = codon.translate(_COMPLEMENT)[::-1]
        aa = translate_codon(codon, code)
        first = s if strand > 0 else s + 2  # the codon's first base in its reading direction
        kind = "stop" if aa == "*" else ("start" if aa == "M" else "")
        rows.append((strand, first % 3, s, s + 3, s + 2, codon, aa, kind, False, ""))
    return pd.DataFrame(rows, columns=COLUMNS)


def cds_codons(sequence, cds: CdsFrame, lo: int, hi: int, length: int | None = None) -> pd.DataFrame:
    """The codons of `cds` with a base in [lo, hi), translated with its table; the first codon of a complete CDS
    that is one of the table's start codons reads M. `centre` is the 1-based position of the middle base."""
    code = codon_table(cds.table)
    length = length if length is not None else len(sequence)
    coords = np.concatenate([np.arange(s, e) if st > 0 else np.arange(e - 1, s - 1, -1)
                             for s, e, st in cds.parts]).astype(np.int64) % max(length, 1)
    coords = coords[cds.codon_start - 1:]
    n = len(coords) // 3
    by_codon = coords[:3 * n].reshape(n, 3)  # (codons, 3) forward-strand positions in reading order
    touch = ((by_codon >= lo) & (by_codon < hi)).any(axis=1)
    rows = []
    for i in np.flatnonzero(touch).tolist():
        pos = by_codon[i]
        codon = _read(sequence, pos)
        if cds.strand < 0:
            codon = codon.translate(_COMPLEMENT)
        aa = translate_codon(codon, code)
        kind = "stop" if aa == "*" else ""
        if i == 0 and cds.codon_start == 1 and not cds.five_partial and codon in code.start_codons:
            aa, kind = "M", "start"
        rows.append((cds.strand, int(pos[0]) % 3, int(pos.min()), int(pos.max()) + 1, int(pos[1]) + 1, codon, aa,
                     kind, True, cds.label))
    return pd.DataFrame(rows, columns=COLUMNS)


def window_translation(sequence, lo: int, hi: int, strands, cds_list=(), default_table: int = DEFAULT_TABLE,
                       length: int | None = None) -> pd.DataFrame:
    """The translation track's codons: three frames on each strand of `strands` (+1/−1) over [lo, hi), with the
    codons of each CDS there marked `in_cds` (its table, its start codon as M). A strand's free frames use the
    table of its first CDS in the window, else `default_table`. Codons split by a join are added as they are."""
    frames = []
    for strand in strands:
        mine = [c for c in cds_list if c.strand == strand]
        free = three_frames(sequence, lo, hi, strand, mine[0].table if mine else default_table)
        own = [cds_codons(sequence, c, lo, hi, length) for c in mine]
        own = pd.concat(own, ignore_index=True) if own else free.iloc[0:0]
        if len(own):
            taken = set(zip(own["start"], own["end"], own["frame"]))
            free = free[[k not in taken for k in zip(free["start"], free["end"], free["frame"])]]
        frames += [free, own]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return out.sort_values(["strand", "frame", "start"], ascending=[False, True, True]).reset_index(drop=True)


def cds_from_record(record, lo: int, hi: int) -> list[CdsFrame]:
    """The CDS of a SeqRecord reaching into [lo, hi), with their /codon_start and /transl_table (pseudogenes,
    whose frame is broken, are left out)."""
    from Bio.SeqFeature import AfterPosition, BeforePosition

    out = []
    for f in getattr(record, "features", ()):
        if f.type != "CDS" or f.location is None or "pseudo" in f.qualifiers or "pseudogene" in f.qualifiers:
            continue
        parts = tuple((int(p.start), int(p.end), -1 if p.strand == -1 else 1) for p in f.location.parts)
        if not any(s < hi and e > lo for s, e, _ in parts):
            continue
        q = {k: str(v[0]) for k, v in f.qualifiers.items() if v}
        try:
            codon_start = int(q.get("codon_start", 1))
            table = int(q.get("transl_table", DEFAULT_TABLE))
            codon_table(table)
        except ValueError:
            codon_start, table = 1, DEFAULT_TABLE
        first = f.location.parts[0]
        five = isinstance(first.start, BeforePosition) if parts[0][2] > 0 else isinstance(first.end, AfterPosition)
        label = q.get("gene") or q.get("locus_tag") or f"CDS at {parts[0][0] + 1}"
        out.append(CdsFrame(parts, codon_start if codon_start in (1, 2, 3) else 1, table, label,
                            five or codon_start != 1))
    return out


def cds_from_features(features: pd.DataFrame | None, lo: int, hi: int,
                      table: int = DEFAULT_TABLE) -> list[CdsFrame]:
    """The CDS rows of an annotation's feature table reaching into [lo, hi) (no qualifiers there: codon_start 1,
    `table`) — for a sequence given without its features."""
    if features is None or len(features) == 0:
        return []
    f = features[(features["type"] == "CDS") & (features["end"] > lo) & (features["start"] < hi)]
    out = []
    for r in f.to_dict("records"):
        parts = r.get("parts")
        if not isinstance(parts, (list, tuple)) or not parts:
            parts = [(int(r["start"]), int(r["end"]), -1 if int(r["strand"]) < 0 else 1)]
        label = str(r.get("name") or r.get("locus_tag") or f"CDS at {int(r['start']) + 1}")
        out.append(CdsFrame(tuple((int(a), int(b), int(c)) for a, b, c in parts), 1, table, label))
    return out


__all__ = ["CdsFrame", "DEFAULT_TABLE", "codon_table", "translate_codon", "three_frames", "cds_codons",
           "window_translation", "cds_from_record", "cds_from_features"]
