"""A figure as the bytes of a file: PNG / SVG / PDF / HTML, for the report, the app's downloads and the CLIs.

Static images come from kaleido (>= 1, driving Chromium; one persistent browser per process) and fall back to
matplotlib when it is missing or fails: `plotly_to_matplotlib` draws the plotly figure again, browser-free, so
the user always gets a file. `static_backend` says which one is in use. matplotlib figures (feature map, logos)
are saved directly. matplotlib loads only when it draws.
"""
from __future__ import annotations

import atexit
import io
import shutil
import threading
import warnings

import numpy as np

from interpret.style import WIDTH, mpl_rc

FIGURE_FORMATS = ("png", "svg", "html", "pdf")

# ------------------------------------------------------------------------------------------ figures

_kaleido_lock = threading.Lock()
_kaleido_state: dict = {"started": False, "error": None}


def find_browser() -> str | None:
    """Path of a Chrome/Chromium kaleido can drive, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def static_backend() -> str:
    """'kaleido' when PNG/SVG come from Chromium, else 'matplotlib (<why>)'."""
    if _kaleido_state["error"]:
        return f"matplotlib ({_kaleido_state['error']})"
    try:
        import kaleido
    except ImportError:
        return "matplotlib (kaleido is not installed)"
    del kaleido  # only whether it imports matters here
    if find_browser() is None:
        return "matplotlib (no Chromium found: run `make browser` or apt-get install chromium)"
    return "kaleido"


def _ensure_kaleido() -> bool:
    """Start kaleido's persistent Chromium once (exports then take ~0.1 s instead of ~2 s)."""
    if _kaleido_state["error"]:
        return False
    if _kaleido_state["started"]:
        return True
    if static_backend() != "kaleido":
        return False
    try:
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
        atexit.register(_stop_kaleido)
        _kaleido_state["started"] = True
        return True
    except Exception as e:  # noqa: BLE001 - any failure means: use the fallback
        _kaleido_state["error"] = f"kaleido could not start: {e}"
        return False


def _stop_kaleido() -> None:
    try:
        import kaleido

        kaleido.stop_sync_server(silence_warnings=True)
    except Exception:  # noqa: BLE001
        pass


def figure_to_bytes(fig, fmt: str, width: int | None = WIDTH, height: int | None = None,
                    scale: float = 1.0, backend: str = "auto") -> bytes:
    """Bytes of a plotly (or matplotlib) figure as png/svg/pdf/html. HTML embeds plotly.js (works offline).

    backend for png/svg/pdf: "auto" (kaleido + Chromium, else matplotlib), "kaleido" (raise if it fails) or
    "matplotlib" (the browser-free renderer below, `plotly_to_matplotlib`)."""
    if backend not in ("auto", "kaleido", "matplotlib"):
        raise ValueError(f"backend must be 'auto', 'kaleido' or 'matplotlib', not {backend!r}")
    fmt = fmt.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"unknown figure format {fmt!r}; choose one of {', '.join(FIGURE_FORMATS)}")
    if hasattr(fig, "savefig"):  # matplotlib figure (feature maps)
        return _mpl_bytes(fig, fmt)
    height = height or fig.layout.height or 500
    if fmt == "html":
        return fig.to_html(include_plotlyjs=True, full_html=True,
                           config={"displaylogo": False, "responsive": True}).encode()
    with _kaleido_lock:
        if backend == "kaleido" and not _ensure_kaleido():
            raise RuntimeError(f"kaleido cannot export: {static_backend()}")
        if backend != "matplotlib" and _ensure_kaleido():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    import plotly.io as pio

                    return pio.to_image(static_copy(fig), format=fmt, width=width, height=height, scale=scale,
                                        validate=False)
            except Exception as e:  # noqa: BLE001
                if backend == "kaleido":
                    raise
                _kaleido_state["error"] = f"kaleido export failed: {str(e).splitlines()[0][:200]}"
    mfig = plotly_to_matplotlib(fig, width=width or WIDTH, height=height)
    return _mpl_bytes(mfig, fmt, dpi=100 * scale, close=True)


