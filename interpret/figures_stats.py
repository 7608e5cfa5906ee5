"""Figures of the boundary statistics (tables of `interpret.analysis.BoundaryReport`) and of the latent space.

Every builder takes DataFrames (never files) and returns a `go.Figure` in the house style: classes, codon
positions, stages and chunkers keep their colours from `interpret.style` in every figure. Stages are
shown as "Stage 1" / "Stage 2" (code stages 0 / 1). Panels are one per stage unless said otherwise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpret.style import (BASE_COLORS, CODON_POS_COLORS, NO_CLASS_COLOR, PAPER_CODON_STAGE1, STRAND_COLORS,
                             apply_layout, baseline_color, class_color, class_label, rate_basis, rate_label,
                             stage_color, stage_label)

CLASS_ORDER = ("cds_pos1", "cds_pos2", "cds_pos3", "start_codon", "stop_codon", "rbs", "promoter_35", "promoter_10",
               "tss", "rRNA", "tRNA", "other_RNA", "intergenic")


# ------------------------------------------------------------------------------------------ helpers


def significance_mark(q: float) -> str:
    """'***' q<0.001, '**' q<0.01, '*' q<0.05, '' otherwise (or NaN)."""
    if q is None or not np.isfinite(q):
        return ""
    return "***" if q < 1e-3 else "**" if q < 1e-2 else "*" if q < 0.05 else ""


def _require(df: pd.DataFrame, what: str, *cols: str) -> None:
    if df is None or len(df) == 0:
        raise ValueError(f"the {what} table is empty: nothing to plot")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"the {what} table lacks column(s) {', '.join(missing)} (has {', '.join(df.columns)})")


def _pick_strand(df: pd.DataFrame, strand: str) -> pd.DataFrame:
    """Rows of `strand` ('+', '-', 'both'); 'both' falls back to '+' when no pooled rows exist."""
    if "strand" not in df.columns:
        return df
    out = df[df["strand"] == strand]
    if out.empty and strand == "both":
        out = df[df["strand"] == "+"]
    return out


def _ordered_classes(classes) -> list[str]:
    classes = list(dict.fromkeys(classes))
    return [c for c in CLASS_ORDER if c in classes] + [c for c in classes if c not in CLASS_ORDER]


def _stage_of_chunker(name: str) -> int | None:
    """'model Stage 2' -> 1, 'random, Stage 1 lengths' -> 0, 'fixed 3 nt' -> None."""
    import re

    m = re.search(r"Stage (\d+)", str(name))
    return int(m.group(1)) - 1 if m else None


def _stage_panels(stages: list[int], title_extra: dict[int, str] | None = None, shared_y: bool = True, **kw):
    titles = [stage_label(s) + ((" — " + title_extra[s]) if title_extra and title_extra.get(s) else "")
              for s in stages]
    return make_subplots(rows=1, cols=len(stages), shared_yaxes=shared_y, subplot_titles=titles,
                         horizontal_spacing=0.06 if shared_y else 0.09, **kw)


def _stars_above(fig, x, hi, marks, row: int, col: int) -> None:
    """Significance stars sitting on top of each error bar's cap (text anchored at its bottom edge, so a star
    never overlaps the cap whatever the axis range)."""
    fig.add_trace(go.Scatter(x=x, y=np.nan_to_num(hi, nan=0.0), text=marks, mode="text", textposition="top center",
                             textfont=dict(size=13), hoverinfo="skip", showlegend=False, cliponaxis=False),
                  row=row, col=col)


def _headroom(fig, top: float, bottom: float = 0.0) -> None:
    """y range of every panel from `bottom` to 15% above `top` (the highest cap over the panels, which share their
    y-axis), so the stars above the caps stay inside the plot."""
    if np.isfinite(top) and top > bottom:
        fig.update_yaxes(range=[bottom, top + 0.15 * (top - bottom)])


def _basis_titles(stages, per_nucleotide: bool = False) -> dict[int, str]:
    """Subplot title detail naming what each stage's rate counts over."""
    return {s: "boundaries per nucleotide" if per_nucleotide else f"boundaries {rate_basis(s)}" for s in stages}


# ------------------------------------------------------------------------------------------ enrichment


