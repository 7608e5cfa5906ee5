"""The browser's tracks while the model reads the genome: the annotation rows (features, GC; bases when zoomed in) at
once, then the model's rows (boundaries, p, surprisal per stage and pass) filled in as its windows finish.

`app.runner` draws them above the Browser page while an analysis runs in the script, from the partial snapshots of
`dnahnet.analyze(..., partial=)` (`dnahnet.partial_trace`), and clears them when the run ends: the page then draws the
finished figure, cached as before. A live figure is never cached and offers no download or image button: it says
what is still computing, and it is not the result.
"""
from __future__ import annotations

import html
import time

import streamlit as st

from app import results, viewport
from app.components import plain
from interpret.figures_tracks import ROWS
from interpret.style import stage_label

MIN_REDRAW_S = 1.0  # at least this long between two redraws…
REDRAW_COST = 3.0  # …and this many times the last redraw's cost: drawing takes at most a quarter of the run


class LiveTracks:
    """The live browser figure of one request in `slot` (an `st.empty`): `show(trace, fraction)` draws it (trace
    None: the annotation only), `on_partial` is `analyze`'s partial callback (throttled), `clear` removes it."""

    def __init__(self, request, slot):
        self.request, self.slot = request, slot
        span = request.settings.region or (0, len(request.record))
        self.window = viewport.upcoming(request.key, span)  # the window the page will open on
        self.loaded = viewport.with_margin(self.window, span)
        self.drawn_at, self.cost, self.draws = 0.0, 0.0, 0
        self.broken = False  # a figure failed: no more redraws

    def on_partial(self, fraction: float, snapshot) -> None:
        """Redraw with what the model has decided so far when a redraw is due (a fast run is not slowed by them).
        The last call (fraction 1) draws nothing: the page draws the finished figure right after."""
        due = time.perf_counter() - self.drawn_at >= max(MIN_REDRAW_S, REDRAW_COST * self.cost)
        if due and not self.broken and fraction < 1.0:
            self.show(snapshot(), fraction)

    def show(self, trace, fraction: float):
        """Draw the figure of `trace` (partial, or None before any model output) at `fraction` done; returns it
        (None when there is nothing to draw). A figure that fails says so and stops the live view, not the run."""
        t0 = time.perf_counter()
        try:
            fig = self.figure(trace, fraction)
        except ValueError:  # nothing to draw in this window: the page says so once the run is done
            return None
        except Exception as e:  # noqa: BLE001 - the analysis goes on; the page draws its tracks when it is done
            self.broken = True
            self.slot.caption(f"The tracks cannot be drawn while the model runs ({plain(f'{type(e).__name__}: {e}')})"
                              "; they appear when the analysis is done.")
            return None
        self.draws += 1
        with self.slot.container():
            st.caption(self.status_line(trace, fraction))
            st.plotly_chart(fig, key=f"live_tracks_{self.draws}", config={"displayModeBar": False})
        self.drawn_at = time.perf_counter()
        self.cost = self.drawn_at - t0
        return fig

    def clear(self) -> None:
        self.slot.empty()

    def status_line(self, trace, fraction: float) -> str:
        n_stages = trace.n_stages if trace is not None else 0
        stages = " and ".join(stage_label(s) for s in range(n_stages)) or "the model's"
        both = self.request.settings.strands == "both"
        order = " (the + and − passes, side by side where there is a core for each)" if both else ""
        return (f"**Model tracks: computing… {100 * fraction:.0f} %.** The genome's features and GC are drawn; "
                f"{stages} boundaries, p and surprisal fill in as the model's windows finish{order}. The page opens "
                "in full when the analysis is done.")

    def figure(self, trace, fraction: float):
        """The browser's figure of the window with the session's track choices (as the page reads them)."""
        ss, record = st.session_state, self.request.record
        annotation = results.annotation(self.request)
        passes = [sp.strand for sp in trace.passes] if trace is not None else []
        n_stages = trace.n_stages if trace is not None else 0
        stages = [s for s in ss.get("browser_stages") or [] if s < n_stages] or list(range(n_stages))
        strands = [d for d in ss.get("browser_strands") or [] if d in passes] or passes or ["+", "-"]
        rows = [r for r in ss.get("browser_rows") or [] if r in ROWS] or list(ROWS)
        types = sorted(set(annotation.features["type"]) - {"source"})
        feature_types = ss.get("browser_feature_types")
        if not feature_types or not set(feature_types) <= set(types):
            feature_types = viewport.default_feature_types(types)
        lo, hi = self.window
        title = (f"{html.escape(str(record.id))}: {lo + 1:,}–{hi:,} ({hi - lo:,} nt) — model tracks computing… "
                 f"{100 * fraction:.0f} %")
        return results.draw_tracks(trace, annotation, record, self.loaded, self.window, tuple(strands),
                                   tuple(stages), tuple(rows), tuple(feature_types), title=title)
