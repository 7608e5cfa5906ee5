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
    from tests.synthetic import make_genome, trace_for

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
    assert [fig.layout[k].title.text for k in _yaxes(fig)] == [
        "Features", "Boundaries<br>per nt", "p (boundary)", "Surprisal<br>(bits)", "GC %<br>(81 nt)"]
    # the boundaries row: one line per stage and strand pass, named as users read stages
    assert [t.name for t in fig.data if t.yaxis == "y2"] == ["Stage 1 +", "Stage 1 -", "Stage 2 +", "Stage 2 -"]


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
    assert len(_yaxes(fig)) == 7  # + the sequence and translation rows
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


def test_a_view_inside_a_loaded_margin(synthetic):
    """The figure loads the region, shows the view, and pans/zooms along x only (one axis for every row)."""
    rec, ann, tr = synthetic
    f = ann.features[(ann.features["type"] == "CDS") & (ann.features["strand"] == 1)].iloc[0]
    lo = int(f["start"]) - 30
    fig = F.genome_tracks(tr, annotation=ann, sequence=rec.seq, region=(lo - 120, lo + 240), view=(lo, lo + 120))
    assert tuple(fig.layout.xaxis.range) == (lo + 0.5, lo + 120.5)
    assert (fig.layout.xaxis.minallowed, fig.layout.xaxis.maxallowed) == (lo - 119.5, lo + 240.5)
    assert len(next(t for t in fig.data if t.name == "sequence").text) == 360  # letters of the margin too
    assert fig.layout.dragmode == "pan" and "120 nt" in fig.layout.title.text
    layout = fig.layout.to_plotly_json()
    ys = [k for k in layout if k.startswith("yaxis")]
    assert all(layout[k].get("fixedrange") for k in ys)  # the wheel zooms x, not the rows
    matches = [layout[k].get("matches") for k in layout if k.startswith("xaxis")]
    assert matches.count(None) == 1 and len(set(matches) - {None}) == 1  # every row follows one x-axis
    wide = F.genome_tracks(tr, annotation=ann, sequence=rec.seq, region=(0, 12_000), view=(4000, 8000))
    p_traces = [t for t in wide.data if t.name and t.name.startswith("Stage") and "pass" in t.name]
    assert all(len(t.x) == 4800 for t in p_traces)  # 1600 bins over the view, 4800 over what is loaded
    with pytest.raises(ValueError, match="outside the region"):
        F.genome_tracks(tr, annotation=ann, region=(0, 1000), view=(2000, 3000))


def test_labels_placed_where_they_fit():
    """Known layout: a label shows inside its feature, else in free space of its lane, never over another label."""
    from interpret.figures_tracks import place_labels

    starts, ends = [0, 100, 200, 400, 240, 260], [100, 110, 210, 1000, 250, 270]
    lanes, widths = [0, 0, 0, 0, 1, 1], [50, 40, 60, 100, 30, 30]
    # A fits; B's label would cover A; C's sits in free space; D fits; E free; F's would cover E's label
    assert place_labels(starts, ends, lanes, widths).tolist() == [True, False, True, True, True, False]
    assert place_labels([], [], [], []).tolist() == []


def test_feature_labels_follow_the_scale():
    """Names drawn at 1 nt/px all fit; at 10 nt/px alpha's name no longer fits and would cover b: hover only."""
    from types import SimpleNamespace

    from interpret.figures_tracks import PLOT_PX, label_width, place_labels

    feats = pd.DataFrame({"type": ["CDS", "CDS", "CDS"], "start": [0, 310, 2000], "end": [300, 330, 2300],
                          "strand": [1, 1, 1], "name": ["alpha", "b", "gammaaaa"], "locus_tag": ["a1", "b1", "c1"],
                          "product": ["", "", ""]})
    names = feats["name"].tolist()
    starts, ends = feats["start"].to_numpy(), feats["end"].to_numpy()
    assert label_width("alpha", 1.0) == 5 * 6.5 + 6
    near = place_labels(starts, ends, [0, 0, 0], [label_width(t, 1.0) for t in names])
    far = place_labels(starts, ends, [0, 0, 0], [label_width(t, 10.0) for t in names])
    assert near.tolist() == [True, True, True] and far.tolist() == [False, False, True]
    ann = SimpleNamespace(features=feats, length=20_000, record_id="X", codon_pos=None)
    shown = lambda fig: list(next((t.text for t in fig.data if t.name == "feature labels"), ()))  # noqa: E731
    assert shown(F.genome_tracks(None, annotation=ann, region=(0, 2400), view=(0, PLOT_PX), rows=("features",))) \
        == ["alpha", "b", "gammaaaa"]
    assert shown(F.genome_tracks(None, annotation=ann, region=(0, 20_000), view=(0, 10 * PLOT_PX),
                                 rows=("features",))) == ["gammaaaa"]