def enrichment_bars(enrichment: pd.DataFrame, value: str = "fold", strand: str = "both", stages=None,
                    q_col: str = "q_shift", title: str | None = None) -> go.Figure:
    """Boundary enrichment per class (bars coloured by class, 95% intervals), one panel per stage.

    value 'fold' (rate / the pass's overall rate; 1 = no enrichment) or 'rate' (% of positions that start a
    chunk, with the stage's overall rate dotted). Stars mark BH q < 0.05 / 0.01 / 0.001 (column `q_col`); the
    hover adds the z score against the same null and q as `interpret.nulls.format_p` writes it ("≤ 0.002" at
    the floor of 1,000 draws, where the stars stop growing and z keeps the strength).
    """
    _require(enrichment, "enrichment", "stage", "class", value, f"{value}_lo", f"{value}_hi")
    df = _pick_strand(enrichment, strand)
    if "n_positions" in df.columns:
        df = df[df["n_positions"] > 0]
    stages = sorted(df["stage"].unique()) if stages is None else list(stages)
    fig = _stage_panels(stages, _basis_titles(stages))
    scale = 100.0 if value == "rate" else 1.0
    top = -np.inf
    for j, s in enumerate(stages, start=1):
        d = df[df["stage"] == s].set_index("class")
        classes = _ordered_classes(d.index)
        d = d.loc[classes]
        y = d[value].to_numpy(float) * scale
        lo, hi = d[f"{value}_lo"].to_numpy(float) * scale, d[f"{value}_hi"].to_numpy(float) * scale
        labels = [class_label(c) for c in classes]
        q = d[q_col].to_numpy(float) if q_col in d.columns else np.full(len(d), np.nan)
        null = q_col.removeprefix("q_")
        z = d[f"{null}_z"].to_numpy(float) if f"{null}_z" in d.columns else np.full(len(d), np.nan)
        if f"{q_col}_text" in d.columns:
            q_text = [t if isinstance(t, str) else "" for t in d[f"{q_col}_text"]]
        else:
            q_text = [f"{qq:.2g}" if np.isfinite(qq) else "" for qq in q]
        null_name = {"shift": "circular-shift", "perm": "permuted-length"}.get(null, null)
        hover = [f"<b>{lab}</b><br>{rate_label(s)}: {value} {v:.3g} (95% {a:.3g}–{b:.3g})"
                 + (f"<br>n = {int(n):,} positions" if "n_positions" in d.columns else "")
                 + (f"<br>z = {zz:+.1f} against the {null_name} null" if np.isfinite(zz) else "")
                 + (f"<br>q {qt if qt.startswith('≤') else '= ' + qt}" if qt else "")
                 for lab, v, a, b, n, zz, qt in zip(labels, y, lo, hi, d.get("n_positions", pd.Series(0, d.index)),
                                                    z, q_text)]
        fig.add_trace(go.Bar(x=labels, y=y, marker_color=[class_color(c) for c in classes],
                             error_y=dict(type="data", array=np.clip(hi - y, 0, None),
                                          arrayminus=np.clip(y - lo, 0, None), thickness=1.2, color="#333"),
                             hovertext=hover, hoverinfo="text", name=stage_label(s), showlegend=False),
                      row=1, col=j)
        marks = [significance_mark(v) for v in q]
        if any(marks):
            _stars_above(fig, labels, hi, marks, 1, j)
        ref = 1.0 if value == "fold" else 100.0 * float(d["global_rate"].iloc[0]) if "global_rate" in d else None
        if ref is not None:
            fig.add_hline(y=ref, line=dict(color="#666", width=1, dash="dot"), row=1, col=j)
        top = np.nanmax([top, *hi, *y, ref or 0.0])
    _headroom(fig, top)
    fig.update_yaxes(title_text="Fold enrichment (1 = the stage's overall rate)" if value == "fold"
                     else "Boundary rate (% of the stage's input)", row=1, col=1)
    fig.update_xaxes(tickangle=-35)
    what = "Fold enrichment" if value == "fold" else "Boundary rate"
    return apply_layout(fig, title or f"{what} of chunk boundaries per class ({strand} strand pass"
                        f"{'es' if strand == 'both' else ''}; * q<0.05, ** q<0.01, *** q<0.001)", height=480,
                        legend=False)


