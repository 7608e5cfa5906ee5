"""Figures of the model as a variant scorer (`dnahnet.scoring`): the saturation-mutagenesis heat map (positions x
4 bases of a region, or codons x 20 amino acids + stop of a CDS) under a per-position mean-effect track.

Position runs along x, as in the genome browser, so the map reads like a track; the colour scale is diverging and
centred on 0 (red = the model finds the mutant less likely, blue = more likely), symmetric so that equal effects
look equally strong either way. The wild-type cell of each row scores 0 by construction and is outlined.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpret.style import GRID_COLOR, apply_layout, stage_color, stage_label

EFFECT_SCALE = "RdBu"  # low (negative) = red: less likely than the reference
MEAN_COLOR = "#333333"


def mean_effect(sat, column: str = "score") -> np.ndarray:
    """Per row (position or residue) of a `dnahnet.Saturation`: the mean of `column` over the changes of that row,
    the wild-type cell left out (it is 0 by construction)."""
    m = sat.matrix(column)
    wt = _wild_type_mask(sat)
    m = np.where(wt, np.nan, m)
    with np.errstate(all="ignore"):
        return np.nanmean(m, axis=1) if m.size else np.zeros(0)


def boundary_churn(table: pd.DataFrame, stage: int) -> pd.Series:
    """Per scored variant: Stage `stage` (0-based) boundaries gained plus lost, both strands (NaN without the
    boundary response columns)."""
    s = stage + 1
    cols = [f"s{s}_{w}_{d}" for w in ("gained", "lost") for d in ("plus", "minus")]
    cols = [c for c in cols if c in table.columns]
    if not cols:
        return pd.Series(np.nan, index=table.index)
    return table[cols].astype(float).sum(axis=1, min_count=1)


def _wild_type_mask(sat) -> np.ndarray:
    labels = np.asarray([str(x) for x in sat.row_labels])[:, None]
    return labels == np.asarray(sat.columns, dtype=str)[None, :]


def boundary_x(sat, boundaries, coords=None) -> np.ndarray:
    """Chunk boundaries (0-based forward positions) as x values of the heat map: position + 1 for a region; for a
    CDS (`coords`: `Cds.coords`, the forward position of each base in reading order) residue + codon position / 3,
    so a boundary sits at the base of the codon where it falls. Boundaries outside the map are dropped."""
    b = np.asarray(boundaries, np.int64)
    if sat.kind != "cds":
        lo, hi = sat.rows[0], sat.rows[-1]
        x = b + 1
        return x[(x >= lo) & (x <= hi)].astype(float)
    where = {int(c): i for i, c in enumerate(np.asarray(coords)[:3 * len(sat.rows)])}
    return np.array([where[p] // 3 + 1 + (where[p] % 3) / 3 - 1 / 3 for p in b.tolist() if p in where], float)


def saturation_heatmap(sat, column: str = "score", values: np.ndarray | None = None, label: str | None = None,
                       title: str | None = None, boundaries: dict | None = None) -> go.Figure:
    """Heat map of a `dnahnet.Saturation` (x = position / residue, y = base / amino acid) under its mean-effect
    track. `values` (n_rows, n_columns) replaces the table column (e.g. boundary churn); `label` names it.
    `boundaries`: {row label: x values (see `boundary_x`)} of the reference's chunk boundaries, drawn as ticks
    between the two, e.g. {"Stage 1, + pass": ...}."""
    m = sat.matrix(column) if values is None else np.asarray(values, float)
    cds = sat.kind == "cds"
    what = "residue" if cds else "position"
    label = label or ("log-likelihood ratio (nats)" if column == "score" else column)
    x = list(sat.rows)
    text = [[f"{what} {r} ({wt}) → {c}" for r, wt in zip(sat.rows, sat.row_labels)] for c in sat.columns]
    finite = np.abs(m[np.isfinite(m)])
    zmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    zmax = zmax if zmax > 0 else 1.0
    diverging = values is None or np.nanmin(m, initial=0.0) < 0
    ticks = {k: v for k, v in (boundaries or {}).items()}
    n = 3 if ticks else 2
    heights = [0.2, 0.04 + 0.04 * len(ticks), 0.72 - 0.04 * len(ticks)] if ticks else [0.22, 0.78]
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=0.03)
    mean = np.nanmean(np.where(_wild_type_mask(sat), np.nan, m), axis=1) if m.size else np.zeros(0)
    fig.add_trace(go.Bar(x=x, y=mean, marker_color=MEAN_COLOR, name="mean effect", showlegend=False,
                         hovertemplate=f"{what} %{{x}}: mean %{{y:.3f}}<extra></extra>"), row=1, col=1)
    ys = list(range(len(sat.columns)))  # numeric rows (ticks name them): every trace shares one y scale
    fig.add_trace(go.Heatmap(
        x=x, y=ys, z=m.T, text=text, colorscale=EFFECT_SCALE if diverging else "Viridis",
        zmid=0 if diverging else None, zmin=-zmax if diverging else 0, zmax=zmax, xgap=0, ygap=0,
        colorbar=dict(title=dict(text=label, side="right"), len=heights[-1], y=heights[-1] / 2, yanchor="middle",
                      thickness=14),
        hovertemplate="%{text}<br>" + label + ": %{z:.3f}<extra></extra>"), row=n, col=1)
    for i, (name, xs) in enumerate(ticks.items()):
        stage = 1 if str(name).startswith(stage_label(1)) else 0
        fig.add_trace(go.Scatter(x=list(xs), y=[i] * len(xs), mode="markers", name=name, showlegend=False,
                                 marker=dict(symbol="line-ns-open", size=12, color=stage_color(stage),
                                             line=dict(width=1.5)),
                                 hovertemplate=f"{name}: chunk starts at %{{x}}<extra></extra>"), row=2, col=1)
    if ticks:
        fig.update_yaxes(row=2, col=1, tickmode="array", tickvals=list(range(len(ticks))), ticktext=list(ticks),
                         range=[len(ticks) - 0.5, -0.5], showgrid=False, zeroline=False, tickfont=dict(size=10))
    wt_cols = {str(c): i for i, c in enumerate(sat.columns)}
    wx = [r for r, wt in zip(sat.rows, sat.row_labels) if str(wt) in wt_cols]
    wy = [wt_cols[str(wt)] for wt in sat.row_labels if str(wt) in wt_cols]
    fig.add_trace(go.Scatter(x=wx, y=wy, mode="markers", name="wild type", hoverinfo="skip",
                             marker=dict(symbol="square-open", size=7, color="#000", line=dict(width=1))),
                  row=n, col=1)
    fig.update_yaxes(title_text="mean", row=1, col=1, gridcolor=GRID_COLOR, zeroline=True, zerolinecolor="#999")
    fig.update_yaxes(title_text="amino acid" if cds else "base", row=n, col=1, autorange="reversed",
                     tickmode="array", tickvals=ys, ticktext=[str(c) for c in sat.columns], showgrid=False)
    fig.update_xaxes(title_text=f"{what} (1 = first codon)" if cds else "position (1-based)", row=n, col=1)
    where = f"{sat.gene} ({sat.record})" if cds else f"{sat.record}:{sat.rows[0]:,}–{sat.rows[-1]:,}" if x else ""
    default = (f"Saturation mutagenesis of {where}: every codon × 20 amino acids + stop" if cds
               else f"Saturation mutagenesis of {where}: every position × the 3 other bases")
    height = (420 if not cds else 560) + 22 * len(ticks)
    return apply_layout(fig, title or default, height=height)


def boundary_churn_label(stage: int) -> str:
    return f"{stage_label(stage)} boundaries gained + lost"


__all__ = ["saturation_heatmap", "boundary_x", "mean_effect", "boundary_churn", "boundary_churn_label"]
