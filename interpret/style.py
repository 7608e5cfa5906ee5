"""One palette and one typography for every figure, export and app page.

Colours are keyed by name (class, stage, strand, feature type, base, baseline chunker) so that a class
looks the same in the genome browser, the enrichment bars, the UMAP and the report. Code counts stages
from 0; users read "Stage 1" / "Stage 2" (the paper's names), via `stage_label`.
Okabe-Ito based: distinguishable with the common colour-vision deficiencies, readable on white.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # plotly loads when a figure is styled: the statistics modules use the labels here without it
    import plotly.graph_objects as go

# ---- classes (keys = interpret.annotations.CLASSES) ----
# Okabe-Ito and Paul Tol colours chosen so that every pair of classes stays apart (CIE76 ΔE ≥ 20 for normal
# vision, ≥ 12 under simulated deuteranopia and protanopia; tests/test_figures.py checks it): the codon triad
# orange / sky blue / green, start codons black, RBS sand, promoters blues, RNAs red-green-olive, intergenic grey.
CLASS_COLORS: dict[str, str] = {
    "cds_pos1": "#E69F00", "cds_pos2": "#56B4E9", "cds_pos3": "#009E73",
    "start_codon": "#000000", "stop_codon": "#CC79A7", "rbs": "#DDCC77",
    "promoter_35": "#0072B2", "promoter_10": "#332288", "tss": "#882255",
    "rRNA": "#EE6677", "tRNA": "#117733", "other_RNA": "#999933", "intergenic": "#BBBBBB",
    # aggregates that analysis tables may add
    "coding": "#5D8AA8", "cds": "#5D8AA8", "global": "#5A5A5A", "all": "#5A5A5A", "genome": "#5A5A5A",
}
NO_CLASS_COLOR = "#E3E3E3"  # a chunk start with no class on its pass's strand (latent scatter)
CODON_POS_COLORS: dict[int, str] = {0: "#BBBBBB", 1: CLASS_COLORS["cds_pos1"], 2: CLASS_COLORS["cds_pos2"],
                                    3: CLASS_COLORS["cds_pos3"]}

# ---- stages and strands ----
STAGE_COLORS: tuple[str, ...] = ("#1B6CA8", "#C4452D", "#6A3D9A", "#33A02C")
STRAND_COLORS: dict[str, str] = {"+": "#2C7FB8", "-": "#D95F0E"}
STRAND_DASH: dict[str, str] = {"+": "solid", "-": "dot"}
STRAND_LABELS: dict[str, str] = {"+": "+ strand pass", "-": "− strand pass"}

# ---- chunkers compared in enrichment figures (the model takes its stage colour) ----
BASELINE_COLORS: dict[str, str] = {
    "fixed3": "#A6A6A6", "fixed_3": "#A6A6A6", "fixed-3": "#A6A6A6",
    "fixed6": "#6E6E6E", "fixed_6": "#6E6E6E", "fixed-6": "#6E6E6E",
    "random": "#CFCFCF", "random_lengths": "#CFCFCF", "shuffled": "#CFCFCF",
}

# ---- genome browser ----
FEATURE_COLORS: dict[str, str] = {
    "CDS": "#5D8AA8", "gene": "#B0B0B0", "rRNA": CLASS_COLORS["rRNA"], "tRNA": CLASS_COLORS["tRNA"],
    "ncRNA": CLASS_COLORS["other_RNA"], "tmRNA": CLASS_COLORS["other_RNA"], "misc_RNA": CLASS_COLORS["other_RNA"],
    "other_RNA": CLASS_COLORS["other_RNA"], "RNA": CLASS_COLORS["other_RNA"],
    "promoter": CLASS_COLORS["promoter_35"], "-35_signal": CLASS_COLORS["promoter_35"],
    "-10_signal": CLASS_COLORS["promoter_10"], "promoter_35": CLASS_COLORS["promoter_35"],
    "promoter_10": CLASS_COLORS["promoter_10"], "tss": CLASS_COLORS["tss"], "TSS": CLASS_COLORS["tss"],
    "RBS": CLASS_COLORS["rbs"], "rbs": CLASS_COLORS["rbs"], "regulatory": "#0072B2",
}
BASE_COLORS: dict[str, str] = {"A": "#1A9850", "C": "#2166AC", "G": "#E08214", "T": "#C51B7D", "N": "#999999"}
GC_COLOR = "#4D4D4D"
SURPRISAL_COLORS: dict[str, str] = {"+": "#5E3C99", "-": "#B2ABD2"}

# ---- paper references ----
PAPER_CODON_STAGE1 = (6.5, 42.6, 58.4)  # % boundaries at codon positions 1/2/3, Stage 1 (code stage 0)

# ---- typography and layout ----
FONT_FAMILY = "Inter, Helvetica Neue, Helvetica, Arial, sans-serif"
FONT_SIZE = 13
TEMPLATE = "plotly_white"
WIDTH = 1280  # the width figures are designed (and exported) for
GRID_COLOR = "#E5E5E5"


def stage_label(stage: int) -> str:
    """'Stage 1' for code stage 0: users read the paper's 1-based names."""
    return f"Stage {int(stage) + 1}"