def baseline_bars(baselines: pd.DataFrame, value: str = "fold", strand: str = "both", classes=None,
                  title: str | None = None) -> go.Figure:
    """The model against trivial chunkers (fixed 3/6 nt, random with the model's lengths), per class, one panel
    per model stage; 95% intervals; stars on the model's bars (BH q of its circular-shift null)."""
    _require(baselines, "baselines", "chunker", "class", value, f"{value}_lo", f"{value}_hi")
    df = _pick_strand(baselines, strand)
    if "n_positions" in df.columns:
        df = df[df["n_positions"] > 0]
    chunkers = list(dict.fromkeys(df["chunker"]))
    stages = sorted({s for c in chunkers if (s := _stage_of_chunker(c)) is not None and c.startswith("model")})
    stages = stages or [0]
    classes = _ordered_classes(classes or df["class"].unique())
    labels = [class_label(c) for c in classes]
    fig = _stage_panels(stages, {s: "every chunker per nucleotide" for s in stages})
    top = -np.inf
    for j, s in enumerate(stages, start=1):
        stars = []
        for name in chunkers:
            st = _stage_of_chunker(name)
            if st is not None and st != s:
                continue
            d = df[df["chunker"] == name].set_index("class").reindex(classes)
            is_model = str(name).startswith("model")
            y = d[value].to_numpy(float)
            lo, hi = d[f"{value}_lo"].to_numpy(float), d[f"{value}_hi"].to_numpy(float)
            q = d["q_shift"].to_numpy(float) if "q_shift" in d.columns else np.full(len(d), np.nan)
            top = np.nanmax([top, *hi, *y, 1.0])
            if is_model and any(significance_mark(v) for v in q):
                stars.append((str(name), hi, [significance_mark(v) for v in q]))
            fig.add_trace(go.Bar(
                x=labels, y=y, name=str(name), legendgroup=str(name) if st is None else f"model-or-{s}-{name}",
                showlegend=(j == 1) or st is not None,
                marker=dict(color=stage_color(s) if is_model else baseline_color(name),
                            line=dict(color="#555", width=0 if is_model else 0.5)),
                error_y=dict(type="data", array=np.clip(hi - y, 0, None), arrayminus=np.clip(y - lo, 0, None),
                             thickness=1, color="#333"),
                offsetgroup=str(name), hovertemplate=f"{name}<br>%{{x}}: {value} per nucleotide %{{y:.3g}}"
                                                     "<extra></extra>"), row=1, col=j)
        for name, hi, marks in stars:  # on the model's bar of each group, above its cap
            fig.add_trace(go.Bar(x=labels, y=hi, base=0, offsetgroup=name, marker=dict(color="rgba(0,0,0,0)"),
                                 text=marks, textposition="outside", cliponaxis=False, textfont=dict(size=13),
                                 hoverinfo="skip", showlegend=False, name=f"{name} significance"), row=1, col=j)
        if value == "fold":
            fig.add_hline(y=1.0, line=dict(color="#666", width=1, dash="dot"), row=1, col=j)
    fig.update_layout(barmode="group", bargap=0.18, bargroupgap=0.05)
    fig.update_xaxes(tickangle=-35)
    _headroom(fig, top)
    fig.update_yaxes(title_text="Fold enrichment per nucleotide (1 = chunker's overall rate)" if value == "fold"
                     else "Boundaries per nucleotide", row=1, col=1)
    return apply_layout(fig, title or "Model against baseline chunkers (per nucleotide; a chunker with no "
                        "biology stays near 1)", height=500, legend_rows=2)


def codon_position_bars(codon_profile: pd.DataFrame, codon_tests: pd.DataFrame | None = None, strand: str = "both",
                        reference: bool = True, title: str | None = None) -> go.Figure:
    """Boundary rate (%) at codon positions 1/2/3 inside CDS per stage, Wilson 95% intervals; the paper's
    Stage 1 values (6.5 / 42.6 / 58.4 %, B. subtilis) as markers on the Stage 1 panel."""
    _require(codon_profile, "codon profile", "stage", "codon_pos", "rate", "rate_lo", "rate_hi")
    df = _pick_strand(codon_profile, strand)
    stages = sorted(df["stage"].unique())
    extra = {}
    if codon_tests is not None and len(codon_tests):
        for _, r in _pick_strand(codon_tests, strand).iterrows():
            extra[int(r["stage"])] = f"χ² = {r['chi2']:,.1f}, MI = {r['mi_bits']:.3g} bits"
    basis = _basis_titles(stages)
    fig = _stage_panels(stages, {s: basis[s] + (f"<br>{extra[s]}" if s in extra else "") for s in stages})
    xs = ["Position 1", "Position 2", "Position 3"]
    for j, s in enumerate(stages, start=1):
        d = df[df["stage"] == s].set_index("codon_pos").reindex([1, 2, 3])
        y = 100 * d["rate"].to_numpy(float)
        lo, hi = 100 * d["rate_lo"].to_numpy(float), 100 * d["rate_hi"].to_numpy(float)
        fig.add_trace(go.Bar(x=xs, y=y, marker_color=[CODON_POS_COLORS[k] for k in (1, 2, 3)],
                             error_y=dict(type="data", array=np.clip(hi - y, 0, None),
                                          arrayminus=np.clip(y - lo, 0, None), thickness=1.2, color="#333"),
                             name=f"this model, {stage_label(s)}", showlegend=False,
                             hovertemplate=f"{rate_label(s)}, %{{x}}: %{{y:.1f}}%<extra></extra>"), row=1, col=j)
        if reference and s == 0:
            fig.add_trace(go.Scatter(x=xs, y=list(PAPER_CODON_STAGE1), mode="markers+text",
                                     marker=dict(symbol="diamond", size=12, color="#222",
                                                 line=dict(color="white", width=1)),
                                     text=[f"{v}%" for v in PAPER_CODON_STAGE1], textposition="middle right",
                                     name="Paper, Stage 1 (dnaHNet, B. subtilis)",
                                     hovertemplate="paper: %{y}%<extra></extra>"), row=1, col=j)
    fig.update_yaxes(title_text="Boundary rate (% of the stage's input)", rangemode="tozero", row=1, col=1)
    return apply_layout(fig, title or f"Boundaries by codon position inside CDS ({strand} strand "
                        f"pass{'es' if strand == 'both' else ''})", height=430)


