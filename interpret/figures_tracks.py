"""The genome browser figure: stacked tracks on one shared x-axis.

Rows (top to bottom, each optional): features (+ strand above the axis, − below, arrows in the reading
direction, names where they fit at the scale shown), sequence letters and codon positions and the three-frame
translation (only when ≤ ~300 nt are shown), chunk boundaries per stage and strand pass, boundary probability p
per stage, surprisal (bits), GC (sliding window).

A figure may hold more than it shows (`view` inside `region`): wheel zoom and drag pan then move through the
loaded margin in the browser without a new figure; scales (bins, labels, letters) follow the view.

The x-axis counts nucleotides from 1 as GenBank and IGV do: the base at 0-based position i is drawn centred
on x = i + 1, so a chunk edge (0-based edge e, between bases e-1 and e) sits at x = e + 0.5. `region` is
0-based half-open as everywhere in code. Long ranges are binned (mean or max per bin, ~1 bin per pixel).
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpret.style import (BASE_COLORS, CODON_POS_COLORS, GC_COLOR, STRAND_DASH, SURPRISAL_COLORS, apply_layout,
                             class_color, feature_color, stage_color, stage_label)
from interpret.translation import DEFAULT_TABLE, cds_from_features, cds_from_record, window_translation

ARROW_TYPES = ("CDS", "rRNA", "tRNA", "ncRNA", "tmRNA", "misc_RNA", "gene", "repeat_region", "mobile_element")
SKIP_TYPES = ("source", "exon", "mRNA")
LANE_STEP, MAX_LANES = 0.8, 4
OVERVIEW_NT = 200_000  # above this span, only genes and RNAs are drawn
ROW_PX = {"features": 170, "sequence": 90, "translation": 120, "boundaries": 90, "p": 130, "surprisal": 110,
          "gc": 90}
ROW_TITLES = {"features": "Features", "sequence": "Sequence", "translation": "Translation", "boundaries": "Boundaries",
              "p": "p (boundary)", "surprisal": "Surprisal<br>(bits)", "gc": "GC"}
ROWS = tuple(ROW_PX)
PLOT_PX = 1150  # the plot area's width in a 1280-px figure: the scale (nt per pixel) of labels and letters
LABEL_CHAR_PX, LABEL_PAD_PX = 6.5, 6.0  # a feature label's width: ~6.5 px per character at 10 px, plus a gap


# ------------------------------------------------------------------------------------------ helpers


def bin_edges(lo: int, hi: int, n_bins: int) -> np.ndarray:
    """(n_bins + 1,) integer edges splitting [lo, hi) into near-equal bins."""
    n_bins = max(1, min(int(n_bins), hi - lo))
    return lo + (np.arange(n_bins + 1, dtype=np.int64) * (hi - lo)) // n_bins


def bin_index(pos: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each position (all inside [edges[0], edges[-1])) for edges made by `bin_edges`, without a search:
    edges[k] = lo + floor(k·span/n), so the bin of d = pos - lo is ceil((d+1)·n/span) - 1."""
    lo, span, n = int(edges[0]), int(edges[-1] - edges[0]), len(edges) - 1
    return ((np.asarray(pos, dtype=np.int64) - lo + 1) * n - 1) // span


def binned(pos: np.ndarray, val: np.ndarray, edges: np.ndarray, agg: str = "mean") -> np.ndarray:
    """Mean or max of `val` over the positions falling in each bin (NaN where a bin is empty)."""
    pos, val = np.asarray(pos), np.asarray(val, dtype=np.float64)
    keep = np.isfinite(val) & (pos >= edges[0]) & (pos < edges[-1])
    n = len(edges) - 1
    idx = bin_index(pos[keep], edges)
    if agg == "max":
        out = np.full(n, -np.inf)
        np.maximum.at(out, idx, val[keep])
        out[np.isinf(out)] = np.nan
        return out
    s = np.bincount(idx, weights=val[keep], minlength=n)
    c = np.bincount(idx, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.maximum(c, 1), np.nan)


