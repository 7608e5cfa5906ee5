"""The genome browser's window: which part of the record is shown, zooming, panning, finding a gene.

The window is 0-based half-open `(lo, hi)` like every coordinate in code, kept in `st.session_state["view"]`
together with the analysis it belongs to; users type and read 1-based positions. Other pages open a region in
the browser with `open_in_browser(lo, hi)`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

NOTE_TYPES = {"variation", "misc_difference", "unsure", "misc_feature", "misc_binding", "misc_signal", "misc_recomb",
              "misc_structure", "sig_peptide", "mat_peptide", "transit_peptide", "primer_bind", "STS", "old_sequence",
              "conflict", "modified_base", "repeat_region", "protein_bind", "stem_loop"}  # hidden in the first view
DEFAULT_MAX_SPAN = 50_000  # a first view wider than this starts on the first 50 kb (genes stay readable)
MIN_SPAN = 30  # the narrowest window: about ten codons, letters readable
GENE_TYPES = ("gene", "CDS", "rRNA", "tRNA", "ncRNA", "tmRNA", "misc_RNA")  # what a gene search finds
MIN_GENE_NT = 3  # shorter "genes" are sites that carry a gene's name (a variation, a 1-nt misc_feature)
MARGIN = 1.0  # the tracks load this many window widths on each side: wheel zoom and drag pan move into them
LETTERS_SPAN = 300  # at or below this many nt the browser shows bases and codon positions


def clip(lo: int, hi: int, span: tuple[int, int]) -> tuple[int, int]:
    """Keep a window inside the analysed span, at least MIN_SPAN wide (or the whole span when shorter)."""
    a, b = span
    width = min(max(int(hi) - int(lo), MIN_SPAN), b - a)
    lo = int(np.clip(lo, a, b - width))
    return lo, lo + width


def zoom(window: tuple[int, int], factor: float, span: tuple[int, int], centre: float | None = None):
    """Zoom by `factor` (< 1 zooms in) around `centre` (default: the middle of the window)."""
    lo, hi = window
    c = (lo + hi) / 2 if centre is None else centre
    half = max((hi - lo) * factor / 2, MIN_SPAN / 2)
    return clip(int(round(c - half)), int(round(c + half)), span)


def pan(window: tuple[int, int], fraction: float, span: tuple[int, int]):
    """Move the window by `fraction` of its width (negative: left)."""
    lo, hi = window
    step = int(round((hi - lo) * fraction))
    return clip(lo + step, hi + step, span)


def default_window(span: tuple[int, int]) -> tuple[int, int]:
    a, b = span
    return (a, b) if b - a <= DEFAULT_MAX_SPAN else (a, a + DEFAULT_MAX_SPAN)


def default_feature_types(types) -> list[str]:
    """Feature types drawn at first: genes, CDS, RNAs and regulatory elements, not GenBank's notes."""
    return [t for t in types if t not in NOTE_TYPES]


def find_features(features: pd.DataFrame, query: str, limit: int = 50) -> pd.DataFrame:
    """Genes whose name, locus tag or product contains `query` (case-insensitive); exact hits first.

    Only genes count (`GENE_TYPES` of at least `MIN_GENE_NT`): GenBank's notes that carry a gene's name
    (misc_feature, variation, a 1-nt site) never hit. A gene and its CDS or RNA (one locus tag, or one span and
    strand) are one hit: the CDS (or RNA) row, which holds the product.
    """
    q = query.strip().lower()
    if not q or features is None or len(features) == 0:
        return features.iloc[0:0] if features is not None else pd.DataFrame()
    f = features[features["type"].isin(GENE_TYPES) & (features["end"] - features["start"] >= MIN_GENE_NT)]
    cols = [c for c in ("name", "locus_tag", "product") if c in f.columns]
    text = {c: f[c].fillna("").astype(str).str.lower() for c in cols}
    hit = np.zeros(len(f), dtype=bool)
    exact = np.zeros(len(f), dtype=bool)
    for c in cols:
        hit |= text[c].str.contains(q, regex=False).to_numpy()
        exact |= (text[c] == q).to_numpy()
    out = f[hit].assign(_exact=exact[hit], _gene=(f["type"][hit] == "gene").to_numpy())
    out = out.sort_values(["_exact", "_gene", "start"], ascending=[False, True, True])
    # a gene and its CDS: one row per locus tag (where there is one), and one per span and strand
    tag = out["locus_tag"].fillna("").astype(str) if "locus_tag" in out.columns else pd.Series("", index=out.index)
    key = tag.where(~tag.isin(["", "None", "nan"]), out["start"].astype(str) + ":" + out["end"].astype(str)
                    + ":" + out["strand"].astype(str))
    out = out[~key.duplicated(keep="first")].drop_duplicates(subset=["start", "end", "strand"], keep="first")
    return out.drop(columns=["_exact", "_gene"]).head(limit)