# ------------------------------------------------------------------------------------------ profiles


def _band(fig, x, lo, hi, color, row, col, name):
    fig.add_trace(go.Scatter(x=x, y=lo, mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False,
                             legendgroup=name), row=row, col=col)
    fig.add_trace(go.Scatter(x=x, y=hi, mode="lines", line=dict(width=0), fill="tonexty", fillcolor=_rgba(color, 0.22),
                             hoverinfo="skip", showlegend=False, legendgroup=name), row=row, col=col)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


ANCHOR_LABELS = {"start_codon": "Start codon", "stop_codon": "Stop codon", "tss": "TSS"}
METAGENE_TITLE = "Metagene profiles: boundaries per nucleotide around anchors"


def metagene_profiles(metagene: pd.DataFrame, stages=None, anchors=None, title: str | None = None) -> go.Figure:
    """Boundary rate against the distance to start codons, stop codons and TSS (one panel each), one line per
    stage with its bootstrap 95% band; the stage's genome-wide rate dotted."""
    _require(metagene, "metagene", "anchor", "stage", "offset", "rate")
    anchors = [a for a in (anchors or ANCHOR_LABELS) if a in set(metagene["anchor"])] or \
        list(dict.fromkeys(metagene["anchor"]))
    stages = sorted(metagene["stage"].unique()) if stages is None else list(stages)
    n_anch = metagene.groupby("anchor")["n_anchors"].max().to_dict() if "n_anchors" in metagene else {}
    fig = make_subplots(rows=1, cols=len(anchors), shared_yaxes=True, horizontal_spacing=0.05,
                        subplot_titles=[f"{ANCHOR_LABELS.get(a, a)}" + (f" (n = {int(n_anch[a]):,})" if a in n_anch
                                                                         else "") for a in anchors])
    for j, a in enumerate(anchors, start=1):
        for s in stages:
            d = metagene[(metagene["anchor"] == a) & (metagene["stage"] == s)].sort_values("offset")
            if d.empty:
                continue
            x, col, name = d["offset"].to_numpy(), stage_color(s), stage_label(s)
            if {"rate_lo", "rate_hi"} <= set(d.columns):
                _band(fig, x, 100 * d["rate_lo"].to_numpy(float), 100 * d["rate_hi"].to_numpy(float), col, 1, j, name)
            fig.add_trace(go.Scatter(x=x, y=100 * d["rate"].to_numpy(float), mode="lines",
                                     line=dict(color=col, width=1.6), name=name, legendgroup=name,
                                     showlegend=j == 1,
                                     hovertemplate=f"{rate_label(s, per_nucleotide=True)}, %{{x:+d}} nt: "
                                                   "%{y:.1f}%<extra></extra>"), row=1, col=j)
            if "genome_rate" in d.columns:
                fig.add_hline(y=100 * float(d["genome_rate"].iloc[0]), line=dict(color=col, width=1, dash="dot"),
                              row=1, col=j)
        fig.add_vline(x=0, line=dict(color="#888", width=1), row=1, col=j)
        fig.update_xaxes(title_text="Distance (nt, reading direction)", row=1, col=j)
    fig.update_yaxes(title_text="Boundaries per nucleotide (%)", rangemode="tozero", row=1, col=1)
    # the band and the dotted line are said in the caption: a longer title is cut at 1,280 px
    return apply_layout(fig, title or METAGENE_TITLE, height=420)


