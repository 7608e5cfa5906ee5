"""Runs of N (any non-ACGT base) and their flanks are left out of every per-nucleotide statistic.

Known answers: masked counts by hand; a genome with a long N run gives the same bits/nt and the same boundary
tables (enrichment with bootstrap intervals and both nulls, codon profile, paper comparison, periodicity, the model
and fixed-length baseline rows) as the same genome with the masked span cut out: the run plus MASK_FLANK nt each
side, or, with the flank set to 0, the run alone. Chunk lengths, metagene windows that reach the span and the
random-length baseline are not expected to match (a chunk or a window across the junction exists only in the cut
genome). A genome without N takes the unmasked path unchanged.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord

import dnahnet.trace as trace_mod
from dnahnet.tokenizer import encode
from dnahnet.trace import MASK_FLANK, StageTrack, StrandPass, Trace, mask_runs, non_acgt_runs
from interpret.analysis import analyze_boundaries
from interpret.annotations import annotate
from interpret.passes import PassTrack, pass_tracks, reading_order
from interpret.stats import enrichment_table
from tests.synthetic import make_genome, plant_boundaries

F = MASK_FLANK
RUN = 3_000  # nt of N inserted


# ------------------------------------------------------------------------------------------ the rule by hand


def test_runs_of_non_acgt_bases():
    ids = encode("ACGTNNACGTRYacgtN")  # IUPAC codes read as N
    assert non_acgt_runs(ids).tolist() == [[4, 6], [10, 12], [16, 17]]
    assert non_acgt_runs(encode("ACGT")).shape == (0, 2)


def test_mask_counts_by_hand():
    # two runs closer than 2F merge: [100 - F, 125 + F)
    m = mask_runs([[100, 110], [120, 125]], 300, circular=False)
    assert m.sum() == 25 + 2 * F and m[100 - F] and not m[99 - F] and m[124 + F] and not m[125 + F]
    # the ends of a linear record clip the flank; a circular record wraps it around the origin
    assert mask_runs([[0, 5]], 100, circular=False).sum() == 5 + F
    wrap = mask_runs([[0, 5]], 100, circular=True)
    assert wrap.sum() == 5 + 2 * F and wrap[100 - F:].all() and not wrap[99 - F]
    assert mask_runs([[95, 100]], 100, circular=True)[:F].all()
    assert mask_runs([[10, 20]], 30, circular=False).all() and not mask_runs([], 30, circular=True).any()
    assert mask_runs([[10, 20]], 100, circular=False, flank=0).sum() == 10


def test_trace_file_keeps_the_runs_and_reads_format_1(tmp_path):
    st = StageTrack(np.arange(50), np.zeros(50, np.float32), np.array([0, 7]), np.zeros(0, np.int64),
                    np.zeros((0, 2), np.float16))
    sp = StrandPass("r", "+", 50, False, [st], np.zeros(50, np.float32), n_runs=np.array([[20, 24]]))
    back = Trace.load(Trace([sp], {}).save(tmp_path / "t.npz")).passes[0]
    assert back.n_runs.tolist() == [[20, 24]] and back.masked().sum() == 4 + 2 * F
    # a format-1 file: no runs recorded; `record_non_acgt` fills them from the sequence
    z = dict(np.load(tmp_path / "t.npz"))
    header = json.loads(bytes(z.pop("header")).decode())
    header["format_version"] = 1
    del header["passes"][0]["n_runs_known"], z["p0_n_runs"]
    np.savez(tmp_path / "v1.npz", header=np.frombuffer(json.dumps(header).encode(), np.uint8), **z)
    old = Trace.load(tmp_path / "v1.npz")
    assert old.passes[0].n_runs is None and not old.passes[0].masked().any()
    assert old.record_non_acgt({"r": "A" * 20 + "NNRN" + "C" * 26}) == ["r"]
    assert old.passes[0].n_runs.tolist() == [[20, 24]]


# ------------------------------------------------------------------------- a genome with a long N run


def _gap_position(rec, margin: int) -> int:
    """A position at least `margin` nt from every feature (the middle of the widest gap between genes)."""
    covered = np.zeros(len(rec), bool)
    for f in rec.features:
        covered[int(f.location.start):int(f.location.end)] = True
    free = np.flatnonzero(~covered)
    runs = np.split(free, np.flatnonzero(np.diff(free) != 1) + 1)
    best = max(runs, key=len)
    assert len(best) > 2 * margin, "the synthetic genome needs a wide intergenic gap"
    return int(best[len(best) // 2])


def _with_topology(rec):
    rec.annotations = {"topology": "circular", "molecule_type": "DNA"}
    rec.id = rec.name = "SYN"
    return rec


@pytest.fixture(scope="module")
def base():
    rec = make_genome(9_000, 6, seed=3, gene_len=(300, 900), min_gap=300)
    return rec, _gap_position(rec, 2 * F + 40)


def _reading(x: np.ndarray, strand: str) -> np.ndarray:
    x = np.sort(x)
    return x[::-1].copy() if strand == "-" else x


def _insert_span(cut: Trace, x0: int, width: int, n_runs: np.ndarray) -> Trace:
    """The trace `cut` would be on the genome with `width` positions inserted at cut coordinate x0: every cut
    position keeps its values, the inserted span gets junk (boundaries every 2nd / 4th nt, ~23 bits per base)."""
    passes = []
    for sp in cut.passes:
        n = sp.length + width
        shift = lambda a: np.where(a < x0, a, a + width)  # noqa: E731 - cut coordinate -> genome coordinate
        span = np.arange(x0, x0 + width)
        b0 = _reading(np.concatenate([shift(sp.stages[0].boundaries), span[::2]]), sp.strand)
        b1 = _reading(np.concatenate([shift(sp.stages[1].boundaries), span[::4]]), sp.strand)
        pos0 = _reading(np.arange(n), sp.strand)
        stages = [StageTrack(p, np.full(p.size, 0.5, np.float32), b, np.zeros(0, np.int64),
                             np.zeros((0, 8), np.float16)) for p, b in ((pos0, b0), (b0, b1))]
        logprob = np.full(n, np.log(1e-7), np.float32)
        logprob[shift(np.arange(sp.length))] = sp.logprob
        passes.append(StrandPass(sp.record_id, sp.strand, n, sp.circular, stages, logprob, n_runs=n_runs))
    return Trace(passes, {"synthetic": True})


def _compare(rec, x: int, flank: int):
    """(trace and annotation of rec with N inserted at x, of rec with [x - flank, x + flank) cut out)."""
    rec_n = _with_topology(rec[:x] + SeqRecord(Seq("N" * RUN), id="SYN") + rec[x:])
    rec_cut = _with_topology(rec[:x - flank] + rec[x + flank:])
    ann_n, ann_cut = annotate(rec_n), annotate(rec_cut)
    cut = plant_boundaries(ann_cut, "codon3", rate_elsewhere=0.1, seed=5)
    for sp in cut.passes:
        sp.n_runs = non_acgt_runs(encode(str(rec_cut.seq)))  # recorded, and none
    runs = non_acgt_runs(encode(str(rec_n.seq)))
    assert runs.tolist() == [[x, x + RUN]]
    full = _insert_span(cut, x - flank, RUN + 2 * flank, runs)
    kept = np.flatnonzero(~full.passes[0].masked())
    for s in ("+", "-"):  # the annotation agrees wherever nothing is masked
        np.testing.assert_array_equal(ann_n.bits[s][kept], ann_cut.bits[s])
    return (full, ann_n), (cut, ann_cut)


def _tables(trace, ann):
    return analyze_boundaries(trace, {ann.record_id: ann}, n_null=40, n_boot=40, n_null_baselines=20, seed=2)


@pytest.mark.parametrize("flank", [None, 0], ids=["default flank", "flank 0"])
def test_n_run_gives_the_statistics_of_the_genome_without_it(base, flank, monkeypatch):
    if flank is not None:
        monkeypatch.setattr(trace_mod, "MASK_FLANK", flank)
    f = trace_mod.MASK_FLANK
    rec, x = base
    (full, ann_n), (cut, ann_cut) = _compare(rec, x, f)

    s_full, s_cut = full.summary(), cut.summary()
    for a, b in zip(s_full, s_cut):
        assert a["nt_masked"] == RUN + 2 * f and b["nt_masked"] == 0
        assert a["scored_nt"] == b["scored_nt"] == b["nt"]
        assert a["bits_per_nt"] == pytest.approx(b["bits_per_nt"], rel=1e-6)
        assert a["bits_per_nt"] < 2.1  # unmasked, the run would read ~23 bits per base
    raw = -np.nanmean(full.passes[0].logprob) / np.log(2)
    assert raw > s_full[0]["bits_per_nt"] + 5

    r_full, r_cut = _tables(full, ann_n), _tables(cut, ann_cut)
    for name in ("enrichment", "codon_profile", "codon_tests", "paper_comparison", "periodicity",
                 "periodicity_spectrum"):
        pd.testing.assert_frame_equal(r_full[name].df, r_cut[name].df, obj=name)
    same = ~r_full["baselines"].df["chunker"].str.startswith("random")
    pd.testing.assert_frame_equal(r_full["baselines"].df[same], r_cut["baselines"].df[same])
    assert r_full.settings["masked_nt"] == RUN + 2 * f and r_cut.settings["masked_nt"] == 0
    note = [p for p in r_full.problems if "non-ACGT" in p]
    assert len(note) == 1 and f"{RUN:,} non-ACGT bases" in note[0] and f"{RUN + 2 * f:,} positions" in note[0]
    # no chunk that touches the run is measured
    lengths = r_full["chunk_length_summary"].df
    assert lengths["max"].max() < RUN


# ---------------------------------------------------------------------------- a genome without N


def test_genome_without_n_takes_the_unmasked_path(base):
    rec, _ = base
    ann = annotate(rec)
    tr = plant_boundaries(ann, "codon3", rate_elsewhere=0.1, seed=5)
    for sp in tr.passes:
        sp.n_runs = non_acgt_runs(encode(str(rec.seq)))
        assert sp.n_runs.shape == (0, 2) and not sp.masked().any()
    for stage in (0, 1):
        new = pass_tracks(tr, {ann.record_id: ann}, stage)
        old = []  # the pass tracks as built before masking existed: every router position, no cut coordinates
        for sp in tr.passes:
            st = sp.stages[stage]
            coord = reading_order(st.positions, sp.strand)
            is_b = np.zeros(sp.length, bool)
            is_b[st.boundaries] = True
            old.append(PassTrack(sp.record_id, sp.strand, stage, sp.length, coord, is_b[coord],
                                 ann.bits[sp.strand][coord]))
        for a, b in zip(new, old):
            assert a.kept_coord is a.coord and a.kept_length == a.length
            np.testing.assert_array_equal(a.coord, b.coord)
        pd.testing.assert_frame_equal(enrichment_table(new, ann.classes, n_boot=50),
                                      enrichment_table(old, ann.classes, n_boot=50), check_exact=True)
    row = tr.summary()[0]
    assert row["nt_masked"] == 0 and row["scored_nt"] == row["nt"]
    assert row["bits_per_nt"] == float(np.nanmean(tr.passes[0].surprisal_bits()))  # exactly the old mean


# ----------------------------------------------------------------------------------- inference, CLIs


def test_inference_records_runs_and_the_summary_masks_them():
    from dnahnet.infer import analyze
    from tests.test_infer import local_model, random_dna

    seq = random_dna(600, seed=4)
    seq = seq[:200] + "N" * 100 + seq[300:]
    trace = analyze(seq, local_model(), strands="both", window=512, margin=128, cache=False)
    for sp in trace.passes:
        assert sp.n_runs.tolist() == [[200, 300]]
    rows = trace.summary()
    for row in rows:
        assert row["nt_masked"] == 100 + 2 * F
        assert row["scored_nt"] == 600 - 1 - (100 + 2 * F)  # the first base read has no log-probability
    region = analyze(seq, local_model(), strands="+", region=(250, 600), window=512, margin=128,
                     cache=False).summary()[0]
    assert region["nt_masked"] == 300 + F - 250


def test_stats_cli_prints_masked_count_for_a_format_1_trace(base, tmp_path, capsys):
    from Bio import SeqIO

    from interpret.analysis import main

    rec, x = base
    (full, _), _ = _compare(rec, x, F)
    rec_n = _with_topology(rec[:x] + SeqRecord(Seq("N" * RUN), id="SYN") + rec[x:])
    SeqIO.write(rec_n, tmp_path / "g.gb", "genbank")
    for sp in full.passes:
        sp.n_runs = None  # as a trace written before format 2: the CLI reads the runs from the genome
    full.meta = {}
    tpath = full.save(tmp_path / "t.npz")
    assert main([str(tpath), str(tmp_path / "g.gb"), "--out", str(tmp_path / "out"), "--n-null", "20",
                 "--no-baselines"]) == 0
    out = capsys.readouterr().out
    assert f"masked: {RUN + 2 * F:,} positions" in out
    assert f"masked_nt={RUN + 2 * F}" in (tmp_path / "out" / "README.txt").read_text()


def test_evaluation_leaves_out_tiles_with_n(tmp_path):
    from dnahnet.data import Corpus, EncodedRecord, validation_windows
    from dnahnet.evaluate import heldout_windows, markov_baselines, scored_tiles
    from dnahnet.markov import MarkovModel

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, 64 * 10).astype(np.uint8)
    ids[100:110] = 4  # inside tile 1 (positions 64..127) of the forward strand, tile 8 of the reverse one
    corpus = Corpus([EncodedRecord("t", "t1", rng.integers(0, 4, 3000).astype(np.uint8))],
                    [EncodedRecord("v", "v1", ids)])
    tiles = validation_windows(corpus.valid, 63)
    keep = scored_tiles(tiles)
    assert keep.sum() == len(tiles) - 2 and not keep[1] and not keep[10 + 8]
    windows, masked = heldout_windows(corpus, 63)
    assert masked == {"v": 2 * 63} and len(windows["v"]) == len(tiles) - 2
    result = markov_baselines(corpus, 63, None, 3, cache_dir=tmp_path, log=lambda *a: None)
    direct = MarkovModel.fit([corpus.train[0].ids], 3).bits_per_nt(tiles[keep], 2)
    assert result["bits"]["v"][2] == pytest.approx(direct)
