"""Chunk vocabulary: known top strings, counts, consistency, entropy, class enrichment and the k-mer baseline on
hand-built traces; invariants on a synthetic genome with planted boundaries; the CLI on a saved trace."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from dnahnet.tokenizer import reverse_complement
from dnahnet.trace import StageTrack, StrandPass, Trace
from interpret.annotations import BIT, CLASSES, RecordAnnotation
from interpret.vocabulary import chunk_strings, chunk_vocabulary, main

# read as "ACGTTCACGATTAACGTTCGATTAACGC": ACG is always one chunk (4 of 4 occurrences); TT in 2 of 4 (the others
# sit inside ATTA / GATTA); GATTA once exact, once with a boundary inside (ACG|ATTA); the last C is cut by the end
TOKENS = ["ACG", "TT", "C", "ACG", "ATTA", "ACG", "TT", "C", "GATTA", "ACG", "C"]


def token_pass(tokens, strand="+", record_id="r") -> tuple[str, StrandPass]:
    """A record whose `strand` pass reads "".join(tokens) with one boundary at each token start (one stage)."""
    read = "".join(tokens)
    n = len(read)
    starts = np.cumsum([0] + [len(t) for t in tokens[:-1]]).astype(np.int64)
    if strand == "+":
        seq, b, pos = read, starts, np.arange(n, dtype=np.int64)
    else:
        seq, b, pos = reverse_complement(read), n - 1 - starts, np.arange(n, dtype=np.int64)[::-1].copy()
    st = StageTrack(pos, np.full(n, 0.5, np.float32), b, np.zeros(0, np.int64), np.zeros((0, 2), np.float16))
    return seq, StrandPass(record_id, strand, n, False, [st], np.zeros(n, np.float32))


def vocab_of(tokens, strand="+", **kw):
    seq, sp = token_pass(tokens, strand)
    return chunk_vocabulary(Trace([sp]), {"r": seq}, **kw)


def test_top_strings_counts_shares_and_entropy():
    v = vocab_of(TOKENS)
    top = v.top.df
    assert list(zip(top["string"], top["count"])) == [("ACG", 4), ("C", 2), ("TT", 2), ("ATTA", 1), ("GATTA", 1)]
    assert top["share"].tolist() == pytest.approx([0.4, 0.2, 0.2, 0.1, 0.1])
    assert top["length"].tolist() == [3, 1, 2, 4, 5]
    s = v.summary.df.iloc[0]
    p = np.array([0.4, 0.2, 0.2, 0.1, 0.1])
    assert s["n_chunks"] == 10 and s["vocabulary_size"] == 5
    assert s["entropy_bits"] == pytest.approx(float(-(p * np.log2(p)).sum()))  # 2.1219
    assert s["mean_length"] == pytest.approx(27 / 10)
    assert s["stage_label"] == "Stage 1"
    # the lengths shuffled cut the same 27 nt into 10 chunks again
    shuffled = v.rank_frequency.df[v.rank_frequency.df["source"] == "shuffled lengths"]
    assert shuffled["share"].sum() == pytest.approx(1.0) and s["shuffled_draws"] == 3
    assert 0 < s["shuffled_entropy_bits"] <= np.log2(10)


def test_consistency_content_versus_context():
    top = vocab_of(TOKENS).top.df.set_index("string")
    assert top.loc["ACG", "consistency"] == 1.0 and top.loc["ACG", "n_occurrences"] == 4
    assert top.loc["TT", "consistency"] == 0.5 and top.loc["TT", "n_occurrences"] == 4
    # C occurs 7 times; the last reaches the end of the sequence and is not counted: 2 exact of 6
    assert (top.loc["C", "n_occurrences"], top.loc["C", "n_exact"]) == (6, 2)
    assert top.loc["GATTA", ["n_occurrences", "n_exact", "n_split"]].tolist() == [2, 1, 1]
    assert top.loc["ATTA", ["n_occurrences", "n_exact", "n_split"]].tolist() == [2, 1, 0]  # once inside GATTA
    assert (top["n_exact"] == top["count"]).all()  # every chunk is an exact occurrence of its string


def test_reverse_pass_reads_reverse_complements():
    seq, sp = token_pass(TOKENS, "-")
    assert seq != "".join(TOKENS)
    strings, starts = chunk_strings(sp, seq, 0)
    assert strings.tolist() == TOKENS[:-1]
    assert np.all(np.diff(starts) < 0)  # reading order on "-" is descending record coordinates
    plus, minus = vocab_of(TOKENS, "+"), vocab_of(TOKENS, "-")
    pd.testing.assert_frame_equal(plus.top.df, minus.top.df)
    pd.testing.assert_frame_equal(plus.summary.df, minus.summary.df)


def test_kmer_baseline_entropy_and_counts():
    v = vocab_of(["AC", "AC", "AC", "AC"])  # ACACACAC: 3 chunks AC (the last is cut by the end)
    s = v.summary.df.iloc[0]
    assert (s["n_chunks"], s["vocabulary_size"], s["entropy_bits"]) == (3, 1, 0.0)
    assert v.top.df.iloc[0]["consistency"] == 1.0  # AC at 0, 2, 4 (the one at 6 reaches the end)
    # all chunks have length 2, so the baseline is the 2-mer distribution over every position: AC 4, CA 3
    p = np.array([4, 3]) / 7
    assert s["kmer_entropy_bits"] == pytest.approx(float(-(p * np.log2(p)).sum()))
    assert s["kmer_vocabulary_size"] == 2
    assert (s["shuffled_entropy_bits"], s["shuffled_vocabulary_size"]) == (0.0, 1)  # equal lengths: same cuts
    k2 = v.kmers.df[v.kmers.df["k"] == 2]
    assert list(zip(k2["kmer"], k2["count"])) == [("AC", 4), ("CA", 3)]
    lengths = v.kmer_lengths.df.set_index("k")
    assert lengths.loc[2, ["n_positions", "n_distinct"]].tolist() == [7, 2]
    rf = v.rank_frequency.df
    assert rf[rf["source"] == "model"]["share"].tolist() == [1.0]
    assert rf[rf["source"] == "k-mer baseline"]["share"].tolist() == pytest.approx(p.tolist())


def _annotation(length: int, start_codon_at) -> RecordAnnotation:
    """Start codon class at the given positions, intergenic everywhere else (both strands)."""
    bits = np.full(length, 1 << BIT["intergenic"], dtype=np.uint16)
    bits[list(start_codon_at)] = 1 << BIT["start_codon"]
    return RecordAnnotation("r", length, False, {"+": bits, "-": bits.copy()},
                            {"+": np.zeros(length, np.int8), "-": np.zeros(length, np.int8)},
                            pd.DataFrame(columns=["type", "start", "end", "strand", "name", "locus_tag", "product",
                                                  "parts"]), {}, [], CLASSES)


def test_class_enrichment_fold_and_fisher():
    seq, sp = token_pass(TOKENS)
    acg_starts = [0, 6, 13, 24]
    v = chunk_vocabulary(Trace([sp]), {"r": seq}, {"r": _annotation(len(seq), acg_starts)})
    c = v.top_classes.df.set_index(["string", "class"])
    start = c.loc[("ACG", "start_codon")]
    assert (start["n_string"], start["n_in_class"], start["stage_share_in_class"]) == (4, 4, 0.4)
    assert start["fold"] == pytest.approx(2.5)
    # hypergeometric: all 4 ACG chunks among the 4 start-codon chunks of 10 has probability 1/C(10,4) = 1/210
    assert start["p_fisher"] == pytest.approx(2 / 210)
    inter = c.loc[("ACG", "intergenic")]
    assert inter["fold"] == 0.0 and inter["p_fisher"] == pytest.approx(2 / 210)  # none of 4 among the other 6
    tt = c.loc[("TT", "start_codon")]  # 0 of 2 where 4 of 10 are start codons: P(X = 0) = C(6,2) / C(10,2)
    assert tt["p_fisher"] == pytest.approx(min(1.0, 2 * 15 / 45))
    assert c.loc[("TT", "start_codon"), "fold"] == 0.0
    from interpret.nulls import bh_adjust

    assert v.top_classes.df["q_bh"].tolist() == pytest.approx(bh_adjust(v.top_classes.df["p_fisher"]).tolist())
    assert "none" not in set(v.top_classes.df["class"])  # no chunk starts without a class here
    text = v.top.df.set_index("string").loc["ACG", "start_classes"]
    assert text == "Start codon 100% (×2.50)"


def test_planted_genome_invariants():
    from interpret.annotations import annotate
    from tests.synthetic import make_genome, plant_boundaries

    rec = make_genome(6000, 5, seed=3, gene_len=(300, 600))
    ann = annotate(rec)
    trace = plant_boundaries(ann, "codon3", rate_elsewhere=0.1, seed=1)
    v = chunk_vocabulary(trace, {rec.id: str(rec.seq)}, {rec.id: ann}, top=15)
    for stage in (0, 1):
        every = Counter(s for sp in trace.passes for s in chunk_strings(sp, str(rec.seq), stage)[0])
        top = v.top.df[v.top.df["stage"] == stage]
        assert len(top) == 15
        assert [every[s] for s in top["string"]] == top["count"].tolist()
        assert top["count"].is_monotonic_decreasing
        assert (top["n_exact"] == top["count"]).all() and (top["consistency"] <= 1).all()
        counts = np.array(list(every.values()), float)
        p = counts / counts.sum()
        s = v.summary.df.set_index("stage").loc[stage]
        assert s["entropy_bits"] == pytest.approx(float(-(p * np.log2(p)).sum()))
        assert s["vocabulary_size"] == len(every)
    # codon position 3 is planted on every CDS: its fold among frequent strings that start there is above 1
    c3 = v.top_classes.df[(v.top_classes.df["class"] == "cds_pos3") & (v.top_classes.df["stage"] == 0)]
    assert (c3["fold"] > 1).any()


def test_rank_frequency_figure():
    from interpret.figures_vocabulary import vocabulary_rank_frequency

    fig = vocabulary_rank_frequency(vocab_of(TOKENS).rank_frequency.df)
    assert [t.name for t in fig.data] == ["Stage 1 chunks", "Stage 1 lengths, k-mers", "Stage 1 lengths shuffled"]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert fig.data[1].line.dash == "dash"


def test_bad_input_is_refused_with_a_message():
    seq, sp = token_pass(TOKENS)
    with pytest.raises(ValueError, match="another genome"):
        chunk_vocabulary(Trace([sp]), {"r": seq + "A"})
    with pytest.raises(ValueError, match="top"):
        chunk_vocabulary(Trace([sp]), {"r": seq}, top=0)
    with pytest.raises(ValueError, match="no pass"):
        chunk_vocabulary(Trace([sp]), {"other": seq})


def test_cli_on_a_saved_trace(tmp_path, capsys):
    from Bio import SeqIO

    from interpret.annotations import annotate
    from tests.synthetic import make_genome, plant_boundaries

    rec = make_genome(3000, 3, seed=4, gene_len=(300, 600), record_id="syn1")
    gb = tmp_path / "g.gbk"
    SeqIO.write([rec], gb, "genbank")
    trace_path = plant_boundaries(annotate(rec), "codon3", seed=2).save(tmp_path / "t.npz")
    out = tmp_path / "out"
    assert main([str(gb), "--trace", str(trace_path), "--top", "5", "--formats", "", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Stage 1:" in printed and "Stage 2:" in printed
    top = pd.read_csv(out / "vocabulary_top.csv")
    assert len(top) == 10 and set(top["stage"]) == {0, 1}
    for name in ("vocabulary_classes", "vocabulary_summary", "vocabulary_rank_frequency", "vocabulary_kmers",
                 "vocabulary_kmer_lengths", "boundary_logos"):
        assert (out / f"{name}.csv").stat().st_size > 0
    assert main([str(gb), "--trace", str(trace_path), "--record", "nope", "--out", str(out)]) == 2


@pytest.mark.parametrize("strand", ["+", "-"])
def test_chunks_near_non_acgt_runs_are_left_out(strand):
    # NNNN at 60..63 (reading order); the mask (`StrandPass.masked`, 16 nt flanks) covers 44..79: 6 ACG chunks on
    # each side and the NNNN chunk go, 14 + 14 ACG chunks stay, and every clear occurrence of ACG is one chunk
    v = vocab_of(["ACG"] * 20 + ["NNNN"] + ["ACG"] * 20 + ["T"], strand)
    top = v.top.df
    assert top["string"].tolist() == ["ACG"] and top["count"].tolist() == [28]
    assert top["consistency"].tolist() == [1.0] and top["n_occurrences"].tolist() == [28]
    assert v.kmer_lengths.df.set_index("k").loc[3, "n_positions"] == 44 - 2 + (125 - 80) - 2
