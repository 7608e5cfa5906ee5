"""app.locus: a gene name, locus tag or `record:start-end` → one window (hand-computed coordinates), bad input → a
message that says what is wrong, an ambiguous name → the loci to choose from."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from Bio import SeqIO

from app.locus import CONTEXT_BP, Locus, LocusError, feature_table, resolve
from tests.conftest import _genbank_text, feature_line

LENGTHS = {"NC_000913.3": 8_000, "PLASMID": 1_000}


def features() -> pd.DataFrame:
    """Two records: a gene + CDS pair (one locus tag), a minus-strand CDS, a CDS without a name, a nameless-tag gene,
    a 1-nt RBS named like the genes, and a plasmid CDS that shares a gene name with the chromosome."""
    rows = [("NC_000913.3", "gene", 200, 1100, 1, "synA", "SYN_0001", ""),
            ("NC_000913.3", "CDS", 200, 1100, 1, "synA", "SYN_0001", "alpha protein"),
            ("NC_000913.3", "CDS", 1400, 2300, -1, "synB", "SYN_0002", "beta protein"),
            ("NC_000913.3", "gene", 2550, 3600, 1, "", "SYN_0003", ""),
            ("NC_000913.3", "CDS", 2600, 3600, 1, "", "SYN_0003", "gamma protein"),
            ("NC_000913.3", "gene", 4000, 4500, 1, "synC", "", ""),
            ("NC_000913.3", "RBS", 190, 191, 1, "syn", "", ""),
            ("PLASMID", "CDS", 100, 400, 1, "synA", "PL_0001", "alpha")]
    return pd.DataFrame(rows, columns=["record_id", "type", "start", "end", "strand", "name", "locus_tag", "product"])


def one(text: str, record: str = "NC_000913.3") -> Locus:
    found = resolve(text, LENGTHS, features(), record)
    assert len(found) == 1, [f.label for f in found]
    return found[0]


# ---------------------------------------------------------------------------------------------- ranges
@pytest.mark.parametrize("text, record, lo, hi", [
    ("NC_000913.3:1,000-2,000", "NC_000913.3", 999, 2_000),  # 1-based inclusive → 0-based half-open
    ("NC_000913.3:1000-2000", "NC_000913.3", 999, 2_000),
    ("1,001 – 1,030", "NC_000913.3", 1_000, 1_030),  # the sidebar's record; en dash; exactly MIN_REGION nt
    ("PLASMID:1..1000", "PLASMID", 0, 1_000),  # GenBank's "..", the whole plasmid
    ("NC_000913:7,001-8,000", "NC_000913.3", 7_000, 8_000),  # the accession without its version
])
def test_ranges_are_1_based_inclusive(text, record, lo, hi):
    got = one(text)
    assert (got.record_id, got.start, got.end) == (record, lo, hi)
    assert got.context == 0 and got.region(LENGTHS[record]) == (lo, hi)  # a typed range is analysed as typed
    assert one(got.text) == got  # the URL's text opens the same locus


def test_a_range_without_record_uses_the_picked_record():
    got = one("101-400", record="PLASMID")
    assert (got.record_id, got.start, got.end, got.text) == ("PLASMID", 100, 400, "PLASMID:101-400")


@pytest.mark.parametrize("text, words", [
    ("0-100", "count from 1"),
    ("2,000-1,000", "end (1,000) comes before the start (2,000)"),
    ("NC_000913.3:1-8,001", "has 8,000 bp"),
    ("CHR9:1-100", "no record “CHR9”"),
    ("NC_000913.3:synA", "give a range start-end"),
    ("nothingLikeThis", "no gene, CDS or RNA matches “nothingLikeThis”"),
    ("   ", "type a gene name"),
])
def test_bad_input_says_what_is_wrong(text, words):
    with pytest.raises(LocusError) as err:
        resolve(text, LENGTHS, features(), "NC_000913.3")
    assert words in str(err.value)


def test_a_short_range_or_one_base_gets_context_like_a_gene():
    base = one("7,990")
    assert (base.start, base.end, base.context) == (7_989, 7_990, CONTEXT_BP)
    assert base.region(8_000) == (5_989, 8_000)  # 7,989 − 2,000; 7,990 + 2,000 clipped at the record's end
    short = one("PLASMID:501-529")  # 29 nt < MIN_REGION
    assert short.region(1_000) == (0, 1_000) and one("PLASMID:501-530").region(1_000) == (500, 530)


def test_a_genome_without_genes_takes_ranges_only():
    assert resolve("1-100", {"X": 500}, None, "X")[0].end == 100
    with pytest.raises(LocusError, match="no annotated genes"):
        resolve("dnaA", {"X": 500}, None, "X")


# ---------------------------------------------------------------------------------------------- names
def test_gene_name_and_locus_tag_give_the_gene_plus_context():
    by_tag = one("syn_0002")  # case-insensitive
    assert (by_tag.start, by_tag.end, by_tag.context) == (1_400, 2_300, CONTEXT_BP)
    assert by_tag.region(8_000) == (0, 4_300)  # 1,400 − 2,000 clipped at the start; 2,300 + 2,000
    assert one("synB") == by_tag and by_tag.text == "SYN_0002"
    assert "synB" in by_tag.label and "1,401–2,300 −" in by_tag.label


def test_gene_and_cds_of_one_tag_are_one_locus_the_cds():
    got = one("SYN_0003")  # gene 2,551..3,600 and CDS 2,601..3,600: one hit, the CDS (find_features' rule)
    assert (got.start, got.end) == (2_600, 3_600) and got.region(8_000) == (600, 5_600)
    assert got.region(4_000) == (600, 4_000)  # clipped at the record's end


def test_product_words_find_a_gene():
    assert one("gamma").text == "SYN_0003"


def test_ambiguous_name_gives_a_choice_exact_matches_only():
    found = resolve("synA", LENGTHS, features(), "NC_000913.3")  # exact in both records; "syn"-something ignored
    assert [(f.record_id, f.start, f.end, f.text) for f in found] == [
        ("NC_000913.3", 200, 1_100, "SYN_0001"), ("PLASMID", 100, 400, "PL_0001")]
    assert all(f.record_id in f.label for f in found)  # several records: the label names the record


def test_substring_gives_a_choice_without_one_nt_features():
    found = resolve("syn", LENGTHS, features(), "NC_000913.3")
    assert [f.text for f in found] == ["SYN_0001", "SYN_0002", "SYN_0003", "synC", "PL_0001"]  # no 1-nt RBS


def test_circular_record_region_is_clipped_at_the_origin():
    origin = Locus("C", 9_500, 10_300, "C_0001", "across the origin", CONTEXT_BP)  # ends past a 10,000 bp record
    assert origin.region(10_000) == (7_500, 10_000)


def test_feature_table_reads_genbank_features():
    seq = "ATG" + "GCT" * 40 + "TAA" + "A" * 374
    text = _genbank_text("FT1", seq, feature_line("gene", "1..126", gene="tinA", locus_tag="FT_01")
                         + feature_line("CDS", "1..126", gene="tinA", locus_tag="FT_01", product="tiny"))
    table = feature_table(list(SeqIO.parse(io.StringIO(text), "genbank")))
    assert set(table["record_id"]) == {"FT1.1"}
    got = resolve("tinA", {"FT1.1": 500}, table, "FT1.1")
    assert len(got) == 1 and (got[0].start, got[0].end) == (0, 126) and got[0].region(500) == (0, 500)
