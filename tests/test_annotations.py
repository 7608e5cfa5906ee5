"""Per-nucleotide classes against hand-computed answers, companion tables, and the real E. coli record."""
from __future__ import annotations

import numpy as np
import pytest
from Bio.Seq import Seq
from Bio.SeqFeature import CompoundLocation, SeqFeature, SimpleLocation
from Bio.SeqRecord import SeqRecord

from dnahnet.genome_io import read_genome
from interpret.annotations import BIT, CLASSES, RecordAnnotation, annotate
from interpret.companion import read_companion


def record(seq: str, features, circular=False) -> SeqRecord:
    r = SeqRecord(Seq(seq), id="test", annotations={"topology": "circular" if circular else "linear"})
    r.features = [SeqFeature(loc, type=t, qualifiers=q) for t, loc, q in features]
    return r


def cds(loc, **q):
    return ("CDS", loc, {k: [str(v)] for k, v in q.items()})


def loc(start, end, strand=1):
    return SimpleLocation(start, end, strand=strand)


def positions(a: RecordAnnotation, strand: str, cls: str) -> list[int]:
    return np.flatnonzero(a.mask(strand, cls)).tolist()


def test_classes_order_is_the_contract():
    assert CLASSES == ("cds_pos1", "cds_pos2", "cds_pos3", "start_codon", "stop_codon", "rbs", "promoter_35",
                       "promoter_10", "tss", "rRNA", "tRNA", "other_RNA", "intergenic")


def test_plus_strand_gene_start_stop_rbs_intergenic():
    seq = "C" * 25 + "ATGAAACCCTAA" + "C" * 23  # CDS at 26..37 (1-based)
    a = annotate(record(seq, [cds(loc(25, 37), locus_tag="g1")]))
    assert a.codon_pos["+"][25:37].tolist() == [1, 2, 3] * 4
    assert not a.codon_pos["-"].any()
    assert positions(a, "+", "start_codon") == [25, 26, 27]
    assert positions(a, "+", "stop_codon") == [34, 35, 36]
    assert positions(a, "+", "rbs") == list(range(5, 21))  # -20..-5 before the start base
    assert positions(a, "+", "cds_pos1") == list(range(25, 37, 3))
    intergenic = list(range(0, 25)) + list(range(37, 60))
    assert positions(a, "+", "intergenic") == positions(a, "-", "intergenic") == intergenic
    assert a.anchors["start_codon"].values.tolist() == [[25, "+"]]
    assert a.anchors["stop_codon"].values.tolist() == [[34, "+"]]
    assert a.problems == []
    row = a.features.iloc[0]
    assert (row["type"], row["start"], row["end"], row["strand"], row["locus_tag"]) == ("CDS", 25, 37, 1, "g1")


def test_minus_strand_gene_counts_from_its_5prime_end():
    # complement(4..15): reading order 14, 13, ..., 3; start codon at 14,13,12 (CAT = ATG revcomp), stop at 5,4,3
    seq = list("G" * 30)
    seq[3:6] = "TTA"  # reverse complement of TAA
    seq[12:15] = "CAT"
    a = annotate(record("".join(seq), [cds(loc(3, 15, -1))]))
    cp = a.codon_pos["-"]
    assert cp[14] == 1 and cp[13] == 2 and cp[12] == 3 and cp[11] == 1
    assert cp[5] == 1 and cp[4] == 2 and cp[3] == 3
    assert cp[3:15].tolist() == [3, 2, 1] * 4
    assert not a.codon_pos["+"].any() and not a.mask("+", "start_codon").any()
    assert positions(a, "-", "start_codon") == [12, 13, 14]
    assert positions(a, "-", "stop_codon") == [3, 4, 5]
    assert positions(a, "-", "rbs") == list(range(19, 30))  # 14+5 .. 14+20, clipped at the end (linear)
    assert a.anchors["start_codon"].values.tolist() == [[14, "-"]]
    assert a.anchors["stop_codon"].values.tolist() == [[5, "-"]]
    assert a.problems == []  # ATG start and TAA stop are valid in code 11


