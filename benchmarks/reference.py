"""What the benchmarks compare cleanshift's core against, written on IntensitySeries.

- :func:`brute_force_scan` / :func:`window_argmin_rule`: the direct time-weighted integral at
  every point-boundary start (and at "now"), O(n·w): the Carbon Aware SDK's rolling average,
  done exactly. It is the correctness reference and the "plain window argmin" rule.

The seed itself (cleanshift 0.1.0 from PyPI) is driven by ``seed.py``, never re-implemented.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from datetime import datetime
from pathlib import Path

from cleanshift_core.job import JobSpec
from cleanshift_core.series import IntensitySeries
from cleanshift_core.timeutil import from_epoch, to_epoch

#: The measured 2020 grid data lives beside the repository, never inside it.
DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "grid-2020"


def data_file(name: str) -> Path:
    """Path of a grid-2020 CSV, or exit with a message saying where it was expected."""
    path = DATA_DIR / name
    if not path.is_file():
        sys.exit(
            f"missing {path}: this benchmark reads the 2020 grid data from ../shared/data/grid-2020/ "
            "relative to the repository (DE at 15 min, GB at 30 min; header 'Time,Carbon Intensity')"
        )
    return path


def window_mean(series: IntensitySeries, start: float, duration_s: float) -> float:
    """Direct time-weighted mean of ``series`` over ``[start, start + duration_s)``, O(w)."""
    end = start + duration_s
    i = max(bisect_right(series.starts, start) - 1, 0)
    integral = 0.0
    starts, ends, values = series.starts, series.ends, series.values
    while i < len(starts) and starts[i] < end:
        overlap = min(end, ends[i]) - max(start, starts[i])
        if overlap > 0:
            integral += overlap * values[i]
        i += 1
    return integral / duration_s


def brute_force_scan(
    series: IntensitySeries, lo: float, hi: float, duration_s: float
) -> tuple[float, float]:
    """(start, mean) of the cleanest window starting in ``[lo, hi]``; earliest start on ties.

    Tries ``lo``, ``hi``, every boundary b and every b - duration inside (the only places a
    piecewise-linear cost can be smallest), each integrated directly.
    """
    hi = min(hi, series.ends[-1] - duration_s)
    bounds = (*series.starts, series.ends[-1])
    inside = {c for b in bounds for c in (b, b - duration_s) if lo < c < hi}
    candidates = [lo, *sorted(inside), hi] if hi > lo else [lo]
    best_start, best_mean = lo, window_mean(series, lo, duration_s)
    for s in candidates[1:]:
        mean = window_mean(series, s, duration_s)
        if mean < best_mean:
            best_start, best_mean = s, mean
    return best_start, best_mean


def window_argmin_rule(forecast: IntensitySeries, job: JobSpec, now: datetime) -> datetime:
    """Plain window argmin: the brute-force cleanest window on the forecast, no policy."""
    earliest, latest = job.bounds(now)
    start, _ = brute_force_scan(
        forecast, to_epoch(earliest), to_epoch(latest), job.duration.total_seconds()
    )
    return from_epoch(start)
