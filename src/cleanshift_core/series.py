"""Intensity series: what every provider returns and every planner reads.

A series is a run of contiguous intervals ``[start, start + duration)``, each with one carbon
intensity in gCO2eq/kWh, all in UTC, sorted, with no gaps. It is stored column-wise as epoch
seconds because the planner walks it in O(n) and must stay fast on a year of 5-minute data.
Its running integral (:attr:`IntensitySeries.integral`) is NumPy arrays computed once per
series and shared by every slice of it, so a thousand tasks planning on one cached forecast
pay for it once.

Bad input is refused with a message naming the offending point. ``repair=True`` opts into a
small, documented set of fixes instead (see :meth:`IntensitySeries.from_points`); each fix is
listed in :attr:`IntensitySeries.repairs` so callers can log it once.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import cached_property
from operator import attrgetter, sub

import numpy as np

from .errors import BadSeriesError
from .timeutil import EPOCH, ensure_utc, from_epoch, to_epoch

#: Boundaries closer than this are the same instant (float and microsecond rounding).
_SNAP_SECONDS = 1e-3


class SignalKind(str, Enum):
    """What the numbers mean; two kinds are never compared with each other."""

    AVERAGE_LIFECYCLE = "average/lifecycle"
    AVERAGE_DIRECT = "average/direct"
    MARGINAL = "marginal"


class Basis(str, Enum):
    """Where an intensity comes from: a forecast, or measured history after the fact."""

    FORECAST = "forecast"
    MEASURED = "measured"


@dataclass(frozen=True, slots=True)
class IntensityPoint:
    """One interval of constant intensity (gCO2eq/kWh) starting at ``start`` (aware UTC)."""

    start: datetime
    duration: timedelta
    value: float

    @property
    def end(self) -> datetime:
        return self.start + self.duration


@dataclass(frozen=True)
class RunningIntegral:
    """F(t), the integral of intensity from the series' start to t, on the series' boundaries.

    ``bounds`` are the n + 1 boundaries, ``prefix`` holds F at each (plus one constant for a
    slice, which shares its parent's arrays: every use is a difference, where it cancels).
    """

    bounds: np.ndarray
    values: np.ndarray
    prefix: np.ndarray

    @classmethod
    def of(cls, bounds: np.ndarray, values: np.ndarray) -> RunningIntegral:
        """The integral over ``len(values)`` intervals between ``bounds`` (one more)."""
        prefix = np.empty(len(bounds))
        prefix[0] = 0.0
        np.cumsum(values * np.diff(bounds), out=prefix[1:])
        return cls(bounds, values, prefix)

    def at(self, t: np.ndarray) -> np.ndarray:
        """F at each time in ``t``; exact for partial intervals, the total at or past the end."""
        last = len(self.values) - 1
        k = np.minimum(np.searchsorted(self.bounds, t, side="right") - 1, last)
        np.maximum(k, 0, out=k)
        inside = self.prefix[k] + self.values[k] * (t - self.bounds[k])
        return np.where(t < self.bounds[-1], inside, self.prefix[-1])

    def part(self, lo: int, hi: int) -> RunningIntegral:
        """Points ``lo`` to ``hi - 1`` as views of these arrays (no copy, no new sums)."""
        return RunningIntegral(
            self.bounds[lo : hi + 1], self.values[lo:hi], self.prefix[lo : hi + 1]
        )


@dataclass(frozen=True)
class IntensitySeries:
    """A validated, contiguous intensity series plus where it came from."""

    starts: tuple[float, ...]
    ends: tuple[float, ...]
    values: tuple[float, ...]
    signal: SignalKind
    provider: str
    region: str
    basis: Basis
    generated_at: datetime | None = None
    repairs: tuple[str, ...] = field(default=(), compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_points(
        cls,
        points: Iterable[IntensityPoint],
        *,
        signal: SignalKind | str,
        provider: str,
        region: str,
        basis: Basis | str = Basis.FORECAST,
        generated_at: datetime | None = None,
        repair: bool = False,
        max_gap: timedelta | None = None,
    ) -> IntensitySeries:
        """Validate ``points`` into a series.

        Always refused: naive or non-datetime starts, zero or negative durations, NaN,
        infinite or negative intensities. Refused unless ``repair=True``:

        - unsorted points: sorted by start;
        - duplicate starts: the last reported value wins (providers revise recent points);
        - overlaps: the earlier point is cut short where the next one starts;
        - gaps no longer than ``max_gap`` (default: the series' typical resolution): the
          earlier point is stretched to close the gap (hold-last-value). Longer gaps are
          always refused, because planning across missing hours would be a guess.
        """
        raw = list(points)
        fast = _well_formed_columns(raw)
        repairs: list[str] = []
        s2: Sequence[float]
        e2: Sequence[float]
        if fast is not None:
            bounds, array, values = fast
            seconds = tuple(bounds.tolist())  # tuple slices below, and tuple() of a tuple is free
            s2, e2, v2 = seconds[:-1], seconds[1:], values
        else:
            s2, e2, v2, repairs = _checked_columns(raw, repair, max_gap)
        series = cls(
            starts=tuple(s2),
            ends=tuple(e2),
            values=tuple(v2),
            signal=SignalKind(signal),
            provider=provider,
            region=region,
            basis=Basis(basis),
            generated_at=ensure_utc(generated_at, "generated_at") if generated_at else None,
            repairs=tuple(repairs),
        )
        if fast is not None:  # the columns are arrays already: no second conversion
            series.__dict__["integral"] = RunningIntegral.of(bounds, array)
        return series

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.starts)

    @cached_property
    def integral(self) -> RunningIntegral:
        """The running integral the planner reads, computed on first use; a slice made by
        :meth:`between` shares its parent's instead of summing again, and :meth:`from_points`
        seeds it from the arrays it already built."""
        if not self.starts:
            raise BadSeriesError("the intensity series is empty; the provider returned no data")
        bounds = np.array([*self.starts, self.ends[-1]], dtype=float)
        return RunningIntegral.of(bounds, np.array(self.values, dtype=float))

    @property
    def points(self) -> list[IntensityPoint]:
        return [
            IntensityPoint(from_epoch(s), timedelta(seconds=e - s), v)
            for s, e, v in zip(self.starts, self.ends, self.values)
        ]

    @property
    def start(self) -> datetime | None:
        return from_epoch(self.starts[0]) if self.starts else None

    @property
    def end(self) -> datetime | None:
        return from_epoch(self.ends[-1]) if self.ends else None

    def covers(self, start: datetime, end: datetime) -> bool:
        """True when every instant of ``[start, end)`` has data."""
        return (
            bool(self.starts)
            and self.starts[0] <= to_epoch(start)
            and to_epoch(end) <= self.ends[-1]
        )

    def value_at(self, when: datetime) -> float | None:
        """Intensity in force at ``when``, or None outside the series."""
        t = to_epoch(when)
        i = bisect_right(self.starts, t) - 1
        if i < 0 or t >= self.ends[i]:
            return None
        return self.values[i]

    def mean_over(
        self, intervals: Sequence[tuple[datetime, datetime]]
    ) -> tuple[float | None, float]:
        """Time-weighted mean intensity over the union of ``intervals`` (assumed disjoint).

        Returns ``(mean, covered_fraction)``; the mean is over the covered part only and is
        None when nothing is covered. Partial intervals count in proportion to their overlap.
        """
        total = covered = integral = 0.0
        for a_dt, b_dt in intervals:
            a, b = to_epoch(a_dt), to_epoch(b_dt)
            if b <= a:
                continue
            total += b - a
            i = max(bisect_right(self.starts, a) - 1, 0)
            while i < len(self.starts) and self.starts[i] < b:
                overlap = min(b, self.ends[i]) - max(a, self.starts[i])
                if overlap > 0:
                    covered += overlap
                    integral += overlap * self.values[i]
                i += 1
        if covered == 0:
            return None, 0.0
        return integral / covered, covered / total

    def between(self, start: datetime, end: datetime) -> IntensitySeries:
        """The points that overlap ``[start, end)``, unchanged (for charts and payloads)."""
        a, b = to_epoch(start), to_epoch(end)
        lo = max(bisect_right(self.starts, a) - 1, 0)
        hi = bisect_left(self.starts, b)
        if lo < len(self.ends) and self.ends[lo] <= a:
            lo += 1
        part = IntensitySeries(
            starts=self.starts[lo:hi],
            ends=self.ends[lo:hi],
            values=self.values[lo:hi],
            signal=self.signal,
            provider=self.provider,
            region=self.region,
            basis=self.basis,
            generated_at=self.generated_at,
        )
        if hi > lo:
            part.__dict__["integral"] = self.integral.part(lo, hi)  # views: no copy, no sums
        return part

    def with_values(self, values: Sequence[float]) -> IntensitySeries:
        """The same intervals with other values (forecast-noise experiments, unit fixes)."""
        if len(values) != len(self.values):
            raise BadSeriesError("with_values needs exactly one value per point")
        return IntensitySeries(
            starts=self.starts,
            ends=self.ends,
            values=tuple(float(v) for v in values),
            signal=self.signal,
            provider=self.provider,
            region=self.region,
            basis=self.basis,
            generated_at=self.generated_at,
        )

    def shifted(
        self, offset_seconds: float, speedup: float = 1.0, anchor: float = 0.0
    ) -> IntensitySeries:
        """Map each time t to ``anchor + (t + offset - anchor) / speedup``: replay and compression."""

        def move(t: float) -> float:
            return anchor + (t + offset_seconds - anchor) / speedup

        return IntensitySeries(
            starts=tuple(move(s) for s in self.starts),
            ends=tuple(move(e) for e in self.ends),
            values=self.values,
            signal=self.signal,
            provider=self.provider,
            region=self.region,
            basis=self.basis,
            generated_at=self.generated_at,
            repairs=self.repairs,
        )


def _well_formed_columns(
    raw: list[IntensityPoint],
) -> tuple[np.ndarray, np.ndarray, list[float]] | None:
    """(the n + 1 boundaries, the n values, the values as floats) of points that need no
    repair and no message, in C-speed passes.

    The common case: aware starts, positive durations, finite non-negative numbers, sorted,
    contiguous to the millisecond. Anything else returns None and takes the checked path,
    which names the offending point. Each boundary is the next point's start (so a snapped
    millisecond never opens a gap); the last is the last start plus its duration.
    """
    n = len(raw)
    if not n or list(map(type, raw)).count(IntensityPoint) != n:
        return None
    values = list(map(_VALUE, raw))
    value_types = list(map(type, values))
    floats = value_types.count(float)
    if floats + value_types.count(int) != n:  # bool, str, Decimal, …
        return None
    durations = list(map(_DURATION, raw))
    try:
        distinct = set(durations)  # a few
    except TypeError:  # unhashable: not a timedelta
        return None
    lengths = {d: d // _MICROSECOND for d in distinct if type(d) is timedelta}
    if len(lengths) < len(distinct) or min(lengths.values()) <= 0:
        return None
    starts = _epoch_micros(list(map(_START, raw)), durations, lengths)
    if starts is None or max(abs(int(starts[0])), abs(int(starts[-1]))) >= _EXACT_MICROS:
        return None
    vals = np.array(values, dtype=float)
    if not (np.isfinite(vals).all() and (vals >= 0).all()):
        return None
    bounds = np.empty(n + 1)
    np.divide(starts, 1e6, out=bounds[:n])  # exactly to_epoch's division, once per column
    bounds[n] = float(bounds[n - 1]) + durations[-1].total_seconds()
    return bounds, vals, values if floats == n else vals.tolist()


def _epoch_micros(
    starts: list[datetime], durations: list[timedelta], lengths: dict[timedelta, int]
) -> np.ndarray | None:
    """Microseconds since the epoch of each start, exact, when the starts are aware, sorted
    and each within a millisecond of the previous point's end; else None.

    Each step between starts is a cheap same-zone subtraction when every start has one
    fixed-offset zone (``timezone.utc`` and the like); a DST zone's same-zone subtraction is
    wall-clock time, not elapsed time, so those starts are converted one by one. Steps that
    equal the durations exactly (a provider's grid) are not converted at all: the starts
    are then the first start plus the running sum of the durations.
    """
    n = len(starts)
    try:
        first = (starts[0] - EPOCH) // _MICROSECOND  # TypeError when naive
        zones = list(map(_TZINFO, starts))
        if type(zones[0]) is timezone and zones.count(zones[0]) == n:  # == only for timezone
            steps = list(map(sub, starts[1:], starts[:-1]))
        else:
            absolute = np.fromiter(((s - EPOCH) // _MICROSECOND for s in starts), np.int64, n)
            steps = None
    except (TypeError, AttributeError):
        return None
    if len(lengths) == 1:
        micros = np.full(n, next(iter(lengths.values())), np.int64)
    else:
        micros = np.fromiter(map(lengths.__getitem__, durations), np.int64, n)
    out = np.empty(n, np.int64)
    out[0] = first
    if steps is not None and steps == durations[:-1]:
        np.cumsum(micros[:-1], out=out[1:])
        out[1:] += first
        return out
    if steps is None:
        out = absolute
    else:
        step_micros = {d: d // _MICROSECOND for d in set(steps)}
        np.cumsum(np.fromiter(map(step_micros.__getitem__, steps), np.int64, n - 1), out=out[1:])
        out[1:] += first
    sorted_and_contiguous = (np.diff(out) > 0).all() and (
        np.abs(out[:-1] + micros[:-1] - out[1:]) < _SNAP_MICROS
    ).all()
    return out if sorted_and_contiguous else None


_START, _DURATION, _VALUE = attrgetter("start"), attrgetter("duration"), attrgetter("value")
_TZINFO = attrgetter("tzinfo")
_MICROSECOND = timedelta(microseconds=1)
_SNAP_MICROS = round(_SNAP_SECONDS * 1e6)
#: Below 2**53 microseconds (the year 2255) an int64 of them is an exact float64, so
#: ``micros / 1e6`` rounds exactly as ``timedelta.total_seconds()`` does.
_EXACT_MICROS = 2**53


def _checked_columns(
    raw: list[IntensityPoint], repair: bool, max_gap: timedelta | None
) -> tuple[list[float], list[float], list[float], list[str]]:
    """Point-by-point validation and the opt-in repairs of :meth:`IntensitySeries.from_points`."""
    for i, p in enumerate(raw):
        _check_point(p, i)
    repairs: list[str] = []
    starts = [to_epoch(p.start) for p in raw]
    ends = [s + p.duration.total_seconds() for s, p in zip(starts, raw)]
    values = [float(p.value) for p in raw]

    order = sorted(range(len(raw)), key=starts.__getitem__)
    if order != list(range(len(raw))):
        if not repair:
            first_bad = next(i for i in range(1, len(raw)) if starts[i] < starts[i - 1])
            raise BadSeriesError(
                f"intensity points are not sorted: point {first_bad} "
                f"({from_epoch(starts[first_bad]).isoformat()}) comes after "
                f"{from_epoch(starts[first_bad - 1]).isoformat()}; sort them or pass repair=True"
            )
        starts, ends, values = ([col[i] for i in order] for col in (starts, ends, values))
        repairs.append("sorted points by start time")

    s2: list[float] = []
    e2: list[float] = []
    v2: list[float] = []
    for s, e, v in zip(starts, ends, values):
        if s2 and s == s2[-1]:
            if not repair:
                raise BadSeriesError(
                    f"two intensity points start at {from_epoch(s).isoformat()}; "
                    "drop the duplicate or pass repair=True (the last one wins)"
                )
            repairs.append(f"kept the last of duplicate points at {from_epoch(s).isoformat()}")
            e2[-1], v2[-1] = e, v
            continue
        s2.append(s)
        e2.append(e)
        v2.append(v)

    resolution = _typical_resolution(s2, e2)
    gap_limit = max_gap.total_seconds() if max_gap is not None else resolution
    for i in range(1, len(s2)):
        prev_end, start = e2[i - 1], s2[i]
        if abs(prev_end - start) < _SNAP_SECONDS:
            e2[i - 1] = start
        elif prev_end > start:
            if not repair:
                raise BadSeriesError(
                    f"intensity point at {from_epoch(s2[i - 1]).isoformat()} overlaps the next "
                    f"one at {from_epoch(start).isoformat()}; fix the durations or pass repair=True"
                )
            repairs.append(
                f"cut the point at {from_epoch(s2[i - 1]).isoformat()} short at the next one"
            )
            e2[i - 1] = start
        elif prev_end < start:
            gap = start - prev_end
            if not repair or gap > gap_limit + 1e-9:
                raise BadSeriesError(
                    f"intensity data has a gap of {timedelta(seconds=gap)} from "
                    f"{from_epoch(prev_end).isoformat()} to {from_epoch(start).isoformat()}; "
                    + (
                        "fill it or pass repair=True to hold the last value across short gaps"
                        if not repair
                        else f"gaps longer than {timedelta(seconds=gap_limit)} are not bridged"
                    )
                )
            repairs.append(
                f"held the value at {from_epoch(s2[i - 1]).isoformat()} across a "
                f"{timedelta(seconds=gap)} gap"
            )
            e2[i - 1] = start
    return s2, e2, v2, repairs


def _check_point(p: object, index: int) -> None:
    if not isinstance(p, IntensityPoint):
        raise BadSeriesError(f"point {index} is a {type(p).__name__}, not an IntensityPoint")
    if not isinstance(p.start, datetime) or p.start.tzinfo is None:
        raise BadSeriesError(
            f"point {index} has a naive or missing start time; use aware UTC datetimes"
        )
    if not isinstance(p.duration, timedelta) or p.duration <= timedelta(0):
        raise BadSeriesError(
            f"point {index} at {p.start.isoformat()} has a non-positive duration {p.duration}"
        )
    if (
        not isinstance(p.value, (int, float))
        or isinstance(p.value, bool)
        or not math.isfinite(p.value)
    ):
        raise BadSeriesError(
            f"point {index} at {p.start.isoformat()} has a non-finite intensity {p.value!r}"
        )
    if p.value < 0:
        raise BadSeriesError(
            f"point {index} at {p.start.isoformat()} has a negative intensity {p.value}"
        )


def _typical_resolution(starts: Sequence[float], ends: Sequence[float]) -> float:
    """Median point duration: the gap size a hold-last-value repair may bridge."""
    if not starts:
        return 0.0
    durations = sorted(e - s for s, e in zip(starts, ends))
    return durations[len(durations) // 2]