def rate_basis(stage: int) -> str:
    """What a boundary rate of `stage` counts over, as the statistics tables compute it: the stage's router input.
    Stage 1 reads every nucleotide; Stage 2 reads only Stage-1 chunk starts ("per Stage-1 chunk start")."""
    return "per nucleotide" if int(stage) == 0 else f"per {stage_label(int(stage) - 1).replace(' ', '-')} chunk start"


def rate_label(stage: int, per_nucleotide: bool = False) -> str:
    """'Stage-2 boundaries per Stage-1 chunk start' (the stage's input) or 'Stage-2 boundaries per nucleotide':
    the one name of each of the two rates, for axes, table headers and captions."""
    basis = "per nucleotide" if per_nucleotide else rate_basis(stage)
    return f"{stage_label(stage).replace(' ', '-')} boundaries {basis}"


def stage_color(stage: int) -> str:
    return STAGE_COLORS[int(stage) % len(STAGE_COLORS)]


def class_color(cls: str) -> str:
    return CLASS_COLORS.get(str(cls), "#7F7F7F")


def class_label(cls: str) -> str:
    """User-facing class name (from interpret.annotations when present, else the key tidied)."""
    try:
        from interpret.annotations import CLASS_LABELS
    except Exception:  # noqa: BLE001 - a palette must not fail because a sibling module is broken
        CLASS_LABELS = {}
    extra = {"coding": "Coding (all CDS)", "cds": "Coding (all CDS)", "global": "Genome-wide",
             "all": "Genome-wide", "genome": "Genome-wide",
             "none": "No class on this strand (e.g. in a gene on the other strand)"}
    return CLASS_LABELS.get(cls) or extra.get(cls) or str(cls).replace("_", " ")


def baseline_color(name: str) -> str:
    key = str(name).lower().replace(" ", "_")
    for k, c in BASELINE_COLORS.items():
        if key.startswith(k):
            return c
    return "#8C8C8C"


def feature_color(ftype: str) -> str:
    return FEATURE_COLORS.get(str(ftype), "#8C8C8C")


_TEMPLATE_NAME = "dnahnet"


def template_name() -> str:
    """Register (once) and name the house template: plotly_white + our font, grid and hover label."""
    import plotly.graph_objects as go
    import plotly.io as pio

    if _TEMPLATE_NAME not in pio.templates:
        t = go.layout.Template(pio.templates[TEMPLATE])
        t.layout.font = dict(family=FONT_FAMILY, size=FONT_SIZE, color="#222222")
        t.layout.hoverlabel = dict(font=dict(family=FONT_FAMILY, size=FONT_SIZE - 1))
        t.layout.xaxis.update(gridcolor=GRID_COLOR, zeroline=False)
        t.layout.yaxis.update(gridcolor=GRID_COLOR, zeroline=False)
        pio.templates[_TEMPLATE_NAME] = t
    return _TEMPLATE_NAME


def apply_layout(fig: go.Figure, title: str | None = None, height: int | None = None,
                 legend: bool = True, legend_rows: int = 1) -> go.Figure:
    """House style: white template, one font, title on the first line, a horizontal legend on the next
    (`legend_rows` rows of entries), then the plot (and its subplot titles); margins that fit 1280 px."""
    height = int(height or fig.layout.height or 450)
    has_subtitles = any(a.yref == "paper" and (a.y or 0) >= 0.99 for a in (fig.layout.annotations or ()))
    title_px = 40 if title else 10
    legend_px = 24 * legend_rows if legend else 0
    top = title_px + legend_px + (28 if has_subtitles else 8)
    fig.update_layout(
        template=template_name(), height=height,
        title=dict(text=title, x=0.01, xanchor="left", y=1.0, yref="container", yanchor="top", pad=dict(t=12),
                   font=dict(size=FONT_SIZE + 3)) if title else None,
        margin=dict(l=80, r=30, t=top, b=55),
        legend=dict(orientation="h", yref="container", y=1.0 - title_px / height, yanchor="top", xanchor="left",
                    x=0.01, font=dict(size=FONT_SIZE - 1)),
        showlegend=legend,
    )
    return fig


def mpl_rc() -> dict:
    """matplotlib rcParams matching the plotly style (for featuremap and the export fallback)."""
    return {"font.family": ["DejaVu Sans"], "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
            "axes.grid": True, "grid.color": GRID_COLOR, "axes.edgecolor": "#888888", "axes.titlesize": 10,
            "legend.frameon": False, "svg.fonttype": "none"}