def single_match(hits: pd.DataFrame, query: str):
    """The one gene `query` means (the row), or None: the only hit, else the only hit whose name or locus tag is
    exactly `query` (case-insensitive: "lacZ" among lacZ, lacZα-like names)."""
    if hits is None or len(hits) == 0:
        return None
    if len(hits) == 1:
        return hits.iloc[0]
    q = query.strip().lower()
    exact = np.zeros(len(hits), dtype=bool)
    for c in ("name", "locus_tag"):
        if c in hits.columns:
            exact |= (hits[c].fillna("").astype(str).str.lower() == q).to_numpy()
    return hits[exact].iloc[0] if exact.sum() == 1 else None


def example_gene(features: pd.DataFrame | None, span: tuple[int, int]) -> str | None:
    """A gene name (else locus tag) of the open genome inside `span`, for the locus box's placeholder."""
    if features is None or len(features) == 0:
        return None
    f = features[features["type"].isin(GENE_TYPES) & (features["start"] >= span[0]) & (features["end"] <= span[1])]
    for col in ("name", "locus_tag"):
        if col in f.columns:
            names = f[col].fillna("").astype(str)
            names = names[~names.isin(["", "None", "nan"]) & (names.str.len() <= 20)]
            if len(names):
                return names.iloc[0]
    return None


def feature_label(row) -> str:
    name = row.get("name") or row.get("locus_tag") or row.get("type")
    tag = row.get("locus_tag") or ""
    product = str(row.get("product") or "")[:50]
    strand = "+" if row.get("strand", 1) >= 0 else "−"
    bits = [str(name)] + ([str(tag)] if tag and tag != name else []) + ([product] if product else [])
    return f"{' · '.join(bits)}  ({int(row['start']) + 1:,}–{int(row['end']):,} {strand})"


def pick_feature(hits: pd.DataFrame, query: str, key: str, noun: str = "feature", where: str = ""):
    """A select box over `find_features` hits (the row picked), or a caption saying nothing matched (None)."""
    from app.components import plain
    if hits.empty:
        st.caption(f"No {noun} matches “{plain(query)}”{where}.")
        return None
    labels = {i: feature_label(r) for i, r in hits.iterrows()}
    plural = "es" if len(hits) != 1 else ""
    pick = st.selectbox(f"{len(hits)} {'' if noun == 'feature' else noun + ' '}match{plural}", list(labels),
                        format_func=labels.get, key=key)
    return hits.loc[pick]


def window_from_box(boxes: list[dict]) -> tuple[int, int] | None:
    """The 0-based window under a plotly box selection on the tracks (x counts bases from 1), or None."""
    xs = [float(x) for box in boxes or [] for x in box.get("x", [])]
    if len(xs) < 2:
        return None
    lo, hi = int(round(min(xs))) - 1, int(round(max(xs)))
    return (lo, hi) if hi > lo else None


def add_selection_layer(fig, lo: int, hi: int, n_x: int = 150, n_y: int = 5) -> None:
    """A grid of invisible markers over every row: plotly reports a box selection only when it holds selectable
    points, and the track rows are lines and shapes. The grid spans each row's own values (no rescaling)."""
    import plotly.graph_objects as go

    xs = np.linspace(lo + 1, hi, num=int(min(n_x, max(hi - lo, 2))))
    for name in [k for k in fig.layout if k.startswith("yaxis")]:
        axis = fig.layout[name]
        ref = "y" + name[len("yaxis"):]
        if axis.range is not None:
            y0, y1 = float(min(axis.range)), float(max(axis.range))
        else:
            values = [_numbers(t.y) for t in fig.data if (t.yaxis or "y") == ref and t.y is not None]
            values = np.concatenate(values) if values else np.zeros(0)
            values = values[np.isfinite(values)]
            y0, y1 = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        gx, gy = np.meshgrid(xs, np.linspace(y0, y1, n_y))
        fig.add_trace(go.Scatter(x=gx.ravel(), y=gy.ravel(), xaxis=axis.anchor or "x", yaxis=ref, mode="markers",
                                 marker=dict(size=2, opacity=0), hoverinfo="none", showlegend=False,
                                 name="selection"))


