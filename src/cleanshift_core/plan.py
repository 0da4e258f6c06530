"""The Plan: the decision, with enough context to audit it, in a JSON-safe model.

It travels through Airflow trigger kwargs and XCom and Prefect parameters, so it holds only
plain values and round-trips through ``model_dump_json`` / ``model_validate_json``; and it is
small whatever the forecast's length (a few KiB, at most 16), because its forecast is an
excerpt for charts (:func:`forecast_excerpt`), not the data receipts are computed from, held
as columns (:class:`ForecastExcerpt`) rather than one model per interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, overload

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, GetCoreSchemaHandler, computed_field
from pydantic_core import core_schema

from .series import Basis, IntensityPoint, IntensitySeries, SignalKind
from .timeutil import EPOCH

#: A plan's forecast has at most this many intervals: 120 keep a chart faithful at any width
#: the UIs draw, and keep the plan's JSON near 12 KiB.
MAX_FORECAST_INTERVALS = 120


class Interval(BaseModel):
    """A span with one intensity: a forecast point or a candidate window's mean."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    intensity: float


class ForecastExcerpt(Sequence[Interval]):
    """A plan's forecast: a sequence of :class:`Interval`, held as three NumPy columns (start
    and end in epoch microseconds, intensity) and read as ``Interval`` objects on demand.

    A plan is made far more often than its forecast is drawn, and a thousand plans waiting in
    one triggerer holding 120 pydantic models each are a few hundred thousand objects that
    every full garbage collection walks while the event loop waits. Columns are three objects
    whatever the length, build in a few NumPy calls, and serialise to exactly the JSON a
    ``list[Interval]`` did (what plans stored by earlier versions hold, and still load from).
    """

    __slots__ = ("_ends", "_starts", "_values")

    def __init__(self, starts_us: np.ndarray, ends_us: np.ndarray, values: np.ndarray) -> None:
        self._starts = np.asarray(starts_us, dtype=np.int64)
        self._ends = np.asarray(ends_us, dtype=np.int64)
        self._values = np.asarray(values, dtype=float)

    @classmethod
    def of_intervals(cls, intervals: Iterable[Interval]) -> ForecastExcerpt:
        rows = [
            ((i.start - EPOCH) // _MICROSECOND, (i.end - EPOCH) // _MICROSECOND, i.intensity)
            for i in intervals
        ]
        if not rows:
            return cls(np.empty(0), np.empty(0), np.empty(0))
        starts, ends, values = zip(*rows, strict=True)
        return cls(np.array(starts), np.array(ends), np.array(values))

    @classmethod
    def of_seconds(
        cls, starts: Sequence[float], ends: Sequence[float], values: Sequence[float]
    ) -> ForecastExcerpt:
        """From epoch seconds, rounded to the microsecond like ``from_epoch``."""
        return cls(_micros(starts), _micros(ends), np.asarray(values, dtype=float))

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, index: int) -> Interval: ...
    @overload
    def __getitem__(self, index: slice) -> ForecastExcerpt: ...
    def __getitem__(self, index: int | slice) -> Interval | ForecastExcerpt:
        if isinstance(index, slice):
            return ForecastExcerpt(self._starts[index], self._ends[index], self._values[index])
        return Interval(
            start=EPOCH + timedelta(microseconds=int(self._starts[index])),
            end=EPOCH + timedelta(microseconds=int(self._ends[index])),
            intensity=float(self._values[index]),
        )

    def __iter__(self) -> Iterator[Interval]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ForecastExcerpt):
            return (
                np.array_equal(self._starts, other._starts)
                and np.array_equal(self._ends, other._ends)
                and np.array_equal(self._values, other._values)
            )
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, like a list

    def __repr__(self) -> str:
        return f"ForecastExcerpt({list(self)!r})"

    def rows(self, json: bool) -> list[dict[str, Any]]:
        """What a ``list[Interval]`` dumped: dicts of start, end, intensity; the times as
        pydantic writes them (ISO, ``Z``, microseconds only when non-zero) when ``json``."""
        if not json:
            return [i.model_dump() for i in self]
        if len(self) and np.array_equal(self._ends[:-1], self._starts[1:]):
            times = _iso(np.append(self._starts, self._ends[-1]))  # each end is the next start
            starts, ends = times[:-1], times[1:]
        else:
            starts, ends = _iso(self._starts), _iso(self._ends)
        return [
            {"start": a, "end": b, "intensity": v}
            for a, b, v in zip(starts, ends, self._values.tolist(), strict=True)
        ]

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from_list = core_schema.no_info_after_validator_function(
            cls.of_intervals, handler.generate_schema(list[Interval])
        )
        return core_schema.json_or_python_schema(
            json_schema=from_list,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), from_list]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value, info: value.rows(info.mode_is_json()), info_arg=True
            ),
        )