def sequence_letters(sequence, lo: int, hi: int) -> np.ndarray:
    """(hi-lo,) uint8 ASCII uppercase letters of [lo, hi) from a str, Bio Seq/SeqRecord, bytes or token ids."""
    if hasattr(sequence, "seq"):
        sequence = sequence.seq
    if isinstance(sequence, np.ndarray):
        a = np.asarray(sequence[lo:hi])
        if a.dtype != np.uint8 or (a.size and a.max() <= 4):
            return np.frombuffer(b"ACGTN", dtype=np.uint8)[np.clip(a.astype(np.int64), 0, 4)]
        return np.char.upper(a.view("S1")).view(np.uint8) if a.size else a
    chunk = sequence[lo:hi]
    data = bytes(chunk) if isinstance(chunk, (bytes, bytearray)) else str(chunk).encode("ascii", "replace")
    return np.frombuffer(data.upper(), dtype=np.uint8)


def gc_track(sequence, lo: int, hi: int, window: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions lo..hi-1, GC fraction in a centred `window`) ignoring N; windows clip at the record ends."""
    half = window // 2
    a, b = max(0, lo - half), min(length, hi + half + 1)
    s = sequence_letters(sequence, a, b)
    is_gc, is_base = np.zeros(256, bool), np.zeros(256, bool)
    is_gc[list(b"GCS")] = True
    is_base[list(b"ACGTSW")] = True
    gc, acgt = is_gc[s], is_base[s]
    cg, ca = np.concatenate([[0], np.cumsum(gc)]), np.concatenate([[0], np.cumsum(acgt)])
    pos = np.arange(lo, hi)
    i0, i1 = np.clip(pos - half - a, 0, b - a), np.clip(pos + half + 1 - a, 0, b - a)
    n = ca[i1] - ca[i0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return pos, np.where(n > 0, (cg[i1] - cg[i0]) / np.maximum(n, 1), np.nan)


def visible_features(features: pd.DataFrame | None, lo: int, hi: int) -> pd.DataFrame:
    """Features overlapping [lo, hi), without 'source' rows and without genes that a CDS/RNA already shows."""
    if features is None or len(features) == 0:
        return pd.DataFrame(columns=["type", "start", "end", "strand", "name", "locus_tag", "product"])
    f = features[(features["end"] > lo) & (features["start"] < hi) & ~features["type"].isin(SKIP_TYPES)]
    is_gene = f["type"] == "gene"
    if is_gene.any():
        others = f[~is_gene]
        shown_tags = set(others["locus_tag"].dropna().astype(str)) - {"", "None", "nan"}
        shown_spans = set(zip(others["start"], others["end"]))
        dup = is_gene & (f["locus_tag"].astype(str).isin(shown_tags)
                         | pd.Series([(s, e) in shown_spans for s, e in zip(f["start"], f["end"])], index=f.index))
        f = f[~dup]
    return f.sort_values(["start", "end"]).reset_index(drop=True)


def assign_lanes(starts: np.ndarray, ends: np.ndarray, gap: float) -> np.ndarray:
    """Greedy interval packing: lane index per interval so that intervals in one lane do not overlap."""
    lane_end: list[float] = []
    out = np.zeros(len(starts), dtype=np.int64)
    for i, (s, e) in enumerate(zip(starts, ends)):
        for k, le in enumerate(lane_end):
            if s >= le + gap:
                lane_end[k] = e
                out[i] = k
                break
        else:
            if len(lane_end) < MAX_LANES:
                lane_end.append(e)
                out[i] = len(lane_end) - 1
            else:
                k = int(np.argmin(lane_end))
                lane_end[k] = max(lane_end[k], e)
                out[i] = k
    return out


def label_width(text: str, nt_per_px: float) -> float:
    """Width in nt that a feature label of `text` takes at `nt_per_px` (10-px font)."""
    return (len(text) * LABEL_CHAR_PX + LABEL_PAD_PX) * nt_per_px


def place_labels(starts, ends, lanes, widths) -> np.ndarray:
    """Which feature labels to draw (bool per feature), each `widths[i]` nt wide and centred on its feature.

    A label is drawn when it fits inside its feature, or when the stretch it covers holds no other feature of its
    lane (free space); never over a label already placed in that lane. Labels that fit inside go first, then the
    others left to right, so a dense stretch keeps the names of the features long enough to hold them.
    """
    starts, ends = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
    lanes, widths = np.asarray(lanes), np.asarray(widths, dtype=float)
    n = len(starts)
    show = np.zeros(n, dtype=bool)
    if n == 0:
        return show
    centre = (starts + ends) / 2
    a, b = centre - widths / 2, centre + widths / 2
    inside = widths <= ends - starts
    by_lane = {}  # lane -> (feature indices sorted by start, their starts, longest feature)
    for lane in np.unique(lanes):
        idx = np.flatnonzero(lanes == lane)
        idx = idx[np.argsort(starts[idx], kind="stable")]
        by_lane[lane] = (idx, starts[idx], float((ends[idx] - starts[idx]).max()))
    placed: dict = {}  # lane -> [(a, b)] of labels drawn
    for i in sorted(range(n), key=lambda k: (not inside[k], starts[k])):
        lane = lanes[i]
        if not inside[i]:
            idx, s_sorted, longest = by_lane[lane]
            j0, j1 = np.searchsorted(s_sorted, a[i] - longest), np.searchsorted(s_sorted, b[i])
            near = idx[j0:j1]
            near = near[near != i]
            if np.any(ends[near] > a[i]):  # another feature of this lane lies under the label
                continue
        if any(a[i] < pb and b[i] > pa for pa, pb in placed.get(lane, ())):
            continue
        placed.setdefault(lane, []).append((a[i], b[i]))
        show[i] = True
    return show


def _escape(text) -> str:
    """User text (GenBank names, products) shown literally in plotly's HTML-like labels and hover text."""
    return html.escape(str(text), quote=False)


