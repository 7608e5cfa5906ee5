"""bench/bench_strand_choice.py labels its variants right: on a hand-made circular record (a + gene, a - gene, a gene
across the origin, and one with an internal stop that must be left out) every synonymous / missense / nonsense change
it makes, applied to the record and read back through the CDS, translates as its class says. No model needed."""
from __future__ import annotations

import numpy as np
import pytest
from Bio.Seq import Seq
from Bio.SeqFeature import CompoundLocation, SeqFeature, SimpleLocation
from Bio.SeqRecord import SeqRecord

from bench.bench_strand_choice import (CLASSES, codon_snvs, eligible_cds, position_variants, sample_variants,
                                       snv_variant)
from dnahnet.variants import Genome, translate_codon

L = 120
GENES = {  # locus tag -> (codons as read in the gene's direction, strand)
    "plusA": ("ATG TGG CAA CTG GAA TAC ATG TCA TAA", 1),  # forward 10..36
    "minusB": ("ATG GAA TGG TCA CTG TAC AAA TGA", -1),  # complement(41..64)
    "wrapC": ("ATG CAA TGG AAA TAG", 1),  # join(114..120,1..8): across the origin
    "badD": ("ATG TAA GAA TAA", 1),  # an internal stop: not eligible
}


def _comp(s: str) -> str:
    return s.translate(str.maketrans("ACGT", "TGCA"))


def _record(seq: str | None = None) -> SeqRecord:
    """The hand-made record (or the same features on `seq`, a mutated copy)."""
    if seq is None:
        bases = list(np.random.default_rng(3).choice(list("ACGT"), L))
        places = {"plusA": [(9, 36)], "minusB": [(40, 64)], "wrapC": [(113, 120), (0, 8)], "badD": [(70, 82)]}
        for tag, (codons, strand) in GENES.items():
            read = codons.replace(" ", "")
            coords = [p for a, b in places[tag] for p in range(a, b)]
            assert len(coords) == len(read)
            if strand < 0:
                coords, read = coords[::-1], _comp(read)  # read 5'->3' on the minus strand = descending coordinates
            for p, b in zip(coords, read):
                bases[p] = b
        seq = "".join(bases)
    rec = SeqRecord(Seq(seq), id="toy", annotations={"topology": "circular", "molecule_type": "DNA"})
    rec.features = [
        SeqFeature(SimpleLocation(9, 36, 1), type="CDS", qualifiers={"locus_tag": ["plusA"], "gene": ["geneA"]}),
        SeqFeature(SimpleLocation(40, 64, -1), type="CDS", qualifiers={"locus_tag": ["minusB"]}),
        SeqFeature(CompoundLocation([SimpleLocation(113, 120, 1), SimpleLocation(0, 8, 1)]), type="CDS",
                   qualifiers={"locus_tag": ["wrapC"]}),
        SeqFeature(SimpleLocation(70, 82, 1), type="CDS", qualifiers={"locus_tag": ["badD"]}),
    ]
    return rec


@pytest.fixture(scope="module")
def genome():
    g = Genome([_record()])
    for tag, (codons, _) in GENES.items():
        assert g.find_cds(tag).seq == codons.replace(" ", "")  # the record holds the genes as written
    return g


def test_codon_snvs_known_answers():
    trp = codon_snvs("TGG", 11)  # Trp: no synonymous change; TAG and TGA are stops
    assert trp["synonymous"] == [] and sorted(c for _, _, c, _ in trp["nonsense"]) == ["TAG", "TGA"]
    assert len(trp["missense"]) == 7
    leu = codon_snvs("CTG", 11)  # Leu: no stop one base away; TTG, CTA, CTC, CTT are Leu
    assert leu["nonsense"] == [] and sorted(c for _, _, c, _ in leu["synonymous"]) == ["CTA", "CTC", "CTT", "TTG"]
    gln = codon_snvs("CAA", 11)
    assert [c for _, _, c, _ in gln["synonymous"]] == ["CAG"] and [c for _, _, c, _ in gln["nonsense"]] == ["TAA"]
    assert sum(map(len, codon_snvs("GAA", 11).values())) == 9
    with pytest.raises(ValueError, match="not a sense codon"):
        codon_snvs("TAA", 11)


def test_eligible_cds_leaves_out_an_internal_stop(genome):
    tags = {genome._cds_at(n).locus_tag for n in eligible_cds(genome)}
    assert tags == {"plusA", "minusB", "wrapC"}


