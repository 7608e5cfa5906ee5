"""Variants: parse them (notation, VCF), find their CDS, and resolve them into nucleotide edits on a record.

Notation (positions 1-based on the record's forward strand, as in GenBank; an optional `RECORD:` prefix and `g.`):
  `1234A>G` substitution (the reference base is checked) · `1234del`, `1234_1236del`, `1234_1236delACG` deletion ·
  `1234_1235insTT` insertion between two adjacent bases · `1234_1236delinsGG` replacement ·
  `GENE:H26Y` amino-acid change in the CDS whose gene name or locus tag is GENE (1- or 3-letter codes, `*`/`Ter` for
  stop, optional `p.`), residue 1 = the CDS's first codon (after `codon_start`).
An amino-acid change becomes the codon with the fewest nucleotide changes from the wild-type codon; ties go to the
codon used most in the genome's CDSs (then alphabetical). Minus-strand genes are read on the reverse complement and
circular records wrap, so every resolved variant is a list of forward-strand `Edit`s. VCF files are read with
`vcfpy` (one variant per ALT allele, trimmed to its minimal form); errors name the line.

`python -m dnahnet.variants GENOME --variants FILE | --vcf FILE | --saturate GENE_OR_REGION | --essentiality --out CSV`
scores them from the command line (`dnahnet.variants_cli`; the scoring itself is `dnahnet.scoring`, the
stop-cassette essentiality screen `dnahnet.essentiality`).
"""
from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

BASES = "ACGT"
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY*"  # the columns of a CDS saturation matrix: 20 amino acids + stop
THREE_LETTER = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G",
                "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S",
                "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Ter": "*"}
DEFAULT_TABLE = 11  # bacterial, archaeal and plant plastid code, when a CDS has no /transl_table
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")

_NT = r"[ACGTNacgtn]"
_PREFIX = r"^(?:(?P<ctx>[^:\s]+):)?"
_PATTERNS = [  # (kind, regex) tried in order on the whole text
    ("snv", re.compile(_PREFIX + rf"(?:g\.)?(?P<start>\d+)(?P<ref>{_NT})>(?P<alt>{_NT})$")),
    ("delins", re.compile(_PREFIX + rf"(?:g\.)?(?P<start>\d+)(?:_(?P<end>\d+))?delins(?P<alt>{_NT}+)$")),
    ("del", re.compile(_PREFIX + rf"(?:g\.)?(?P<start>\d+)(?:_(?P<end>\d+))?del(?P<ref>{_NT}*)$")),
    ("ins", re.compile(_PREFIX + rf"(?:g\.)?(?P<start>\d+)_(?P<end>\d+)ins(?P<alt>{_NT}+)$")),
    ("aa", re.compile(_PREFIX + r"(?:p\.)?(?P<aa_ref>[A-Z][a-z]{2}|[A-Z*])(?P<residue>\d+)"
                                r"(?P<aa_alt>[A-Z][a-z]{2}|[A-Z*])$")),
]
NOTATION_HELP = ("expected '1234A>G', '1234del', '1234_1236del', '1234_1235insTT', '1234_1236delinsGG' (1-based, "
                 "optionally 'RECORD:' first) or 'GENE:H26Y' (amino-acid change in a CDS)")


class VariantError(ValueError):
    """A variant that cannot be parsed or resolved; the message names the variant (and its line, from a file)."""

    def __init__(self, message: str, text: str = ""):
        super().__init__(message)
        self.text = text  # the variant as written, when known


# ---------------------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class VariantSpec:
    """A variant as written, before it is checked against a genome. Positions are 1-based as in the text."""

    text: str
    kind: str  # snv | del | ins | delins | aa | vcf
    context: str | None = None  # record id (nucleotide kinds) or gene name / locus tag (aa)
    start: int | None = None  # 1-based first position (ins: the base before the insertion)
    end: int | None = None  # 1-based last position (ins: the base after the insertion)
    ref: str = ""  # reference bases as written ('' = not given)
    alt: str = ""
    residue: int | None = None  # aa: residue number (1 = first codon)
    aa_ref: str = ""
    aa_alt: str = ""
    source: str = ""  # where it came from, for messages: "line 7", "VCF line 12", "variant 3"