def _cds_record(seq: str, location: str, **qualifiers):
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    start, end = (int(x) for x in location.strip("complement()").split(".."))
    loc = FeatureLocation(start - 1, end, strand=-1 if location.startswith("complement") else 1)
    feature = SeqFeature(loc, type="CDS", qualifiers={k: [str(v)] for k, v in {"gene": "hw", **qualifiers}.items()})
    return SeqRecord(Seq(seq), id="HW", features=[feature])


def test_three_frames_known_translation():
    from interpret.translation import three_frames

    t = three_frames("ATGAAATTTTGA", 0, 12, 1)
    by = {f: "".join(t[t["frame"] == f]["aa"]) for f in range(3)}
    assert by == {0: "MKF*", 1: "*NF", 2: "EIL"}  # ATG AAA TTT TGA · TGA AAT TTT · GAA ATT TTG
    assert list(t[t["frame"] == 0]["kind"]) == ["start", "", "", "stop"]
    r = three_frames("TCAAAATTTCAT", 0, 12, -1)  # the same gene on the reverse strand
    read = r[r["frame"] == 11 % 3].sort_values("start", ascending=False)
    assert "".join(read["aa"]) == "MKF*" and list(read["centre"]) == [11, 8, 5, 2]


@pytest.mark.parametrize("strand", [1, -1])
def test_translation_row_marks_the_cds_frame(strand):
    """A hand-written CDS (ATG AAA TTT TGA) on either strand: its codons read M K F * in the frame of its first
    base, are marked as CDS codons with the start and the stop, and the row shows that strand's three frames."""
    from interpret.figures_tracks import translation_codons

    gene = "ATGAAATTTTGA"
    rc = gene[::-1].translate(str.maketrans("ACGT", "TGCA"))
    seq = "CC" + (gene if strand > 0 else rc) + "GGTAC"
    rec = _cds_record(seq, "3..14" if strand > 0 else "complement(3..14)")
    codons = translation_codons(rec, 0, len(seq), strands=("+",))
    assert set(codons["strand"]) == {strand}  # the gene's strand only
    own = codons[codons["in_cds"]].sort_values("start", ascending=strand > 0)
    assert "".join(own["aa"]) == "MKF*" and list(own["kind"]) == ["start", "", "", "stop"]
    first = 2 if strand > 0 else 13  # 0-based first base in the reading direction
    assert set(own["frame"]) == {first % 3}
    assert list(own["centre"]) == ([4, 7, 10, 13] if strand > 0 else [13, 10, 7, 4])  # middle bases, 1-based
    fig = F.genome_tracks(None, sequence=rec, rows=("translation",))
    sign = "+" if strand > 0 else "−"
    assert [t.name for t in fig.data if t.name.startswith("frame")] == [f"frame {sign}{k}" for k in (1, 2, 3)]
    lane = next(t for t in fig.data if t.name == f"frame {sign}{first % 3 + 1}")
    dark = [a for a, c in zip(lane.text, lane.textfont.color) if c == "#111111"]
    assert "".join(dark if strand > 0 else dark[::-1]) == "MKF*"
    start = next(t for t in fig.data if t.name == "start codons")
    xs = [x for x in start.x if x is not None]
    assert (min(xs), max(xs)) == ((2.5, 5.5) if strand > 0 else (11.5, 14.5))