def periodicity_spectrum(spectrum: pd.DataFrame, summary: pd.DataFrame | None = None, strand: str = "both",
                         max_period: float = 60.0, title: str | None = None) -> go.Figure:
    """Power spectrum of the boundary indicator inside CDS against period (nt, log axis), one line per stage;
    period 3 marked, with power(3) / median power from `summary` in the legend."""
    _require(spectrum, "periodicity spectrum", "stage", "power")
    df = spectrum.copy()
    if "period" not in df.columns:
        df["period"] = 1.0 / df["frequency"]
    if "strand" in df.columns:
        if strand in set(df["strand"]):
            df = df[df["strand"] == strand]
        else:  # no pooled rows: average the passes
            df = df.groupby(["stage", "period"], as_index=False)["power"].mean()
    df = df[np.isfinite(df["period"]) & (df["period"] >= 2) & (df["period"] <= max_period)]
    ratios = {}
    if summary is not None and len(summary):
        for _, r in _pick_strand(summary, strand).iterrows():
            ratios[int(r["stage"])] = r.get("ratio_period3", np.nan)
    fig = go.Figure()
    for s in sorted(df["stage"].unique()):
        d = df[df["stage"] == s].sort_values("period")
        extra = f" (power at 3 nt = {ratios[s]:.3g}× median)" if s in ratios and np.isfinite(ratios[s]) else ""
        fig.add_trace(go.Scatter(x=d["period"], y=d["power"], mode="lines+markers", marker=dict(size=4),
                                 line=dict(color=stage_color(s), width=1.6), name=stage_label(s) + extra,
                                 hovertemplate=f"{stage_label(s)}: period %{{x:.2f}} nt, "
                                               "power %{y:.3g}<extra></extra>"))
    fig.add_vline(x=3, line=dict(color="#444", width=1, dash="dash"), annotation_text="period 3 (codon)",
                  annotation_position="top right")
    if len(df):  # the axis ends where the data end (plotly's autorange pads a log axis past them)
        lo, hi = float(df["period"].min()), float(df["period"].max())
        ticks = [t for t in (2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40, 60) if lo <= t <= hi]
        fig.update_xaxes(range=[np.log10(lo), np.log10(hi)], tickvals=ticks)
    fig.update_xaxes(type="log", title_text="Period (nt)")
    fig.update_yaxes(title_text="Power (boundaries per nucleotide, mean periodogram)", rangemode="tozero")
    return apply_layout(fig, title or f"Periodicity of boundaries inside CDS ({strand} strand pass"
                        f"{'es' if strand == 'both' else ''})", height=420)


def chunk_length_hist(chunk_lengths: pd.DataFrame, strand: str = "both", classes=("all",), max_length: int = 30,
                      title: str | None = None) -> go.Figure:
    """Distribution of chunk lengths (fraction of chunks) per stage, one panel per class of the chunk's first
    nucleotide ('all' = every chunk); lengths above `max_length` are pooled into the last bar."""
    _require(chunk_lengths, "chunk lengths", "stage", "length", "count")
    df = _pick_strand(chunk_lengths, strand)
    if "class" not in df.columns:
        df = df.assign(**{"class": "all"})
    classes = [c for c in classes if c in set(df["class"])] or ["all"]
    fig = make_subplots(rows=1, cols=len(classes), shared_yaxes=True, horizontal_spacing=0.05,
                        subplot_titles=[class_label(c) if c != "all" else "All chunks" for c in classes])
    for j, c in enumerate(classes, start=1):
        for s in sorted(df["stage"].unique()):
            d = df[(df["class"] == c) & (df["stage"] == s)]
            if d.empty:
                continue
            lengths = np.minimum(d["length"].to_numpy(), max_length)
            counts = np.bincount(lengths, weights=d["count"].to_numpy(float), minlength=max_length + 1)[1:]
            frac = counts / max(counts.sum(), 1)
            mean = float((d["length"] * d["count"]).sum() / max(d["count"].sum(), 1))
            fig.add_trace(go.Bar(x=np.arange(1, max_length + 1), y=frac, name=f"{stage_label(s)} (mean {mean:.2f} nt)",
                                 marker_color=stage_color(s), opacity=0.8, legendgroup=str(s),
                                 showlegend=j == 1 or c == "all",
                                 hovertemplate=f"{stage_label(s)}: %{{y:.1%}} of chunks are %{{x}} nt<extra></extra>"),
                          row=1, col=j)
        fig.update_xaxes(title_text="Chunk length (nt)", tickvals=[1, 3, 6, 9, 12, 15, 20, 25, max_length],
                         ticktext=[*map(str, [1, 3, 6, 9, 12, 15, 20, 25]), f"{max_length}+"], row=1, col=j)
    fig.update_layout(barmode="group", bargap=0.1)
    fig.update_yaxes(title_text="Fraction of chunks", tickformat=".0%", row=1, col=1)
    return apply_layout(fig, title or "Chunk lengths per stage", height=400)


