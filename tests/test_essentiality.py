"""Gene essentiality by a stop cassette: the cassette lands at hand-computed coordinates on both strands and across
the origin, the sense-strand score equals the log-likelihood ratio of hand-built windows, AUROC matches small
hand-worked examples, label matching reports unmatched and ambiguous ids, the command line writes its tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dnahnet.config import HNetConfig
from dnahnet.essentiality import (CASSETTE, auroc, evaluate, match_labels, read_labels, score_essentiality,
                                  stop_cassette)
from dnahnet.hnet import DnaHNet
from dnahnet.tokenizer import reverse_complement
from dnahnet.variants import Genome, VariantError
from tests.conftest import window_ll
from tests.synthetic_variants import synthetic_genbank, synthetic_genome, synthetic_sequences

W = 64


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DnaHNet(HNetConfig.preset("tiny")).eval()


@pytest.fixture(scope="module")
def genome():
    return Genome.from_source(synthetic_genome())


def mutated(seq: str, edits) -> str:
    s = list(seq)
    for e in edits:
        assert s[e.pos] == e.ref
        s[e.pos] = e.alt
    return "".join(s)


def test_cassette_lands_on_codons_5_to_9_on_both_strands(genome):
    a, c = synthetic_sequences()
    rc_cassette = reverse_complement(CASSETTE)
    # blaP 101..130 (+): codons 5-9 are forward 113..127
    v = stop_cassette(genome, genome.find_cds("blaP"))
    mut = mutated(a, v.edits)
    assert mut[112:127] == CASSETTE and mut[:112] == a[:112] and mut[127:] == a[127:]
    assert v.sense == "+" and v.anchor == 119 and v.text == "blaP:stop5-9"
    # blaM complement(301..330): read from 330 down, codons 5-9 are forward 304..318 (reverse complemented)
    v = stop_cassette(genome, genome.find_cds("blaM"))
    mut = mutated(a, v.edits)
    assert mut[303:318] == rc_cassette and mut[:303] == a[:303] and mut[318:] == a[318:]
    assert v.sense == "-" and v.anchor == 310
    assert all(e.pos in range(303, 318) for e in v.edits)
    # oriM complement(join(596..600,1..25)) on circular synC: reading positions 12..26 are forward 13..1, 600, 599
    v = stop_cassette(genome, genome.find_cds("oriM"))
    mut = mutated(c, v.edits)
    assert (mut[598:] + mut[:13]) == rc_cassette and mut[13:598] == c[13:598]
    assert {e.pos for e in v.edits} <= set(range(13)) | {598, 599}
    # the gene read back: codons 1-4 and the stop unchanged, 5-9 the cassette
    cds = genome.find_cds("oriM")
    read = "".join(mut[p] for p in cds.coords).translate(str.maketrans("ACGT", "TGCA"))
    assert read == "ATGAAACCCGGG" + CASSETTE + "TAA"


def test_short_cds_is_refused():
    g = Genome.from_source("ATG" + "AAA" * 6 + "TAA")  # 8 codons, no cassette room
    from dnahnet.variants import Cds

    cds = Cds(0, "tiny", "T1", 1, np.arange(24), g.seqs[0], 11)
    with pytest.raises(ValueError, match="too short"):
        stop_cassette(g, cds)


def test_auroc_hand_computed():
    # positives 0.35, 0.8; negatives 0.1, 0.4: of the 4 pairs, 3 are ordered right -> 0.75
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    # ties count one half: positives 1, 2 vs negative 1 -> (0.5 + 1) / 2
    assert auroc([1, 1, 2], [False, True, True]) == pytest.approx(0.75)
    assert auroc([3, 2, 1], [1, 0, 0]) == 1.0 and auroc([3, 2, 1], [0, 0, 1]) == 0.0
    assert np.isnan(auroc([1, 2], [1, 1]))


def test_evaluate_bootstrap_interval():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(30, bool), np.zeros(70, bool)]
    t = pd.DataFrame({"label": pd.array(y, dtype="boolean"), "perfect": y * 10.0 + rng.random(100),
                      "noise": rng.random(100)})
    t.loc[5, "noise"] = np.nan  # rows without a finite value of every predictor are left out
    s = evaluate(t, n_boot=200, seed=0, predictors={"perfect": "perfect", "noise": "noise"}).set_index("predictor")
    assert s.loc["perfect", ["auroc", "ci_low", "ci_high"]].tolist() == [1.0, 1.0, 1.0]
    assert s.loc["noise", "n_genes"] == 99 and s.loc["noise", "n_essential"] == 29
    assert s.loc["noise", "ci_low"] < s.loc["noise", "auroc"] < s.loc["noise", "ci_high"]
    assert s.loc["noise", "auroc"] == pytest.approx(auroc(t["noise"].drop(5), y[np.arange(100) != 5]))


def test_labels_matched_by_locus_tag_then_name(genome, tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("locus_tag,essential\nSYN_0001,True\nblam,\nsyn_0003,false\nb9999,True\nSYN_0001,false\n")
    labels = read_labels(table)
    assert labels.to_dict() == {"SYN_0001": True, "blam": False, "syn_0003": False, "b9999": True}
    m = match_labels(genome, labels)
    assert m.label_of == {0: True, 1: False, 2: False} and m.id_of[1] == "blam"
    assert m.unmatched == ["b9999"] and m.ambiguous == []
    assert m.counts({0, 1}) == {"label_ids": 4, "matched": 3, "unmatched": 1, "ambiguous": 0,
                                "matched_and_scored": 2}
    tsv = tmp_path / "labels.tsv"
    tsv.write_text("name\tstatus\nblaP\tessential\n")
    assert read_labels(tsv, label_column="status").to_dict() == {"blaP": True}
    with pytest.raises(ValueError, match="no label column"):
        read_labels(tsv)


def test_alternative_starts_take_the_longest_and_shared_names_are_ambiguous(genbank_text, gb_feature):
    from dnahnet.genome_io import read_genome

    seq = "ATG" + "AAA" * 20 + "TAA" + "C" * 40
    features = (gb_feature("CDS", "1..66", gene="infB", locus_tag="b1") + gb_feature("CDS", "7..66", gene="infB",
                                                                                      locus_tag="b1")
                + gb_feature("CDS", "1..30", gene="dup", locus_tag="b2") + gb_feature("CDS", "4..30", gene="dup",
                                                                                      locus_tag="b3"))
    g = Genome.from_source(read_genome(genbank_text("iso", seq, features).encode(), name="iso.gbk"))
    m = match_labels(g, pd.Series({"INFB": True, "dup": False, "b3": False}))
    assert m.label_of == {0: True, 3: False} and m.ambiguous == ["dup"] and m.unmatched == []


def test_genome_wide_table_and_sense_scores(model, genome):
    a, _ = synthetic_sequences()
    labels = pd.Series({"SYN_0001": True, "SYN_0002": False, "SYN_0003": False, "SYN_0101": True, "nope": True})
    res = score_essentiality(genome, model, labels=labels, window=W, n_boot=50)
    t = res.table.set_index("gene")
    assert list(t.index) == ["blaP", "blaM", "useF", "oriM"] and (t["problem"] == "").all()
    assert t.loc["blaM", "strand"] == "-" and t.loc["blaM", "length_nt"] == 30 and t.loc["useF", "length_nt"] == 60
    assert t.loc["blaP", "gc"] == pytest.approx(sum(b in "GC" for b in "ATGCATAAAGGCTTTCTGGAAACCCGTTAA") / 30)
    # sense only: blaP on '+', blaM on '-'; each equals the hand-built window's log-likelihood ratio
    assert np.isnan(t.loc["blaP", "score_minus"]) and np.isnan(t.loc["blaM", "score_plus"])
    lo = 119 - W // 2
    ref, mut = a[lo:lo + W], a[lo:112] + CASSETTE + a[127:lo + W]
    assert t.loc["blaP", "delta_ll"] == pytest.approx(window_ll(model, mut) - window_ll(model, ref), abs=1e-4)
    lo = 310 - W // 2
    ref, mut = a[lo:lo + W], a[lo:303] + reverse_complement(CASSETTE) + a[318:lo + W]
    minus = window_ll(model, reverse_complement(mut)) - window_ll(model, reverse_complement(ref))
    assert t.loc["blaM", "delta_ll"] == pytest.approx(minus, abs=1e-4)
    assert (t["essentiality"] == -t["delta_ll"]).all()
    assert list(t["label"]) == [True, False, False, True] and res.matching.unmatched == ["nope"]
    assert list(res.summary["predictor"]) == ["dnahnet", "gene length", "GC"]
    assert res.summary.loc[1, "auroc"] == pytest.approx(auroc(t["length_nt"], t["label"].astype(bool)))
    assert res.options["labels"]["matched_and_scored"] == 4 and res.options["window"] == W

    both = score_essentiality(genome, model, genes=["blaP", "SYN_0101"], strand="mean", window=W).table
    assert list(both["gene"]) == ["blaP", "oriM"] and np.isfinite(both[["score_plus", "score_minus"]]).all().all()
    assert both["delta_ll"].tolist() == pytest.approx(both[["score_plus", "score_minus"]].mean(axis=1).tolist())
    sub = score_essentiality(genome, model, subsample=2, seed=3, window=W)
    assert len(sub.table) == 2 and sub.summary is None and sub.options["cds_total"] == 4
    balanced = score_essentiality(genome, model, labels=labels, subsample=3, seed=0, window=W, n_boot=10)
    assert sorted(balanced.table["label"].tolist()) == [False, False, True]  # labelled CDSs, up to half essential
    assert balanced.options["subsample_scheme"] == "labelled CDSs, up to half essential"
    with pytest.raises(VariantError, match="no CDS"):
        score_essentiality(genome, model, genes=["nope"], window=W)


def test_command_line(model, tmp_path, capsys):
    from dnahnet.checkpoint import save
    from dnahnet.variants_cli import main

    ckpt = save(model, tmp_path / "ckpt")
    gbk = tmp_path / "syn.gbk"
    gbk.write_text(synthetic_genbank())
    labels = tmp_path / "labels.csv"
    labels.write_text("locus_tag,essential\nSYN_0001,True\nSYN_0002,\nSYN_0003,\nSYN_0101,True\nb0001,True\n")
    out, summary = tmp_path / "ess.csv", tmp_path / "auroc.csv"
    assert main([str(gbk), "--essentiality", "--labels", str(labels), "--summary", str(summary), "--out", str(out),
                 "--checkpoint", str(ckpt), "--window", str(W), "--n-boot", "20"]) == 0
    printed = capsys.readouterr().out
    assert "4 of 4 CDSs scored" in printed and "1 unmatched (e.g. b0001)" in printed and "AUROC dnahnet" in printed
    t = pd.read_csv(out)
    assert len(t) == 4 and np.isfinite(t["delta_ll"]).all() and t["label"].tolist() == [True, False, False, True]
    s = pd.read_csv(summary)
    assert list(s["predictor"]) == ["dnahnet", "gene length", "GC"] and (s["window"] == W).all()
    assert (s["strand"] == "sense").all()
    assert main([str(gbk), "--essentiality", "--genes", "nope", "--out", str(out), "--checkpoint", str(ckpt)]) == 2
    with pytest.raises(SystemExit):
        main([str(gbk), "--variant", "blaP:H2Y", "--labels", str(labels), "--out", str(out)])


def test_roc_points_area_is_the_auroc_and_the_figure_has_a_curve_per_predictor():
    from dnahnet.essentiality import roc_points
    from interpret.figures_essentiality import essentiality_roc

    fpr, tpr = roc_points([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    rng = np.random.default_rng(0)
    s, y = rng.integers(0, 5, 60).astype(float), rng.random(60) < 0.3  # many ties
    fpr, tpr = roc_points(s, y)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(s, y))
    t = pd.DataFrame({"label": pd.array(y, dtype="boolean"), "essentiality": s, "length_nt": rng.random(60),
                      "gc": rng.random(60)})
    fig = essentiality_roc(t, evaluate(t, n_boot=20))
    assert [tr.name.split(":")[0] for tr in fig.data] == ["chance", "dnahnet", "gene length", "GC"]
    assert f"{auroc(s, y):.3f}" in fig.data[1].name