def parse_variant(text: str, source: str = "") -> VariantSpec:
    """One variant string -> VariantSpec; VariantError (naming `source`) when it matches no notation."""
    raw = str(text).strip()
    where = f"{source}: " if source else ""
    for kind, pattern in _PATTERNS:
        m = pattern.match(raw)
        if m is None:
            continue
        g = m.groupdict()
        if kind == "aa":
            if not g["ctx"]:
                raise VariantError(f"{where}{raw!r}: an amino-acid change needs its gene, e.g. 'bla:{raw}'")
            aa_ref, aa_alt = (_aa_code(g[k], raw, where) for k in ("aa_ref", "aa_alt"))
            return VariantSpec(raw, "aa", g["ctx"], residue=int(g["residue"]), aa_ref=aa_ref, aa_alt=aa_alt,
                               source=source)
        start = int(g["start"])
        end = int(g["end"]) if g.get("end") else start
        if start < 1 or end < 1:
            raise VariantError(f"{where}{raw!r}: positions are 1-based (the first base is 1)")
        if kind != "ins" and end < start:
            raise VariantError(f"{where}{raw!r}: the end position {end} is before the start {start}")
        return VariantSpec(raw, kind, g["ctx"], start, end, (g.get("ref") or "").upper(), (g.get("alt") or "").upper(),
                           source=source)
    raise VariantError(f"{where}cannot read variant {raw!r}: {NOTATION_HELP}", raw)


def _aa_code(code: str, raw: str, where: str) -> str:
    if len(code) == 3:
        if code not in THREE_LETTER:
            raise VariantError(f"{where}{raw!r}: unknown amino-acid code {code!r}")
        return THREE_LETTER[code]
    if code not in AMINO_ACIDS:
        raise VariantError(f"{where}{raw!r}: unknown amino acid {code!r} (use one of {AMINO_ACIDS}; '*' is stop)")
    return code


def read_variant_list(source, name: str | None = None, errors: str = "raise") -> list:
    """A text file (path, bytes or text) with one variant per line; blank lines and '#' comments skipped.
    Several variants on a line may be separated by commas. Errors name the line; with errors='report' an
    unreadable variant is returned as its VariantError instead of raised."""
    text, label = _read_text(source, name)
    specs = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        for item in filter(None, (s.strip() for s in line.split(","))):
            specs.append(_parse_or_keep(item, f"{label} line {lineno}", errors))
    return specs


def _parse_or_keep(item: str, source: str, errors: str):
    try:
        return parse_variant(item, source)
    except VariantError as e:
        if errors == "raise":
            raise
        e.text = e.text or item
        return e


def _read_text(source, name, default="variant list"):
    """(text, label for messages) of a path, bytes (gzip ok) or the text itself."""
    import gzip

    if isinstance(source, (str, Path)) and Path(source).is_file():
        data, label = Path(source).read_bytes(), name or Path(source).name
    elif isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), name or default
    else:
        return str(source), name or default
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace"), label


