"""The Plan: the decision, with enough context to audit it, in a JSON-safe model.

It travels through Airflow trigger kwargs and XCom and Prefect parameters, so it holds only
plain values and round-trips through ``model_dump_json`` / ``model_validate_json``; and it is
small whatever the forecast's length (a few KiB, at most 16), because its forecast is an
excerpt for charts (:func:`forecast_excerpt`), not the data receipts are computed from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, TypeAdapter, computed_field

from .series import Basis, IntensityPoint, IntensitySeries, SignalKind

#: A plan's forecast has at most this many intervals: 120 keep a chart faithful at any width
#: the UIs draw, and keep the plan's JSON near 12 KiB.
MAX_FORECAST_INTERVALS = 120


class Interval(BaseModel):
    """A span with one intensity: a forecast point or a candidate window's mean."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    intensity: float


class LocationOption(BaseModel):
    """One candidate location of a location-and-time decision: its best window, or why it had none."""

    model_config = ConfigDict(frozen=True)

    location: str
    provider: str | None = None
    region: str | None = None
    start: AwareDatetime | None = None
    expected_intensity: float | None = None
    immediate_intensity: float | None = None
    error: str | None = None


class Plan(BaseModel):
    """When to start a job, why, and what the alternatives were."""

    model_config = ConfigDict(frozen=True)

    planned_at: AwareDatetime
    earliest_start: AwareDatetime
    latest_start: AwareDatetime
    duration_seconds: float
    start: AwareDatetime
    expected_intensity: float | None = None
    immediate_intensity: float | None = None
    policy: str
    reason: str
    alternatives: list[Interval] = []
    provider: str | None = None
    region: str | None = None
    signal: SignalKind | None = None
    basis: Basis | None = None
    forecast_generated_at: AwareDatetime | None = None
    forecast: list[Interval] = []
    #: True when ``forecast`` is a downsampled excerpt (a long forecast), not every point.
    #: Plans from cleanshift 0.2.0 lack it: theirs held every point.
    forecast_downsampled: bool = False
    location: str | None = None
    location_options: list[LocationOption] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_seconds)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expected_savings_pct(self) -> float | None:
        """Expected saving vs starting at ``earliest_start``, on the same forecast."""
        if self.expected_intensity is None or not self.immediate_intensity:
            return None
        return (
            (self.immediate_intensity - self.expected_intensity) / self.immediate_intensity * 100.0
        )

    @property
    def delay(self) -> timedelta:
        return self.start - self.earliest_start

    def forecast_series(self) -> IntensitySeries | None:
        """The forecast the plan was made on, as a series, when the plan holds every point of
        it (a short forecast); None for a downsampled excerpt, which no receipt may use."""
        if not self.forecast or self.signal is None or self.forecast_downsampled:
            return None
        return IntensitySeries.from_points(
            (IntensityPoint(p.start, p.end - p.start, p.intensity) for p in self.forecast),
            signal=self.signal,
            provider=self.provider or "unknown",
            region=self.region or "unknown",
            basis=self.basis or Basis.FORECAST,
            generated_at=self.forecast_generated_at,
        )


def forecast_excerpt(
    series: IntensitySeries, start: datetime, end: datetime
) -> tuple[list[Interval], bool]:
    """The forecast over ``[start, end)`` for a plan: (intervals, downsampled).

    Up to :data:`MAX_FORECAST_INTERVALS` points are kept as they are. A longer span is cut
    into buckets of consecutive points, each drawn as its lowest and highest value in their
    order, the second from its own point's start: every trough and peak stays on the chart,
    at its time, and the excerpt stays contiguous.
    """
    part = series.between(start, end)
    n = len(part)
    if n <= MAX_FORECAST_INTERVALS:
        return _intervals(part.starts, part.ends, part.values), False
    bounds, values = part.integral.bounds, part.integral.values
    edges = np.linspace(0, n, MAX_FORECAST_INTERVALS // 2 + 1).astype(int)
    low = _first_extreme(values, edges, np.minimum)
    high = _first_extreme(values, edges, np.maximum)
    first, second = np.minimum(low, high), np.maximum(low, high)
    starts: list[float] = []
    ends: list[float] = []
    drawn: list[float] = []
    for a, b, i, j in zip(
        bounds[edges[:-1]].tolist(),
        bounds[edges[1:]].tolist(),
        first.tolist(),
        second.tolist(),
        strict=True,
    ):
        if values[i] == values[j]:
            starts.append(a)
            ends.append(b)
            drawn.append(float(values[i]))
        else:
            mid = float(bounds[j])
            starts += [a, mid]
            ends += [mid, b]
            drawn += [float(values[i]), float(values[j])]
    return _intervals(starts, ends, drawn), True


def _first_extreme(values: np.ndarray, edges: np.ndarray, extreme: np.ufunc) -> np.ndarray:
    """Index of the first lowest (``np.minimum``) or highest value in each bucket."""
    per_bucket = extreme.reduceat(values, edges[:-1])
    hits = np.flatnonzero(values == np.repeat(per_bucket, np.diff(edges)))
    _, first = np.unique(np.searchsorted(edges, hits, side="right") - 1, return_index=True)
    return hits[first]


_INTERVALS = TypeAdapter(list[Interval])


def _intervals(
    starts: Sequence[float], ends: Sequence[float], values: Sequence[float]
) -> list[Interval]:
    """Intervals from epoch seconds, validated in one pass, their times handed to pydantic
    as ISO text that NumPy writes in one call (a hundred datetimes built in Python cost more)."""
    return _INTERVALS.validate_python(
        [
            {"start": a, "end": b, "intensity": v}
            for a, b, v in zip(_iso(starts), _iso(ends), values, strict=True)
        ]
    )


def _iso(seconds: Sequence[float]) -> list[str]:
    """UTC ISO times of epoch seconds, rounded to the microsecond like ``from_epoch``."""
    micros = np.round(np.asarray(seconds, dtype=float) * 1e6).astype(np.int64)
    return np.datetime_as_string(micros.astype("datetime64[us]"), timezone="UTC").tolist()