def test_origin_spanning_joins_on_a_circular_record():
    plus = CompoundLocation([loc(90, 100), loc(0, 8)])  # join(91..100,1..8), 18 nt
    minus = CompoundLocation([loc(40, 46, -1), loc(34, 40, -1)])  # an ordinary two-part minus join
    wrap_minus = CompoundLocation([loc(0, 6, -1), loc(94, 100, -1)])  # complement(join(95..100,1..6))
    r = record("A" * 100, [cds(plus, locus_tag="p"), cds(minus, locus_tag="m"), cds(wrap_minus, locus_tag="w")],
               circular=True)
    a = annotate(r)
    cp = a.codon_pos["+"]
    assert cp[90:100].tolist() == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    assert cp[0:8].tolist() == [2, 3, 1, 2, 3, 1, 2, 3]  # phase continues across the origin
    assert positions(a, "+", "start_codon") == [90, 91, 92] and positions(a, "+", "stop_codon") == [5, 6, 7]
    assert positions(a, "+", "rbs") == list(range(70, 86))
    m = a.codon_pos["-"]
    assert m[34:46].tolist()[::-1] == [1, 2, 3] * 4  # read from 45 down to 34
    assert m[0:6].tolist()[::-1] == [1, 2, 3, 1, 2, 3]  # 5, 4, ..., 0
    assert m[94:100].tolist()[::-1] == [1, 2, 3, 1, 2, 3]  # then 99, ..., 94
    assert a.anchors["start_codon"].values.tolist() == [[5, "-"], [45, "-"], [90, "+"]]
    assert sorted(a.anchors["stop_codon"].pos.tolist()) == [5, 36, 96]
    assert positions(a, "-", "rbs")[:3] == [10, 11, 12]  # 5+5.. upstream of the wrapping minus gene
    w = a.features.set_index("locus_tag").loc["w"]
    assert (w["start"], w["end"]) == (94, 106)  # crosses the origin: end past the record length
    assert w["parts"] == [(0, 6, -1), (94, 100, -1)]
    p = a.features.set_index("locus_tag").loc["p"]
    assert (p["start"], p["end"]) == (90, 108)


def test_overlapping_genes_in_different_frames_get_zero():
    r = record("A" * 90, [cds(loc(0, 30), locus_tag="a"), cds(loc(28, 58), locus_tag="b"),
                          cds(loc(60, 90), locus_tag="c"), cds(loc(63, 84), locus_tag="d")])  # c, d same frame
    a = annotate(r)
    cp = a.codon_pos["+"]
    assert cp[26:31].tolist() == [3, 1, 0, 0, 3]  # 28, 29 are in both a (pos 2, 3) and b (pos 1, 2)
    assert cp[60:90].tolist() == [1, 2, 3] * 10  # same frame overlap is fine
    assert not a.mask("+", "cds_pos1")[28] and not a.mask("+", "cds_pos2")[28]
    assert any("2 nt where 2 CDS overlap in different reading frames" in p for p in a.problems)


def test_partial_cds_respects_codon_start(genbank_text, gb_feature):
    feats = (gb_feature("CDS", "<1..>20", locus_tag="part", codon_start=2)
             + gb_feature("CDS", "complement(<31..60)", locus_tag="tail"))
    r = read_genome(genbank_text("P", "ACGT" * 15, feats).encode()).records[0]
    a = annotate(r)
    cp = a.codon_pos["+"]
    assert cp[0:7].tolist() == [3, 1, 2, 3, 1, 2, 3]  # base 1 ends a codon that began before the record
    assert cp[19] == 1
    assert not a.mask("+", "start_codon").any() and not a.mask("+", "stop_codon").any()
    assert not a.mask("+", "rbs").any()
    # minus-strand gene partial at its 3' end (low coordinate): start kept, stop dropped
    assert positions(a, "-", "start_codon") == [57, 58, 59] and not a.mask("-", "stop_codon").any()
    assert a.codon_pos["-"][59] == 1 and a.codon_pos["-"][30] == 3
    text = " ".join(a.problems)
    assert "5'-partial" in text and "3'-partial" in text and "part" in text


def test_genetic_code_checks_the_stop_codon_without_dropping():
    seq = "ATGAAATGA" + "C" * 21  # ends in TGA: a stop in code 11, Trp in code 4
    a11 = annotate(record(seq, [cds(loc(0, 9), locus_tag="x")]))
    a4 = annotate(record(seq, [cds(loc(0, 9), locus_tag="x")]), genetic_code=4)
    a4q = annotate(record(seq, [cds(loc(0, 9), locus_tag="x", transl_table=4)]))
    assert not any("stop" in p for p in a11.problems)
    for a in (a4, a4q):
        assert positions(a, "+", "stop_codon") == [6, 7, 8]  # kept
        assert any("not a stop codon in genetic code 4" in p and "x TGA" in p for p in a.problems)