def nesting_counts_bars(nesting_counts: pd.DataFrame, strand: str = "both", max_count: int = 12,
                        title: str | None = None) -> go.Figure:
    """How many Stage 1 chunks each Stage 2 chunk holds (fraction of Stage 2 chunks)."""
    _require(nesting_counts, "nesting counts", "finer_chunks", "count")
    df = _pick_strand(nesting_counts, strand)
    fig = go.Figure()
    for s in sorted(df["stage"].unique()) if "stage" in df else [1]:
        d = df[df["stage"] == s] if "stage" in df else df
        k = np.minimum(d["finer_chunks"].to_numpy(), max_count)
        counts = np.bincount(k, weights=d["count"].to_numpy(float), minlength=max_count + 1)[1:]
        fig.add_trace(go.Bar(x=np.arange(1, max_count + 1), y=counts / max(counts.sum(), 1),
                             marker_color=stage_color(s), name=f"{stage_label(s)} chunks",
                             hovertemplate="%{y:.1%} hold %{x} finer chunks<extra></extra>"))
    fig.update_xaxes(title_text="Finer-stage chunks inside one chunk", tickvals=list(range(1, max_count + 1)),
                     ticktext=[*map(str, range(1, max_count)), f"{max_count}+"])
    fig.update_yaxes(title_text="Fraction of chunks", tickformat=".0%")
    return apply_layout(fig, title or "Nesting: Stage 1 chunks per Stage 2 chunk", height=380)


# ------------------------------------------------------------------------------------------ latents

CATEGORICAL = ("class", "codon_pos", "strand", "stage", "stage_label", "first_base")
CONTINUOUS = ("length", "gc", "cds_fraction")
CONTINUOUS_LABELS = {"length": "Chunk length (nt)", "gc": "GC fraction",
                     "cds_fraction": "Position in the CDS (0 = its start, 1 = its end)"}


def latent_scatter(table: pd.DataFrame, xy: np.ndarray | None = None, color_by: str = "class",
                   method: str = "UMAP", title: str | None = None, max_length: int = 30) -> go.Figure:
    """2-D embedding of chunk latents (rows of `interpret.latents.chunk_table`), coloured by class, codon
    position, strand, stage, first base (categories: one legend entry each) or length / GC / position in the CDS
    (colour scale; chunks without a value, e.g. outside a CDS, in grey).

    xy: (n, 2) coordinates (else columns x, y). Hover shows coordinates (1-based), class and sequence;
    `customdata` = [row index, start, end, strand, record] for selections.
    """
    if table is None or len(table) == 0:
        raise ValueError("no chunk latents to plot (the trace kept none for this stage)")
    df = table.reset_index(drop=True)
    xy = np.asarray(xy, dtype=float) if xy is not None else df[["x", "y"]].to_numpy(float)
    if xy.shape != (len(df), 2):
        raise ValueError(f"coordinates have shape {xy.shape}, expected ({len(df)}, 2)")
    if color_by not in CATEGORICAL + CONTINUOUS or color_by not in df.columns:
        raise ValueError(f"color_by must be one of {', '.join(c for c in CATEGORICAL + CONTINUOUS if c in df)}")
    rec = df["record"] if "record" in df else df.get("record_id", pd.Series("", index=df.index))
    gc = df["gc"].to_numpy(float) if "gc" in df else np.full(len(df), np.nan)
    hover = [f"<b>{r}:{s + 1:,}..{e:,} ({d})</b><br>{sl} chunk, {n} nt, GC {100 * g:.0f}%<br>class: "
             f"{class_label(c)}, codon position {cp or '–'}<br><span style='font-family:monospace'>{q}</span>"
             for r, s, e, d, sl, n, g, c, cp, q in zip(
                 rec, df["start"], df["end"], df["strand"], df.get("stage_label", df["stage"].map(stage_label)),
                 df["length"], gc, df.get("class", ""), df.get("codon_pos", 0), df.get("sequence", ""))]
    custom = np.stack([np.arange(len(df)), df["start"], df["end"], df["strand"], rec], axis=1)
    fig = go.Figure()
    if color_by in CONTINUOUS:
        v = df[color_by].to_numpy(float)
        label = CONTINUOUS_LABELS[color_by]
        if color_by == "length":
            v = np.minimum(v, max_length)
        if np.isnan(v).any():  # e.g. chunks that start outside a CDS: grey, in the legend, under the coloured ones
            m = np.isnan(v)
            fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", customdata=custom[m],
                                       marker=dict(size=4, color=NO_CLASS_COLOR, opacity=0.5),
                                       name=f"{'not in a CDS' if color_by == 'cds_fraction' else 'no value'} "
                                       f"({m.sum():,})", hovertext=[hover[j] for j in np.flatnonzero(m)],
                                       hoverinfo="text"))
            xy, custom, hover, v = xy[~m], custom[~m], [hover[j] for j in np.flatnonzero(~m)], v[~m]
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", customdata=custom,
                                   marker=dict(size=4, color=v, colorscale="Viridis", opacity=0.75, showscale=True,
                                               colorbar=dict(title=label, thickness=12)),
                                   hovertext=hover, hoverinfo="text", showlegend=False))
    else:
        keys = df[color_by].to_numpy()
        cats = _ordered_classes(pd.unique(keys)) if color_by == "class" else sorted(pd.unique(keys), key=str)
        rank = {c: i for i, c in enumerate(cats)}
        # big categories first, so that rare ones (start codons, ...) are drawn on top; the legend keeps class order
        for cat in sorted(cats, key=lambda c: -int(np.count_nonzero(keys == c))):
            m = keys == cat
            color, name = _category_style(color_by, cat)
            fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", customdata=custom[m],
                                       marker=dict(size=4, color=color, opacity=0.75), name=f"{name} ({m.sum():,})",
                                       legendrank=1000 + rank[cat],
                                       hovertext=[hover[i] for i in np.flatnonzero(m)], hoverinfo="text"))
    fig.update_xaxes(title_text=f"{method} 1", showticklabels=False)
    fig.update_yaxes(title_text=f"{method} 2", showticklabels=False)
    stages = sorted(df["stage"].unique()) if "stage" in df else []
    what = ", ".join(stage_label(s) for s in stages)
    return apply_layout(fig, title or f"{method} of chunk latents ({what}, {len(df):,} chunks) coloured by "
                        f"{color_by.replace('_', ' ')}", height=620, legend_rows=2)


