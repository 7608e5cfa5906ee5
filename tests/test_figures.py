"""Figures: the genome-track figure on a synthetic record (rows, traces, coordinates), binning, GC, the statistics
figures on a small BoundaryReport, the latent scatter, the feature map, and the palette."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interpret import figures as F
from interpret import style
from interpret.figures_tracks import bin_index


@pytest.fixture(scope="module")
def synthetic():
    """A 12-kb genome with 10 genes, its annotation, a trace with boundaries planted at codon position 3."""
    from interpret.annotations import annotate
    from interpret.synthetic import make_genome, trace_for

    rec = make_genome(12_000, 10, seed=2, n_trna=1)
    ann = annotate(rec)
    return rec, ann, trace_for(ann, "codon3", rate_elsewhere=0.2)


@pytest.fixture(scope="module")
def report(synthetic):
    from interpret.analysis import analyze_boundaries

    rec, ann, tr = synthetic
    return analyze_boundaries(tr, {rec.id: ann}, n_null=20, n_boot=20, n_null_baselines=10)


def _yaxes(fig) -> list[str]:
    return sorted(k for k in fig.layout.to_plotly_json() if k.startswith("yaxis"))


# ---------------------------------------------------------------------------------------------- tracks


def test_whole_record_tracks_have_the_expected_rows_and_traces(synthetic):
    rec, ann, tr = synthetic
    fig = F.genome_tracks(tr, annotation=ann, sequence=rec.seq)
    assert len(_yaxes(fig)) == 5  # features, boundaries, p, surprisal, GC (no letters at 12 kb)
    names = [t.name for t in fig.data]
    assert "CDS" in names and "tRNA" in names
    p_traces = [t for t in fig.data if t.name and t.name.startswith("Stage") and "pass" in t.name]
    assert len(p_traces) == 4  # 2 stages x 2 strand passes
    assert all(len(t.x) == 1600 for t in p_traces)  # binned to max_bins
    assert tuple(fig.layout.xaxis.range) == (0.5, 12_000.5)
    assert "Stage 1" in fig.layout.yaxis2.title.text or fig.layout.yaxis2.title.text.startswith("Boundaries")


def test_feature_arrows_span_the_gene(synthetic):
    rec, ann, tr = synthetic
    f = ann.features[ann.features["type"] == "CDS"].iloc[0]
    lo, hi = int(f["start"]) - 50, int(f["end"]) + 50
    fig = F.genome_tracks(tr, annotation=ann, region=(lo, hi), rows=("features",))
    cds = next(t for t in fig.data if t.name == "CDS")
    xs = np.array([x for x in cds.x if x is not None], dtype=float)
    assert xs.min() == f["start"] + 0.5 and xs.max() == f["end"] + 0.5  # bases centred on 1-based positions
    assert any(f["locus_tag"] in str(t) for t in cds.text)  # hover names the gene


def test_base_level_view_shows_letters_codon_positions_and_ticks(synthetic):
    rec, ann, tr = synthetic
    f = ann.features[(ann.features["type"] == "CDS") & (ann.features["strand"] == 1)].iloc[0]
    lo = int(f["start"]) - 30
    region = (lo, lo + 120)
    fig = F.genome_tracks(tr, annotation=ann, sequence=rec.seq, region=region)
    assert len(_yaxes(fig)) == 6  # + the sequence row
    letters = next(t for t in fig.data if t.name == "sequence")
    assert "".join(letters.text) == str(rec.seq[region[0]:region[1]])
    assert list(letters.x[:2]) == [lo + 1, lo + 2]
    codon = next(t for t in fig.data if t.name == "codon positions +")
    first = int(np.argmin(codon.x))
    assert codon.x[first] == f["start"] + 1 and codon.text[first] == "1"  # the start codon's first base
    sp = tr.get(rec.id, "+")
    b = np.asarray(sp.stages[0].boundaries)
    b = np.sort(b[(b >= region[0]) & (b < region[1])])
    ticks = next(t for t in fig.data if t.type == "scattergl" and t.mode == "lines" and t.text is not None
                 and "Stage 1 boundary, + pass" in t.text[0])
    assert np.allclose(np.asarray(ticks.x, float)[0::3], b + 0.5)  # a + chunk starts at the left edge of its base
    sm = tr.get(rec.id, "-")
    bm = np.asarray(sm.stages[0].boundaries)
    bm = np.sort(bm[(bm >= region[0]) & (bm < region[1])])
    ticks_m = next(t for t in fig.data if t.type == "scattergl" and t.mode == "lines" and t.text is not None
                   and "Stage 1 boundary, - pass" in t.text[0])
    assert np.allclose(np.asarray(ticks_m.x, float)[0::3], bm + 1.5)  # a - chunk starts at the right edge


def test_binning_and_gc_known_answers():
    edges = F.bin_edges(10, 20, 3)
    assert edges.tolist() == [10, 13, 16, 20]
    pos = np.arange(10, 20)
    assert np.array_equal(bin_index(pos, edges), np.searchsorted(edges, pos, side="right") - 1)
    assert np.allclose(F.binned(pos, pos.astype(float), edges), [11.0, 14.0, 17.5])
    assert np.allclose(F.binned(pos, pos.astype(float), edges, "max"), [12, 15, 19])
    _, gc = F.gc_track("GGGGAAAANN", 0, 10, window=3, length=10)
    assert np.allclose(gc[:8], [1, 1, 1, 2 / 3, 1 / 3, 0, 0, 0]) and gc[9] != gc[9]  # NaN: only N in the window


def test_annotation_only_view_and_bad_region(synthetic):
    rec, ann, _ = synthetic
    fig = F.genome_tracks(None, annotation=ann, sequence=rec.seq, region=(0, 3000))
    assert len(_yaxes(fig)) == 2  # features, GC
    with pytest.raises(ValueError, match="empty region"):
        F.genome_tracks(None, annotation=ann, region=(500, 500))


# ---------------------------------------------------------------------------------------------- statistics


def test_enrichment_bars_show_folds_intervals_and_stars(report):
    e = report.enrichment.df.copy()
    e["q_shift"] = np.where(e["class"] == "cds_pos3", 0.0005, 0.5)  # 20 null draws cannot reach q < 0.05
    fig = F.enrichment_bars(e)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.name for b in bars] == ["Stage 1", "Stage 2"]
    row = e[(e["stage"] == 0) & (e["strand"] == "both") & (e["class"] == "cds_pos3")].iloc[0]
    i = list(bars[0].x).index(style.class_label("cds_pos3"))
    assert bars[0].y[i] == pytest.approx(row["fold"]) and bars[0].y[i] > 2  # planted at codon position 3
    assert bars[0].error_y.array[i] == pytest.approx(row["fold_hi"] - row["fold"])
    assert bars[0].marker.color[i] == style.class_color("cds_pos3")
    stars = [t for t in fig.data if t.type == "scatter" and t.mode == "text"]
    assert len(stars) == 2 and stars[0].text[i] == "***" and "".join(stars[0].text) == "***"
    hover = bars[0].hovertext[i]  # effect size against the null beside q as people read it ("≤ floor" there)
    assert f"z = {row['shift_z']:+.1f} against the circular-shift null" in hover and row["q_shift_text"] in hover


def test_baseline_bars_put_the_model_beside_trivial_chunkers(report):
    fig = F.baseline_bars(report.baselines.df)
    names = {t.name for t in fig.data}
    assert {"model Stage 1", "fixed 3 nt", "fixed 6 nt"} <= names
    model = next(t for t in fig.data if t.name == "model Stage 1")
    assert model.marker.color == style.stage_color(0)


def test_codon_bars_carry_the_paper_reference(report):
    fig = F.codon_position_bars(report.codon_profile.df, report.codon_tests.df)
    ref = [t for t in fig.data if t.type == "scatter"]
    assert len(ref) == 1 and list(ref[0].y) == list(style.PAPER_CODON_STAGE1) and ref[0].xaxis == "x"
    stage1 = next(t for t in fig.data if t.type == "bar")
    assert stage1.y[2] > 90  # every codon position 3 was planted


def test_profile_figures(report):
    meta = F.metagene_profiles(report.metagene.df)
    assert any(t.fill == "tonexty" for t in meta.data)  # bootstrap bands
    assert {t.name for t in meta.data if t.showlegend is not False and t.name} == {"Stage 1", "Stage 2"}
    spec = F.periodicity_spectrum(report.periodicity_spectrum.df, report.periodicity.df)
    assert any(s.x0 == 3 for s in spec.layout.shapes)
    assert "× median" in spec.data[0].name
    lens = F.chunk_length_hist(report.chunk_lengths.df)
    assert len(lens.data) == 2 and np.isclose(sum(lens.data[0].y), 1.0)
    nest = F.nesting_counts_bars(report.nesting_counts.df)
    assert np.isclose(sum(nest.data[0].y), 1.0)
    lv = F.levels_comparison(report)
    assert len(_yaxes(lv)) == 4


def test_significance_marks():
    assert [F.significance_mark(q) for q in (0.0005, 0.005, 0.02, 0.2, float("nan"))] == ["***", "**", "*", "", ""]


def test_missing_columns_say_what_is_missing():
    with pytest.raises(ValueError, match="lacks column"):
        F.enrichment_bars(pd.DataFrame({"stage": [0], "class": ["tss"]}))


# ---------------------------------------------------------------------------------------------- latents, map, style


def test_latent_scatter_by_class_and_by_gc():
    table = pd.DataFrame({"record": "r", "strand": ["+", "-", "+", "+"], "stage": 0, "stage_label": "Stage 1",
                          "chunk": range(4), "start": [10, 20, 30, 40], "end": [13, 23, 36, 41], "length": [3, 3, 6, 1],
                          "class": ["cds_pos3", "cds_pos3", "start_codon", "intergenic"], "codon_pos": [3, 3, 1, 0],
                          "gc": [0.5, 0.2, 1.0, 0.0], "sequence": ["ATG", "GCA", "ATGAAA", "T"]})
    xy = np.arange(8, dtype=float).reshape(4, 2)
    fig = F.latent_scatter(table, xy, "class")
    assert sorted(t.name for t in fig.data) == ["CDS codon position 3 (2)", "Intergenic (1)", "Start codon (1)"]
    start = next(t for t in fig.data if t.name.startswith("Start"))
    assert start.customdata[0][1] == 30 and "r:31..36 (+)" in start.hovertext[0] and "ATGAAA" in start.hovertext[0]
    by_gc = F.latent_scatter(table, xy, "gc")
    assert len(by_gc.data) == 1 and by_gc.data[0].marker.showscale
    with pytest.raises(ValueError, match="color_by"):
        F.latent_scatter(table, xy, "colour")


def test_feature_map_crops_and_draws_each_stage(synthetic):
    from interpret.featuremap import feature_map

    rec, ann, tr = synthetic
    fig = feature_map(ann, (1000, 5000), tr)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["Stage 1 +", "Stage 1 -", "Stage 2 +",
                                                                     "Stage 2 -"]
    with pytest.raises(ValueError, match="too long"):
        feature_map(ann, (0, 200_001), tr)


def test_palette_covers_every_class_and_names_stages():
    from interpret.annotations import CLASSES

    assert style.stage_label(0) == "Stage 1" and style.stage_label(1) == "Stage 2"
    colours = [style.class_color(c) for c in CLASSES]
    assert len(set(colours)) == len(CLASSES)  # one distinct colour per class
    assert style.stage_color(0) != style.stage_color(1)


def _hand_saturation(kind: str = "cds"):
    """A 3-row saturation made by hand (no model): cell (row, col) scores -(row + col) / 10, the wild type 0."""
    from dnahnet.scoring import Saturation

    cols = list("ACDEFGHIKLMNPQRSTVWY*") if kind == "cds" else list("ACGT")
    wt = ["M", "A", "*"] if kind == "cds" else ["G", "A", "T"]
    rows = [1, 2, 3] if kind == "cds" else [101, 102, 103]
    cells = [(r, c, 0.0 if cols[c] == wt[r] else -(r + c) / 10) for r in range(3) for c in range(len(cols))]
    table = pd.DataFrame(cells, columns=["row", "col", "score"])
    table["s1_gained_plus"], table["s1_lost_minus"] = 1, 2
    return Saturation(kind, "R1", rows, wt, cols, table, "geneX" if kind == "cds" else None)


@pytest.mark.parametrize("kind", ["cds", "region"])
def test_saturation_heatmap_cells_wild_type_and_boundaries(kind):
    """The heat map puts cell (row, col) at (row's position, col's index), outlines each wild type, draws the mean
    of the changes (wild type left out) above and boundary ticks between; the matplotlib fallback renders it."""
    from interpret import exports
    from interpret import figures_variants as FV

    sat = _hand_saturation(kind)
    coords = np.arange(200, 209) if kind == "cds" else None
    ticks = {"Stage 1, + pass": FV.boundary_x(sat, [100, 101, 204, 500], coords)}
    fig = FV.saturation_heatmap(sat, boundaries=ticks)
    heat = next(t for t in fig.data if t.type == "heatmap")
    z = np.asarray(heat.z)
    assert z.shape == (len(sat.columns), 3) and list(heat.x) == sat.rows
    assert z[2, 1] == pytest.approx(-0.3)  # row 1, column 2
    wt = next(t for t in fig.data if t.name == "wild type")
    assert [sat.columns[int(y)] for y in wt.y] == sat.row_labels
    mean = next(t for t in fig.data if t.type == "bar")
    changes = [-c / 10 for c in range(len(sat.columns)) if sat.columns[c] != sat.row_labels[0]]
    assert mean.y[0] == pytest.approx(np.mean(changes))
    tick = next(t for t in fig.data if t.name == "Stage 1, + pass")
    assert list(tick.x) == ([2.0] if kind == "cds" else [101, 102])  # 204: residue 2's middle base
    churn = FV.boundary_churn(sat.table, 0)
    assert (churn == 3).all()
    png = exports.figure_to_bytes(fig, "png", backend="matplotlib")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
