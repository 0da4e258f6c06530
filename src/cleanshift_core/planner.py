"""The window planner: exact, O(n) search for the cleanest start.

A job of length D started at s emits in proportion to C(s) = F(s + D) - F(s), where F is the
running integral of intensity. F is piecewise linear with kinks at the series' boundaries, so
C is piecewise linear in s with kinks only where s or s + D crosses a boundary. A linear
function is smallest at an end of its piece, so the minimum over ``[lo, hi]`` is at ``lo``,
``hi``, a boundary b, or b - D. Those candidates come out sorted by merging two sorted lists,
and F is evaluated with two forward-only pointers: O(n) overall, exact for partial intervals.

This replaces both the O(n·w) rolling average of the Carbon Aware SDK and cleanshift 0.1's
O(n²) scan, which also averaged point *readings* rather than time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate

from .errors import BadSeriesError
from .series import IntensitySeries
from .timeutil import from_epoch, to_epoch

#: Two windows whose means differ by less than this relative amount are a tie; ties go to the
#: earlier start, so float noise never makes a job wait for nothing.
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class WindowScan:
    """Every candidate start (ascending) with its window's time-weighted mean intensity."""

    starts: list[float]
    means: list[float]
    duration: float
    earliest: float

    def best_index(self) -> int:
        """Index of the lowest mean; the earliest start wins ties."""
        means = self.means
        best = 0
        bar = means[0] - TIE_TOLERANCE * max(1.0, abs(means[0]))  # beat this to take the lead
        for i in range(1, len(means)):
            if means[i] < bar:
                best = i
                bar = means[i] - TIE_TOLERANCE * max(1.0, abs(means[i]))
        return best

    def first_at_or_below(self, limit: float) -> tuple[float, float] | None:
        """The earliest start whose window mean is ≤ ``limit``, found exactly.

        Between candidates the mean is linear in the start, so a crossing inside a piece is
        solved by interpolation instead of rounding up to the next candidate.
        """
        starts, means = self.starts, self.means
        if means[0] <= limit:
            return starts[0], means[0]
        for i in range(1, len(means)):
            if means[i] <= limit:
                s0, s1, m0, m1 = starts[i - 1], starts[i], means[i - 1], means[i]
                s = s0 + (limit - m0) / (m1 - m0) * (s1 - s0) if m1 != m0 else s1
                return s, limit
        return None

    @property
    def immediate_mean(self) -> float | None:
        """Mean of the window that starts at the earliest start, if the data covers it."""
        if self.starts and self.starts[0] == self.earliest:
            return self.means[0]
        return None

    def alternatives(self, exclude: float, count: int = 3) -> list[tuple[float, float]]:
        """Up to ``count`` other good starts, best first, none overlapping another.

        Each round takes the cleanest start at least one duration away from the chosen one
        and from earlier picks, so alternatives are real choices rather than the same valley
        shifted by a minute. O(count · n).
        """
        picked: list[tuple[float, float]] = []
        taken = [exclude]
        for _ in range(count):
            best: tuple[float, float] | None = None
            for start, mean in zip(self.starts, self.means):
                if (best is None or mean < best[1]) and all(
                    abs(start - t) >= self.duration for t in taken
                ):
                    best = (start, mean)
            if best is None:
                break
            picked.append(best)
            taken.append(best[0])
        return picked


def scan_windows(
    series: IntensitySeries,
    earliest_start: datetime,
    latest_start: datetime,
    duration: timedelta,
) -> WindowScan:
    """Evaluate every start that can be optimal for a job of ``duration``.

    Feasible starts lie in ``[max(earliest, data start), min(latest_start, data end - D)]``:
    no window may run past the data, because an unknown tail is not a clean tail.
    """
    d = duration.total_seconds()
    if d <= 0:
        raise BadSeriesError(f"job duration must be positive, got {duration}")
    if not series.starts:
        raise BadSeriesError("the intensity series is empty; the provider returned no data")
    bounds = (*series.starts, series.ends[-1])
    values = series.values
    n = len(values)
    earliest = to_epoch(earliest_start)
    lo = max(earliest, bounds[0])
    hi = min(to_epoch(latest_start), bounds[-1] - d)
    if hi < lo:
        raise BadSeriesError(
            f"no {timedelta(seconds=d)} window between {from_epoch(lo).isoformat()} and "
            f"{latest_start.isoformat()} fits inside the data "
            f"({from_epoch(bounds[0]).isoformat()} to {from_epoch(bounds[-1]).isoformat()}); "
            "shorten the job, extend the deadline or use a provider with a longer forecast"
        )

    prefix = [0.0, *accumulate(v * (b1 - b0) for v, b0, b1 in zip(values, bounds, bounds[1:]))]

    candidates = _merged_candidates(bounds, d, lo, hi)
    means: list[float] = []
    append = means.append
    last, end, total = n - 1, bounds[-1], prefix[n]
    left = right = 0  # bounds[left] <= s < bounds[left + 1]; same for s + d with right
    for s in candidates:
        while left < last and bounds[left + 1] <= s:
            left += 1
        e = s + d
        while right < last and bounds[right + 1] <= e:
            right += 1
        f_s = prefix[left] + values[left] * (s - bounds[left])
        f_e = prefix[right] + values[right] * (e - bounds[right]) if e < end else total
        append((f_e - f_s) / d)
    return WindowScan(starts=candidates, means=means, duration=d, earliest=earliest)


def _merged_candidates(bounds: tuple[float, ...], d: float, lo: float, hi: float) -> list[float]:
    """lo, hi, every boundary b and every b - d inside (lo, hi), sorted and de-duplicated."""
    out = [lo]
    i = j = 0
    n = len(bounds)
    while i < n or j < n:
        a = bounds[i] if i < n else float("inf")
        b = bounds[j] - d if j < n else float("inf")
        if a <= b:
            c = a
            i += 1
        else:
            c = b
            j += 1
        if lo < c < hi and c != out[-1]:
            out.append(c)
    if hi != out[-1]:
        out.append(hi)
    return out