def test_rna_and_signals_and_pseudogenes():
    feats = [("rRNA", loc(0, 10), {}), ("tRNA", loc(20, 30, -1), {}), ("ncRNA", loc(40, 45), {}),
             ("-10_signal", loc(50, 56), {}),
             ("regulatory", loc(60, 66, -1), {"regulatory_class": ["minus_35_signal"]}),
             ("CDS", loc(70, 82), {"pseudo": [""], "locus_tag": ["ps"]})]
    a = annotate(record("A" * 100, feats))
    assert positions(a, "+", "rRNA") == list(range(10)) and positions(a, "-", "tRNA") == list(range(20, 30))
    assert positions(a, "+", "other_RNA") == list(range(40, 45))
    assert positions(a, "+", "promoter_10") == list(range(50, 56))
    assert positions(a, "-", "promoter_35") == list(range(60, 66))
    assert not a.codon_pos["+"][70:82].any() and not a.mask("+", "intergenic")[70:82].any()
    assert a.mask("+", "intergenic")[50:56].all() and a.mask("-", "intergenic")[10:20].all()
    assert any("pseudogene" in p and "ps" in p for p in a.problems)


# ---------------------------------------------------------------- companion tables


def test_companion_generic_csv_bed_gff3():
    csv = "seqid,type,start,end,strand,name\ntest,-10,51,56,+,p1\ntest,TSS,63,63,+,p1\ntest,weird,1,2,+,x\n" \
          "test,-35,20,25,?,nostrand\n"
    c = read_companion(csv.encode(), name="t.csv")
    assert c.table[["type", "start", "end", "strand"]].values.tolist() == [["promoter_10", 50, 56, 1],
                                                                            ["tss", 62, 63, 1]]
    assert any("unknown type (weird)" in p for p in c.problems) and any("no strand" in p for p in c.problems)
    bed = "track name=tss\ntest\t62\t63\tTSS\t0\t-\ntest\t10\t16\tsomething\t0\t+\n"
    b = read_companion(bed.encode(), name="t.bed")
    assert b.table[["type", "start", "end", "strand"]].values.tolist() == [["promoter", 10, 16, 1], ["tss", 62, 63, -1]]
    gff = "##gff-version 3\ntest\tx\tpromoter\t5\t30\t.\t+\t.\tID=pr\ntest\tx\tTSS\t31\t31\t.\t+\t.\tName=t1\n"
    g = read_companion(gff.encode())
    assert g.table[["type", "start", "end"]].values.tolist() == [["promoter", 4, 30], ["tss", 30, 31]]
    a = annotate(record("A" * 100, []), companion=c)
    assert positions(a, "+", "tss") == [62] and positions(a, "+", "promoter_10") == list(range(50, 56))
    assert a.anchors["tss"].values.tolist() == [[62, "+"]]
    other = annotate(SeqRecord(Seq("A" * 100), id="elsewhere"), companion=c)  # rows of another seqid
    assert not other.mask("+", "tss").any()


def test_companion_rows_per_record_and_seqids_that_match_none():
    """Rows whose seqid names no record are counted and named with the records there are; each record gets its rows
    (by id, name or accession without .version) plus the rows without a seqid, in the notes and in `annotate` alike."""
    from interpret.companion import match_records

    table = ("seqid,type,position,strand\nNC_1,TSS,10,+\nNC_1.1,TSS,20,-\nchrX,TSS,5,+\nchrX,TSS,6,+\n"
             "plasmid_b,TSS,7,+\nchr1,TSS,8,+\n,TSS,30,+\n")
    c = read_companion(table.encode(), name="t.csv")
    recs = [SeqRecord(Seq("A" * 100), id="NC_1.1", name="NC_1"), SeqRecord(Seq("A" * 50), id="pB.2", name="plasmid_b")]
    per_record, unmatched, notes = match_records(c, recs)
    assert per_record == {"NC_1.1": 3, "pB.2": 2} and unmatched == {"chrX": 2, "chr1": 1}
    assert notes == ["3 of 7 rows name a seqid that matches no record and were ignored: 'chrX' (2 rows), "
                     "'chr1' (1 row). Records: NC_1.1, pB.2 (a seqid matches a record's id or name, with or without "
                     "its .version); rows per record: NC_1.1 3, pB.2 2"]
    assert positions(annotate(recs[0], companion=c), "+", "tss") == [9, 29]  # NC_1 and no seqid; not chrX / chr1
    assert positions(annotate(recs[1], companion=c), "+", "tss") == [6, 29]  # by its name plasmid_b
    # every row matched, one record without rows: the counts are said; one record, all matched: nothing to say
    ok = read_companion(b"seqid,type,position,strand\nNC_1,TSS,10,+\n", name="ok.csv")
    assert match_records(ok, recs) == ({"NC_1.1": 1, "pB.2": 0}, {}, ["rows per record: NC_1.1 1, pB.2 0"])
    assert match_records(ok, recs[:1]) == ({"NC_1.1": 1}, {}, [])


