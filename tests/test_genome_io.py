"""Reading genome files: formats, gzip, messy content, GFF3 round trips, and the real messy files."""
from __future__ import annotations

import gzip
import io
import random

import pytest

from dnahnet.genome_io import read_genome, read_gff3, sequence_hash, sniff_format, write_gff3

ACGT60 = "ATGAAACGCATTAGCACCACCATTACCACCACCATCACCATTACCACAGGTAACGGTGCG"


# ---------------------------------------------------------------- formats and inputs


def test_empty_file():
    for data in (b"", b"  \n\n", gzip.compress(b"")):
        g = read_genome(data)
        assert g.records == [] and g.problems == ["file is empty"]


def test_fasta_path_bytes_stream_gzip(tmp_path):
    text = ">r1 first\nacgtac\ngtNN\n>r2\nGGGCCC\n"
    p = tmp_path / "x.fa.gz"
    p.write_bytes(gzip.compress(text.encode()))
    for src in (p, str(p), text.encode(), gzip.compress(text.encode()), io.StringIO(text), io.BytesIO(text.encode())):
        g = read_genome(src)
        assert g.fmt == "fasta" and g.ids == ["r1", "r2"]
        assert str(g.records[0].seq) == "ACGTACGTNN"  # lowercase folded, N kept
        assert g.records[0].annotations["topology"] == "linear"
    assert read_genome(p).source_name == "x.fa.gz"


def test_fasta_given_as_genbank_is_read_as_fasta():
    g = read_genome(b">only\nACGTACGT\n", fmt="genbank")
    assert g.ids == ["only"] and g.fmt == "fasta"
    assert any("expected GenBank" in p and "FASTA" in p for p in g.problems)


def test_unrecognised_content_reports_first_line():
    g = read_genome(b"hello world, this is not a genome\n")
    assert g.records == [] and "not recognised" in g.problems[0] and "hello world" in g.problems[0]