def read_vcf(source, name: str | None = None) -> list[VariantSpec]:
    """VCF (path, bytes or text; gzip ok) -> one VariantSpec per ALT allele, read with vcfpy.

    Errors (a bad header, a line vcfpy cannot parse, a symbolic or breakend allele) raise VariantError naming the line.
    """
    import vcfpy

    text, label = _read_text(source, name, "VCF")
    lines = text.splitlines(keepends=True)
    n_header = 0
    while n_header < len(lines) and lines[n_header].startswith("#"):
        n_header += 1
    if not any(l.startswith("#CHROM") for l in lines[:n_header]):
        raise VariantError(f"{label}: not a VCF file (no '#CHROM' header line before the first record)")
    try:
        reader = vcfpy.Reader.from_stream(io.StringIO("".join(lines[:n_header])))
    except Exception as e:  # noqa: BLE001 - vcfpy raises several kinds; all mean a bad header
        raise VariantError(f"{label}: the VCF header cannot be read ({e})") from None
    specs = []
    for lineno in range(n_header + 1, len(lines) + 1):
        line = lines[lineno - 1]
        if not line.strip():
            continue
        where = f"{label} line {lineno}"
        try:
            rec = reader.parser.parse_line(line)
        except Exception as e:  # noqa: BLE001
            raise VariantError(f"{where}: not a valid VCF record ({type(e).__name__}: {e})") from None
        if rec is None:
            continue
        if not re.fullmatch(r"[ACGTNacgtn]+", rec.REF or ""):
            raise VariantError(f"{where}: REF {rec.REF!r} is not a DNA sequence")
        if not rec.ALT:
            raise VariantError(f"{where}: no ALT allele ('.')")
        written = line.rstrip("\n").split("\t")[4].split(",") if line.count("\t") >= 4 else []
        for i, alt in enumerate(rec.ALT):
            value = getattr(alt, "value", None)
            if getattr(alt, "type", None) not in ("SNV", "MNV", "DEL", "INS", "INDEL") or not value \
                    or not re.fullmatch(r"[ACGTNacgtn]+", value):
                shown = written[i] if i < len(written) else value
                raise VariantError(f"{where}: ALT {shown} is not a sequence change (only SNVs, MNVs and small "
                                   "indels can be scored)")
            text_ = f"{rec.CHROM}:{rec.POS}{rec.REF}>{value}"
            specs.append(VariantSpec(text_, "vcf", rec.CHROM, rec.POS, rec.POS + len(rec.REF) - 1,
                                     rec.REF.upper(), value.upper(), source=where))
    return specs


# ---------------------------------------------------------------------------------------------- genome
@dataclass(frozen=True)
class Edit:
    """One change on a record's forward strand: `ref` (forward bases, '' for an insertion) at 0-based `pos`
    becomes `alt`. An insertion goes before `pos`."""

    pos: int
    ref: str
    alt: str


@dataclass
class Cds:
    """A CDS in reading order: `coords[i]` is the 0-based forward position of the i-th base read (descending on the
    minus strand, wrapping at the origin of circular records)."""

    record: int  # index into Genome.records
    name: str
    locus_tag: str
    strand: int  # +1 / -1
    coords: np.ndarray  # (n,) int64, reading order, from the first base of the first codon (codon_start applied)
    seq: str  # the bases read, in reading order (complemented on the minus strand)
    table: int

    @property
    def n_codons(self) -> int:
        return len(self.coords) // 3

    def codon(self, residue: int) -> tuple[str, np.ndarray]:
        """(codon in reading order, its 3 forward coordinates) of residue `residue` (1-based)."""
        i = 3 * (residue - 1)
        return self.seq[i:i + 3], self.coords[i:i + 3]

    @property
    def label(self) -> str:
        return self.name if self.name == self.locus_tag or not self.locus_tag else f"{self.name} ({self.locus_tag})"


