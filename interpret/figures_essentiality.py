"""Figure of the stop-cassette essentiality screen (`dnahnet.essentiality`): ROC curves of the model and its
baselines on the same labelled genes, each named with its AUROC and bootstrap 95% interval."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dnahnet.essentiality import PREDICTORS, roc_points
from interpret.style import apply_layout, stage_color

BASELINE_LINES = (("#6E6E6E", "dash"), ("#B07D2B", "dashdot"), ("#4D9221", "longdash"))  # colour, dash


def essentiality_roc(table: pd.DataFrame, summary: pd.DataFrame, title: str | None = None) -> go.Figure:
    """ROC curve per row of `summary` (from `score_essentiality` or `evaluate`) over the genes of `table` with a
    label and every predictor finite (the genes the AUROCs were computed on); the diagonal is chance."""
    cols = list(summary["column"])
    ok = table["label"].notna() & np.isfinite(table[cols].to_numpy(float)).all(axis=1)
    y = table.loc[ok, "label"].to_numpy(bool)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", hoverinfo="skip",
                             line=dict(color="#999", width=1, dash="dot")))
    n_base = 0
    for _, r in summary.iterrows():
        fpr, tpr = roc_points(table.loc[ok, r["column"]].to_numpy(float), y)
        if r["column"] == PREDICTORS["dnahnet"]:
            line = dict(color=stage_color(0), width=2.5)
        else:
            color, dash = BASELINE_LINES[n_base % len(BASELINE_LINES)]
            line, n_base = dict(color=color, width=1.5, dash=dash), n_base + 1
        fig.add_trace(go.Scatter(
            x=fpr, y=tpr, mode="lines", line=line,
            name=f"{r['predictor']}: AUROC {r['auroc']:.3f} ({r['ci_low']:.3f}-{r['ci_high']:.3f})",
            hovertemplate=f"{r['predictor']}<br>FPR %{{x:.3f}}, TPR %{{y:.3f}}<extra></extra>"))
    fig.update_xaxes(title_text="False positive rate (non-essential genes called essential)", range=[0, 1])
    fig.update_yaxes(title_text="True positive rate (essential genes found)", range=[0, 1], scaleanchor="x")
    n, n_pos = int(ok.sum()), int(y.sum())
    return apply_layout(fig, title or f"Gene essentiality from a premature stop: {n:,} genes, {n_pos:,} essential "
                        "(AUROC, bootstrap 95% interval)", height=520)