@pytest.mark.parametrize("tag", ["plusA", "minusB", "wrapC"])
def test_every_variant_translates_as_its_class(genome, tag):
    cds = genome.find_cds(tag)
    seen = set()
    for residue in range(2, cds.n_codons):
        wt_codon, coords = cds.codon(residue)
        wt_aa = translate_codon(wt_codon, 11)
        for seed in range(4):  # different picks among a class's changes
            made = position_variants(genome, cds, residue, np.random.default_rng(seed))
            options = codon_snvs(wt_codon, 11)
            assert [c for c, _ in made] == [c for c in CLASSES if options[c]]  # every reachable class, once
            for cls, v in made:
                (edit,) = v.edits
                seq = list(genome.seqs[0])
                assert seq[edit.pos] == edit.ref and edit.ref != edit.alt
                seq[edit.pos] = edit.alt
                mutant = Genome([_record("".join(seq))]).find_cds(tag)
                diff = [i for i, (a, b) in enumerate(zip(cds.seq, mutant.seq)) if a != b]
                assert len(diff) == 1 and diff[0] // 3 == residue - 1  # one base, in this codon
                new_codon = mutant.codon(residue)[0]
                aa = translate_codon(new_codon, 11)
                assert {"synonymous": aa == wt_aa, "missense": aa not in (wt_aa, "*"), "nonsense": aa == "*"}[cls]
                assert (v.info["codon_ref"], v.info["codon_alt"], v.info["aa_alt"]) == (wt_codon, new_codon, aa)
                assert v.sense == ("+" if cds.strand > 0 else "-") and v.anchor == int(coords[1])
                seen.add(cls)
    assert seen == set(CLASSES)


def test_minus_strand_edit_is_the_complement(genome):
    cds = genome.find_cds("minusB")  # residue 3 = TGG read on the minus strand; G>A at its 2nd base makes TAG
    v = snv_variant(genome, cds, 3, 1, "A")
    (edit,) = v.edits
    assert (edit.ref, edit.alt) == ("C", "T") and edit.pos == int(cds.codon(3)[1][1])
    assert v.info["aa_alt"] == "*" and v.text == "minusB:W3*"


def test_sample_variants_matched_triples_both_strands(genome):
    variants, meta = sample_variants(genome, n_genes=3, k=2, seed=1)
    assert set(meta["strand"]) == {"+", "-"} and len(variants) == len(meta)
    codons = meta.groupby(["cds_index", "residue"])["effect"]
    assert all(sorted(g) == sorted(CLASSES) for _, g in codons)  # matched: each codon gives all three classes
    for v, (_, row) in zip(variants, meta.iterrows()):
        assert v.info["residue"] == row["residue"] and CLASSES[row["label"]] == row["effect"]
        assert (v.info["aa_alt"] == "*") == (row["effect"] == "nonsense")
    again, meta2 = sample_variants(genome, n_genes=3, k=2, seed=1)
    assert [v.text for v in again] == [v.text for v in variants] and meta2.equals(meta)  # seeded
    _, anyc = sample_variants(genome, n_genes=3, k=10, seed=1, matched=False)
    assert set(anyc["residue"][anyc["gene"] == "geneA (plusA)"]) == set(range(2, 9))  # every inner codon


def test_policies_and_metrics_known_answers():
    """Each policy reads the right strand (sense = the gene's direction), and the metrics score agreement as
    higher: a perfect ordering gives AUROC 1 and scipy's Spearman (below 1: the classes tie), the reverse 0 and
    minus that."""
    import pandas as pd
    from scipy.stats import spearmanr

    from bench.bench_strand_choice import agreement, metrics, policy_scores

    t = pd.DataFrame({"score_plus": [1.0, -3.0], "score_minus": [-1.0, 5.0], "sense": ["+", "-"]})
    s = policy_scores(t)
    assert list(s["+"]) == [1, -3] and list(s["-"]) == [-1, 5] and list(s["mean"]) == [0, 1]
    assert list(s["sense"]) == [1, 5] and list(s["antisense"]) == [-1, -3]
    label = np.array([0, 1, 2, 0, 1, 2])
    good = np.array([0.0, -1.0, -5.0, 0.1, -0.5, -4.0])  # synonymous > missense > nonsense
    rho = spearmanr(-good, label).statistic
    assert 0.9 < rho < 1 and metrics(good, label) == pytest.approx({"auroc_non_syn": 1, "auroc_mis_syn": 1,
                                                                     "spearman": rho})
    assert metrics(-good, label)["auroc_non_syn"] == 0 and metrics(-good, label)["spearman"] == pytest.approx(-rho)
    summary, diffs = agreement({"mean": good, "+": -good}, label, np.array([0, 0, 0, 1, 1, 1]), n_boot=20)
    row = summary.set_index("policy").loc["+"]
    assert row["auroc_non_syn"] == 0 and row["auroc_non_syn_hi"] == 0
    assert diffs.set_index("policy").loc["+", "spearman"] == pytest.approx(-2 * rho)