def static_copy(fig, max_points: int = 300_000, max_markers: int = 5_000) -> dict:
    """The figure as a dict for a static image: hover-only payload dropped (hovertext, customdata), and WebGL
    line traces turned into SVG ones (headless Chromium renders WebGL lines slowly and SVG exports would embed
    them as bitmaps). Large marker clouds stay WebGL: thousands of SVG circles are slower still."""
    d = fig.to_plotly_json()
    d = {"data": [dict(t) for t in d["data"]], "layout": d["layout"]}
    n_points = [len(t.x) if getattr(t, "x", None) is not None else 0 for t in fig.data]  # (dict arrays are base64)
    for t in d["data"]:
        t.pop("hovertext", None)
        t.pop("customdata", None)
        if "text" in t and "text" not in str(t.get("mode", "")) and t.get("type", "").startswith("scatter"):
            t.pop("text")
    gl = [i for i, t in enumerate(d["data"]) if t.get("type") == "scattergl"]
    clouds = [i for i in gl if str(d["data"][i].get("mode", "")) == "markers"]
    if sum(n_points[i] for i in clouds) > max_markers:
        gl = [i for i in gl if i not in clouds]
    if gl and sum(n_points[i] for i in gl) <= max_points:
        for i in gl:
            d["data"][i]["type"] = "scatter"
    return d


def _mpl_bytes(mfig, fmt: str, dpi: float = 150, close: bool = False) -> bytes:
    buf = io.BytesIO()
    if fmt == "html":
        mfig.savefig(buf, format="svg", bbox_inches="tight")
        svg = buf.getvalue().decode()
        svg = svg[svg.find("<svg"):]
        out = f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{svg}</body></html>".encode()
    else:
        mfig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
        out = buf.getvalue()
    if close and getattr(mfig, "number", None) is not None:  # a pyplot-managed figure: release it
        import matplotlib.pyplot as plt

        plt.close(mfig)
    return out


# ----------------------------------------------------------------------------- plotly drawn by matplotlib

_DASH = {"solid": "-", "dot": ":", "dash": "--", "longdash": "--", "dashdot": "-.", "longdashdot": "-."}
_MARKER = {"circle": "o", "square": "s", "diamond": "D", "triangle-up": "^", "triangle-down": "v",
           "triangle-right": ">", "triangle-left": "<", "line-ns": "|", "line-ew": "_", "cross": "P", "x": "x",
           "star": "*"}


def _arr(v) -> np.ndarray | None:
    """plotly data (list/tuple/ndarray with None gaps) -> float array with NaN gaps, or object array."""
    if v is None:
        return None
    a = np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v
    if a.dtype.kind in "fiub":
        return a.astype(float)
    try:
        return np.array([np.nan if x is None else float(x) for x in a], dtype=float)
    except (TypeError, ValueError):
        return np.array(["" if x is None else str(x) for x in a], dtype=object)


def _color(c, default="#444444"):
    if c is None or isinstance(c, (list, tuple, np.ndarray)):
        return default
    c = str(c)
    if c.startswith("rgba("):
        r, g, b, a = (float(x) for x in c[5:-1].split(","))
        return (r / 255, g / 255, b / 255, a)
    if c.startswith("rgb("):
        r, g, b = (float(x) for x in c[4:-1].split(","))
        return (r / 255, g / 255, b / 255)
    return c


def _axis_key(ref: str, letter: str) -> str:
    """'x2' -> 'xaxis2', 'x' -> 'xaxis'."""
    return f"{letter}axis{ref[1:]}"