def _feature_parts(row) -> list[tuple[int, int]]:
    parts = row.get("parts") if hasattr(row, "get") else None
    if isinstance(parts, (list, tuple)) and len(parts) > 1:
        return [(int(p[0]), int(p[1])) for p in parts]
    return [(int(row["start"]), int(row["end"]))]


def _hover_text(row, short: bool = False) -> str:
    name, tag, product = (str(row.get(k) or "") for k in ("name", "locus_tag", "product"))
    name = "" if name == "nan" else name
    tag = "" if tag == "nan" else tag
    product = "" if product == "nan" else product
    head = f"<b>{_escape(name or tag or row['type'])}</b>" + (f" ({_escape(tag)})" if tag and tag != name else "")
    strand = "+" if int(row["strand"]) >= 0 else "−"
    lines = [head, f"{_escape(row['type'])} {int(row['start']) + 1:,}..{int(row['end']):,} ({strand})"]
    if product and not short:
        lines.append(_escape(product[:90]))
    return "<br>".join(lines)


def _arrow(x0: float, x1: float, y: float, h: float, forward: bool, head: float, n_edge: int):
    """Polygon vertices of an arrow from x0 to x1 pointing right (forward) or left, with extra edge points."""
    hl = min(head, 0.45 * (x1 - x0))
    if n_edge == 0:  # the common case on long views: no extra hover points along the edges
        if forward:
            return [x0, x1 - hl, x1, x1 - hl, x0, x0], [y + h, y + h, y, y - h, y - h, y + h]
        return [x0, x0 + hl, x1, x1, x0 + hl, x0], [y, y + h, y + h, y - h, y - h, y]
    if forward:
        top = np.linspace(x0, x1 - hl, n_edge + 2)
        xs = [*top, x1, *top[::-1], x0]
        ys = [*([y + h] * len(top)), y, *([y - h] * len(top)), y + h]
    else:
        top = np.linspace(x0 + hl, x1, n_edge + 2)
        xs = [x0, *top, *top[::-1], x0]
        ys = [y, *([y + h] * len(top)), *([y - h] * len(top)), y]
    return xs, ys


# ------------------------------------------------------------------------------------------ rows


