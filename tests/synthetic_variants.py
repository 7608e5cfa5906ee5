"""A synthetic genome with hand-placed CDSs, for the variant tests (coordinates below are 1-based, GenBank style).

synA (linear, 600 bp):
  blaP  101..130 (+)                     ATG CAT AAA GGC TTT CTG GAA ACC CGT TAA   M H K G F L E T R *
  blaM  complement(301..330)  read as    ATG GCA CAC TGG AAA GAT CCG CTG TTT TGA   M A H W K D P L F *
  useF  401..460 (+)                     ATG (TTC x 18) TAA: makes TTC the genome's favourite F codon
synC (circular, 600 bp):
  oriM  complement(join(596..600,1..25)) read as ATG AAA CCC GGG TTT AAA CCC GAT TGC TAA; its codon 9 (TGC) is read
        from positions 1, 600, 599: it crosses the origin.
"""
from __future__ import annotations

import numpy as np

from dnahnet.genome_io import read_genome
from dnahnet.tokenizer import reverse_complement
from tests.conftest import _genbank_text, feature_line

BLA_P = "ATGCATAAAGGCTTTCTGGAAACCCGTTAA"
BLA_M = "ATGGCACACTGGAAAGATCCGCTGTTTTGA"
USE_F = "ATG" + "TTC" * 18 + "TAA"
ORI_M = "ATGAAACCCGGGTTTAAACCCGATTGCTAA"


def _background(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return list(rng.choice(list("ACGT"), n))


def _genbank(name, seq, features, topology):
    """GenBank text of one record with its CDSs ((location, gene, locus_tag) each), in the tests' shared layout."""
    table = "".join(feature_line("CDS", loc, gene=gene, locus_tag=tag, transl_table=11) for loc, gene, tag in features)
    return _genbank_text(name, seq, table, topology)


def synthetic_sequences() -> tuple[str, str]:
    a = _background(600, 1)
    a[100:130] = BLA_P
    a[300:330] = reverse_complement(BLA_M)
    a[400:460] = USE_F
    c = _background(600, 2)
    fwd = reverse_complement(ORI_M)  # forward-strand bases of the unwrapped span 596..625
    c[595:600] = fwd[:5]
    c[0:25] = fwd[5:]
    return "".join(a), "".join(c)


def synthetic_genbank() -> str:
    a, c = synthetic_sequences()
    return (_genbank("synA", a, [("101..130", "blaP", "SYN_0001"), ("complement(301..330)", "blaM", "SYN_0002"),
                                 ("401..460", "useF", "SYN_0003")], "linear")
            + _genbank("synC", c, [("complement(join(596..600,1..25))", "oriM", "SYN_0101")], "circular"))


def synthetic_genome():
    gf = read_genome(synthetic_genbank().encode(), name="synthetic.gbk")
    assert not [p for p in gf.problems if "skipped" in p], gf.problems
    return gf