class _Axes:
    """matplotlib axes per plotly (xaxis, yaxis) pair, placed by the layout domains."""

    def __init__(self, fig, mfig, width, height):
        lay = fig.layout
        m = lay.margin
        self.l, self.r = (m.l if m.l is not None else 80), (m.r if m.r is not None else 80)
        self.t, self.b = (m.t if m.t is not None else 100), (m.b if m.b is not None else 80)
        self.W, self.H = width, height
        self.lay, self.mfig = lay, mfig
        self.axes: dict = {}
        self.categories: dict[int, list] = {}

    def paper_to_fig(self, x, y):
        pw, ph = self.W - self.l - self.r, self.H - self.t - self.b
        return (self.l + x * pw) / self.W, (self.b + y * ph) / self.H

    def get(self, xref="x", yref="y"):
        key = (xref, yref)
        if key not in self.axes:
            xa, ya = self.lay[_axis_key(xref, "x")], self.lay[_axis_key(yref, "y")]
            xd = xa.domain if xa.domain else (0, 1)
            yd = ya.domain if ya.domain else (0, 1)
            x0, y0 = self.paper_to_fig(xd[0], yd[0])
            x1, y1 = self.paper_to_fig(xd[1], yd[1])
            ax = self.mfig.add_axes((x0, y0, max(x1 - x0, 0.01), max(y1 - y0, 0.01)))
            self.axes[key] = ax
            self._style(ax, xa, ya)
        return self.axes[key]

    def _style(self, ax, xa, ya):
        for a, set_label, set_scale, set_lim, set_ticks in (
                (xa, ax.set_xlabel, ax.set_xscale, ax.set_xlim, ax.set_xticks),
                (ya, ax.set_ylabel, ax.set_yscale, ax.set_ylim, ax.set_yticks)):
            if a.title and a.title.text:
                set_label(a.title.text.replace("<br>", "\n"))
            if a.type == "log":
                set_scale("log")
            if a.range is not None and a.type != "category":
                lo, hi = a.range
                set_lim(10 ** lo if a.type == "log" else lo, 10 ** hi if a.type == "log" else hi)
            if a.tickvals is not None and a.ticktext is not None:
                set_ticks(list(a.tickvals), [str(t) for t in a.ticktext])
            if a.showticklabels is False:
                (ax.set_xticklabels if a is xa else ax.set_yticklabels)([])
        if ya.autorange == "reversed":
            ax.invert_yaxis()

    def cat(self, ax, values):
        """Category labels -> positions, shared per axes."""
        cats = self.categories.setdefault(id(ax), [])
        for v in values:
            if v not in cats:
                cats.append(v)
        return np.array([cats.index(v) for v in values], dtype=float)

    def finish_shared(self):
        """Axes that plotly links with `matches` (shared_xaxes / shared_yaxes) get one common range."""
        for letter, get_lim, set_lim in (("x", "get_xlim", "set_xlim"), ("y", "get_ylim", "set_ylim")):
            groups: dict[str, list] = {}
            for (xref, yref), ax in self.axes.items():
                ref = xref if letter == "x" else yref
                a = self.lay[_axis_key(ref, letter)]
                if a.range is not None:
                    continue
                groups.setdefault(a.matches or ref, []).append(ax)
            for axs in groups.values():
                if len(axs) > 1:
                    lims = np.array([getattr(ax, get_lim)() for ax in axs])
                    lo, hi = np.nanmin(lims.min(axis=1)), np.nanmax(lims.max(axis=1))
                    for ax in axs:
                        getattr(ax, set_lim)(lo, hi)

    def finish_categories(self):
        for ax in self.axes.values():
            cats = self.categories.get(id(ax))
            if cats:
                ax.set_xticks(range(len(cats)), [str(c) for c in cats], rotation=30, ha="right")


