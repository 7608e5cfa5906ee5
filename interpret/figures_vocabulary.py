"""Figures of the chunk vocabulary (`interpret.vocabulary`) and the boundary logos (`interpret.logos`).

`vocabulary_rank_frequency` is plotly (house layout of `interpret.style`): rank against share of chunks, log-log,
one solid line per stage for the model, a dashed one for its k-mer baseline of the same lengths (exact distribution)
and a dotted one for the same sequence cut with the chunk lengths shuffled (same sample size as the model).
`boundary_logo_grid` is matplotlib (logomaker): a row per stage, a column per site group, sites in each title.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from interpret.logos import Logo, logo_figure
from interpret.style import apply_layout, stage_color, stage_label


def vocabulary_rank_frequency(df: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Zipf plot of `Vocabulary.rank_frequency.df` (stage, source, rank, share): model solid, k-mers dashed,
    shuffled lengths dotted."""
    fig = go.Figure()
    for stage in sorted(df["stage"].unique()):
        for source, dash, width in (("model", "solid", 2.5), ("k-mer baseline", "dash", 1.5),
                                    ("shuffled lengths", "dot", 1.5)):
            d = df[(df["stage"] == stage) & (df["source"] == source)]
            if d.empty:
                continue
            name = f"{stage_label(stage)} " + {"model": "chunks", "k-mer baseline": "lengths, k-mers",
                                               "shuffled lengths": "lengths shuffled"}[source]
            fig.add_trace(go.Scatter(
                x=d["rank"], y=d["share"], mode="lines", name=name,
                line=dict(color=stage_color(stage), dash=dash, width=width),
                hovertemplate=f"{name}<br>rank %{{x:,}}<br>share %{{y:.3g}}<extra></extra>"))
    fig.update_xaxes(type="log", title_text="Rank of the string (1 = most frequent)")
    fig.update_yaxes(type="log", title_text="Share of chunks", exponentformat="power")
    return apply_layout(fig, title or "Chunk vocabulary: rank against frequency (model chunks; k-mers of the same "
                        "lengths; the sequence cut with the lengths shuffled)", height=480)


def boundary_logo_grid(logos: list[Logo], title: str | None = None):
    """matplotlib Figure: the logos of `interpret.logos.boundary_logos`, a row per stage and a column per group."""
    if not logos:
        raise ValueError("no logo to draw (no sites)")
    groups = list(dict.fromkeys(lg.group for lg in logos))
    stages = list(dict.fromkeys(lg.stage for lg in logos))
    by_key = {(lg.stage, lg.group): lg for lg in logos}
    ordered = [by_key.get((s, g)) for s in stages for g in groups]
    if any(lg is None for lg in ordered):  # a group missing in one stage: draw them in order, no grid
        return logo_figure(logos, ncols=min(len(groups), 3), title=title or _LOGO_TITLE)
    return logo_figure(ordered, ncols=len(groups), title=title or _LOGO_TITLE)


_LOGO_TITLE = ("Sequence around chunk boundaries (±10 nt, read in each pass's direction; bits against the "
               "background composition)")

__all__ = ["vocabulary_rank_frequency", "boundary_logo_grid"]
