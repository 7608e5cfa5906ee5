"""The app's first plot: time to the annotation tracks, to the first model tracks and to the finished Browser page on
the default sample genome (phage lambda) with every cache empty (a fresh process: Streamlit's caches; a fresh
DNAHNET_CACHE_DIR: the trace cache), in AppTest, the way `streamlit run app/main.py` opens. Prints a table.

    python bench/bench_app.py                          # bundled checkpoint, the whole lambda genome, both strands
    python bench/bench_app.py --locus 1-3,000 --threads 1     # smoke run: a 3 kb region
    python bench/bench_app.py --checkpoint checkpoints/dnahnet-v2 --repeats 3

Milestones are seconds from the start of the run: the sample opened (genome parsed), the annotation tracks drawn
(the first plot), the model loaded, the first model tracks drawn (a partial trace), and the page's finished figure
(the whole script run). Repeats after the first clear Streamlit's caches and use a new trace cache (imports stay
warm: the first row is the cold one).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sample_genomes.loader import data_dir_status  # noqa: E402

COLUMNS = ("sample opened", "annotation tracks (first plot)", "model loaded", "first model tracks",
           "model tracks complete", "inference")


def one_run(locus: str | None, timeout: float) -> dict[str, float]:
    """One AppTest run of the default page with empty caches -> milestone -> seconds from the run's start."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import dnahnet.checkpoint
    import dnahnet.infer
    import sample_genomes.loader
    from app import live_tracks

    st.cache_data.clear()
    st.cache_resource.clear()
    os.environ["DNAHNET_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_app_cache_")
    marks: dict[str, float] = {}
    t0 = [0.0]

    def mark(name: str, when: float | None = None) -> None:
        marks.setdefault(name, (when or time.perf_counter()) - t0[0])

    def timed(module, name: str, milestone: str, duration: str | None = None):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = original(*args, **kwargs)
            mark(milestone)
            if duration:
                marks[duration] = time.perf_counter() - start
            return out
        setattr(module, name, wrapper)
        return original

    show = live_tracks.LiveTracks.show

    def spy(self, trace, fraction):
        fig = show(self, trace, fraction)
        mark("annotation tracks (first plot)" if trace is None else "first model tracks")
        return fig

    originals = [(sample_genomes.loader, "load_sample", timed(sample_genomes.loader, "load_sample", "sample opened")),
                 (dnahnet.checkpoint, "load", timed(dnahnet.checkpoint, "load", "model loaded")),
                 (dnahnet.infer, "analyze", timed(dnahnet.infer, "analyze", "inference done", "inference"))]
    live_tracks.LiveTracks.show = spy
    try:
        at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=timeout)
        if locus:
            at.query_params["locus"] = locus
        t0[0] = time.perf_counter()
        at.run()
        mark("model tracks complete")
    finally:
        live_tracks.LiveTracks.show = show
        for module, name, original in originals:
            setattr(module, name, original)
    if at.exception:
        raise RuntimeError("the app failed: " + "; ".join(e.message for e in at.exception))
    a = at.session_state["analysis"] if "analysis" in at.session_state else None
    if a is None:
        raise RuntimeError("no analysis (is the default sample on this machine?): "
                           + "; ".join(e.value for e in list(at.error) + list(at.info)))
    if not at.get("plotly_chart"):
        raise RuntimeError("the Browser page drew no figure")
    marks["nt"] = a.settings.n_nt(a.length)
    return marks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="checkpoint directory or name (default: the bundled one)")
    ap.add_argument("--locus", default=None, help="open this region of the sample (as a link's ?locus=) instead")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds AppTest waits for one run")
    args = ap.parse_args(argv)
    where, why = data_dir_status()
    if where is None:
        print(f"no data directory ({why}): the default sample genome is not on this machine")
        return 2
    if args.checkpoint:
        os.environ["DNAHNET_CHECKPOINT"] = args.checkpoint
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [one_run(args.locus, args.timeout) for _ in range(args.repeats)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"default sample{' ' + args.locus if args.locus else ''}, {rows[0]['nt']:,} nt analysed, "
          f"{torch.get_num_threads()} torch threads, load average {load:.1f}; seconds from the start of the run")
    width = max(len(c) for c in COLUMNS)
    print(f"{'milestone':<{width}}  " + "  ".join(f"{'run ' + str(i + 1):>8}" for i in range(len(rows))))
    for c in COLUMNS:
        cells = [f"{r[c]:8.2f}" if c in r else f"{'—':>8}" for r in rows]
        print(f"{c:<{width}}  " + "  ".join(cells))
    print("(inference: the seconds `dnahnet.analyze` took; first model tracks: '—' when the run finished before a "
          "redraw was due)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