def test_translation_follows_the_cds_qualifiers():
    """/transl_table 4 reads TGA as W; /codon_start 2 shifts the frame; GTG starts read M; no CDS: the forward
    frames, and the reverse ones too when the − pass is shown."""
    from interpret.figures_tracks import translation_codons

    rec = _cds_record("ATGTGATAA", "1..9", transl_table=4)
    own = translation_codons(rec, 0, 9).query("in_cds")
    assert "".join(own["aa"]) == "MW*"
    rec = _cds_record("CGTGAAATAA", "1..10", codon_start=2)
    own = translation_codons(rec, 0, 10).query("in_cds")
    assert "".join(own["aa"]) == "VK*" and set(own["frame"]) == {1}  # 5' partial: GTG stays V
    rec = _cds_record("GTGAAATAA", "1..9")
    assert "".join(translation_codons(rec, 0, 9).query("in_cds")["aa"]) == "MK*"
    bare = "ATGAAATTTTGA"
    assert set(translation_codons(bare, 0, 12, strands=("+",))["strand"]) == {1}
    assert set(translation_codons(bare, 0, 12, strands=("+", "-"))["strand"]) == {1, -1}
    assert not translation_codons(bare, 0, 12)["in_cds"].any()


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
    from interpret import figures_variants as FV
    from interpret.render import figure_to_bytes

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
    png = figure_to_bytes(fig, "png", backend="matplotlib")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------- rates, stars, axes,
# feature-map labels and palette (issue 15: honest labels and figure fixes)


def test_each_panel_names_what_its_rate_counts_over(report):
    """Stage 1 counts per nucleotide; the enrichment charts count Stage 2 per Stage-1 chunk start; baselines,
    metagene and levels count every stage per nucleotide — and each figure says which."""
    titles = lambda fig: [a.text for a in fig.layout.annotations]  # noqa: E731
    for value in ("fold", "rate"):
        t = titles(F.enrichment_bars(report.enrichment.df, value))
        assert "per nucleotide" in t[0] and "per Stage-1 chunk start" in t[1]
    assert "per Stage-1 chunk start" in titles(F.codon_position_bars(report.codon_profile.df))[1]
    assert all("per nucleotide" in t for t in titles(F.baseline_bars(report.baselines.df))[:2])
    assert "per nucleotide" in F.metagene_profiles(report.metagene.df).layout.yaxis.title.text
    lv = F.levels_comparison(report)
    assert "per nucleotide" in lv.layout.yaxis.title.text and "per nucleotide" in titles(lv)[0]
    assert style.rate_label(1) == "Stage-2 boundaries per Stage-1 chunk start"
    assert style.rate_label(1, per_nucleotide=True) == "Stage-2 boundaries per nucleotide"
    assert style.rate_label(0) == "Stage-1 boundaries per nucleotide"


def test_per_nucleotide_rates_two_ways_agree_and_nest(report):
    """The model's rows of the baselines table (scored per nucleotide) equal the rates made from the enrichment
    table alone (Stage-s boundaries ÷ the class's Stage-1 positions), and Stage 2 never exceeds Stage 1."""
    from interpret.figures_stats import per_nucleotide_enrichment

    a = per_nucleotide_enrichment(report.enrichment.df, report.baselines.df)
    b = per_nucleotide_enrichment(report.enrichment.df)
    m = a.merge(b, on=["stage", "strand", "class"]).dropna(subset=["rate_x"])
    assert len(m) > 10
    assert np.allclose(m["rate_x"], m["rate_y"]) and np.allclose(m["fold_x"], m["fold_y"])
    wide = a.pivot_table(index=["strand", "class"], columns="stage", values="rate")
    assert (wide[1] <= wide[0] + 1e-12).all()
    e = report.enrichment.df  # per Stage-1 chunk start, Stage 2 is ~50%: more than Stage 1 per nucleotide
    both = e[(e["strand"] == "both") & (e["class"] == "intergenic")].set_index("stage")["rate"]
    assert both[1] > both[0] and wide.loc[("both", "intergenic")][1] < wide.loc[("both", "intergenic")][0]