class Genome:
    """Records prepared for variants: encoded sequences, topology, CDS lookup and codon usage."""

    def __init__(self, records, circular: bool | None = None):
        from dnahnet.tokenizer import encode

        self.records = list(records)
        if not self.records:
            raise ValueError("no sequence record to score variants on")
        self.ids = [str(r.id) for r in self.records]
        self.seqs = [str(r.seq).upper() for r in self.records]
        self.tokens = [encode(s) for s in self.seqs]
        self._bytes = [np.frombuffer(s.encode("ascii", "replace"), np.uint8) for s in self.seqs]
        self._cds_cache: dict[int, Cds] = {}
        topo = [str(r.annotations.get("topology", "")).lower() == "circular" for r in self.records]
        self.circular = topo if circular is None else [bool(circular)] * len(self.records)

    @classmethod
    def from_source(cls, source, circular: bool | None = None) -> "Genome":
        """str (path or DNA sequence), Path, SeqRecord, list of SeqRecords, GenomeFile or Genome -> Genome."""
        if isinstance(source, Genome):
            return source if circular is None else cls(source.records, circular)
        from Bio.Seq import Seq
        from Bio.SeqRecord import SeqRecord

        if isinstance(source, (str, Path)) and _is_file(source):
            from dnahnet.genome_io import read_genome

            source = read_genome(source)
        elif isinstance(source, Path):
            raise FileNotFoundError(f"no such genome file: {source}")
        elif isinstance(source, str):
            text = "".join(source.split())
            if not text.isalpha():
                raise ValueError("input is neither an existing file nor a DNA sequence")
            source = SeqRecord(Seq(text.upper()), id="sequence",
                               annotations={"topology": "circular" if circular else "linear"})
        if hasattr(source, "records"):
            records = source.records
        elif hasattr(source, "seq"):
            records = [source]
        else:
            records = list(source)
        return cls(records, circular)

    def length(self, r: int) -> int:
        return len(self.seqs[r])

    def record_index(self, name: str | None, where: str = "") -> int:
        """The record a nucleotide variant refers to: by id (also without its .version) or name; the only one
        when the variant names none."""
        if name is None:
            if len(self.records) == 1:
                return 0
            raise VariantError(f"{where}the genome has {len(self.records)} records: name one, e.g. "
                               f"'{self.ids[0]}:1234A>G'")
        for i, r in enumerate(self.records):
            if name in (r.id, r.name) or name.split(".")[0] == str(r.id).split(".")[0]:
                return i
        raise VariantError(f"{where}no record {name!r} (records: {', '.join(self.ids[:8])}); nucleotide changes are "
                           "written on a record ('RECORD:1234A>G' or '1234A>G'), amino-acid changes on a gene "
                           "('bla:H26Y')")

    # ---- CDS -------------------------------------------------------------------------------------------------
    @cached_property
    def cds_list(self) -> list[tuple[int, object]]:
        """(record index, SeqFeature) of every CDS with a location."""
        return [(i, f) for i, r in enumerate(self.records) for f in r.features
                if f.type == "CDS" and f.location is not None]

    @cached_property
    def _cds_names(self) -> tuple[dict, dict]:
        """(exact name -> CDS indices, lowercase name -> CDS indices) over the names `find_cds` accepts."""
        exact, folded = defaultdict(list), defaultdict(list)
        keys = ("locus_tag", "gene", "old_locus_tag", "gene_synonym", "protein_id", "Name", "ID")
        for n, (_, f) in enumerate(self.cds_list):
            names = {v.strip() for k in keys for item in f.qualifiers.get(k, []) for v in str(item).split(";")}
            for v in names - {""}:
                exact[v].append(n)
                if n not in folded[v.lower()]:
                    folded[v.lower()].append(n)
        return exact, folded

    def find_cds(self, name: str, where: str = "") -> Cds:
        """The CDS whose locus tag or gene name is `name` (exact first, then ignoring case); VariantError when
        none or several distinct CDSs match."""
        exact, folded = self._cds_names
        hits = exact.get(name) or folded.get(name.lower()) or []
        if len(hits) == 1:
            return self._cds_at(hits[0])
        if len(hits) > 1:
            listed = ", ".join(f"{_qual(f, 'locus_tag') or '?'} ({self.ids[i]}:{int(f.location.start) + 1}.."
                               f"{int(f.location.end)})" for i, f in (self.cds_list[h] for h in hits[:6]))
            raise VariantError(f"{where}{name!r} matches {len(hits)} CDSs ({listed}); use a locus tag")
        raise VariantError(f"{where}no CDS with gene name or locus tag {name!r} in "
                           f"{', '.join(self.ids[:4])} ({len(self.cds_list)} CDSs)")

    def _cds_at(self, n: int) -> Cds:
        if n not in self._cds_cache:
            self._cds_cache[n] = self._cds(*self.cds_list[n])
        return self._cds_cache[n]

    def _cds(self, rec_i: int, f) -> Cds:
        L = self.length(rec_i)
        strand = -1 if (f.location.strand == -1 or all(p.strand == -1 for p in f.location.parts)) else 1
        coords = np.concatenate([
            np.arange(int(p.start), int(p.end)) if strand == 1 else np.arange(int(p.end) - 1, int(p.start) - 1, -1)
            for p in f.location.parts]).astype(np.int64) % L
        offset = int(_qual(f, "codon_start") or 1) - 1
        coords = coords[offset:]
        seq = self._bytes[rec_i][coords].tobytes().decode("ascii")
        if strand == -1:
            seq = seq.translate(_COMPLEMENT)
        table = int(_qual(f, "transl_table") or DEFAULT_TABLE)
        name = _qual(f, "gene") or _qual(f, "locus_tag") or _qual(f, "Name") or "CDS"
        return Cds(rec_i, name, _qual(f, "locus_tag") or "", strand, coords, seq, table)

    @cached_property
    def codon_usage(self) -> Counter:
        """Codon counts over every CDS of the genome (whole codons in frame, none with N)."""
        counts: Counter = Counter()
        for n in range(len(self.cds_list)):
            try:
                cds = self._cds_at(n)
            except (ValueError, IndexError):
                continue
            s = cds.seq
            counts.update(c for c in (s[i:i + 3] for i in range(0, len(s) - 2, 3)) if "N" not in c)
        return counts


