"""Variant notation, CDS lookup, codon choice, strand and origin mapping, VCF reading: known answers on the
synthetic genome of tests/synthetic_variants.py (no model needed)."""
from __future__ import annotations

from collections import Counter

import pytest

from dnahnet.variants import (Edit, Genome, VariantError, choose_codon, parse_variant, read_variant_list, read_vcf,
                              resolve)
from tests.synthetic_variants import ORI_M, synthetic_genome, synthetic_sequences


@pytest.fixture(scope="module")
def genome():
    return Genome.from_source(synthetic_genome())


def res(genome, text):
    return resolve(parse_variant(text), genome)


# ---------------------------------------------------------------------------------------------- notation
@pytest.mark.parametrize("text, kind, fields", [
    ("1234A>G", "snv", dict(start=1234, end=1234, ref="A", alt="G", context=None)),
    ("synA:g.12c>t", "snv", dict(start=12, ref="C", alt="T", context="synA")),
    ("1234del", "del", dict(start=1234, end=1234, ref="")),
    ("1234_1236delACG", "del", dict(start=1234, end=1236, ref="ACG")),
    ("1234_1235insTT", "ins", dict(start=1234, end=1235, alt="TT")),
    ("1234_1236delinsGG", "delins", dict(start=1234, end=1236, alt="GG")),
    ("bla:H26Y", "aa", dict(context="bla", residue=26, aa_ref="H", aa_alt="Y")),
    ("bla:p.His26Ter", "aa", dict(context="bla", residue=26, aa_ref="H", aa_alt="*")),
    ("b0001:K3*", "aa", dict(context="b0001", residue=3, aa_ref="K", aa_alt="*")),
])
def test_parse_notation(text, kind, fields):
    spec = parse_variant(text)
    assert spec.kind == kind
    for k, v in fields.items():
        assert getattr(spec, k) == v, k


@pytest.mark.parametrize("text, says", [
    ("1234A>", "cannot read variant"), ("1234AG", "cannot read variant"), ("H26Y", "needs its gene"),
    ("bla:H26B", "unknown amino acid"), ("bla:Hix26Tyr", "unknown amino-acid code"), ("0A>G", "1-based"),
    ("1236_1234del", "before the start"),
])
def test_bad_notation_is_named(text, says):
    with pytest.raises(VariantError, match=says) as e:
        parse_variant(text, "variant 4")
    assert "variant 4" in str(e.value)


