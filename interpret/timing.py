"""Wall and CPU seconds per named step of a long job (the report's writer), and their summary table."""
from __future__ import annotations

import time
from contextlib import contextmanager

import pandas as pd


class Timer:
    """Wall and CPU seconds per named step (CPU of this process only: Chromium's share of exports is not in it),
    printed as a summary at the end."""

    def __init__(self):
        self.steps: list[tuple[str, float, float]] = []

    @contextmanager
    def step(self, name: str):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.steps.append((name, time.perf_counter() - t0, time.process_time() - c0))

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.steps, columns=["step", "seconds", "cpu_seconds"]).round(2)

    def summary(self) -> str:
        w = max([len(n) for n, _, _ in self.steps] + [5])
        lines = [f"  {'step':<{w}}  {'wall':>8}  {'cpu':>8}"]
        lines += [f"  {n:<{w}}  {s:8.1f}  {c:8.1f}" if c == c else f"  {n:<{w}}  {s:8.1f}  {'-':>8}"
                  for n, s, c in self.steps]  # cpu NaN: a step that ran alongside others (not in the total)
        lines.append(f"  {'total':<{w}}  {sum(s for _, s, c in self.steps if c == c):8.1f}  "
                     f"{sum(c for _, _, c in self.steps if c == c):8.1f}")
        return "\n".join(lines)