_MICROSECOND = timedelta(microseconds=1)


def _micros(seconds: Sequence[float] | np.ndarray) -> np.ndarray:
    """Epoch microseconds of epoch seconds, rounded like ``from_epoch``."""
    return np.round(np.asarray(seconds, dtype=float) * 1e6).astype(np.int64)


def _iso(micros: np.ndarray) -> list[str]:
    """UTC ISO times of epoch microseconds, written as pydantic writes an aware UTC datetime:
    ``Z``, and microseconds only when they are not zero (NumPy writes whole seconds in one
    call; anything finer takes Python's ``isoformat``, which follows the same rule)."""
    if not (micros % 1_000_000).any():
        seconds = (micros // 1_000_000).astype("datetime64[s]")
        return np.datetime_as_string(seconds, timezone="UTC").tolist()
    return [t + "Z" for t in map(datetime.isoformat, micros.astype("datetime64[us]").tolist())]


_NO_FORECAST = ForecastExcerpt(np.empty(0), np.empty(0), np.empty(0))


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
    forecast: ForecastExcerpt = _NO_FORECAST
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
) -> tuple[ForecastExcerpt, bool]:
    """The forecast over ``[start, end)`` for a plan: (excerpt, downsampled).

    Up to :data:`MAX_FORECAST_INTERVALS` points are kept as they are. A longer span is cut
    into buckets of consecutive points, each drawn as its lowest and highest value in their
    order, the second from its own point's start: every trough and peak stays on the chart,
    at its time, and the excerpt stays contiguous.
    """
    part = series.between(start, end)
    n = len(part)
    if n <= MAX_FORECAST_INTERVALS:
        return ForecastExcerpt.of_seconds(part.starts, part.ends, part.values), False
    bounds, values = part.integral.bounds, part.integral.values
    edges = np.linspace(0, n, MAX_FORECAST_INTERVALS // 2 + 1).astype(int)
    low, high = _first_extremes(values, edges)
    first, second = np.minimum(low, high), np.maximum(low, high)
    # Each bucket [edge, next edge) is drawn from its edge with its first extreme and, when
    # the two extremes differ, from the second's point with the second: interleave, then drop
    # the second halves of flat buckets.
    split = values[first] != values[second]
    keep = np.column_stack([np.ones_like(split), split]).ravel()
    cuts = np.column_stack([edges[:-1], second]).ravel()[keep]
    drawn = values[np.column_stack([first, second]).ravel()[keep]]
    times = _micros(bounds[np.append(cuts, edges[-1])])
    return ForecastExcerpt(times[:-1], times[1:], drawn), True


def _first_extremes(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first lowest and of the first highest value in each bucket
    ``[edges[i], edges[i + 1])``: the buckets as rows of one padded grid, read by one
    ``argmin`` and one ``argmax`` (each returns the first of equal values)."""
    lo = edges[:-1]
    grid = lo[:, None] + np.arange(int(np.diff(edges).max()))
    padding = grid >= edges[1:, None]
    np.minimum(grid, len(values) - 1, out=grid)
    cells = values[grid]
    low = np.where(padding, np.inf, cells).argmin(axis=1)
    high = np.where(padding, -np.inf, cells).argmax(axis=1)
    return lo + low, lo + high