def _add_features(fig, row, feats: pd.DataFrame, lo: int, hi: int, vspan: int | None = None):
    """Feature arrows of [lo, hi) in lanes per strand; names of genes and RNAs where they fit at the scale of a
    `vspan`-nt view (`place_labels`), the others on hover only."""
    span = vspan or (hi - lo)
    head = span * 0.008
    if span > OVERVIEW_NT:  # promoter boxes, TSS, RBS are sub-pixel here: they show when zoomed in
        feats = feats[feats["type"].isin(ARROW_TYPES)]
    thin = span / 1500  # features narrower than ~1 px: plain boxes with short hover text (keeps the HTML small)
    nt_per_px = span / PLOT_PX
    traces: dict[tuple[str, int], tuple[list, list, list]] = {}
    label_x, label_y, label_t = [], [], []
    max_lane = 0
    for strand in (1, -1):
        f = feats[(feats["strand"] >= 0) if strand == 1 else (feats["strand"] < 0)]
        if len(f) == 0:
            continue
        lanes = assign_lanes(f["start"].to_numpy(), f["end"].to_numpy(), gap=span / 1500)  # ~1 px apart
        max_lane = max(max_lane, int(lanes.max()))
        cand = []  # (visible start, visible end, lane, y, text) of the features that may carry a name
        for r, lane in zip(f.to_dict("records"), lanes.tolist()):
            y = strand * (0.6 + LANE_STEP * lane)
            is_arrow = r["type"] in ARROW_TYPES
            h = 0.27 if is_arrow else 0.15
            narrow = r["end"] - r["start"] < thin
            text = _hover_text(r, short=narrow)
            xs_all, ys_all = [], []
            for s, e in _feature_parts(r):
                x0, x1 = max(s, lo - 1) + 0.5, min(e, hi + 1) + 0.5
                n_edge = min(40, max(0, int((x1 - x0) / max(span / 40, 1))))
                xs, ys = (_arrow(x0, x1, y, h, strand == 1, head, n_edge) if is_arrow and not narrow else
                          ([x0, x1, x1, x0, x0], [y - h, y - h, y + h, y + h, y - h]))
                xs_all += [*xs, None]
                ys_all += [*ys, None]
            key = (str(r["type"]), strand)
            tx, ty, tt = traces.setdefault(key, ([], [], []))
            tx += xs_all
            ty += ys_all
            tt += [text] * len(xs_all)
            name = str(r.get("name") or r.get("locus_tag") or "")
            if is_arrow and name and name != "nan":  # gene and RNA names; promoters and TSS say theirs on hover
                cand.append((max(r["start"], lo), min(r["end"], hi), lane, y, name))
        if cand:
            a, b, ln, ys, names = zip(*cand)
            keep = place_labels(a, b, ln, [label_width(t, nt_per_px) for t in names])
            for i in np.flatnonzero(keep).tolist():
                label_x.append((a[i] + b[i]) / 2 + 0.5)
                label_y.append(ys[i] + strand * 0.42)
                label_t.append(_escape(names[i]))
    shown = set()
    for (ftype, strand), (xs, ys, tt) in traces.items():
        fig.add_trace(go.Scatter(
            x=xs, y=ys, text=tt, mode="lines", fill="toself", fillcolor=feature_color(ftype),
            line=dict(color=feature_color(ftype), width=0.5), hoveron="points", hoverinfo="text",
            name=ftype, legendgroup=f"feature-{ftype}", showlegend=ftype not in shown), row=row, col=1)
        shown.add(ftype)
    if label_t:
        fig.add_trace(go.Scatter(x=label_x, y=label_y, text=label_t, mode="text", textfont=dict(size=10),
                                 hoverinfo="skip", showlegend=False, name="feature labels"), row=row, col=1)
    top = 0.6 + LANE_STEP * max_lane + 0.6
    fig.add_hline(y=0, line=dict(color="#999999", width=1), row=row, col=1)
    fig.update_yaxes(range=[-top, top], tickvals=[top * 0.55, -top * 0.55], ticktext=["+", "−"],
                     showgrid=False, fixedrange=True, row=row, col=1)


def _add_sequence(fig, row, sequence, annotation, lo: int, hi: int, vspan: int | None = None):
    letters = sequence_letters(sequence, lo, hi)
    x = np.arange(lo, hi) + 1
    chars = letters.tobytes().decode("ascii", "replace")
    size = int(np.clip(1.5 * PLOT_PX / max(vspan or hi - lo, 1), 6, 14))  # letters shrink to fit the plot width
    fig.add_trace(go.Scatter(x=x, y=np.zeros(len(x)), text=list(chars), mode="text",
                             textfont=dict(size=size, family="monospace",
                                           color=[BASE_COLORS.get(c, "#555") for c in chars]),
                             hovertext=[f"{c} at {i:,}" for c, i in zip(chars, x)], hoverinfo="text",
                             name="sequence", showlegend=False), row=row, col=1)
    ticks = ([0], ["5'→3'"])
    if annotation is not None and getattr(annotation, "codon_pos", None):
        for strand, y in (("+", 1), ("-", -1)):
            cp = np.asarray(annotation.codon_pos[strand][lo:hi])
            m = cp > 0
            if m.any():
                fig.add_trace(go.Scatter(
                    x=x[m], y=np.full(m.sum(), y), text=[str(v) for v in cp[m]], mode="text",
                    textfont=dict(size=max(6, size - 2), color=[CODON_POS_COLORS[int(v)] for v in cp[m]]),
                    hovertext=[f"codon position {v} ({strand} strand gene)" for v in cp[m]], hoverinfo="text",
                    showlegend=False, name=f"codon positions {strand}"), row=row, col=1)
        ticks = ([1, 0, -1], ["codon +", "base", "codon −"])
    fig.update_yaxes(range=[-1.7, 1.7], tickvals=ticks[0], ticktext=ticks[1], showgrid=False, fixedrange=True,
                     row=row, col=1)


