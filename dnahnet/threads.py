"""CPU threads: how many this process uses and how they wait, decided in one place for every entry point.

Why: torch's intra-op threads (OpenMP) and numba's `prange` kernels split each parallel region evenly between their
threads and wait at its end for the slowest. Beside a busy process one of two threads shares a core, so every region
waits for a thread that gets half a core (or waits a whole time slice to be scheduled at all): measured on 2 cores,
two threads beside one busy process ran at 0.36 of quiet throughput, below what one thread gets alone. Hence:
- threads wait passively (OMP_WAIT_POLICY=PASSIVE): a thread that finished its share sleeps instead of spinning on
  the core the others need;
- the thread count starts from the cores this process may use (`available_cpus`: affinity mask and cgroup quota)
  and, under the default `adaptive` policy, leaves out the cores other processes keep busy (`/proc/stat`, less this
  process's own CPU time), re-checked every few seconds while a run goes on (`ticker`, `governed`).

Independent work needs no such care: `dnahnet.analyze` runs its strand passes side by side, one thread each, on
every available core even under load (`dnahnet.infer.pass_workers`), since a pass that waits for nobody only slows
down when its core is shared.

Policy switch: `DNAHNET_THREAD_POLICY` = `adaptive` (default) | `fixed` (all available cores, passive waiting) |
`spin` (all available cores, OpenMP's own default waiting: the behaviour before this module, for comparison).
An explicit thread count (`--threads N`, or OMP_NUM_THREADS) is always taken as given.

The import rule: OpenMP reads OMP_WAIT_POLICY once, when its runtime loads (with torch, or with numba's `omp`
threading layer). So importing this module sets it (unless already set, or the policy is `spin`): that is its one
import-time effect, and every entry module (`python -m` mains, `app/main.py`) imports it before anything imports
torch. Imported after torch, it changes nothing for torch's runtime. This module itself imports torch only inside
functions.

numba's threading layer is left to numba's own order (tbb, then omp, then workqueue; omp here, tbb is not
installed): omp obeys the passive policy set here, workqueue waits on locks; forcing one would fail where it is not
built. Its thread count follows torch's per call (`kernels/mamba`), so the count set here reaches it too.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

POLICY_ENV = "DNAHNET_THREAD_POLICY"
POLICIES = ("adaptive", "fixed", "spin")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_STAT = Path("/proc/stat")
TAKEN_AT = 0.4  # a core counts as taken when other processes keep it at least this busy (see `threads_left`)
RECHECK_S = 3.0  # `Governor`: seconds between load checks while a run goes on
PROBE_S = 0.2  # `configure_threads`: how long the start-up load sample lasts


def thread_policy() -> str:
    """The policy named by $DNAHNET_THREAD_POLICY (default 'adaptive'); ValueError for an unknown one."""
    policy = os.environ.get(POLICY_ENV, "").strip().lower() or "adaptive"
    if policy not in POLICIES:
        raise ValueError(f"{POLICY_ENV}={policy!r}: expected one of {', '.join(POLICIES)}")
    return policy


def _set_wait_policy() -> None:
    """OMP_WAIT_POLICY=PASSIVE unless set already or the policy is 'spin' (before OpenMP loads; see the docstring)."""
    if os.environ.get(POLICY_ENV, "").strip().lower() != "spin":
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


_set_wait_policy()


# ---------------------------------------------------------------------------------------------- cores available
def _affinity_cpus() -> set[int] | None:
    """The CPUs this process may run on (its affinity mask: taskset, cpusets), or None without the API."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return None