def _qual(f, key: str) -> str | None:
    v = f.qualifiers.get(key)
    return str(v[0]) if v else None


def _is_file(path) -> bool:
    try:
        return len(str(path)) < 4096 and Path(path).expanduser().is_file()
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- codons
def codon_table(table_id: int):
    from Bio.Data import CodonTable

    try:
        return CodonTable.unambiguous_dna_by_id[table_id]
    except KeyError:
        raise VariantError(f"unknown translation table {table_id}") from None


def translate_codon(codon: str, table_id: int = DEFAULT_TABLE) -> str:
    """One codon -> amino acid ('*' stop, 'X' when it holds N)."""
    t = codon_table(table_id)
    return "*" if codon in t.stop_codons else t.forward_table.get(codon, "X")


def choose_codon(wt: str, aa: str, table_id: int = DEFAULT_TABLE, usage: Counter | None = None,
                 first: bool = False) -> str:
    """The codon for amino acid `aa` with the fewest changes from `wt`; ties: most used in `usage`, then alphabetical.
    `aa` equal to the wild-type amino acid gives `wt` itself (residue 1: a start codon counts as M)."""
    if aa == wild_type_aa(wt, table_id, first):
        return wt
    t = codon_table(table_id)
    candidates = list(t.stop_codons) if aa == "*" else [c for c, a in t.forward_table.items() if a == aa]
    if not candidates:
        raise VariantError(f"table {table_id} has no codon for {aa!r}")
    usage = usage or Counter()
    return min(candidates, key=lambda c: (_hamming(c, wt), -usage.get(c, 0), c))


def wild_type_aa(codon: str, table_id: int = DEFAULT_TABLE, first: bool = False) -> str:
    if first and codon in codon_table(table_id).start_codons:
        return "M"
    return translate_codon(codon, table_id)


def _hamming(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b))


# ---------------------------------------------------------------------------------------------- resolution
@dataclass
class ResolvedVariant:
    """A variant as forward-strand edits on one record, with what a user needs to read the result."""

    text: str
    kind: str  # snv | mnv | del | ins | delins | aa
    record: int
    edits: tuple  # tuple[Edit, ...], sorted by position
    anchor: int  # 0-based forward position the scoring window is centred on
    sense: str = "+"  # the gene's reading direction for aa variants, else "+"
    source: str = ""
    info: dict = field(default_factory=dict)  # gene, residue, aa_ref, aa_alt, codon_ref, codon_alt, codon_changes

    @property
    def is_identity(self) -> bool:
        return all(e.ref == e.alt for e in self.edits)