def test_list_file_errors_name_the_line(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("# my variants\n101A>G\n\n102C>T, bla:H2Y\nnot-a-variant\n")
    with pytest.raises(VariantError, match=r"v\.txt line 5: cannot read variant 'not-a-variant'"):
        read_variant_list(path)
    path.write_text("101A>G\n102C>T, blaP:H2Y  # two on a line\n")
    specs = read_variant_list(path)
    assert [s.text for s in specs] == ["101A>G", "102C>T", "blaP:H2Y"] and specs[2].source.endswith("line 2")


# ---------------------------------------------------------------------------------------------- nucleotide changes
def test_snv_and_reference_check(genome):
    a, _ = synthetic_sequences()
    v = res(genome, "synA:101A>G")
    assert v.edits == (Edit(100, "A", "G"),) and v.anchor == 100 and v.info["nt_change"] == "101A>G"
    with pytest.raises(VariantError, match="reference mismatch: synA.1 has A at 101, not G"):
        res(genome, "synA:101G>T")
    with pytest.raises(VariantError, match="past the end of synA.1"):
        res(genome, "synA:601A>G")
    with pytest.raises(VariantError, match="the genome has 2 records: name one"):
        res(genome, "101A>G")
    with pytest.raises(VariantError, match="no record 'blaP'"):
        res(genome, "blaP:101A>G")
    # indels: deleted bases come from the record (and are checked when written)
    v = res(genome, "synA:101_103del")
    assert v.edits == (Edit(100, "ATG", ""),) and v.kind == "del" and v.info["nt_change"] == "101_103del"
    with pytest.raises(VariantError, match="synA.1 has ATG at 101-103, not ATC"):
        res(genome, "synA:101_103delATC")
    v = res(genome, "synA:100_101insTT")
    assert v.edits == (Edit(100, "", "TT"),) and v.info["nt_change"] == "100_101insTT"
    with pytest.raises(VariantError, match="between two adjacent bases"):
        res(genome, "synA:100_102insTT")
    v = res(genome, "synC:600_1insG")  # circular: the insertion goes across the origin
    assert v.edits == (Edit(0, "", "G"),) and v.info["nt_change"] == "600_1insG"
    v = res(genome, "synA:101_103delinsG")
    assert v.edits == (Edit(100, "ATG", "G"),) and a[100:103] == "ATG"


# ---------------------------------------------------------------------------------------------- amino-acid changes
def test_plus_strand_cds_residues_and_codon_choice(genome):
    v = res(genome, "blaP:H2Y")  # CAT -> TAT (1 change) rather than TAC (2)
    want = {"gene": "blaP (SYN_0001)", "residue": 2, "aa_ref": "H", "aa_alt": "Y", "codon_ref": "CAT",
            "codon_alt": "TAT", "codon_changes": 1}
    assert {k: v.info[k] for k in want} == want
    assert v.edits == (Edit(103, "C", "T"),) and v.info["nt_change"] == "104C>T" and v.sense == "+"
    assert v.anchor == 104  # the codon's middle base (0-based)
    # M1L: ATG -> CTG or TTG, one change each; the genome uses CTG twice and TTG never
    v = res(genome, "blaP:M1L")
    assert v.info["codon_alt"] == "CTG" and v.info["nt_change"] == "101A>C"
    # L6F: CTG -> TTT or TTC, two changes each; useF makes TTC the genome's favourite
    v = res(genome, "blaP:L6F")
    assert v.info["codon_alt"] == "TTC" and v.info["codon_changes"] == 2
    assert v.edits == (Edit(115, "C", "T"), Edit(117, "G", "C")) and v.info["nt_change"] == "116C>T;118G>C"
    # by locus tag, 3-letter codes, stop
    assert res(genome, "SYN_0001:p.His2Tyr").edits == res(genome, "blaP:H2Y").edits
    v = res(genome, "blaP:K3*")  # AAA -> TAA
    assert v.info["codon_alt"] == "TAA" and v.info["nt_change"] == "107A>T"
    with pytest.raises(VariantError, match=r"residue 2 of blaP \(SYN_0001\) is H \(codon CAT at synA\.1:104\.\.106, "
                                           r"strand \+\), not K"):
        res(genome, "blaP:K2Y")
    with pytest.raises(VariantError, match="has 10 codons; residue 11 is outside it"):
        res(genome, "blaP:R11A")
    with pytest.raises(VariantError, match="no CDS with gene name or locus tag 'nope'"):
        res(genome, "nope:M1L")


def test_minus_strand_cds_reads_the_reverse_complement(genome):
    a, _ = synthetic_sequences()
    assert a[327:330] == "CAT"  # the start codon ATG, read on the minus strand from 330 down to 328
    v = res(genome, "blaM:M1L")  # ATG -> CTG: reading base 1 (forward 330) A -> C, i.e. forward T -> G
    assert v.sense == "-" and v.info["codon_ref"] == "ATG" and v.info["codon_alt"] == "CTG"
    assert v.edits == (Edit(329, "T", "G"),) and v.info["nt_change"] == "330T>G"
    v = res(genome, "blaM:H3Y")  # codon 3 CAC at forward 324, 323, 322 -> TAC: forward 324 G -> A
    assert v.info["codon_alt"] == "TAC" and v.edits == (Edit(323, "G", "A"),) and v.anchor == 322
    assert v.info["nt_change"] == "324G>A"
    assert [res(genome, f"blaM:{aa}{i + 1}{aa}").info["codon_changes"] for i, aa in enumerate("MAHWKDPLF*")] == [0] * 10


def test_minus_strand_cds_across_the_origin(genome):
    _, c = synthetic_sequences()
    cds = genome.find_cds("oriM")
    assert cds.strand == -1 and cds.seq == ORI_M
    assert list(cds.coords[:3] + 1) == [25, 24, 23] and list(cds.coords[24:27] + 1) == [1, 600, 599]
    assert list(cds.coords[-3:] + 1) == [598, 597, 596]
    # codon 9 TGC (C) -> CCC (P): two changes, reading bases 1 and 2 = forward positions 1 and 600
    v = res(genome, "oriM:C9P")
    assert v.info["codon_ref"] == "TGC" and v.info["codon_alt"] == "CCC"
    assert v.edits == (Edit(0, "A", "G"), Edit(599, "C", "G")) and v.info["nt_change"] == "1A>G;600C>G"
    assert c[0] == "A" and c[599] == "C" and v.anchor == 599


def test_choose_codon_rules():
    usage = Counter({"TTT": 5, "TTC": 1})
    assert choose_codon("CTG", "F", usage=usage) == "TTT"  # tie on distance: usage decides
    assert choose_codon("CTG", "F", usage=Counter({"TTC": 9})) == "TTC"
    assert choose_codon("CTG", "F") == "TTC"  # no usage: alphabetical
    assert choose_codon("GTG", "M", first=True) == "GTG"  # a start codon is M at residue 1
    assert choose_codon("GTG", "M") == "ATG"
    assert choose_codon("TGG", "*") == "TAG"  # TAG and TGA are one change away; alphabetical


# ---------------------------------------------------------------------------------------------- VCF
def _vcf(lines):
    head = ["##fileformat=VCFv4.2", "##contig=<ID=synA,length=600>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    return "\n".join(head + ["\t".join(map(str, l)) for l in lines]) + "\n"


def test_vcf_alleles_become_minimal_edits(genome, tmp_path):
    a, _ = synthetic_sequences()
    text = _vcf([("synA", 101, ".", "A", "G,C", ".", ".", "."),
                 ("synA", 150, "ins1", a[149], a[149] + "TT", ".", ".", "."),
                 ("synA", 160, ".", a[159:162], a[159], ".", ".", "."),
                 ("synA", 200, ".", a[199:201], "GG" if a[199:201] != "GG" else "CC", ".", ".", ".")])
    path = tmp_path / "v.vcf"
    path.write_text(text)
    specs = read_vcf(path)
    assert len(specs) == 5 and specs[0].source == "v.vcf line 4" and specs[2].source == "v.vcf line 5"
    got = [resolve(s, genome) for s in specs]
    assert got[0].edits == (Edit(100, "A", "G"),) and got[1].edits == (Edit(100, "A", "C"),)
    assert got[2].kind == "ins" and got[2].edits == (Edit(150, "", "TT"),)
    assert got[3].kind == "del" and got[3].edits == (Edit(160, a[160:162], ""),)
    assert got[4].kind in ("snv", "mnv") and all(e.alt in "GC" for e in got[4].edits)


def test_bad_vcf_errors_name_the_line(genome):
    with pytest.raises(VariantError, match="not a VCF file"):
        read_vcf("101A>G\n")
    with pytest.raises(VariantError, match=r"line 5: not a valid VCF record"):
        read_vcf(_vcf([("synA", 101, ".", "A", "G", ".", ".", "."), ("synA", "x", ".", "A")]))
    with pytest.raises(VariantError, match=r"line 4: ALT <DEL> is not a sequence change"):
        read_vcf(_vcf([("synA", 101, ".", "A", "<DEL>", ".", ".", ".")]))
    wrong = "C" if synthetic_sequences()[0][101] != "C" else "G"
    rows = [("synA", 101, ".", "A", "G", ".", ".", "."), ("synA", 102, ".", wrong, "T", ".", ".", ".")]
    spec = read_vcf(_vcf(rows))[1]
    with pytest.raises(VariantError, match=rf"line 5: synA:102{wrong}>T: reference mismatch"):
        resolve(spec, genome)
    spec = read_vcf(_vcf([("chrX", 101, ".", "A", "G", ".", ".", ".")]))[0]
    with pytest.raises(VariantError, match=r"line 4: .*no record 'chrX'"):
        resolve(spec, genome)
