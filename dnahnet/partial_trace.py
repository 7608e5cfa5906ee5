"""What a running analysis has decided so far, for live views (the app's browser fills in its model tracks as windows
finish): `analyze(..., partial=)` hands out a snapshot that builds a `Trace` of the finished passes and the running
ones (`infer._pass_so_far`: undecided positions left out, NaN log-probability there, no latents). The trace is marked
`meta["partial"]` and is never cached or saved by `analyze`.
"""
from __future__ import annotations

from dnahnet.trace import StrandPass, Trace


def trace_so_far(passes: list[StrandPass], fraction: float) -> Trace:
    """The passes begun so far (finished or running, in `analyze`'s order) as a Trace marked partial
    (`meta["partial"]`, `meta["fraction"]`)."""
    return Trace(passes=list(passes), meta={"partial": True, "fraction": float(fraction)})


def is_partial(trace) -> bool:
    """Whether `trace` is a snapshot of a running analysis (never to be cached or exported as complete)."""
    return bool(getattr(trace, "meta", {}).get("partial"))