def test_annotate_all_reads_a_companion_file_and_says_its_notes(tmp_path):
    """What every command line does with a genome file: one annotation per record, the companion's notes prefixed."""
    from interpret.annotations import annotate_all

    path = tmp_path / "tss.csv"
    path.write_bytes(b"seqid,type,position,strand\nNC_1,TSS,10,+\nchrX,TSS,5,+\n,weird,3,+\n")
    recs = [SeqRecord(Seq("A" * 100), id="NC_1.1", name="NC_1"), SeqRecord(Seq("A" * 50), id="pB.2", name="pB")]
    problems: list[str] = []
    out = annotate_all(recs, path, problems=problems)
    assert list(out) == ["NC_1.1", "pB.2"] and positions(out["NC_1.1"], "+", "tss") == [9]
    assert problems and all(p.startswith("companion: ") for p in problems)
    assert any("chrX" in p for p in problems) and any("weird" in p for p in problems)
    again: list[str] = []  # a table read before gives the same annotation and the same notes
    same = annotate_all(recs, read_companion(path), problems=again)
    assert again == problems and positions(same["NC_1.1"], "+", "tss") == [9]
    assert not annotate_all(recs)["NC_1.1"].mask("+", "tss").any()


@pytest.mark.data
def test_regulondb_table_is_one_based(data_dir):
    c = read_companion(data_dir / "annotations/ecoli/Ecoli_MG1655_regulondb_tss.csv")
    t = c.table[c.table["name"] == "galRp"].set_index("type")
    assert t.loc["tss", "start"] == 2976568 and t.loc["tss", "end"] == 2976569  # TSS 2976569 (1-based)
    assert (t.loc["promoter_10", "start"], t.loc["promoter_10", "end"]) == (2976556, 2976562)
    assert c.counts()["tss"] > 8000 and set(c.table["strand"]) == {1, -1}


# ---------------------------------------------------------------- the real E. coli record


@pytest.fixture(scope="module")
def ecoli(data_dir):
    g = read_genome(data_dir / "genomes/Escherichia_coli_K12_MG1655_GCF_000005845.2.gbff.gz")
    return g.records[0]


@pytest.mark.data
@pytest.mark.slow
def test_ecoli_annotation_with_regulondb(ecoli, data_dir):
    companion = read_companion(data_dir / "annotations/ecoli/Ecoli_MG1655_regulondb_tss.csv")
    a = annotate(ecoli, companion=companion)
    counts = a.features["type"].value_counts()
    assert (counts["CDS"], counts["rRNA"], counts["tRNA"]) == (4315, 22, 86)
    assert a.length == 4_641_652 and a.circular
    # start codons read on their own strand are mostly ATG, stops are all TAA/TAG/TGA (checks minus-strand logic)
    seq = str(ecoli.seq)
    for s in ("+", "-"):
        starts = a.anchors["start_codon"].query("strand == @s").pos.to_numpy()
        codons = [seq[p:p + 3] if s == "+" else str(Seq(seq[p - 2:p + 1]).reverse_complement()) for p in starts]
        assert np.mean([c == "ATG" for c in codons]) > 0.85
        stops = a.anchors["stop_codon"].query("strand == @s").pos.to_numpy()
        codons = [seq[p:p + 3] if s == "+" else str(Seq(seq[p - 2:p + 1]).reverse_complement()) for p in stops]
        assert set(codons) <= {"TAA", "TAG", "TGA"}
        # the first base of a start codon is codon position 1, or 0 where the previous gene overlaps it
        # in another frame (ATGA-style overlaps are common)
        assert set(a.codon_pos[s][starts].tolist()) == {0, 1} and (a.codon_pos[s][starts] == 1).mean() > 0.8
        assert a.mask(s, "tss").sum() > 3000 and a.mask(s, "promoter_10").sum() > 5000
    assert len(a.anchors["tss"]) > 8000
    assert a.anchors["tss"].strand.value_counts().min() > 3000
    # thrL (b0001) is 190..255 (+): its first base is codon position 1 and a start codon
    assert a.codon_pos["+"][189] == 1 and a.mask("+", "start_codon")[189] and a.mask("+", "rbs")[169]
    assert 0.05 < a.mask("+", "intergenic").mean() < 0.2
    assert a.bits["+"].dtype == np.uint16 and a.codon_pos["-"].dtype == np.int8
    assert (a.bits["-"] >> BIT["rRNA"] & 1).sum() > 0
