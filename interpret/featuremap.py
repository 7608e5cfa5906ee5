"""Publication-style feature map of a region (dna_features_viewer, matplotlib) with each stage's boundaries below.

Feature names are written inside their arrows, and only where they fit (`label_fits`): the viewer's leader-line
labels pile up and overlap in a dense region, so a name that does not fit is left to the hover of the browser.

dna_features_viewer lays out every feature it is given, so it is slow on whole genomes: the region is
cropped first and limited to `MAX_REGION` nt. The x-axis counts bases from 1 (as in `figures_tracks`):
the base at 0-based i is centred on i + 1 and a chunk edge e sits at e + 0.5.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402  (rc_context only: no pyplot global figures, thread-safe)
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from interpret.figures_tracks import ARROW_TYPES, visible_features  # noqa: E402
from interpret.style import feature_color, mpl_rc, stage_color, stage_label  # noqa: E402

MAX_REGION = 100_000
MAX_LABELS = 60
LABEL_FONT_PT = 8
CHAR_WIDTH_EM = 0.62  # mean width of a DejaVu Sans character, in font sizes (a little over, so labels fit)
AXES_WIDTH = 0.85  # share of the figure's width the map's axes take (less the lane labels)


def label_fits(span_nt: float, label: str, nt_per_inch: float) -> bool:
    """Whether `label` written inside a feature of `span_nt` nucleotides fits there (with the viewer's padding)."""
    text_in = (len(label) + 3) * CHAR_WIDTH_EM * LABEL_FONT_PT / 72  # the viewer pads the text inside the arrow
    return span_nt / nt_per_inch >= text_in


def _graphic_features(feats, lo: int, hi: int, width_in: float):
    """GraphicFeatures of the region; a feature is labelled only when its name fits inside it (labels are drawn
    inline, never above with leader lines, so no two labels can overlap), at most MAX_LABELS of them."""
    from dna_features_viewer import GraphicFeature

    nt_per_inch = (hi - lo) / (width_in * AXES_WIDTH)
    out, n_labels = [], 0
    for _, r in feats.iterrows():
        s, e = max(int(r["start"]), lo), min(int(r["end"]), hi)
        name = str(r.get("name") or "") or str(r.get("locus_tag") or "")
        name = "" if name in ("nan", "None") else name
        arrow = r["type"] in ARROW_TYPES
        label = name if (name and arrow and n_labels < MAX_LABELS and label_fits(e - s, name, nt_per_inch)) else None
        n_labels += label is not None
        out.append(GraphicFeature(start=s + 0.5, end=e + 0.5, strand=int(np.sign(r["strand"])) if arrow else 0,
                                  color=feature_color(r["type"]), thickness=12 if arrow else 7, linewidth=0.6,
                                  label=label, fontdict={"fontsize": LABEL_FONT_PT},
                                  open_left=int(r["start"]) < lo, open_right=int(r["end"]) > hi))
    return out


def feature_map(annotation, region: tuple[int, int], trace=None, record_id: str | None = None, stages=None,
                strands=("+", "-"), width_in: float = 12.0, title: str | None = None):
    """matplotlib Figure: features of `annotation` (a RecordAnnotation or a features DataFrame) in `region`
    (0-based half-open), and under it one row of boundary ticks per stage and strand pass of `trace`."""
    from dna_features_viewer import GraphicRecord

    lo, hi = int(region[0]), int(region[1])
    if not 0 <= lo < hi:
        raise ValueError(f"region {region} is empty: need 0 <= start < end")
    if hi - lo > MAX_REGION:
        raise ValueError(f"region of {hi - lo:,} nt is too long for a feature map (at most {MAX_REGION:,} nt): "
                         f"zoom in first")
    features = getattr(annotation, "features", annotation)
    feats = visible_features(features, lo, hi)
    passes = []
    if trace is not None:
        record_id = record_id or getattr(annotation, "record_id", None) or trace.record_ids[0]
        passes = [trace.get(record_id, d) for d in strands
                  if any(sp.record_id == record_id and sp.strand == d for sp in trace.passes)]
        stages = list(range(trace.n_stages)) if stages is None else list(stages)
    lanes = [(s, sp) for s in (stages or []) for sp in passes]
    with plt.rc_context(mpl_rc()):
        record = GraphicRecord(sequence_length=hi + 1, features=_graphic_features(feats, lo, hi, width_in),
                               first_index=0)
        fig = Figure(figsize=(width_in, 2.0 + 0.25 * len(lanes)))
        FigureCanvasAgg(fig)  # dna_features_viewer measures text with the canvas renderer
        axes = fig.subplots(2 if lanes else 1, 1, sharex=True, squeeze=False,
                            gridspec_kw={"height_ratios": [1.8, max(0.5, 0.25 * len(lanes))] if lanes else [1]})
        ax_f = axes[0, 0]
        record.plot(ax=ax_f, with_ruler=not lanes, x_lim=(lo + 0.5, hi + 0.5), annotate_inline=True)
        ax_f.grid(False)
        if lanes:
            ax_b = axes[1, 0]
            for j, (s, sp) in enumerate(lanes):
                b = np.asarray(sp.stages[s].boundaries)
                b = b[(b >= lo) & (b < hi)]
                edge = (b if sp.strand == "+" else b + 1) + 0.5
                ax_b.vlines(edge, -j - 0.38, -j + 0.38, color=stage_color(s), linewidth=0.8 if hi - lo > 2000 else 1.2,
                            alpha=1.0 if sp.strand == "+" else 0.7)
            ax_b.set_yticks([-j for j in range(len(lanes))],
                            [f"{stage_label(s)} {sp.strand}" for s, sp in lanes])
            ax_b.set_ylim(-len(lanes) + 0.4, 0.6)
            ax_b.grid(False)
            ax_b.spines["left"].set_visible(False)
            ax_b.tick_params(axis="y", length=0)
            ax_b.set_xlim(lo + 0.5, hi + 0.5)
            ax_b.set_xlabel(f"Position on {record_id or getattr(annotation, 'record_id', 'record')} (nt, 1-based)")
            ax_b.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{int(v):,}"))
        name = record_id or getattr(annotation, "record_id", "")
        fig.suptitle(title or f"{name} {lo + 1:,}–{hi:,}", x=0.01, ha="left", fontsize=11)
        fig.tight_layout()
    return fig


__all__ = ["feature_map", "MAX_REGION"]