def resolve(spec: VariantSpec, genome: Genome) -> ResolvedVariant:
    """Check a variant against the genome and turn it into edits; VariantError says what does not fit."""
    where = f"{spec.source}: " if spec.source else ""
    label = f"{where}{spec.text}: "
    if spec.kind == "aa":
        return _resolve_aa(spec, genome, where, label)
    r = genome.record_index(spec.context, label)
    L, seq, circ = genome.length(r), genome.seqs[r], genome.circular[r]
    for p in (spec.start, spec.end):
        if p > L:
            raise VariantError(f"{label}position {p} is past the end of {genome.ids[r]} ({L:,} bp)")
    if spec.kind == "ins":
        a, b = spec.start, spec.end
        if not (b == a + 1 or (circ and a == L and b == 1)):
            raise VariantError(f"{label}an insertion goes between two adjacent bases ('{a}_{a + 1}ins...')")
        edits = (Edit(b - 1, "", spec.alt),)
        anchor = b - 1
        kind = "ins"
    else:
        start0, n = spec.start - 1, spec.end - spec.start + 1
        ref_here = "".join(seq[(start0 + i) % L] for i in range(n))
        if spec.ref and spec.ref != ref_here:
            loc = f"{spec.start}" if n == 1 else f"{spec.start}-{spec.end}"
            raise VariantError(f"{label}reference mismatch: {genome.ids[r]} has {ref_here} at {loc}, not {spec.ref}")
        alt = "" if spec.kind == "del" else spec.alt
        kind = spec.kind
        if spec.kind == "vcf":  # trim the shared padding bases VCF keeps around indels
            start0, ref_here, alt, kind = _trim(start0, ref_here, alt, L)
        if kind == "snv" or (kind == "mnv" and len(ref_here) == len(alt)):
            edits = tuple(Edit((start0 + i) % L, x, y) for i, (x, y) in enumerate(zip(ref_here, alt)) if x != y) \
                or (Edit(start0 % L, ref_here[:1], alt[:1]),)
        else:
            edits = (Edit(start0 % L, ref_here, alt),)
        anchor = (start0 + max(len(ref_here) - 1, 0) // 2) % L
    return ResolvedVariant(spec.text, kind, r, edits, anchor, "+", spec.source,
                           {"nt_change": nt_change(edits, L)})


def _trim(start0: int, ref: str, alt: str, L: int) -> tuple[int, str, str, str]:
    """Minimal form of a VCF allele: drop the shared suffix, then the shared prefix; kind from what is left."""
    while ref and alt and ref[-1] == alt[-1] and len(ref) > 0 and (len(ref) > 1 or len(alt) > 1):
        ref, alt = ref[:-1], alt[:-1]
    while ref and alt and ref[0] == alt[0] and (len(ref) > 1 or len(alt) > 1):
        ref, alt, start0 = ref[1:], alt[1:], start0 + 1
    if not ref:
        return start0 % L, ref, alt, "ins"
    if not alt:
        return start0 % L, ref, alt, "del"
    if len(ref) == len(alt):
        return start0 % L, ref, alt, "snv" if len(ref) == 1 else "mnv"
    return start0 % L, ref, alt, "delins"


def _resolve_aa(spec: VariantSpec, genome: Genome, where: str, label: str) -> ResolvedVariant:
    cds = genome.find_cds(spec.context, label)
    n = cds.n_codons
    if not 1 <= spec.residue <= n:
        raise VariantError(f"{label}{cds.label} has {n} codons; residue {spec.residue} is outside it")
    wt, coords = cds.codon(spec.residue)
    if "N" in wt:
        raise VariantError(f"{label}codon {spec.residue} of {cds.label} ({wt}) holds an unknown base")
    first = spec.residue == 1
    wt_aa = wild_type_aa(wt, cds.table, first)
    if spec.aa_ref and spec.aa_ref != wt_aa:
        loc = "..".join(str(int(c) + 1) for c in (coords[0], coords[-1]))
        raise VariantError(f"{label}reference mismatch: residue {spec.residue} of {cds.label} is {wt_aa} "
                           f"(codon {wt} at {genome.ids[cds.record]}:{loc}, strand {'+' if cds.strand > 0 else '-'}),"
                           f" not {spec.aa_ref}")
    return codon_variant(genome, cds, spec.residue, spec.aa_alt, spec.text, spec.source)


def codon_variant(genome: Genome, cds: Cds, residue: int, aa_alt: str, text: str | None = None,
                  source: str = "") -> ResolvedVariant:
    """Residue `residue` of `cds` changed to `aa_alt` through the nearest codon (see `choose_codon`)."""
    wt, coords = cds.codon(residue)
    first = residue == 1
    wt_aa = wild_type_aa(wt, cds.table, first)
    alt = choose_codon(wt, aa_alt, cds.table, genome.codon_usage, first)
    edits = []
    for i in range(3):
        if alt[i] != wt[i]:
            fwd_ref, fwd_alt = (wt[i], alt[i]) if cds.strand > 0 else (wt[i].translate(_COMPLEMENT),
                                                                        alt[i].translate(_COMPLEMENT))
            edits.append(Edit(int(coords[i]), fwd_ref, fwd_alt))
    edits = tuple(sorted(edits, key=lambda e: e.pos))
    L = genome.length(cds.record)
    info = {"gene": cds.label, "residue": residue, "aa_ref": wt_aa, "aa_alt": aa_alt, "codon_ref": wt,
            "codon_alt": alt, "codon_changes": _hamming(wt, alt), "nt_change": nt_change(edits, L)}
    anchor = int(coords[1])  # the codon's middle base: every change of one codon shares a window
    return ResolvedVariant(text or f"{cds.name}:{wt_aa}{residue}{aa_alt}", "aa", cds.record, edits, anchor,
                           "+" if cds.strand > 0 else "-", source, info)


def nt_change(edits, length: int) -> str:
    """Forward-strand notation of what is scored, 1-based: '1234A>G', '1234A>G;1236C>T', '1234_1236del',
    '1234_1235insTT', '1234_1236delinsGG'; '' for no change."""
    out = []
    for e in edits:
        p = e.pos + 1
        end = (e.pos + len(e.ref) - 1) % length + 1
        if len(e.ref) == 1 and len(e.alt) == 1:
            if e.ref != e.alt:
                out.append(f"{p}{e.ref}>{e.alt}")
        elif not e.ref:
            out.append(f"{(e.pos - 1) % length + 1}_{p}ins{e.alt}")
        elif not e.alt:
            out.append(f"{p}del" if len(e.ref) == 1 else f"{p}_{end}del")
        else:
            out.append(f"{p}delins{e.alt}" if len(e.ref) == 1 else f"{p}_{end}delins{e.alt}")
    return ";".join(out)


def as_specs(variants, errors: str = "raise") -> list:
    """Anything `score_variants` takes as variants -> specs: a VariantSpec, a string (one variant, or several
    separated by commas or new lines), a path to a VCF (.vcf, .vcf.gz) or to a list file, or an iterable of these
    (ResolvedVariants pass through). errors='report': unreadable variants come back as their VariantError."""
    if isinstance(variants, (VariantSpec, ResolvedVariant)):
        return [variants]
    if isinstance(variants, Path) or (isinstance(variants, str) and _is_file(variants)):
        name = str(variants).lower()
        return read_vcf(variants) if name.endswith((".vcf", ".vcf.gz")) else read_variant_list(variants, None, errors)
    if isinstance(variants, str):
        if variants.lstrip().startswith("##fileformat=VCF"):
            return read_vcf(variants)
        return read_variant_list(variants, "variants", errors)
    specs = []
    for i, v in enumerate(variants, start=1):
        if isinstance(v, (VariantSpec, ResolvedVariant)):
            specs.append(v)
        else:
            specs.append(_parse_or_keep(str(v), f"variant {i}", errors))
    return specs


# ---------------------------------------------------------------------------------------------- command line
def parse_region_or_gene(text: str):
    """'START-END' (0-based, end exclusive, as `dnahnet.infer --region`) -> (start, end); anything else: a gene."""
    m = re.fullmatch(r"(?:(?P<rec>[^:\s]+):)?(?P<a>[\d,_]+)-(?P<b>[\d,_]+)", text.strip())
    if m:
        a, b = (int(m.group(k).replace(",", "").replace("_", "")) for k in ("a", "b"))
        return (a, b), m.group("rec")
    return text.strip(), None


if __name__ == "__main__":  # the command line lives in dnahnet.variants_cli (it imports scoring, which imports this)
    from dnahnet.variants_cli import main

    raise SystemExit(main())
