"""Boundary logos: a motif planted at chunk starts gives 2 bits on a uniform background and ~0 elsewhere, on either
pass; windows, classes, the KL heights against logomaker's, the long table and the figure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnahnet.tokenizer import encode, reverse_complement
from dnahnet.trace import StageTrack, StrandPass, Trace
from interpret.logos import (boundary_logos, count_matrix, information_matrix, logo_figure, logo_table,
                             probability_matrix, selection_logo, site_windows)

MOTIF = "TGCA"
N_SITES = 400
ALL = (("all", "All boundaries"),)


def planted(strand: str, length: int = 24_000, seed: int = 0) -> tuple[str, Trace, np.ndarray]:
    """A uniform random record whose `strand` pass reads MOTIF at N_SITES chunk starts (one stage)."""
    rng = np.random.default_rng(seed)
    read = rng.choice(list("ACGT"), size=length)
    starts = np.sort(rng.choice(np.arange(20, length - 30, 40), N_SITES, replace=False)).astype(np.int64)
    for s in starts:
        read[s:s + len(MOTIF)] = list(MOTIF)
    read = "".join(read)
    if strand == "+":
        seq, b, pos = read, starts, np.arange(length, dtype=np.int64)
    else:
        # reading order on "-": descending record coordinates
        seq, b, pos = reverse_complement(read), length - 1 - starts, np.arange(length, dtype=np.int64)[::-1].copy()
    st = StageTrack(pos, np.full(length, 0.5, np.float32), b, np.zeros(0, np.int64), np.zeros((0, 2), np.float16))
    return seq, Trace([StrandPass("r", strand, length, False, [st], np.zeros(length, np.float32))]), b


@pytest.mark.parametrize("strand", ["+", "-"])
def test_planted_motif_is_two_bits_on_a_uniform_background(strand):
    seq, trace, _ = planted(strand)
    (logo,) = boundary_logos(trace, {"r": seq}, groups=ALL, background=[0.25] * 4)
    assert logo.n_sites == N_SITES and logo.label == f"Stage 1 · All boundaries (n = {N_SITES})"
    height = logo.bits.sum(axis=1)
    assert height.loc[0:3].tolist() == pytest.approx([2.0] * 4)
    assert height.drop(index=range(0, 4)).max() < 0.05
    p = logo.probability
    assert [p.loc[i].idxmax() for i in range(4)] == list(MOTIF)  # read in the pass's direction, also on "-"
    # against the record's own composition (slightly richer in the motif's bases) still close to 2 bits
    (own,) = boundary_logos(trace, {"r": seq}, groups=ALL)
    assert own.bits.sum(axis=1).loc[0:3].min() > 1.8


def test_both_passes_pool_and_selection_matches():
    seq, trace, b = planted("-", seed=1)
    (logo,) = boundary_logos(trace, {"r": seq}, groups=ALL)
    sel = selection_logo(seq, b, "-", title="chosen")
    pd.testing.assert_frame_equal(sel.counts, logo.counts)
    assert sel.label == f"chosen (n = {N_SITES})"
    pd.testing.assert_series_equal(sel.background, logo.background, check_names=False)


def test_site_windows_read_direction_and_edges():
    ids = encode("AACGTTGCAT")
    win, kept = site_windows(ids, [3, 3], ["+", "-"], flank=2)
    # "+" at 3 reads record 1..5; "-" at 3 reads record 5, 4, 3, 2, 1 complemented: T T G C A -> A A C G T
    assert win.tolist() == [list(encode("ACGTT")), list(encode("AACGT"))] and kept.all()
    win, kept = site_windows(ids, [0, 9], "+", flank=2)
    assert kept.tolist() == [False, False] and win.shape == (0, 5)
    win, kept = site_windows(ids, [0], "+", flank=2, circular=True)
    assert win.tolist() == [list(encode("ATAAC"))]
    with pytest.raises(ValueError, match="positions"):
        site_windows(ids, [10], "+", flank=2)


def test_information_matrix_matches_logomaker():
    import logomaker

    rng = np.random.default_rng(0)
    counts = pd.DataFrame(rng.integers(0, 50, (7, 4)), index=pd.RangeIndex(-3, 4), columns=list("ACGT"))
    bg = np.array([0.3, 0.2, 0.2, 0.3])
    ours = information_matrix(counts, bg)
    theirs = logomaker.transform_matrix(probability_matrix(counts), from_type="probability", to_type="information",
                                        background=bg)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), atol=1e-6)
    assert count_matrix(np.array([[0, 4, 3]]), flank=1).to_numpy().tolist() == [[1, 0, 0, 0], [0, 0, 0, 0],
                                                                                [0, 0, 0, 1]]
    with pytest.raises(ValueError, match="background"):
        information_matrix(counts, [0.5, 0.5, 0, 0])


def test_class_groups_at_start_codons():
    from interpret.annotations import annotate
    from tests.synthetic import make_genome, plant_boundaries

    rec = make_genome(20_000, 20, seed=5, gene_len=(300, 600))
    ann = annotate(rec)
    trace = plant_boundaries(ann, "start", rate_elsewhere=0.02, seed=0)
    logos = boundary_logos(trace, {rec.id: str(rec.seq)}, {rec.id: ann}, stages=[0])
    by_group = {lg.group: lg for lg in logos}
    assert set(by_group) == {"all", "cds_pos1", "cds_pos2", "cds_pos3", "start_codon", "intergenic"}
    start = by_group["start_codon"]
    assert start.n_sites >= 20  # every start codon is a planted boundary
    p = start.probability
    assert p.loc[1, "T"] > 0.8 and p.loc[2, "G"] > 0.8  # ATG / GTG / TTG read on the gene's strand
    assert by_group["all"].n_sites > start.n_sites
    table = logo_table(logos)
    assert len(table) == len(logos) * 21 * 4
    assert set(table["group_label"]) >= {"All boundaries", "Start codon"}
    assert (table.groupby(["group", "position"])["probability"].sum().round(9) == 1).all()


def test_logo_figure_titles_state_the_sites():
    from interpret.figures_vocabulary import boundary_logo_grid

    seq, trace, _ = planted("+")
    logos = boundary_logos(trace, {"r": seq}, groups=ALL, background=[0.25] * 4)
    fig = logo_figure(logos, title="planted")
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()]
    assert titles == [f"Stage 1 · All boundaries (n = {N_SITES})"]
    assert fig.axes[0].get_ylim()[1] >= 2.0
    grid = boundary_logo_grid(logos)
    assert len([ax for ax in grid.axes if ax.get_visible()]) == 1
    with pytest.raises(ValueError, match="no logo"):
        logo_figure([])


def test_sites_near_non_acgt_runs_are_left_out():
    seq, trace, b = planted("+", seed=2)
    x = int(b[10])
    seq = seq[:x + 5] + "NN" + seq[x + 7:]  # inside the window of site 10: its site is masked (16-nt flanks)
    (logo,) = boundary_logos(trace, {"r": seq}, groups=ALL)
    assert logo.n_sites == N_SITES - 1 and logo.counts.sum(axis=1).eq(N_SITES - 1).all()