def _cgroup_v2_dirs(root: Path) -> list[Path]:
    """This process's cgroup v2 directory and its ancestors up to `root` (a quota anywhere above applies too)."""
    dirs = [root]
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                rel = line[3:].strip().strip("/")
                here = root / rel if rel else root
                while here != root and root in here.parents:
                    dirs.append(here)
                    here = here.parent
    except OSError:
        pass
    return dirs


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup in cores (quota / period), or None when there is none.

    cgroup v2: `cpu.max` ("QUOTA PERIOD" or "max PERIOD") in this cgroup and each ancestor, the smallest wins;
    cgroup v1: `cpu/cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1 = none)."""
    limits = []
    for d in _cgroup_v2_dirs(root):
        try:
            quota, period = (d / "cpu.max").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        if quota != "max" and float(period) > 0:
            limits.append(float(quota) / float(period))
    for v1 in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        try:
            quota = float((root / v1 / "cpu.cfs_quota_us").read_text())
            period = float((root / v1 / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        if quota > 0 and period > 0:
            limits.append(quota / period)
    return min(limits) if limits else None


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Cores this process can use: its affinity mask, capped by its cgroup CPU quota (rounded up); at least 1."""
    cpus = _affinity_cpus()
    n = len(cpus) if cpus else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        n = min(n, math.ceil(limit - 1e-9))
    return max(1, n)


def threads_per_process() -> int:
    """Cores for one process: `available_cpus` shared evenly by the torchrun ranks on this machine (≥ 1)."""
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, available_cpus() // max(1, local_ranks))


# ---------------------------------------------------------------------------------------------- load of others
def _busy_ticks(cpus: set[int] | None, stat_path: Path = PROC_STAT) -> tuple[int, int]:
    """(busy, total) clock ticks so far, summed over `cpus` (all CPUs when None), from /proc/stat.

    Idle = idle + iowait; busy = the rest (user, nice, system, irq, softirq, steal: a stolen tick is lost to us too).
    Guest time is already inside user."""
    busy = total = 0
    for line in stat_path.read_text().splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        ticks = [int(x) for x in fields[:8]]
        idle = ticks[3] + ticks[4]
        busy += sum(ticks) - idle
        total += sum(ticks)
    return busy, total


class LoadProbe:
    """Cores kept busy by other processes between two readings: busy CPU time on this process's CPUs (/proc/stat)
    less this process's own CPU time (all its threads), per second of wall time."""

    def __init__(self, stat_path: Path = PROC_STAT):
        self.stat_path = stat_path
        self.cpus = _affinity_cpus()
        self._last = self._read()

    def _read(self) -> tuple[int, int, float, float] | None:
        try:
            busy, total = _busy_ticks(self.cpus, self.stat_path)
        except (OSError, ValueError, IndexError):  # no /proc/stat (macOS) or an unexpected layout
            return None
        return busy, total, time.process_time(), time.monotonic()

    def others(self) -> float | None:
        """Busy cores of other processes since the last call (or creation); None if no time has passed or the
        load cannot be read."""
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None:
            return None
        (b0, t0, own0, w0), (b1, t1, own1, w1) = last, now
        if t1 <= t0 or w1 <= w0:
            return None
        n = len(self.cpus) if self.cpus else (os.cpu_count() or 1)
        busy_cores = n * (b1 - b0) / (t1 - t0)
        return max(0.0, busy_cores - (own1 - own0) / (w1 - w0))


def threads_left(cap: int, n_cpus: int, others: float) -> int:
    """Threads to use when other processes keep `others` cores busy: `cap` at most, one per core they leave, ≥ 1.

    A core counts as taken from TAKEN_AT (0.4) on, not 0.5: while our threads compete for its core a busy process
    shows only about half its demand, and a core shared with our thread stalls each parallel region anyway."""
    taken = math.floor(others + 1.0 - TAKEN_AT)
    return max(1, min(cap, n_cpus - taken))


# ---------------------------------------------------------------------------------------------- setting threads
@dataclass
class ThreadChoice:
    """What `configure_threads` decided: the thread count, its ceiling, the policy, and why."""
    threads: int
    cap: int
    policy: str
    reason: str

    def describe(self) -> str:
        return f"{self.threads} thread(s) of {self.cap} ({self.policy}: {self.reason})"


_CURRENT: ThreadChoice | None = None  # the last configuration, which `governed` keeps up to date


def set_threads(n: int) -> None:
    """torch's intra-op threads = n, and numba's when numba is loaded (capped by its pool, NUMBA_NUM_THREADS).

    torch's count is process-wide for threads started later, immediate for the calling one (OpenMP's count is per
    thread: set it from the thread that computes). numba's is per thread too, and `kernels/mamba` sets it from
    torch's on every call; numba is not imported here just for that."""
    import torch

    n = max(1, int(n))
    numba = sys.modules.get("numba")
    if numba is not None and hasattr(numba, "set_num_threads"):  # first: launching numba's OpenMP layer (its first
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))  # call) resets the shared count
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def configure_threads(n: int | None = None, policy: str | None = None, probe_s: float = PROBE_S) -> ThreadChoice:
    """Set this process's CPU threads and return the choice.

    n: an explicit count (a `--threads` option), taken as given; else OMP_NUM_THREADS when set; else the cores
    available to this process (`threads_per_process`), less, under the 'adaptive' policy, the cores other processes
    keep busy over a `probe_s` sample. policy: 'adaptive' | 'fixed' | 'spin' (default: $DNAHNET_THREAD_POLICY)."""
    global _CURRENT
    policy = policy or thread_policy()
    if policy not in POLICIES:
        raise ValueError(f"thread policy {policy!r}: expected one of {', '.join(POLICIES)}")
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if n:
        choice = ThreadChoice(int(n), int(n), "fixed", "asked for")
    elif env.isdigit() and int(env) > 0:
        choice = ThreadChoice(int(env), int(env), "fixed", "OMP_NUM_THREADS")
    else:
        cap = threads_per_process()
        choice = ThreadChoice(cap, cap, policy, "cores available")
        if policy == "adaptive" and cap > 1:
            probe = LoadProbe()
            time.sleep(probe_s)
            others = probe.others()
            if others is not None:
                choice.threads = threads_left(cap, len(probe.cpus or ()) or cap, others)
                choice.reason = f"other processes keep {others:.1f} core(s) busy"
    set_threads(choice.threads)
    _CURRENT = choice
    return choice


def current_choice() -> ThreadChoice | None:
    """The last `configure_threads` result in this process (kept up to date by `governed`), None before it."""
    return _CURRENT


class Governor:
    """Re-checks the load every `recheck_s` seconds and sets the thread count `threads_left` gives.

    Call `tick()` from the thread that computes (OpenMP's count is per thread), e.g. once per window batch."""

    def __init__(self, choice: ThreadChoice, recheck_s: float = RECHECK_S):
        self.choice = choice
        self.recheck_s = recheck_s
        self.probe = LoadProbe()
        self.n_cpus = len(self.probe.cpus or ()) or choice.cap
        self._due = time.monotonic() + recheck_s

    def tick(self) -> int:
        """The thread count after this check (unchanged between checks)."""
        if time.monotonic() >= self._due:
            self._due = time.monotonic() + self.recheck_s
            others = self.probe.others()
            if others is not None:
                want = threads_left(self.choice.cap, self.n_cpus, others)
                if want != self.choice.threads:
                    self.choice.threads = want
                    self.choice.reason = f"other processes keep {others:.1f} core(s) busy"
                set_threads(want)  # also in a thread that started before the last change
        return self.choice.threads


def _adaptive(choice: ThreadChoice | None) -> bool:
    """Whether the load is worth re-checking: the adaptive policy with more than one core to give out."""
    return choice is not None and choice.policy == "adaptive" and choice.cap > 1


def _no_tick() -> None:
    return None


def ticker(recheck_s: float = RECHECK_S):
    """A no-argument callable for a compute loop (call it once per step or batch): a `Governor`'s `tick` when the
    last `configure_threads` chose the adaptive policy with more than one core, else a no-op."""
    choice = _CURRENT
    return Governor(choice, recheck_s).tick if _adaptive(choice) else _no_tick


def governed(progress=None, recheck_s: float = RECHECK_S):
    """A progress(fraction, message) callback for `dnahnet.analyze` that also ticks a `ticker` (re-checks the load
    every `recheck_s` seconds); `progress` itself (None stays None) unless the policy is adaptive."""
    if not _adaptive(_CURRENT):
        return progress
    tick = ticker(recheck_s)

    def report(fraction, message):
        tick()
        if progress is not None:
            progress(fraction, message)
    return report


__all__ = ["POLICY_ENV", "POLICIES", "thread_policy", "cgroup_cpu_limit", "available_cpus", "threads_per_process",
           "LoadProbe", "threads_left", "ThreadChoice", "set_threads", "configure_threads", "current_choice",
           "Governor", "ticker", "governed"]