def _numbers(values) -> np.ndarray:
    """A trace's y values as floats (plotly may hold them base64-encoded: {"dtype", "bdata"}); non-numbers dropped."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).astype(float).ravel()
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        return np.zeros(0)


def around(start: int, end: int, span: tuple[int, int], pad: float = 0.25) -> tuple[int, int]:
    """A window showing [start, end) with `pad` of its length on each side (at least 60 nt)."""
    extra = max(int((end - start) * pad), 30)
    return clip(start - extra, end + extra, span)


def with_margin(window: tuple[int, int], span: tuple[int, int], margin: float = MARGIN) -> tuple[int, int]:
    """What the tracks load for `window`: `margin` widths more on each side, inside the analysed span."""
    lo, hi = window
    extra = int(round((hi - lo) * margin))
    return max(span[0], lo - extra), min(span[1], hi + extra)


# ---------------------------------------------------------------------------------------------- locus box
@dataclass(frozen=True)
class Locus:
    """What was typed in the locus box: a stretch (`lo`, `hi` 0-based half-open; `record` when one was named)
    or a gene `name` / locus tag to look up."""

    lo: int | None = None
    hi: int | None = None
    record: str | None = None
    name: str | None = None


_LOCUS = re.compile(r"^(?:(?P<record>[^\s:]+):)?\s*(?P<a>\d[\d,]*)(?:\s*(?:-|–|—|\.\.)\s*(?P<b>\d[\d,]*))?$")


def parse_locus(text: str) -> Locus:
    """`NC_000913.3:1,000-2,000`, `1000-2000`, `1000..2000`, `1,500` (one base) or a gene name / locus tag, as
    IGV's locus box reads them (1-based, both ends included); ValueError says what is wrong with a stretch."""
    t = (text or "").strip()
    if not t:
        raise ValueError("type a stretch (1,000-2,000 or RECORD:1,000-2,000) or a gene name or locus tag")
    m = _LOCUS.match(t)
    if m is None:
        return Locus(name=t)
    a = int(m["a"].replace(",", ""))
    b = int(m["b"].replace(",", "")) if m["b"] else a
    if a < 1:
        raise ValueError("positions count from 1")
    if b < a:
        raise ValueError(f"the end ({b:,}) comes before the start ({a:,})")
    return Locus(a - 1, b, m["record"])


def same_record(typed: str, record_id: str) -> bool:
    """Whether `typed` names `record_id` (case aside; an accession without its version counts)."""
    t, r = typed.strip().lower(), str(record_id).lower()
    return t == r or t == r.split(".")[0]


def locus_window(text: str, record_id: str, span: tuple[int, int], features: pd.DataFrame | None):
    """What a typed locus opens: (window or None, gene hits or None).

    A stretch gives its window (a short one centred in a readable window) and no hits; ValueError when it names
    another record or lies outside the analysed span. A name gives the genes it matches inside the span and the
    window around the one it means (`single_match`), or None when it means several or none.
    """
    loc = parse_locus(text)
    a, b = span
    if loc.name is None:
        if loc.record and not same_record(loc.record, record_id):
            raise ValueError(f"“{loc.record}” is not the record open here ({record_id})")
        if loc.hi <= a or loc.lo >= b:
            raise ValueError(f"{loc.lo + 1:,}–{loc.hi:,} lies outside the analysed region {a + 1:,}–{b:,}")
        lo, hi = max(loc.lo, a), min(loc.hi, b)
        return (clip(lo, hi, span) if hi - lo >= MIN_SPAN else around(lo, hi, span)), None
    hits = find_features(features, loc.name)
    if len(hits):
        hits = hits[(hits["end"] > a) & (hits["start"] < b)]
    one = single_match(hits, loc.name)
    return (around(int(one["start"]), int(one["end"]), span) if one is not None else None), hits


# ---------------------------------------------------------------------------------------------- session state
# A window change is a *request* applied at the top of the next run of the browser page, before its widgets
# exist: Streamlit forbids changing a widget's value after the widget was drawn in the same run.
def upcoming(key: str, span: tuple[int, int]) -> tuple[int, int]:
    """The window the browser will show for the analysis `key` over `span`: a pending request, else the last
    window, else the default. Leaves the request pending (`current` takes it); the live tracks drawn while an
    analysis runs (`app.live_tracks`) show this window."""
    pending = st.session_state.get("view_pending")
    got = st.session_state.get("view")
    if pending is not None and pending[0] in (key, None):
        return clip(*pending[1], span)
    if got and got[0] == key:
        return got[1]
    return default_window(span)


def current(analysis) -> tuple[int, int]:
    """This session's window for `analysis`: a pending request, else the last window, else the default."""
    window = upcoming(analysis.key, analysis.span)
    st.session_state.pop("view_pending", None)
    st.session_state["view"] = (analysis.key, window)
    # the typed-in coordinates always show the window (1-based), also after a visit to another page
    st.session_state["view_start"] = window[0] + 1
    st.session_state["view_end"] = window[1]
    return window


def request(analysis, window: tuple[int, int]) -> None:
    """Ask for `window` (0-based half-open) on the browser's next run."""
    st.session_state["view_pending"] = (analysis.key if analysis is not None else None, tuple(map(int, window)))


def open_in_browser(analysis, lo: int, hi: int) -> None:
    """Show [lo, hi) in the browser page and switch to it (keeping the sidebar's genome and settings)."""
    from app import page_links

    request(analysis, (lo, hi))
    page_links.switch_page("views/browser.py")