def plotly_to_matplotlib(fig, width: int = 1280, height: int = 500):
    """A matplotlib Figure showing the same data as plotly `fig`.

    Not a general plotly renderer: it covers what `interpret.figures` builds (scatter/scattergl lines, markers,
    text and filled polygons, bars with error bars, histograms, heatmaps, subplots by axis domain, reference
    lines, subplot titles, legend), so a user without Chromium still gets the same data in a file."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # rc_context only: figures are built without pyplot's global state
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with plt.rc_context(mpl_rc()):
        mfig = Figure(figsize=(width / 100, height / 100), dpi=100)
        FigureCanvasAgg(mfig)
        axes = _Axes(fig, mfig, width, height)
        bar_groups: dict[int, list] = {}
        prev_xy = None
        for tr in fig.data:
            ax = axes.get(getattr(tr, "xaxis", None) or "x", getattr(tr, "yaxis", None) or "y")
            kind = tr.type
            name = tr.name if (tr.showlegend is not False and tr.name) else None
            if kind in ("scatter", "scattergl"):
                prev_xy = _scatter(ax, axes, tr, name, prev_xy)
            elif kind == "bar":
                bar_groups.setdefault(id(ax), []).append((ax, tr, name))
            elif kind == "histogram":
                x = _arr(tr.x)
                x = x[np.isfinite(x)] if x.dtype.kind == "f" else x
                ax.hist(x, bins=(tr.nbinsx or 50), color=_color(tr.marker.color), alpha=tr.opacity or 0.7, label=name)
            elif kind == "heatmap":
                _heatmap(ax, tr)
        for group in bar_groups.values():
            _bars(group, axes, fig.layout.barmode or "group")
        axes.finish_categories()
        axes.finish_shared()
        _shapes(fig, axes)
        _annotations(fig, axes, mfig)
        title = fig.layout.title.text if fig.layout.title else None
        if title:
            mfig.suptitle(title.replace("<br>", "\n"), x=0.01, ha="left", fontsize=12)
        handles, labels = [], []
        for ax in axes.axes.values():
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels and not lab.startswith("_"):
                    handles.append(h)
                    labels.append(lab)
        if handles and fig.layout.showlegend is not False:  # under the title, as in the plotly layout
            mfig.legend(handles, labels, loc="upper left", ncol=min(6, len(labels)), fontsize=8,
                        bbox_to_anchor=(0.01, 1 - (40 if title else 8) / height))
    return mfig


def _heatmap(ax, tr) -> None:
    """A heat map in its own colour scale and range, placed on numeric x / y cell centres when it has them."""
    from matplotlib.colors import LinearSegmentedColormap

    z = np.asarray(tr.z, dtype=float)
    cmap = "viridis"
    if tr.colorscale:
        cmap = LinearSegmentedColormap.from_list("plotly", [(float(p), _color(c)) for p, c in tr.colorscale])
    extent = None
    x, y = _arr(tr.x), _arr(tr.y)
    if (x is not None and y is not None and x.dtype.kind == "f" and y.dtype.kind == "f" and z.ndim == 2
            and (len(y), len(x)) == z.shape and len(x) and len(y)):
        dx = (x[-1] - x[0]) / max(len(x) - 1, 1) or 1.0
        dy = (y[-1] - y[0]) / max(len(y) - 1, 1) or 1.0
        extent = (x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2)
    ax.imshow(z, aspect="auto", origin="lower", cmap=cmap, interpolation="nearest", extent=extent,
              vmin=tr.zmin, vmax=tr.zmax)


def _scatter(ax, axes, tr, name, prev_xy):
    x, y = _arr(tr.x), _arr(tr.y)
    if y is None:
        return prev_xy
    if x is None:
        x = np.arange(len(y), dtype=float)
    if x.dtype == object:
        x = axes.cat(ax, list(x))
    mode = tr.mode or "lines"
    line_color = _color(tr.line.color if tr.line else None, None) or _color(tr.marker.color if tr.marker else None)
    if tr.fill == "toself":
        ax.fill(x, y, color=_color(tr.fillcolor or line_color), alpha=1.0 if tr.fillcolor else 0.6,
                linewidth=0, label=name)
    elif tr.fill == "tonexty" and prev_xy is not None and len(prev_xy[0]) == len(x):
        ax.fill_between(x, prev_xy[1], y, color=_color(tr.fillcolor or line_color), alpha=0.3, linewidth=0,
                        label=name)
    elif tr.fill == "tozeroy":
        ax.fill_between(x, 0, y, color=_color(tr.fillcolor or line_color), alpha=0.4, linewidth=0, label=name)
    if "lines" in mode and not (tr.line and tr.line.width == 0):
        ax.plot(x, y, color=line_color, linestyle=_DASH.get((tr.line.dash if tr.line else None) or "solid", "-"),
                linewidth=min(2.0, (tr.line.width if tr.line and tr.line.width else 1.5) * 0.75),
                label=None if tr.fill in ("toself", "tonexty") else name)
    if "markers" in mode:
        mk = tr.marker
        c = mk.color
        sym = mk.symbol if isinstance(mk.symbol, str) else "circle"
        size = mk.size if isinstance(mk.size, (int, float)) else 6
        if isinstance(c, (list, tuple, np.ndarray)) and len(c) == len(x) and _arr(c).dtype.kind == "f":
            sc = ax.scatter(x, y, c=_arr(c), s=size ** 2 * 0.5, cmap="viridis", marker=_MARKER.get(sym, "o"),
                            label=name, linewidths=0)
            if mk.showscale:
                ax.figure.colorbar(sc, ax=ax, fraction=0.03)
        else:
            cols = [_color(v) for v in c] if isinstance(c, (list, tuple, np.ndarray)) else _color(c, line_color)
            ax.scatter(x, y, c=cols, s=size ** 2 * 0.5, marker=_MARKER.get(sym, "o"), linewidths=0,
                       label=name if "lines" not in mode else None)
    if "text" in mode and tr.text is not None:
        txt = list(tr.text) if not isinstance(tr.text, str) else [tr.text] * len(x)
        fc = tr.textfont.color if tr.textfont else None
        ha, va = _text_anchor(tr.textposition if isinstance(tr.textposition, str) else None)
        for i, (xi, yi, t) in enumerate(zip(x[:600], y[:600], txt[:600])):
            col = fc[i] if isinstance(fc, (list, tuple, np.ndarray)) else fc
            ax.annotate(str(t), (xi, yi), ha=ha, va=va, fontsize=7, color=_color(col, "#222222"),
                        xytext=(0, {"bottom": 2, "top": -2}.get(va, 0)), textcoords="offset points")
    return x, y


def _text_anchor(position: str | None) -> tuple[str, str]:
    """plotly textposition ('top center', 'middle right', ...) -> matplotlib (ha, va) of text placed there: text
    'top' of a point sits above it, so its bottom edge is anchored."""
    vert, _, horiz = (position or "middle center").partition(" ")
    va = {"top": "bottom", "bottom": "top"}.get(vert, "center")
    ha = {"right": "left", "left": "right"}.get(horiz, "center")
    return ha, va


def _bars(group, axes, barmode):
    # traces that share an offsetgroup share a slot of the group (plotly overlays them there)
    slot_of = [tr.offsetgroup or f"trace {i}" for i, (_, tr, _) in enumerate(group)]
    slots = list(dict.fromkeys(slot_of))
    n = len(slots)
    width = 0.8 / (n if barmode == "group" else 1)
    for i, (ax, tr, name) in enumerate(group):
        horizontal = tr.orientation == "h"
        cat_vals, num = (_arr(tr.y), _arr(tr.x)) if horizontal else (_arr(tr.x), _arr(tr.y))
        pos = axes.cat(ax, list(cat_vals)) if cat_vals.dtype == object else cat_vals
        if cat_vals.dtype == object and barmode == "group":
            pos = pos + (slots.index(slot_of[i]) - (n - 1) / 2) * width
        c = tr.marker.color
        cols = [_color(v) for v in c] if isinstance(c, (list, tuple, np.ndarray)) else _color(c)
        err = None
        if tr.error_y and tr.error_y.array is not None and not horizontal:
            up = _arr(tr.error_y.array)
            lo = _arr(tr.error_y.arrayminus) if tr.error_y.arrayminus is not None else up
            err = np.vstack([lo, up])
        bw = width if cat_vals.dtype == object else (np.median(np.diff(np.unique(pos))) if len(pos) > 1 else 1.0)
        if horizontal:
            ax.barh(pos, num, height=bw, color=cols, label=name)
        else:
            ax.bar(pos, num, width=bw, color=cols, label=name, yerr=err, capsize=2,
                   error_kw={"elinewidth": 0.8, "ecolor": "#333333"})
            if tr.text is not None and not isinstance(tr.text, str) and tr.textposition in ("outside", "auto"):
                for p, v, t in zip(pos, num, tr.text):  # above the bar's end (error bar caps included by callers)
                    if t and np.isfinite(v):
                        ax.annotate(str(t), (p, v), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                                    textcoords="offset points")


def _shapes(fig, axes):
    for sh in fig.layout.shapes or ():
        xref = (sh.xref or "x").replace(" domain", "")
        yref = (sh.yref or "y").replace(" domain", "")
        if xref == "paper" or yref == "paper":
            continue
        ax = axes.get(xref, yref)
        col = _color(sh.line.color if sh.line else None, "#555555")
        ls = _DASH.get((sh.line.dash if sh.line else None) or "solid", "-")
        y_is_domain = "domain" in (sh.yref or "")
        x_is_domain = "domain" in (sh.xref or "")
        if sh.type == "line":
            if y_is_domain and sh.x0 == sh.x1:
                ax.axvline(sh.x0, color=col, linestyle=ls, linewidth=1)
            elif x_is_domain and sh.y0 == sh.y1:
                ax.axhline(sh.y0, color=col, linestyle=ls, linewidth=1)
            else:
                ax.plot([sh.x0, sh.x1], [sh.y0, sh.y1], color=col, linestyle=ls, linewidth=1)
        elif sh.type == "rect" and y_is_domain:
            ax.axvspan(sh.x0, sh.x1, color=_color(sh.fillcolor, "#DDDDDD"), alpha=sh.opacity or 0.2, linewidth=0)


def _annotations(fig, axes, mfig):
    for an in fig.layout.annotations or ():
        if not an.text:
            continue
        text = str(an.text).replace("<br>", "\n").replace("<b>", "").replace("</b>", "")
        if an.xref == "paper" and an.yref == "paper":
            fx, fy = axes.paper_to_fig(an.x, an.y)
            mfig.text(fx, fy, text, ha="center", va="bottom", fontsize=9)
        elif an.xref and an.yref and "domain" not in an.xref and "domain" not in an.yref and an.xref != "paper":
            axes.get(an.xref, an.yref).annotate(text, (an.x, an.y), fontsize=8, ha="center", va="bottom")