def test_embl_bare_sequence_and_truncated_gzip():
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import SeqFeature, SimpleLocation
    from Bio.SeqRecord import SeqRecord

    rec = SeqRecord(Seq(ACGT60), id="E1", name="E1", annotations={"molecule_type": "DNA", "topology": "circular"})
    rec.features = [SeqFeature(SimpleLocation(3, 12, strand=-1), type="CDS")]
    buf = io.StringIO()
    SeqIO.write(rec, buf, "embl")
    g = read_genome(buf.getvalue().encode())
    assert g.fmt == "embl" and len(g.records) == 1 and str(g.records[0].seq) == ACGT60
    assert g.records[0].annotations["topology"] == "circular" and g.records[0].features[0].location.strand == -1
    g = read_genome(b"1 acgtacgtac\n11 ggcc\n", name="bare.txt")
    assert g.ids == ["bare"] and str(g.records[0].seq) == "ACGTACGTACGGCC"
    assert any("no header line" in p for p in g.problems)
    whole = gzip.compress((">t\n" + ACGT60 * 50 + "\n").encode())
    g = read_genome(whole[: len(whole) // 2])
    assert any("truncated" in p for p in g.problems)  # whatever decompressed is still read (or reported)


def test_sniff_format():
    assert sniff_format("\n\nLOCUS  x") == "genbank"
    assert sniff_format(">a\nACGT") == "fasta"
    assert sniff_format("ID   X; SV 1; linear; DNA") == "embl"
    assert sniff_format("##gff-version 3\n") == "gff3"


def test_format_from_name_is_the_one_extension_table():
    from dnahnet.genome_io import FORMAT_BY_EXTENSION, format_from_name

    assert [format_from_name(n) for n in ("a.gbf", "a.GBK.gz", "b.ffn", "c.fsa.gz", "d.embl", "e.gff3", "f.txt",
                                           "noext")] == ["genbank", "genbank", "fasta", "fasta", "embl", "gff3", None,
                                                         None]
    assert set(FORMAT_BY_EXTENSION.values()) == {"genbank", "embl", "fasta", "gff3"}
    # the app's upload box reads a name by the same table
    from app.inputs import format_for

    assert all(format_for(f"x.{ext}.gz") == fmt for ext, fmt in FORMAT_BY_EXTENSION.items())


def test_open_genome_for_a_command_line(tmp_path, capsys):
    from dnahnet.cli import open_genome

    p = tmp_path / "two.fa"
    p.write_text(">a\nACGTACGT\n>b\nGGGG\n>c\nGG!G\n")
    genome, records = open_genome(p, ["b"])
    assert [r.id for r in records] == ["b"] and genome.ids == ["a", "b"]
    assert capsys.readouterr().err.startswith("note: record c: skipped")
    assert open_genome(p, ["c"]) is None and "error: no record c" in capsys.readouterr().err
    assert open_genome(tmp_path / "none\x1b[2J.fa") is None  # a file name cannot clear the screen
    assert capsys.readouterr().err == f"error: no such file: {tmp_path}/none\\x1b[2J.fa\n"
    assert open_genome(p, notes=False) is not None and capsys.readouterr().err == ""


def test_genbank_multi_record_and_topology(genbank_text, gb_feature):
    text = (genbank_text("A", ACGT60, gb_feature("CDS", "1..9", locus_tag="a1"), topology="circular")
            + genbank_text("B", ACGT60[:30]))
    g = read_genome(text.encode())
    assert g.ids == ["A.1", "B.1"] and g.problems == []
    assert [r.annotations["topology"] for r in g.records] == ["circular", "linear"]
    assert [f.type for f in g.records[0].features] == ["source", "CDS"]


def test_bad_characters_record_between_two_good_ones(genbank_text):
    bad = ACGT60[:20] + "XJ!" + ACGT60[23:]
    text = genbank_text("GOOD1", ACGT60) + genbank_text("BAD", bad) + genbank_text("GOOD2", ACGT60)
    g = read_genome(text.encode())
    assert g.ids == ["GOOD1.1", "GOOD2.1"]
    msg = [p for p in g.problems if "BAD" in p]
    assert len(msg) == 1 and "not DNA" in msg[0] and "position 21" in msg[0]
    # the same in FASTA
    g = read_genome(f">a\n{ACGT60}\n>b bad\n{bad}\n>c\n{ACGT60}\n".encode())
    assert g.ids == ["a", "c"] and any("record b" in p for p in g.problems)


def test_iupac_letters_are_counted_and_kept(genbank_text):
    seq = ACGT60[:40] + "RYKMSWBDHVNN" + ACGT60[52:]
    g = read_genome(genbank_text("AMB", seq.lower()).encode())
    assert str(g.records[0].seq) == seq  # uppercase, letters kept for display
    assert g.problems == ["record AMB.1: 10 IUPAC ambiguity letters (BDHKMRSVWY) are kept in the sequence as "
                          "written; the model reads each as N (an unknown base)"]
    from dnahnet.tokenizer import N_ID, encode

    assert (encode(str(g.records[0].seq))[40:52] == N_ID).all()  # what the note says the model does


def test_malformed_feature_in_the_middle_costs_only_itself(genbank_text):
    broken = ("LOCUS       BROKEN                  12 bp    DNA     linear   BCT 01-JAN-2000\n"
              "FEATURES             Location/Qualifiers\n     CDS             join(1..\n"
              "ORIGIN\n        1 acgtacgtac gt\n//\n")
    text = genbank_text("A", ACGT60) + broken + genbank_text("C", ACGT60)
    g = read_genome(text.encode())
    assert g.ids == ["A.1", "BROKEN", "C.1"] and str(g.records[1].seq) == "ACGTACGTACGT"
    assert g.records[1].features == []
    line = text.splitlines().index("     CDS             join(1..") + 1
    assert (f"record BROKEN: feature CDS at line {line} (location 'join(1..') could not be read; that feature was "
            "skipped") in g.problems


def test_unreadable_record_without_sequence_is_skipped_between_good_ones(genbank_text):
    broken = ("LOCUS       BROKEN                  12 bp    DNA     linear   BCT 01-JAN-2000\n"
              "REFERENCE   1  (bases x to y)\nFEATURES             Location/Qualifiers\n"
              "     source          1..12\nORIGIN\n//\n")
    g = read_genome((genbank_text("A", ACGT60) + broken + genbank_text("C", ACGT60)).encode())
    assert g.ids == ["A.1", "C.1"]
    assert any(p.startswith("record BROKEN: could not be read, skipped (") for p in g.problems)


def test_record_without_sequence_is_skipped(genbank_text):
    nos = ("LOCUS       NOSEQ                 10 bp    DNA     linear   BCT 01-JAN-2000\n"
           "FEATURES             Location/Qualifiers\n     source          1..10\n//\n")
    g = read_genome((genbank_text("A", ACGT60) + nos).encode())
    assert g.ids == ["A.1"] and any("NOSEQ" in p and "no sequence" in p for p in g.problems)


def test_malformed_locus_line_is_rebuilt():
    text = "LOCUS       X 12 xx\nORIGIN\n        1 acgtacgtac gt\n//\n"
    g = read_genome(text.encode())
    assert len(g.records) == 1 and str(g.records[0].seq) == "ACGTACGTACGT"
    assert any("LOCUS" in p for p in g.problems)


def test_origin_spanning_feature_is_kept(genbank_text, gb_feature):
    text = genbank_text("S", ACGT60, gb_feature("CDS", "join(55..60,1..6)", locus_tag="ori"), topology="circular")
    f = read_genome(text.encode()).records[0].features[1]
    assert [(int(p.start), int(p.end)) for p in f.location.parts] == [(54, 60), (0, 6)]


def test_sequence_hash():
    assert sequence_hash("acgt") == sequence_hash("ACGT") == sequence_hash(b"ACGT")
    assert len(sequence_hash("ACGT")) == 16 and sequence_hash("ACGT") != sequence_hash("ACGA")


# ---------------------------------------------------------------- bad input: nothing lost, nothing trusted blindly


def _dna(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def test_truncated_genbank_keeps_the_sequence_read_so_far(genbank_text, gb_feature):
    seq = _dna(300, 1)
    text = genbank_text("A", ACGT60) + genbank_text("B", seq, gb_feature("CDS", "10..90", locus_tag="b1"))
    g = read_genome(text[: text.index("      121 ") + 15].encode())  # 5 letters into B's third sequence line
    assert g.ids == ["A.1", "B.1"] and "truncated" not in g.records[0].annotations
    b = g.records[1]
    assert str(b.seq) == seq[:125] and b.annotations["truncated"] is True
    assert [f.type for f in b.features] == ["source", "CDS"]
    assert g.problems == ["record B.1: the file ends inside this record: kept the 125 bp read so far of the 300 bp "
                          "its LOCUS line states; the record is marked truncated"]
    g = read_genome(text[: text.rindex("ORIGIN")].encode())  # cut before B's sequence: nothing of B to keep
    assert g.ids == ["A.1"]
    assert g.problems[0] == "record B: the file ends inside this record, before its sequence; skipped"
    g = read_genome(text[: text.rindex("//")].encode())  # every base there, only the closing '//' missing
    assert str(g.records[1].seq) == seq and "truncated" not in g.records[1].annotations
    assert g.problems == ["record B.1: the file ends without the closing '//' line; the record's 300 bp are complete"]
    g = read_genome(text[:-2].encode())  # '//' cut to '/'
    assert g.ids == ["A.1", "B.1"] and g.problems == []


def test_truncated_gzip_genbank_keeps_the_sequence_read_so_far(genbank_text):
    seq = _dna(20_000, 2)
    whole = gzip.compress((genbank_text("A", ACGT60) + genbank_text("B", seq)).encode())
    g = read_genome(whole[: len(whole) * 3 // 4])
    b = g.records[-1]
    assert g.ids == ["A.1", "B.1"] and b.annotations["truncated"] is True
    assert 0 < len(b) < len(seq) and seq.startswith(str(b.seq))
    assert g.problems[0].startswith("gzip stream is damaged or truncated")
    assert g.problems[1].startswith(f"record B.1: the file ends inside this record: kept the {len(b):,} bp read so far")
    assert not any("not DNA" in p for p in g.problems)


@pytest.mark.parametrize("bad", ["101..4x0", "100..200 extra", "<1..>"])
def test_one_malformed_feature_location_costs_only_that_feature(genbank_text, gb_feature, bad):
    feats = (gb_feature("gene", "1..30", locus_tag="g1") + gb_feature("CDS", bad, locus_tag="g2")
             + gb_feature("CDS", "31..60", locus_tag="g3"))
    text = genbank_text("M", ACGT60 * 4, feats)
    g = read_genome(text.encode())
    assert g.ids == ["M.1"] and str(g.records[0].seq) == ACGT60 * 4
    assert [(f.type, f.qualifiers.get("locus_tag")) for f in g.records[0].features] == [
        ("source", None), ("gene", ["g1"]), ("CDS", ["g3"])]
    line = text.splitlines().index(f"     CDS             {bad}") + 1
    assert g.problems == [f"record M.1: feature CDS 'g2' at line {line} (location {bad!r}) could not be read; "
                          "that feature was skipped"]


def test_malformed_qualifier_costs_only_itself(genbank_text, gb_feature):
    no_equals = "                     /product\n                     hypothetical protein\n"
    text = genbank_text("Q", ACGT60, gb_feature("CDS", "1..30", locus_tag="q1") + no_equals
                        + gb_feature("gene", "31..60", locus_tag="q2"))
    g = read_genome(text.encode())
    assert g.ids == ["Q.1"]
    assert [(f.type, f.qualifiers) for f in g.records[0].features[1:]] == [
        ("CDS", {"locus_tag": ["q1"]}), ("gene", {"locus_tag": ["q2"]})]
    line = text.splitlines().index("     CDS             1..30") + 1
    assert g.problems == [f"record Q.1: feature CDS 'q1' at line {line}: its malformed qualifier '/product' was "
                          "left out"]


def test_unreadable_header_still_keeps_the_sequence(genbank_text):
    text = genbank_text("H", ACGT60).replace("FEATURES", "REFERENCE   1  (bases x to y)\nFEATURES")
    g = read_genome(text.encode())
    assert g.ids == ["H"] and str(g.records[0].seq) == ACGT60
    assert g.problems == ["record H: its header and features could not be read (invalid literal for int() with base "
                          "10: 'x'); kept its sequence only"]


def test_embl_malformed_location_and_truncation():
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import SeqFeature, SimpleLocation
    from Bio.SeqRecord import SeqRecord

    seq = _dna(300, 6)
    rec = SeqRecord(Seq(seq), id="E1", name="E1", annotations={"molecule_type": "DNA"})
    rec.features = [SeqFeature(SimpleLocation(3, 12, strand=-1), type="CDS", qualifiers={"locus_tag": ["e1"]}),
                    SeqFeature(SimpleLocation(20, 40, strand=1), type="gene", qualifiers={"locus_tag": ["e2"]})]
    buf = io.StringIO()
    SeqIO.write(rec, buf, "embl")
    text = buf.getvalue().replace("complement(4..12)", "complement(4..1x2)")
    g = read_genome(text.encode())
    assert g.ids == ["E1"] and str(g.records[0].seq) == seq
    assert [f.qualifiers["locus_tag"] for f in g.records[0].features] == [["e2"]]
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "complement(4..1x2)" in l)
    assert g.problems == [f"record E1: feature CDS 'e1' at line {line} (location 'complement(4..1x2)') could not "
                          "be read; that feature was skipped"]
    g = read_genome(text[: text.index("SQ   ") + 150].encode())
    assert g.ids == ["E1"] and g.records[0].annotations["truncated"] is True
    assert seq.startswith(str(g.records[0].seq)) and 0 < len(g.records[0]) < 300


def test_record_id_dot_falls_back_to_its_name(genbank_text):
    text = genbank_text("NOACC", ACGT60).replace("ACCESSION   NOACC\n", "ACCESSION   .\n")
    g = read_genome(text.replace("VERSION     NOACC.1\n", "VERSION     .\n").encode())
    assert g.ids == ["NOACC"]
    assert g.problems == ["record NOACC: has no accession (id '.'); it is called by its name 'NOACC'"]


def test_fasta_comment_lines_before_the_first_header():
    g = read_genome(b"; written by some tool\n# and a hash comment\n>r1 first\nACGT\n;inline comment\nGG\n")
    assert g.fmt == "fasta" and g.ids == ["r1"] and str(g.records[0].seq) == "ACGTGG" and g.problems == []


def test_genbank_release_header_before_the_first_locus(genbank_text, gb_feature):
    header = ("GBBCT1.SEQ          Genetic Sequence Data Bank\n                         October 15 2023\n\n"
              "                NCBI-GenBank Flat File Release 258.0\n\n")
    text = header + genbank_text("A", ACGT60) + genbank_text("B", ACGT60, gb_feature("CDS", "1..x", locus_tag="b"))
    g = read_genome(text.encode())
    assert g.fmt == "genbank" and g.ids == ["A.1", "B.1"]
    line = text.splitlines().index("     CDS             1..x") + 1  # line numbers count the header too
    assert g.problems == ["5 line(s) before the first LOCUS line (a release header) were skipped",
                          f"record B.1: feature CDS 'b' at line {line} (location '1..x') could not be read; "
                          "that feature was skipped"]


def test_parser_warnings_are_said_in_the_readers_words(genbank_text):
    text = genbank_text("W", ACGT60).replace(" DNA ", " dna ").replace(" 60 bp", " 70 bp")
    g = read_genome(text.replace("FEATURES", "  TITLE     a title\nFEATURES").encode())
    assert g.ids == ["W.1"]
    assert g.problems == ["record W.1: the molecule type is not in upper case; read anyway",
                          "record W.1: a TITLE line without a REFERENCE line was ignored",
                          "record W.1: the LOCUS line says 70 bp but the sequence has 60 bp; the sequence was kept"]


def test_fuzz_cuts_and_byte_flips_lose_nothing_silently(genbank_text, gb_feature):
    """Seeded random cuts and byte flips of a three-record file: never an exception, every problem one line, every
    record the damage did not touch read whole, a record cut inside its sequence kept up to the cut, and a record
    damaged outside its sequence still read with its whole sequence."""
    recs = [("R1", _dna(150, 3), gb_feature("gene", "1..90", locus_tag="r1a")
             + gb_feature("CDS", "complement(10..90)", locus_tag="r1a", product="thing one")),
            ("R2", _dna(200, 4), gb_feature("CDS", "join(5..40,60..99)", locus_tag="r2a", codon_start=1)
             + gb_feature("tRNA", "120..150", product="tRNA-Gly")),
            ("R3", _dna(120, 5), "")]
    texts = [genbank_text(name, seq, feats) for name, seq, feats in recs]
    text = "".join(texts)
    data = text.encode()
    spans, start = [], 0
    for t in texts:  # (start, start of the ORIGIN line, end) of each record in the file
        spans.append((start, start + t.index("\nORIGIN\n") + 1, start + len(t)))
        start += len(t)
    rng = random.Random(14)
    for trial in range(400):
        at = rng.randrange(1, len(data))
        cut = trial % 2 == 0
        damaged = data[:at] if cut else data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]
        g = read_genome(damaged)
        context = f"{'cut' if cut else 'flip'} at {at}: {g.problems}"
        assert all(isinstance(p, str) and p and "\n" not in p for p in g.problems), context
        sequences = [str(r.seq) for r in g.records]
        for (name, seq, _), (first, origin, end) in zip(recs, spans):
            if cut and at >= end - 3 or not cut and not first - 4 <= at < end:  # untouched
                assert seq in sequences, context
            elif cut and at > first:
                kept = sum(c.isalpha() for c in text[origin + 7:at]) if at > origin + 7 else 0
                if kept:
                    rec = g.records[-1]
                    assert rec.name == name and str(rec.seq) == seq[:kept], context
                    assert rec.annotations.get("truncated") is (True if kept < len(seq) else None), context
                else:  # (a file cut inside its first word is not recognised at all)
                    assert any("the file ends inside this record, before its sequence" in p
                               or p.startswith("not recognised") for p in g.problems), context
            elif not cut and first <= at < origin - 1:  # damage in the header or features only
                assert seq in sequences, context
            elif not cut:  # damage in the sequence (or the lines that end it): read, or said why not
                assert name in [r.name for r in g.records] or any("skipped" in p for p in g.problems), context


def test_gzip_bomb_is_refused_at_the_cap(monkeypatch):
    """A small .gz that inflates past DNAHNET_MAX_INFLATED_BYTES: no records, one clear problem, and the inflating
    stops at the cap (measured: the decompressor never hands out more than cap + 1 bytes)."""
    import zlib

    from dnahnet import genome_io

    bomb = gzip.compress(b">big\n" + b"A" * 2_000_000, compresslevel=9)
    assert len(bomb) < 5_000
    monkeypatch.setenv("DNAHNET_MAX_INFLATED_BYTES", "100000")
    handed_out = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *a):
            self.d = real(*a)

        def decompress(self, data, max_length=0):
            out = self.d.decompress(data, max_length)
            handed_out.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self.d, name)

    monkeypatch.setattr(genome_io.zlib, "decompressobj", Counting)
    g = read_genome(bomb, name="bomb.fa.gz")
    assert g.records == [] and g.problems == [
        "the gzip file inflates to more than 100,000 bytes, the limit set by DNAHNET_MAX_INFLATED_BYTES; refused "
        "without inflating the rest"]
    assert sum(handed_out) == 100_001
    monkeypatch.setattr(genome_io.zlib, "decompressobj", real)
    # the same cap guards GFF3 and the promoter/TSS table readers
    features, problems = read_gff3(gzip.compress(b"##gff-version 3\n" + b"#" * 200_000 + b"\n"))
    assert features == {} and "inflates to more than 100,000 bytes" in problems[-1]
    from interpret.companion import read_companion

    c = read_companion(gzip.compress(b"type,position,strand\n" + b"TSS,1,+\n" * 20_000), name="t.csv.gz")
    assert c.table.empty and "inflates to more than 100,000 bytes" in c.problems[-1]
    # under the cap: every member of a multi-member (bgzip-style) file is read
    two = gzip.compress(b">a\nACGT\n") + gzip.compress(b">b\nGGCC\n")
    g = read_genome(two)
    assert g.ids == ["a", "b"] and g.problems == []
    monkeypatch.setenv("DNAHNET_MAX_INFLATED_BYTES", "lots")
    with pytest.raises(ValueError, match="DNAHNET_MAX_INFLATED_BYTES must be a positive number of bytes"):
        read_genome(two)
    monkeypatch.delenv("DNAHNET_MAX_INFLATED_BYTES")
    assert genome_io.max_inflated_bytes() == 256 * 2**20  # the default README.md states


IMGT = """ID   HLA00001; SV 1; standard; DNA; HUM; 60 BP.
XX
AC   HLA00001;
XX
DE   HLA-A*01:01:01:01, Human MHC Class I sequence
XX
FH   Key                 Location/Qualifiers
FH
FT   source                  1..60
FT                           /organism="Homo sapiens"
FT   exon                    1..30
FT                           /number="1"
XX
SQ   Sequence 60 BP; 15 A; 15 C; 15 G; 15 T; 0 other;
     atgaaacgca ttagcaccac cattaccacc accatcacca ttaccacagg taacggtgcg        60
//
"""


def test_embl_in_imgt_layout_is_read():
    """IPD-IMGT/HLA writes EMBL with a six-field ID line and features indented to column 25: read whole."""
    g = read_genome(IMGT.encode(), name="hla.embl")
    assert g.fmt == "embl" and g.ids == ["HLA00001.1"] and g.problems == []
    rec = g.records[0]
    assert str(rec.seq) == ACGT60 and [f.type for f in rec.features] == ["source", "exon"]
    assert rec.description.startswith("HLA-A*01:01:01:01")


PEPTIDE_GB = """LOCUS       PEP1                       7 aa            linear   BCT 01-JAN-2000
DEFINITION  a short peptide.
ACCESSION   PEP1
VERSION     PEP1.1
FEATURES             Location/Qualifiers
     source          1..7
ORIGIN
        1 gssnrat
//
"""
PEPTIDE_EMBL_NEW = """ID   PEP2; SV 1; linear; protein; STD; UNC; 7 AA.
XX
SQ   Sequence 7 AA;
     gssnrat                                                                   7
//
"""
PEPTIDE_EMBL_OLD = """ID   PEP3       standard; PRT; 7 AA.
XX
SQ   Sequence 7 AA;
     gssnrat                                                                   7
//
"""


def test_protein_records_are_skipped_in_one_line(genbank_text):
    """Proteins whose letters are all IUPAC nucleotide codes (GSSNRAT) are known by the LOCUS units (aa), the EMBL
    molecule type (protein) or ID line (PRT, AA); FASTA proteins by their letters. One line says it, none per record;
    the DNA beside them is read as before."""
    g = read_genome((genbank_text("DNA1", ACGT60) + PEPTIDE_GB + PEPTIDE_GB.replace("PEP1", "PEP4")).encode())
    assert g.ids == ["DNA1.1"]
    assert g.problems == ["2 protein records skipped (dnaHNet reads DNA): PEP1.1, PEP4.1"]
    for text, rid in ((PEPTIDE_EMBL_NEW, "PEP2.1"), (PEPTIDE_EMBL_OLD, "PEP3")):
        g = read_genome(text.encode())
        assert g.records == [] and g.problems == [f"1 protein record skipped (dnaHNet reads DNA): {rid}",
                                                  "no usable sequence record in the file"]
    g = read_genome(f">p1 kinase\nMKVLAAGIVGLLLAEEPQSD\n>d\n{ACGT60}\n>p2\nMEEPQSDPSVEPPLSQETF*\n".encode())
    assert g.ids == ["d"] and g.problems == ["2 protein records skipped (dnaHNet reads DNA): p1, p2"]
    # DNA with a few stray letters is still DNA with bad characters, not a protein
    g = read_genome(f">x\n{ACGT60[:30]}EF{ACGT60[32:]}\n".encode())
    assert g.records == [] and "not DNA" in g.problems[0]


def test_topology_is_trusted_when_stated_and_a_guess_is_said(genbank_text):
    """A stated topology wins over the description; an unstated one is guessed circular only for a complete
    genome/chromosome nothing contradicts, and every guess from the description is said with what to do."""
    stated = genbank_text("LIN", ACGT60).replace("synthetic record LIN.", "Some bacterium chromosome, complete genome.")
    g = read_genome(stated.encode())
    assert g.records[0].annotations["topology"] == "linear" and g.problems == []
    fix = "state it on the LOCUS line (GenBank) or ID line (EMBL); FASTA cannot, so use GenBank or EMBL for it"
    cases = {  # FASTA header -> (topology, note)
        "Escherichia coli K-12 chromosome, complete genome": (
            "circular", "it is read as circular because its description says 'complete genome'. If it is linear, "),
        "Human immunodeficiency virus 1, complete genome": (
            "linear", "its description says 'complete genome' but 'virus' in it suggests otherwise, so it is read as "
                      "linear. If it is circular, "),
        "Homo sapiens BAC clone RP11-1A1 from 7, complete sequence": (
            "linear", "its description says 'complete sequence' but 'BAC' in it suggests otherwise, so it is read as "
                      "linear. If it is circular, "),
        "Fusarium sp. internal transcribed spacer 1, 5.8S ribosomal RNA gene, complete sequence": (
            "linear", "its description says 'complete sequence' but 'spacer' in it suggests otherwise, so it is read "
                      "as linear. If it is circular, "),
        "contig 7 of an assembly": ("linear", None),
    }
    fasta = "".join(f">r{i} {head}\n{ACGT60}\n" for i, head in enumerate(cases))
    g = read_genome(fasta.encode())
    for i, (topology, note) in enumerate(cases.values()):
        assert g.records[i].annotations["topology"] == topology
        said = [p for p in g.problems if p.startswith(f"record r{i}:")]
        assert said == ([f"record r{i}: its file does not say circular or linear; {note}{fix}"] if note else [])
    # an RNA molecule type contradicts a circular guess too
    rna = genbank_text("HIV", ACGT60).replace(" DNA     linear  ", " RNA             ")
    g = read_genome(rna.replace("synthetic record HIV.", "HIV-1 isolate X, complete genome.").encode())
    assert g.records[0].annotations["topology"] == "linear"
    assert "molecule type 'RNA' suggests otherwise" in g.problems[-1]


# ---------------------------------------------------------------- GFF3


FASTA_PAIR = f">chr1 test\n{ACGT60}{ACGT60[::-1]}\n>plasmid\n{ACGT60}\n"
GFF_PAIR = """##gff-version 3
##sequence-region chr1 1 120
chr1\ttest\tregion\t1\t120\t.\t+\t.\tID=chr1;Is_circular=true
chr1\ttest\tgene\t3\t20\t.\t+\t.\tID=gene1;Name=abcA;locus_tag=T_0001
chr1\ttest\tCDS\t3\t20\t.\t+\t0\tID=cds1;Parent=gene1;product=ABC transporter%3B putative
chr1\ttest\tCDS\t60\t70\t.\t-\t0\tID=cds2;Parent=gene2;locus_tag=T_0002
chr1\ttest\tCDS\t30\t40\t.\t-\t1\tID=cds2;Parent=gene2;locus_tag=T_0002
chr1\ttest\tCDS\t115\t126\t.\t+\t0\tID=cds3;locus_tag=T_0003
plasmid\ttest\ttRNA\t5\t30\t.\t-\t.\tID=trna1;product=tRNA-Gly
chr1\tbroken line with too few columns
nowhere\ttest\tgene\t1\t10\t.\t+\t.\tID=lost
"""


def test_read_gff3_parses_parts_phase_and_attributes():
    feats, problems = read_gff3(GFF_PAIR.encode())
    by_id = {f.qualifiers["ID"][0]: f for fs in feats.values() for f in fs if "ID" in f.qualifiers}
    cds1 = by_id["cds1"]
    assert (int(cds1.location.start), int(cds1.location.end), cds1.location.strand) == (2, 20, 1)
    assert cds1.qualifiers["product"] == ["ABC transporter; putative"]
    assert cds1.qualifiers["locus_tag"] == ["T_0001"]  # inherited from its parent gene
    cds2 = by_id["cds2"]  # two lines with one ID -> one join, parts in reading order (minus: high first)
    assert [(int(p.start), int(p.end)) for p in cds2.location.parts] == [(59, 70), (29, 40)]
    assert cds2.qualifiers["codon_start"] == ["1"]
    assert any("1 line(s) skipped" in p for p in problems)


def test_fasta_plus_gff3_attaches_features_and_wraps_origin():
    g = read_genome(FASTA_PAIR.encode(), gff=GFF_PAIR.encode())
    chr1, plasmid = g.records
    assert chr1.annotations["topology"] == "circular"  # from Is_circular=true
    assert chr1.features[0].type == "source"  # the whole-sequence region
    cds3 = next(f for f in chr1.features if f.qualifiers.get("ID") == ["cds3"])
    assert [(int(p.start), int(p.end)) for p in cds3.location.parts] == [(114, 120), (0, 6)]
    assert [f.type for f in plasmid.features] == ["tRNA"]
    assert any("'nowhere'" in p for p in g.problems)


def test_gff3_round_trip():
    feats, _ = read_gff3(GFF_PAIR.encode())
    text = write_gff3(feats, {"chr1": 120, "plasmid": 60})
    again, problems = read_gff3(text.encode())
    assert problems == []

    def summary(fs):
        return sorted((seqid, f.type, tuple((int(p.start), int(p.end), p.strand) for p in f.location.parts),
                       f.qualifiers.get("codon_start"), f.qualifiers.get("product"))
                      for seqid, lst in fs.items() for f in lst)

    assert summary(again) == summary(feats)


def test_gff3_with_embedded_fasta():
    text = GFF_PAIR + "##FASTA\n" + FASTA_PAIR
    g = read_genome(text.encode())
    assert g.ids == ["chr1", "plasmid"] and len(g.records[0].features) >= 4


# ---------------------------------------------------------------- the real messy files


@pytest.mark.data
def test_vibrio_kbase_file_loads_with_a_problem(genomes_dir):
    g = read_genome(genomes_dir / "Vibrio_vulnificus_CMCP6_kbase.gbk.gz")
    assert g.ids == ["kb|g.399.c.1"] and len(g.records[0]) == 1_844_853
    assert any("LOCUS" in p for p in g.problems)
    assert sum(f.type == "CDS" for f in g.records[0].features) == 1570


@pytest.mark.data
def test_paracoccus_multi_contig(genomes_dir):
    g = read_genome(genomes_dir / "Paracoccus_sp_SCN_68-21.gb.gz")
    assert len(g.records) == 87 and g.total_length == 3_375_827
    assert g.ids[0] == "MEES01000001.1"


@pytest.mark.data
def test_phix174_fasta(genomes_dir):
    g = read_genome(genomes_dir / "phiX174_NC_001422.1.fna.gz")
    assert g.fmt == "fasta" and g.ids == ["NC_001422.1"] and len(g.records[0]) == 5386
    assert g.records[0].annotations["topology"] == "circular"  # "complete genome" in the header, reported
    assert str(g.records[0].seq[:10]) == "GAGTTTTATC"