def _category_style(color_by: str, cat) -> tuple[str, str]:
    if color_by == "class":
        return class_color(cat) if cat != "none" else NO_CLASS_COLOR, class_label(cat)
    if color_by == "codon_pos":
        k = int(cat)
        return CODON_POS_COLORS.get(k, "#BBBBBB"), f"codon position {k}" if k else "not in a CDS"
    if color_by == "strand":
        return STRAND_COLORS.get(cat, "#888"), f"{cat} strand pass"
    if color_by == "stage":
        return stage_color(int(cat)), stage_label(int(cat))
    if color_by == "first_base":
        return BASE_COLORS.get(str(cat), "#999999"), f"first base {cat}"
    return "#888888", str(cat)


# ------------------------------------------------------------------------------------------ levels


def per_nucleotide_enrichment(enrichment: pd.DataFrame, baselines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every stage's boundary rate and fold per class counted *per nucleotide* (Stage 2 then never exceeds Stage 1).

    Columns stage, strand, class, n_positions (nucleotides of the class), n_boundaries, rate, rate_lo, rate_hi,
    global_rate, fold, fold_lo, fold_hi. Taken from the model's rows of the baselines table (per nucleotide, with
    their bootstrap intervals) when given; else from the enrichment table, where a Stage-s count over the class's
    Stage-1 positions (every nucleotide) is the rate, and the overall rate per nucleotide is the product of the
    stages' overall rates (intervals then NaN).
    """
    cols = ["stage", "strand", "class", "n_positions", "n_boundaries", "rate", "rate_lo", "rate_hi", "global_rate",
            "fold", "fold_lo", "fold_hi"]
    if baselines is not None and len(baselines) and "chunker" in baselines.columns:
        rows = []
        for s in sorted(enrichment["stage"].unique()):
            d = baselines[baselines["chunker"] == f"model {stage_label(s)}"]
            if len(d):
                rows.append(d.assign(stage=s))
        if rows:
            return pd.concat(rows, ignore_index=True)[cols]
    _require(enrichment, "enrichment", "stage", "strand", "class", "n_positions", "n_boundaries", "global_rate")
    first = enrichment[enrichment["stage"] == enrichment["stage"].min()].set_index(["strand", "class"])
    out, overall = [], {}
    for s in sorted(enrichment["stage"].unique()):
        d = enrichment[enrichment["stage"] == s].set_index(["strand", "class"])
        g = d.groupby(level="strand")["global_rate"].first()
        overall = {k: overall.get(k, 1.0) * float(v) for k, v in g.items()}
        n_nt = first["n_positions"].reindex(d.index).to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = d["n_boundaries"].to_numpy(float) / n_nt
        glob = np.array([overall[k] for k in d.index.get_level_values("strand")])
        out.append(pd.DataFrame({"stage": s, "strand": d.index.get_level_values("strand"),
                                 "class": d.index.get_level_values("class"), "n_positions": n_nt,
                                 "n_boundaries": d["n_boundaries"].to_numpy(), "rate": rate, "rate_lo": np.nan,
                                 "rate_hi": np.nan, "global_rate": glob, "fold": rate / glob, "fold_lo": np.nan,
                                 "fold_hi": np.nan}))
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)



def levels_comparison(report, strand: str = "both", anchor: str = "start_codon", title: str | None = None) -> go.Figure:
    """The two stages side by side: fold enrichment per class, chunk lengths, a metagene profile, nesting.

    Every rate here is per nucleotide (`per_nucleotide_enrichment`), so the stages compare on one footing."""
    enr = _pick_strand(per_nucleotide_enrichment(report.enrichment.df, report.baselines.df), strand)
    enr = enr[enr["n_positions"] > 0] if "n_positions" in enr else enr
    stages = sorted(enr["stage"].unique())
    meta = report.metagene.df
    anchor = anchor if len(meta) and anchor in set(meta["anchor"]) else (meta["anchor"].iloc[0] if len(meta) else None)
    fig = make_subplots(rows=2, cols=2, vertical_spacing=0.2, horizontal_spacing=0.08, subplot_titles=(
        "Fold enrichment per class (boundaries per nucleotide)", "Chunk lengths (all chunks)",
        f"Boundaries per nucleotide around {ANCHOR_LABELS.get(anchor, anchor)}" if anchor
        else "Metagene profile (no anchors)",
        "Stage 1 chunks per Stage 2 chunk"))
    classes = _ordered_classes(enr["class"].unique())
    for s in stages:
        d = enr[enr["stage"] == s].set_index("class").reindex(classes)
        y = d["fold"].to_numpy(float)
        fig.add_trace(go.Bar(x=[class_label(c) for c in classes], y=y, marker_color=stage_color(s),
                             name=stage_label(s), legendgroup=str(s),
                             error_y=dict(type="data", array=np.clip(d["fold_hi"].to_numpy(float) - y, 0, None),
                                          arrayminus=np.clip(y - d["fold_lo"].to_numpy(float), 0, None),
                                          thickness=1, color="#333"),
                             hovertemplate=f"{rate_label(s, per_nucleotide=True)}, %{{x}}: fold %{{y:.3g}}"
                                           "<extra></extra>"), row=1, col=1)
        lens = _pick_strand(report.chunk_lengths.df, strand)
        lens = lens[(lens["stage"] == s) & (lens["class"] == "all")] if len(lens) else lens
        if len(lens):
            k = np.minimum(lens["length"].to_numpy(), 30)
            c = np.bincount(k, weights=lens["count"].to_numpy(float), minlength=31)[1:]
            fig.add_trace(go.Scatter(x=np.arange(1, 31), y=c / max(c.sum(), 1), mode="lines+markers",
                                     marker=dict(size=5), line=dict(color=stage_color(s)), name=stage_label(s),
                                     legendgroup=str(s), showlegend=False,
                                     hovertemplate=f"{stage_label(s)}: %{{y:.1%}} at %{{x}} nt<extra></extra>"),
                          row=1, col=2)
        if anchor:
            m = meta[(meta["anchor"] == anchor) & (meta["stage"] == s)].sort_values("offset")
            if len(m):
                _band(fig, m["offset"], 100 * m["rate_lo"], 100 * m["rate_hi"], stage_color(s), 2, 1, stage_label(s))
                fig.add_trace(go.Scatter(x=m["offset"], y=100 * m["rate"], mode="lines", legendgroup=str(s),
                                         line=dict(color=stage_color(s), width=1.5), showlegend=False,
                                         name=stage_label(s)), row=2, col=1)
    fig.add_hline(y=1, line=dict(color="#666", width=1, dash="dot"), row=1, col=1)
    nest = _pick_strand(report.nesting_counts.df, strand) if len(report.nesting_counts.df) else None
    if nest is not None and len(nest):
        k = np.minimum(nest["finer_chunks"].to_numpy(), 12)
        c = np.bincount(k, weights=nest["count"].to_numpy(float), minlength=13)[1:]
        fig.add_trace(go.Bar(x=np.arange(1, 13), y=c / max(c.sum(), 1), marker_color=stage_color(1),
                             showlegend=False, name="Stage 2 chunks",
                             hovertemplate="%{y:.1%} of Stage 2 chunks hold %{x} Stage 1 chunks<extra></extra>"),
                      row=2, col=2)
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickangle=-35, row=1, col=1)
    fig.update_xaxes(title_text="Chunk length (nt, 30 = 30+)", row=1, col=2)
    fig.update_xaxes(title_text="Distance (nt)", row=2, col=1)
    fig.update_xaxes(title_text="Stage 1 chunks (12 = 12+)", row=2, col=2)
    fig.update_yaxes(title_text="Fold (per nucleotide)", row=1, col=1)
    fig.update_yaxes(title_text="Fraction", tickformat=".0%", row=1, col=2)
    fig.update_yaxes(title_text="Boundaries per nt (%)", row=2, col=1)
    fig.update_yaxes(title_text="Fraction", tickformat=".0%", row=2, col=2)
    return apply_layout(fig, title or "Levels compared: Stage 1 against Stage 2", height=820)


__all__ = ["enrichment_bars", "baseline_bars", "codon_position_bars", "metagene_profiles", "periodicity_spectrum",
           "chunk_length_hist", "nesting_counts_bars", "latent_scatter", "levels_comparison", "significance_mark",
           "per_nucleotide_enrichment", "CLASS_ORDER", "ANCHOR_LABELS", "METAGENE_TITLE"]