def test_stars_sit_above_the_error_bar_caps(report):
    e = report.enrichment.df.copy()
    e["q_shift"] = np.where(e["class"] == "cds_pos3", 0.0005, 0.5)
    fig = F.enrichment_bars(e)
    bar = next(t for t in fig.data if t.type == "bar")
    stars = next(t for t in fig.data if t.type == "scatter" and t.mode == "text")
    i = list(bar.x).index(style.class_label("cds_pos3"))
    assert stars.text[i] == "***" and stars.textposition == "top center"  # anchored at its bottom edge ...
    assert stars.y[i] == pytest.approx(bar.y[i] + bar.error_y.array[i])  # ... on the cap
    assert fig.layout.yaxis.range[1] > max(stars.y)  # with room above for the star
    b = report.baselines.df.copy()
    b["q_shift"] = np.where(b["class"] == "cds_pos3", 0.0005, 0.5)
    fig = F.baseline_bars(b)
    model = next(t for t in fig.data if t.name == "model Stage 1")
    mark = next(t for t in fig.data if t.name == "model Stage 1 significance")
    j = list(model.x).index(style.class_label("cds_pos3"))
    assert not model.text and mark.text[j] == "***" and mark.textposition == "outside"
    assert mark.offsetgroup == model.offsetgroup  # the same slot of the group as the model's bar
    assert mark.y[j] == pytest.approx(model.y[j] + model.error_y.array[j])
    from interpret.render import _text_anchor

    assert _text_anchor("top center") == ("center", "bottom") and _text_anchor("middle right") == ("left", "center")


def test_periodicity_axis_ends_at_the_data(report):
    fig = F.periodicity_spectrum(report.periodicity_spectrum.df, report.periodicity.df)
    xs = np.concatenate([np.asarray(t.x, float) for t in fig.data])
    lo, hi = fig.layout.xaxis.range
    assert (lo, hi) == pytest.approx((np.log10(xs.min()), np.log10(xs.max())))
    assert all(xs.min() <= v <= xs.max() for v in fig.layout.xaxis.tickvals)


def test_metagene_title_fits_the_export_width(report):
    fig = F.metagene_profiles(report.metagene.df)
    title = fig.layout.title.text
    # a generous 0.62 em per character at the title's font size, beside the 80 + 30 px margins
    assert len(title) * 0.62 * (style.FONT_SIZE + 3) < style.WIDTH - 110


def test_feature_map_labels_fit_inside_and_never_overlap(synthetic):
    import itertools

    from interpret.featuremap import feature_map, label_fits

    rec, ann, tr = synthetic
    assert label_fits(1000, "abc", 1000) and not label_fits(100, "abcdefgh", 1000)
    for width in (12.0, 5.0):
        fig = feature_map(ann, (0, 12_000), tr, width_in=width)
        r = fig.canvas.get_renderer()
        texts = [t for t in fig.axes[0].texts if t.get_text()]
        boxes = [t.get_window_extent(r) for t in texts]
        assert not [(a.get_text(), b.get_text()) for (a, x), (b, y) in itertools.combinations(zip(texts, boxes), 2)
                    if x.overlaps(y)]
        if width == 5.0:  # 2,800 nt per inch: no 4-letter name fits in a gene of at most 1.2 kb
            assert not texts


def _lab(hex_color: str, cvd=None) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB colour, optionally through a Machado et al. (2009) colour-vision simulation."""
    c = np.array([int(hex_color.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if cvd is not None:
        lin = np.clip(cvd @ lin, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    f = [np.cbrt(t) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz / np.array([0.95047, 1.0, 1.08883])]
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])


@pytest.mark.parametrize("vision,least", [(None, 20.0), (DEUTERANOPIA, 12.0), (PROTANOPIA, 12.0)])
def test_class_colours_are_pairwise_distinguishable(vision, least):
    """Every pair of class colours is at least `least` apart (CIE76 ΔE), for normal vision and simulated
    deuteranopia / protanopia; codon position 1, RBS and start codons were near-identical oranges before."""
    import itertools

    from interpret.annotations import CLASSES

    assert _lab("#FFFFFF")[0] == pytest.approx(100, abs=0.1) and _lab("#000000")[0] == pytest.approx(0, abs=0.1)
    labs = {c: _lab(style.class_color(c), vision) for c in CLASSES}
    worst = min((float(np.linalg.norm(labs[a] - labs[b])), a, b) for a, b in itertools.combinations(CLASSES, 2))
    assert worst[0] >= least, worst
    old = {"cds_pos1": "#E69F00", "rbs": "#B8860B", "start_codon": "#D55E00"}  # the colours users confused
    assert np.linalg.norm(_lab(old["start_codon"], DEUTERANOPIA) - _lab(old["rbs"], DEUTERANOPIA)) < least
