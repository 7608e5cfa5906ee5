"""Enrichment table, end-to-end known answers on synthetic genomes with planted boundaries, and the CLI."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnahnet.trace import StageTrack, StrandPass, Trace
from interpret.analysis import analyze_boundaries
from interpret.annotations import CLASSES, annotate
from interpret.passes import as_nucleotide_trace, class_codes, pass_tracks, reading_order
from interpret.stats import enrichment_table, wilson_interval
from tests.synthetic import make_genome, plant_boundaries

SIGNIFICANT = 0.01
# Empirical p-values bottom out at 2/(draws + 1); with ~40 tests in the BH family, q < 0.01 for a handful of
# significant rows needs a few thousand draws (the app's default is 1,000).


@pytest.fixture(scope="module")
def genome():
    rec = make_genome(30_000, 30, seed=1)
    return rec, annotate(rec)


def _both(report, stage=0):
    e = report.enrichment.df
    return e[(e["stage"] == stage) & (e["strand"] == "both")].set_index("class")


def test_wilson_interval_known_values():
    lo, hi = wilson_interval([0, 5], [10, 10])
    assert lo[0] == pytest.approx(0.0, abs=1e-12)
    assert hi[0] == pytest.approx(1.959964**2 / (10 + 1.959964**2), rel=1e-6)  # 0.2775
    assert (lo[1], hi[1]) == pytest.approx((0.236593, 0.763407), abs=1e-5)
    assert np.isnan(wilson_interval(0, 0)[0])


def test_class_codes_roundtrip():
    bits = np.array([0, 5, 5, 1, 4, 0], dtype=np.uint16)
    codes, member = class_codes(bits, 3)
    rebuilt = (member[codes] * (1 << np.arange(3))).sum(1)
    assert (rebuilt == bits).all()


def test_reading_order_both_directions():
    assert reading_order(np.array([0, 1, 2]), "-").tolist() == [2, 1, 0]
    assert reading_order(np.array([2, 1, 0]), "+").tolist() == [0, 1, 2]
    assert reading_order(np.array([2, 0, 1]), "-").tolist() == [2, 1, 0]


def _hand_trace(length, plus_b, minus_b):
    passes = []
    for strand, b in (("+", plus_b), ("-", minus_b)):
        pos = np.arange(length)
        st = StageTrack(pos, np.zeros(length, np.float32), np.asarray(b, np.int64), np.zeros(0, np.int64),
                        np.zeros((0, 0), np.float16))
        passes.append(StrandPass("r", strand, length, False, [st], np.zeros(length, np.float32)))
    return Trace(passes)


class _Ann:
    """A minimal annotation: class 0 on positions 0..3 of "+", class 1 everywhere else; "-" all class 1."""

    def __init__(self, length):
        self.record_id, self.length, self.classes = "r", length, ("a", "b")
        plus = np.full(length, 2, np.uint16)
        plus[:4] = 1
        self.bits = {"+": plus, "-": np.full(length, 2, np.uint16)}


def test_enrichment_rates_and_fold_by_hand():
    ann = _Ann(20)
    tr = _hand_trace(20, [0, 1, 2, 10], [19, 9])
    tracks = pass_tracks(tr, {"r": ann}, 0)
    e = enrichment_table(tracks, ann.classes, n_boot=50).set_index(["strand", "class"])
    assert e.loc[("+", "a"), "n_positions"] == 4 and e.loc[("+", "a"), "n_boundaries"] == 3
    assert e.loc[("+", "a"), "rate"] == pytest.approx(3 / 4)
    assert e.loc[("+", "a"), "fold"] == pytest.approx((3 / 4) / (4 / 20))
    assert e.loc[("-", "b"), "rate"] == pytest.approx(2 / 20)
    assert e.loc[("both", "b"), "n_boundaries"] == 1 + 2
    assert e.loc[("both", "b"), "global_rate"] == pytest.approx(6 / 40)


def test_mismatched_annotation_is_reported_not_used(genome):
    _, ann = genome
    tr = plant_boundaries(ann, "codon3", seed=0)
    problems = []
    short = type("A", (), {"record_id": ann.record_id, "length": ann.length - 1, "classes": CLASSES})()
    assert pass_tracks(tr, {ann.record_id: short}, 0, problems) == []
    assert any("length" in p for p in problems)
    problems.clear()
    assert pass_tracks(tr, {}, 0, problems) == [] and "no annotation" in problems[0]


def test_nucleotide_view_of_stage2(genome):
    _, ann = genome
    tr = plant_boundaries(ann, "none", rate_elsewhere=0.3, seed=0)
    nt = as_nucleotide_trace(tr, 1)
    tracks = pass_tracks(nt, {ann.record_id: ann}, 0)
    rate = sum(t.is_boundary.sum() for t in tracks) / sum(t.n for t in tracks)
    assert rate == pytest.approx(0.15, abs=0.02)  # Stage 2 keeps half of the 30% Stage 1 boundaries


def test_planted_codon3_enriched_and_positions_1_2_depleted(genome):
    _, ann = genome
    tr = plant_boundaries(ann, "codon3", rate_elsewhere=0.1, seed=0)
    rep = analyze_boundaries(tr, {ann.record_id: ann}, n_null=4000, n_boot=200, baselines=False)
    e = _both(rep)
    assert e.loc["cds_pos3", "fold"] > 3 and e.loc["cds_pos3", "q_shift"] < SIGNIFICANT
    assert e.loc["cds_pos3", "q_perm"] < SIGNIFICANT
    for c in ("cds_pos1", "cds_pos2"):
        assert e.loc[c, "fold"] < 1 and e.loc[c, "q_shift"] < 0.05 and e.loc[c, "shift_z"] < 0
    # nothing else enriched; start and stop codons each hold one codon position 3, so they rise too
    others = e.drop(index=["cds_pos3", "start_codon", "stop_codon"])
    assert not ((others["fold"] > 1) & (others["q_shift"] < 0.05)).any()
    # Stage 2 is a random half of Stage 1: no class stands out among Stage 1 chunk starts
    e2 = _both(rep, stage=1)
    assert not (e2["q_shift"] < SIGNIFICANT).any()


def test_planted_start_codons_enriched_only(genome):
    _, ann = genome
    tr = plant_boundaries(ann, "start", rate_elsewhere=0.1, seed=2)
    rep = analyze_boundaries(tr, {ann.record_id: ann}, n_null=4000, n_boot=200, baselines=False)
    e = _both(rep)
    # 90 start-codon nucleotides: z ≈ 9, but only 3 of 42 rows are true signals, so q sits near its floor
    assert e.loc["start_codon", "fold"] > 2 and e.loc["start_codon", "shift_z"] > 5
    assert e.loc["start_codon", "q_shift"] < 0.05 and e.loc["start_codon", "q_perm"] < 0.05
    others = e.drop(index="start_codon")
    assert not ((others["fold"] > 1) & (others["q_shift"] < 0.05)).any()


def test_minus_strand_planting_is_judged_on_the_minus_pass(genome):
    _, ann = genome
    tr = plant_boundaries(ann, "codon3", rate_elsewhere=0.1, seed=3, strands=("-",))
    rep = analyze_boundaries(tr, {ann.record_id: ann}, n_null=4000, n_boot=200, baselines=False)
    e = rep.enrichment.df.query("stage == 0 and `class` == 'cds_pos3'").set_index("strand")
    assert e.loc["-", "q_shift"] < SIGNIFICANT and e.loc["-", "fold"] > 3
    assert e.loc["+", "q_shift"] > 0.05 and e.loc["+", "fold"] == pytest.approx(1, abs=0.15)


def test_single_pass_trace_has_no_pooled_rows(genome):
    _, ann = genome
    tr = plant_boundaries(ann, "codon3", seed=0)
    tr.passes = [p for p in tr.passes if p.strand == "-"]
    rep = analyze_boundaries(tr, {ann.record_id: ann}, n_null=50, n_boot=20, baselines=False)
    for t in (rep.enrichment, rep.codon_tests, rep.periodicity, rep.nesting, rep.chunk_length_summary):
        assert set(t.df["strand"]) == {"-"}, t.name
    assert rep.codon_tests.df["rate_pos3"].iloc[0] == 1.0


def test_report_tables_and_csv(genome, tmp_path):
    _, ann = genome
    tr = plant_boundaries(ann, "codon3", rate_elsewhere=0.1, seed=0)
    seen = []
    rep = analyze_boundaries(tr, {ann.record_id: ann}, n_null=100, n_boot=50, n_null_baselines=50,
                             progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == pytest.approx(1.0) and all(0 <= f <= 1 for f in seen)
    paths = rep.to_csv_dir(tmp_path)
    names = {p.stem for p in paths}
    assert {"enrichment", "codon_tests", "metagene", "periodicity", "nesting", "baselines",
            "baseline_summary", "chunk_lengths"} <= names
    assert all(t.description for t in rep.tables())
    back = pd.read_csv(tmp_path / "enrichment.csv")
    assert len(back) == len(rep.enrichment.df)
    # 100 draws: p cannot go below 2/101, so the planted class's p is written as that bound, beside its z
    pos3 = back.query("stage == 0 and strand == 'both' and `class` == 'cds_pos3'").iloc[0]
    assert pos3["p_shift"] == pytest.approx(2 / 101) and pos3["p_shift_text"] == "≤ 0.02" and pos3["shift_z"] > 5
    assert "≤ 2/(n+1)" in (tmp_path / "README.txt").read_text()
    # the model beats every baseline on codon position 3
    s = rep.baseline_summary.df.set_index("chunker")
    assert s.loc["model Stage 1", "fold_cds_pos3"] > s.drop(index=["model Stage 1", "model Stage 2"])[
        "fold_cds_pos3"].max() + 1
    assert "phase" in rep.baselines.df.query("chunker == 'fixed 3 nt'")["description"].iloc[0]
    # paper comparison: codon positions 1..3 are disjoint, so "coding" counts their sum
    paper = rep.paper_comparison.df.set_index(["stage", "quantity"])
    e1 = _both(rep, stage=1)
    assert paper.loc[(1, "coding"), "n_positions"] == e1.loc[["cds_pos1", "cds_pos2", "cds_pos3"], "n_positions"].sum()
    third = paper.loc[(0, "codon position 3")]
    assert third["rate"] == 1.0 and third["paper_rate"] == 0.584
    assert paper.loc[(1, "global"), "rate"] == pytest.approx(e1["global_rate"].iloc[0])


def test_cli_writes_tables(genome, tmp_path, capsys):
    from Bio import SeqIO

    from interpret.analysis import main

    rec, ann = genome
    gb = tmp_path / "g.gb"
    SeqIO.write(rec, gb, "genbank")
    tr = plant_boundaries(ann, "codon3", seed=0)
    tpath = tr.save(tmp_path / "t.npz")
    assert main([str(tpath), str(gb), "--out", str(tmp_path / "out"), "--n-null", "50", "--no-baselines"]) == 0
    out = capsys.readouterr().out
    assert "cds_pos3" in out and "codon_tests" in out
    assert (tmp_path / "out" / "enrichment.csv").exists()


def test_old_command_name_runs_the_same_cli():
    """`python -m interpret.stats` (the command's older name) runs interpret.analysis's command line."""
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-m", "interpret.stats", "--help"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=600)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m interpret.analysis" in done.stdout and "--no-baselines" in done.stdout


def test_cli_annotations_say_which_companion_rows_match_no_record(tmp_path, genbank_text):
    """The CLIs' companion notes: rows of seqids that are no record of the genome are counted and named."""
    from interpret.analysis import load_annotations

    (tmp_path / "g.gb").write_text(genbank_text("CHR", "ACGT" * 50))
    (tmp_path / "tss.csv").write_text("seqid,type,position,strand\nCHR,TSS,10,+\nchr9,TSS,20,+\n")
    problems: list[str] = []
    annotations, _ = load_annotations(tmp_path / "g.gb", tmp_path / "tss.csv", problems)
    assert ("companion: 1 of 2 rows name a seqid that matches no record and were ignored: 'chr9' (1 row). Records: "
            "CHR.1 (a seqid matches a record's id or name, with or without its .version); rows per record: CHR.1 1"
            in problems)
    assert annotations["CHR.1"].mask("+", "tss").sum() == 1