def translation_codons(sequence, lo: int, hi: int, strands=("+", "-"), annotation=None,
                       default_table: int = DEFAULT_TABLE) -> pd.DataFrame:
    """The translation row's codons over [lo, hi) (`interpret.translation.window_translation`): the three frames
    of each strand holding a CDS there, with that CDS's codons marked; without a CDS, the forward frames and the
    reverse ones too when the − pass is among `strands`. CDS come with their qualifiers (/codon_start,
    /transl_table) from a SeqRecord `sequence`, else from the annotation's feature table (frame from the ends)."""
    if isinstance(sequence, np.ndarray):  # token ids or ASCII codes: letters, as for the sequence row
        sequence = sequence_letters(sequence, 0, len(sequence)).tobytes().decode("ascii", "replace")
    if hasattr(sequence, "features"):
        cds = cds_from_record(sequence, lo, hi)
    else:
        cds = cds_from_features(getattr(annotation, "features", None), lo, hi, default_table)
    on = sorted({c.strand for c in cds}, reverse=True) or ([1, -1] if "-" in strands else [1])
    return window_translation(sequence, lo, hi, on, cds, default_table, length=len(sequence))


def _boxes(codons: pd.DataFrame, ys: np.ndarray, h: float) -> tuple[list, list]:
    xs_all, ys_all = [], []
    for a, b, y in zip(codons["start"].tolist(), codons["end"].tolist(), ys.tolist()):
        xs_all += [a + 0.5, b + 0.5, b + 0.5, a + 0.5, a + 0.5, None]
        ys_all += [y - h, y - h, y + h, y + h, y - h, None]
    return xs_all, ys_all


def _add_translation(fig, row, codons: pd.DataFrame, vspan: int):
    """One lane per strand and frame: amino acids at their codon's middle base; a CDS's codons on a band of its
    colour, start codons (M) and stops (*) on the start/stop-codon colours."""
    lanes = [(st, f) for st in (1, -1) if (codons["strand"] == st).any() for f in range(3)]
    lane_y = {k: -j for j, k in enumerate(lanes)}
    y = np.array([lane_y[k] for k in zip(codons["strand"], codons["frame"])], dtype=float)
    for name, mask, color, alpha, edge in (
            ("CDS codons", codons["in_cds"].to_numpy(bool), feature_color("CDS"), 0.3, 0),
            ("start codons", (codons["kind"] == "start").to_numpy(), class_color("start_codon"), 0.2, 1.5),
            ("stop codons", (codons["kind"] == "stop").to_numpy(), class_color("stop_codon"), 0.3, 1.5)):
        if mask.any():  # a light fill keeps the letter readable, the outline in the class colour marks the codon
            xs, ys = _boxes(codons[mask], y[mask], 0.42 if name == "CDS codons" else 0.36)
            rgb = tuple(int(color.lstrip("#")[k:k + 2], 16) for k in (0, 2, 4))
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=f"rgba{(*rgb, alpha)}",
                                     line=dict(width=edge, color=color), hoverinfo="skip", name=name,
                                     legendgroup=f"translation-{name}", showlegend=False), row=row, col=1)
    size = int(np.clip(0.8 * 3 * PLOT_PX / max(vspan, 1), 6, 13))  # a letter per codon, within its 3 nt
    for st, f in lanes:
        m = ((codons["strand"] == st) & (codons["frame"] == f)).to_numpy()
        c = codons[m]
        where = [f"{_escape(cds)} " if cds else "" for cds in c["cds"]]
        hover = [f"{w}{aa} ({codon}) {a + 1:,}–{b:,}" for w, aa, codon, a, b
                 in zip(where, c["aa"], c["codon"], c["start"], c["end"])]
        fig.add_trace(go.Scatter(
            x=c["centre"].to_numpy(), y=y[m], text=c["aa"].tolist(), mode="text", hovertext=hover, hoverinfo="text",
            textfont=dict(size=size, family="monospace",
                          color=["#111111" if k else "#8C8C8C" for k in c["in_cds"]]),
            name=f"frame {'+' if st > 0 else '−'}{f + 1}", showlegend=False), row=row, col=1)
    fig.update_yaxes(range=[-len(lanes) + 0.45, 0.55], tickvals=[lane_y[k] for k in lanes],
                     ticktext=[f"{'+' if st > 0 else '−'}{f + 1}" for st, f in lanes], showgrid=False,
                     fixedrange=True, row=row, col=1)


