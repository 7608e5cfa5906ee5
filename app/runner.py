"""Running analyses: reuse (memo, then dnahnet's disk cache), run small ones in the page, long ones in the
background.

A long run (more than AUTO_RUN_NT nucleotides, started with a click) lives in a server-wide job thread, so a user
who opens another page, or another user who opens the same genome, neither restarts nor duplicates it; the page
polls its progress once a second. Small runs happen in the script itself, with a progress bar.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

import streamlit as st

from app.components import plain
from app.state import Analysis, Request, current, device_label, load_model

AUTO_RUN_NT = int(os.environ.get("DNAHNET_APP_AUTORUN_NT", 150_000))  # analysed without a click up to this size
MEMO_ENTRIES = 6  # analyses kept in memory per server


@st.cache_resource
def _memo() -> tuple[OrderedDict, threading.Lock, dict]:
    """Server-wide: recent analyses by request key, a lock, and the last measured speed (nt/s)."""
    return OrderedDict(), threading.Lock(), {}


def cached_analysis(request: Request) -> Analysis | None:
    memo, lock, _ = _memo()
    with lock:
        hit = memo.get(request.key)
        if hit is not None:
            memo.move_to_end(request.key)
    return hit


def estimate_seconds(n_nt: int) -> float | None:
    """Seconds for `n_nt` at the speed of the last analysis on this server, None before the first."""
    speed = _memo()[2].get("nt_per_s")
    return n_nt / speed if speed else None


def run_analysis(request: Request, progress=None, dnahnet_model=None, partial=None) -> Analysis:
    """Analyse `request` (memo, then dnahnet's disk cache, then the model) and remember the result; `partial` is
    `dnahnet.analyze`'s (snapshots of a run for live views: only the finished trace is cached and remembered)."""
    import dnahnet
    from dnahnet.threads import governed  # the run re-checks other processes' load (adaptive thread policy)

    hit = cached_analysis(request)
    if hit is not None:
        return hit
    t0 = time.perf_counter()
    the_model = dnahnet_model or load_model(request.checkpoint)
    trace = dnahnet.analyze([request.record], the_model, strands=request.settings.strands,
                           region=request.settings.region, progress=governed(progress), partial=partial)
    seconds = time.perf_counter() - t0
    cached = bool(trace.meta.get("cache", {}).get("hit"))
    analysis = Analysis(key=request.key, source_label=request.source_label, record=request.record, trace=trace,
                        settings=request.settings, companion=request.companion,
                        companion_key=request.companion_key, seconds=seconds, cached=cached,
                        notes=list(trace.meta.get("problems", [])))
    memo, lock, speed = _memo()
    with lock:
        memo[request.key] = analysis
        while len(memo) > MEMO_ENTRIES:
            memo.popitem(last=False)
        if not cached and seconds > 0.5:
            speed["nt_per_s"] = request.settings.n_nt(len(request.record)) / seconds
    return analysis


# ---------------------------------------------------------------------------------------------- background jobs
@dataclass
class Job:
    """A long analysis running in a thread; the fields are written by the thread and read by the pages."""

    request: Request
    fraction: float = 0.0
    message: str = "starting"
    started: float = 0.0
    done: bool = False
    error: str | None = None


@st.cache_resource
def _jobs() -> tuple[dict, threading.Lock]:
    return {}, threading.Lock()


def start_job(request: Request) -> Job:
    """The running job for this request, or a new one (the model is resolved here, in the script thread)."""
    jobs, lock = _jobs()
    the_model = load_model(request.checkpoint)
    with lock:
        job = jobs.get(request.key)
        if job is not None and job.error is None:
            return job
        job = jobs[request.key] = Job(request, started=time.time())

    def progress(fraction, message):
        job.fraction, job.message = float(fraction), str(message)

    def work():
        try:
            run_analysis(request, progress, the_model)
        except Exception as e:  # noqa: BLE001 - shown on the page, the user can retry
            job.error = f"{type(e).__name__}: {e}"
        job.done = True

    threading.Thread(target=work, name=f"dnahnet-analysis-{request.key[:8]}", daemon=True).start()
    return job


def _finish_job(request: Request) -> None:
    jobs, lock = _jobs()
    with lock:
        jobs.pop(request.key, None)


@st.fragment(run_every=1.0)
def _job_progress(key: str) -> None:
    """Redrawn every second: the job's progress; a full rerun when it is over."""
    job = _jobs()[0].get(key)
    if job is None or job.done:
        st.rerun()
    elapsed = time.time() - job.started
    st.progress(min(max(job.fraction, 0.0), 1.0), text=f"{plain(job.message)} · {_duration(elapsed)} so far")


# ---------------------------------------------------------------------------------------------- the session
def ensure_analysis(request: Request | None, area, live_tracks: bool = False) -> Analysis | None:
    """Make the session's analysis match `request`: reuse, run (small or asked for), or wait for a click.

    The pages always show what the sidebar names: no request, or one waiting for its click or its job, clears
    the session's analysis (it stays in the memo; choosing it again is instant). Messages, progress and the run
    button go into `area` (a container at the top of the page). With `live_tracks` (the Browser page) a run in the
    page shows the genome's tracks at once and fills in the model's as windows finish (`app.live_tracks`).
    """
    st.session_state["waiting_for_run"] = False
    if request is None:
        st.session_state["analysis"] = None
        return None
    now = current()
    if now is not None and now.key == request.key and now.companion_key == request.companion_key:
        return now
    analysis = cached_analysis(request)
    n_nt = request.settings.n_nt(len(request.record))
    if analysis is None and n_nt > AUTO_RUN_NT:
        analysis = _long_run(request, n_nt, area)
        if analysis is None:
            st.session_state["analysis"] = None
            st.session_state["waiting_for_run"] = True
            return None
    elif analysis is None:
        with area:
            analysis = _run_with_progress(request, live_tracks)
    if analysis.companion_key != request.companion_key:
        analysis = replace(analysis, companion=request.companion, companion_key=request.companion_key)
    st.session_state["analysis"] = analysis
    return analysis


def _long_run(request: Request, n_nt: int, area) -> Analysis | None:
    """A run button, then a background job with a progress bar; the analysis once the job has finished."""
    jobs = _jobs()[0]
    job = jobs.get(request.key)
    if job is not None and job.done:
        _finish_job(request)
        if job.error:
            area.error(f"**The analysis of {plain(request.record.id)} failed:** {plain(job.error)}")
            return None
        return cached_analysis(request)
    with area:
        if job is None:
            est = estimate_seconds(n_nt)
            guess = f" — about {_duration(est)} at this server's last speed" if est else ""
            st.info(f"**{plain(request.record.id)}** ({request.settings.describe(len(request.record))}) is {n_nt:,} "
                    f"nt to read on {device_label()}{guess}. It runs in the background (other pages stay usable) "
                    "and is cached, so it happens once per genome and settings."
                    + (" To look at one gene first, type its name, locus tag or a range in the sidebar's region "
                       "box and Apply: that part is analysed at once." if request.settings.region is None else ""))
            if not st.button("Run analysis", type="primary", key="run_button", icon=":material/play_arrow:"):
                return None
            start_job(request)
        st.caption(f"Analysing **{plain(request.record.id)}** ({request.settings.describe(len(request.record))}) "
                   f"on {device_label()}…")
        _job_progress(request.key)
    return None


def offer_whole_record(request: Request, area, on_show) -> None:
    """With a region on screen: "Analyse the whole record" starts `request` (the whole record) as a background job
    while the region stays usable; its progress; then "Show the whole record" (`on_show`, a callback)."""
    job = _jobs()[0].get(request.key)
    if job is not None and job.done:
        _finish_job(request)
        if job.error:
            area.error(f"**The analysis of the whole record failed:** {plain(job.error)}")
        job = None
    if cached_analysis(request) is not None:
        area.button("Show the whole record", key="whole_show", on_click=on_show, icon=":material/unfold_more:",
                    help="Its analysis is ready; the window on screen stays where it is.")
        return
    if job is None:
        n_nt = request.settings.n_nt(len(request.record))
        est = estimate_seconds(n_nt)
        guess = f", about {_duration(est)} here" if est else ""
        if not area.button("Analyse the whole record", key="whole_run", icon=":material/unfold_more:",
                           help=f"{n_nt:,} nt{guess}. It runs in the background: this region stays on screen, and "
                                "the whole record is one click away once it is done (cached per genome)."):
            return
        start_job(request)
    with area:
        st.caption("Analysing the whole record in the background…")
        _job_progress(request.key)


def _run_with_progress(request: Request, live_tracks: bool = False) -> Analysis:
    """The run in the script, with a progress bar; with `live_tracks`, the browser's tracks below it: the annotation
    before the model loads, the model's rows as windows finish; removed when the run ends, failed or not."""
    from app.live_tracks import LiveTracks

    status = st.status(f"Analysing {plain(request.record.id)} with dnaHNet…", expanded=True)
    live = LiveTracks(request, st.empty()) if live_tracks else None
    try:
        with status:
            st.caption(f"{request.settings.describe(len(request.record))} on {device_label()}")
            bar = st.progress(0.0, text="starting")
            if live is not None:
                live.show(None, 0.0)

            def progress(fraction: float, message: str):
                bar.progress(min(max(float(fraction), 0.0), 1.0), text=plain(message))

            analysis = run_analysis(request, progress, partial=live.on_partial if live is not None else None)
            how = "from the cache" if analysis.cached else f"in {_duration(analysis.seconds)}"
            status.update(label=f"Analysed {plain(request.record.id)} {how}", state="complete", expanded=False)
    finally:
        if live is not None:
            live.clear()
    return analysis


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