def _add_boundaries(fig, row, passes, stages, lo, hi, edges, tick_limit):
    """Ticks at chunk edges when at most `tick_limit` in view, else the boundary rate per bin (per nt)."""
    lanes = [(s, d) for s in stages for d in passes]
    counts = {}
    for s, d in lanes:
        b = np.asarray(passes[d].stages[s].boundaries)
        counts[(s, d)] = b[(b >= lo) & (b < hi)]
    if sum(len(v) for v in counts.values()) <= tick_limit:
        for j, (s, d) in enumerate(lanes):
            b = np.sort(counts[(s, d)])
            edge = (b if d == "+" else b + 1) + 0.5  # where the chunk starts, in its reading direction
            xs = np.repeat(edge, 3).astype(float)
            xs[2::3] = np.nan
            y = -j
            ys = np.tile([y - 0.38, y + 0.38, np.nan], len(b))
            txt = np.repeat([f"{stage_label(s)} boundary, {d} pass<br>chunk starts at {v + 1:,}" for v in b], 3)
            fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", text=txt, hoverinfo="text",
                                       line=dict(color=stage_color(s), width=1.5 if d == "+" else 1.2),
                                       opacity=1.0 if d == "+" else 0.75, name=f"{stage_label(s)} boundaries",
                                       legendgroup=f"stage{s}", showlegend=False), row=row, col=1)
        fig.update_yaxes(range=[-len(lanes) + 0.4, 0.6], tickvals=[-j for j in range(len(lanes))],
                         ticktext=[f"{stage_label(s)} {d}" for s, d in lanes], showgrid=False, fixedrange=True,
                         row=row, col=1)
        return
    edges = bin_edges(lo, hi, min(len(edges) - 1, max(1, (hi - lo) // 20)))  # >= 20 nt per bin: a rate, not noise
    centres = (edges[:-1] + edges[1:]) / 2 + 0.5
    widths = np.diff(edges)
    for s, d in lanes:
        rate = np.bincount(bin_index(counts[(s, d)], edges), minlength=len(widths))[: len(widths)] / widths
        fig.add_trace(go.Scattergl(x=centres, y=rate, mode="lines", name=f"{stage_label(s)} {d}",
                                   line=dict(color=stage_color(s), dash=STRAND_DASH[d], width=1.2),
                                   legendgroup=f"stage{s}", showlegend=False,
                                   hovertemplate=f"{stage_label(s)} {d}: %{{y:.3f}} boundaries/nt<extra></extra>"),
                      row=row, col=1)
    fig.update_yaxes(title_text="Boundaries<br>per nt", rangemode="tozero", row=row, col=1)


def _add_p(fig, row, passes, stages, lo, hi, edges, binned_view, agg, markers=True):
    for s in stages:
        for d, sp in passes.items():
            st = sp.stages[s]
            pos, p = np.asarray(st.positions), np.asarray(st.p)
            if binned_view:
                x, y = (edges[:-1] + edges[1:]) / 2 + 0.5, binned(pos, p, edges, agg)
            else:
                keep = (pos >= lo) & (pos < hi)
                order = np.argsort(pos[keep])
                x, y = pos[keep][order] + 1, p[keep][order]
            fig.add_trace(go.Scattergl(
                x=x, y=y, mode="lines+markers" if (not binned_view and markers) else "lines",
                marker=dict(size=4), line=dict(color=stage_color(s), dash=STRAND_DASH[d], width=1.2),
                name=f"{stage_label(s)} ({d} pass)", legendgroup=f"stage{s}",
                hovertemplate=f"{stage_label(s)} {d}: p=%{{y:.3f}} at %{{x:,.0f}}<extra></extra>"), row=row, col=1)
    fig.add_hline(y=0.5, line=dict(color="#999999", width=1, dash="dot"), row=row, col=1)
    fig.update_yaxes(range=[-0.03, 1.03], row=row, col=1)


def _add_surprisal(fig, row, passes, lo, hi, edges, binned_view, agg):
    for d, sp in passes.items():
        bits = sp.surprisal_bits()
        if binned_view:
            x, y = (edges[:-1] + edges[1:]) / 2 + 0.5, binned(np.arange(sp.length), bits, edges, agg)
        else:
            x, y = np.arange(lo, hi) + 1, bits[lo:hi]
        fig.add_trace(go.Scattergl(x=x, y=y, mode="lines", line=dict(color=SURPRISAL_COLORS[d], width=1.1),
                                   name=f"surprisal ({d} pass)",
                                   hovertemplate=f"{d} pass: %{{y:.2f}} bits at %{{x:,.0f}}<extra></extra>"),
                      row=row, col=1)
    fig.add_hline(y=2.0, line=dict(color="#999999", width=1, dash="dot"), row=row, col=1)  # uniform guess
    fig.update_yaxes(rangemode="tozero", row=row, col=1)


def _add_gc(fig, row, sequence, length, lo, hi, edges, binned_view, window):
    pos, gc = gc_track(sequence, lo, hi, window, length)
    if binned_view:
        x, y = (edges[:-1] + edges[1:]) / 2 + 0.5, binned(pos, gc, edges, "mean")
    else:
        x, y = pos + 1, gc
    fig.add_trace(go.Scattergl(x=x, y=100 * y, mode="lines", line=dict(color=GC_COLOR, width=1.1),
                               name=f"GC ({window:,} nt window)",
                               hovertemplate="GC %{y:.1f}% at %{x:,.0f}<extra></extra>"), row=row, col=1)
    fig.update_yaxes(title_text=f"GC %<br>({window:,} nt)", row=row, col=1)


# ------------------------------------------------------------------------------------------ figure


def genome_tracks(trace, record_id: str | None = None, *, annotation=None, sequence=None,
                  region: tuple[int, int] | None = None, view: tuple[int, int] | None = None, strands=("+", "-"),
                  stages=None, rows=("features", "sequence", "translation", "boundaries", "p", "surprisal", "gc"),
                  max_bins: int = 1600, agg: str = "mean", tick_limit: int = 4000, letters_limit: int = 300,
                  gc_window: int | None = None, height: int | None = None, title: str | None = None) -> go.Figure:
    """Stacked genome tracks of one record over `region` (0-based half-open; default: what the trace covers).

    trace: dnahnet Trace (or None for an annotation-only view); annotation: RecordAnnotation (features, codon
    positions); sequence: str/Seq/SeqRecord/token ids of the forward strand (letters, translation, GC; a SeqRecord
    also gives its CDS's /codon_start and /transl_table to the translation row).
    view: the stretch shown at first (inside `region`; default all of it). The rest of `region` is a margin to
    pan and zoom into in the browser (wheel and drag, x only): bins, letters and labels are sized for the view.
    """
    passes = {}
    if trace is not None:
        record_id = record_id or trace.record_ids[0]
        for d in strands:
            try:
                passes[d] = trace.get(record_id, d)
            except KeyError:
                pass
    first = next(iter(passes.values()), None)
    length = first.length if first else (annotation.length if annotation is not None else len(sequence))
    if region is None:
        region = first.region if first is not None and first.region else (0, length)
    lo, hi = max(0, int(region[0])), min(length, int(region[1]))
    if hi <= lo:
        raise ValueError(f"empty region {region}: need start < end within 0..{length:,}")
    v_lo, v_hi = (lo, hi) if view is None else (max(lo, int(view[0])), min(hi, int(view[1])))
    if v_hi <= v_lo:
        raise ValueError(f"view {view} lies outside the region {lo + 1:,}–{hi:,}")
    stages = list(range(len(first.stages))) if (stages is None and first) else list(stages or [])
    span, vspan = hi - lo, v_hi - v_lo
    ratio = span / vspan  # the loaded stretch gets as many bins, ticks per nt as the view alone would
    binned_view = vspan > 2 * max_bins
    edges = bin_edges(lo, hi, int(round(max_bins * ratio)))
    tick_limit = int(tick_limit * ratio)
    letters = sequence is not None and vspan <= letters_limit and span <= 5 * letters_limit

    wanted = []
    for r in rows:
        if r == "features" and annotation is not None:
            wanted.append(r)
        elif r in ("sequence", "translation") and letters:
            wanted.append(r)
        elif r in ("boundaries", "p", "surprisal") and passes and (stages or r == "surprisal"):
            wanted.append(r)
        elif r == "gc" and sequence is not None:
            wanted.append(r)
    if not wanted:
        raise ValueError("nothing to draw: give a trace, an annotation or a sequence")
    codons = translation_codons(sequence, lo, hi, strands, annotation) if "translation" in wanted else None
    n_ticks = sum(int(np.count_nonzero((sp.stages[s].boundaries >= lo) & (sp.stages[s].boundaries < hi)))
                  for sp in passes.values() for s in stages)
    px = [26 + 22 * len(stages) * len(passes) if r == "boundaries" and n_ticks <= tick_limit else
          24 + 16 * 3 * codons["strand"].nunique() if r == "translation" else ROW_PX[r] for r in wanted]
    fig = make_subplots(rows=len(wanted), cols=1, shared_xaxes=True, vertical_spacing=0.018,
                        row_heights=[p / sum(px) for p in px])
    for i, r in enumerate(wanted, start=1):
        if r == "features":
            _add_features(fig, i, visible_features(annotation.features, lo, hi), lo, hi, vspan)
        elif r == "sequence":
            _add_sequence(fig, i, sequence, annotation, lo, hi, vspan)
        elif r == "translation":
            _add_translation(fig, i, codons, vspan)
        elif r == "boundaries":
            _add_boundaries(fig, i, passes, stages, lo, hi, edges, tick_limit)
        elif r == "p":
            _add_p(fig, i, passes, stages, lo, hi, edges, binned_view, agg, markers=vspan <= 600)
        elif r == "surprisal":
            _add_surprisal(fig, i, passes, lo, hi, edges, binned_view, agg)
        elif r == "gc":
            window = gc_window or int(np.clip(vspan // 150 | 1, 21, 5001))
            _add_gc(fig, i, sequence, length, lo, hi, edges, binned_view, window)
        if not fig.layout[f"yaxis{i if i > 1 else ''}"].title.text:
            fig.update_yaxes(title_text=ROW_TITLES[r], row=i, col=1)
    # one x-axis for every row (wheel zoom and drag pan move them together), kept inside what is loaded
    fig.update_xaxes(range=[v_lo + 0.5, v_hi + 0.5], minallowed=lo + 0.5, maxallowed=hi + 0.5, showspikes=True,
                     spikemode="across", spikethickness=1, spikecolor="#999999")
    name = record_id or getattr(annotation, "record_id", "") or "record"
    fig.update_xaxes(title_text=f"Position on {name} (nt, 1-based)", tickformat=",d", row=len(wanted), col=1)
    note = f" — {agg} per {span / (len(edges) - 1):,.0f} nt bin" if binned_view else ""
    n_legend = sum(1 for t in fig.data if t.showlegend is not False and t.name)
    legend_rows = max(1, -(-n_legend // 6))
    apply_layout(fig, title or f"{name}: {v_lo + 1:,}–{v_hi:,} ({vspan:,} nt){note}",
                 height=height or sum(px) + 110 + 24 * legend_rows, legend_rows=legend_rows)
    # drag pans and the wheel zooms along x (the y-axes stay fixed, as in IGV); uirevision keeps a zoom made in
    # the browser until the figure shows another view
    fig.update_layout(hovermode="closest", dragmode="pan", uirevision=f"{name}:{v_lo}-{v_hi}")
    fig.update_yaxes(title_font=dict(size=12), fixedrange=True)
    return fig


__all__ = ["genome_tracks", "bin_edges", "binned", "gc_track", "sequence_letters", "visible_features",
           "assign_lanes", "place_labels", "label_width", "translation_codons", "ROWS"]
