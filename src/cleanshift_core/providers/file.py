"""FileProvider: intensity from a CSV or JSON file, optionally replayed onto the present.

The Carbon Aware SDK's "static JSON" data source, generalised: bring your own series (a
measured year, a vendor export) and plan or backtest against it with no network. Replay maps
the file onto today so it behaves like a live forecast; ``speedup`` compresses it so a demo's
hours pass in seconds.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..errors import BadSeriesError, ConfigurationError
from ..series import Basis, IntensityPoint, IntensitySeries, SignalKind
from ..timeutil import SYSTEM_CLOCK, Clock, ensure_utc, parse_duration, to_epoch
from .base import GridIntensityProvider

log = logging.getLogger(__name__)

_TIME_KEYS = ("time", "timestamp", "start", "datetime", "from", "point_time")
_VALUE_KEYS = (
    "carbon intensity",
    "carbon_intensity",
    "intensity",
    "value",
    "rating",
    "gco2_per_kwh",
)
_DURATION_KEYS = ("duration", "duration_minutes")


def read_series_file(
    path: str | Path,
    *,
    region: str = "FILE",
    signal: SignalKind | str = SignalKind.AVERAGE_LIFECYCLE,
    basis: Basis | str = Basis.MEASURED,
    repair: bool = False,
) -> IntensitySeries:
    """Parse a CSV (header row) or JSON file of intensity points into a series.

    Recognised columns/keys (case-insensitive): a time (``Time``, ``timestamp``, ``start``,
    ...), a value in gCO2eq/kWh (``Carbon Intensity``, ``value``, ``rating``, ...) and an
    optional ``duration`` ("00:05:00", "5m", or ``duration_minutes``). Without a duration a
    point lasts until the next one, and the last point as long as the one before it. Naive
    timestamps are read as UTC (the convention of grid exports such as ENTSO-E dumps).
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigurationError(f"intensity file {str(file)!r} does not exist; check the path")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadSeriesError(
            f"{file.name} is not UTF-8 text (byte {exc.start}); save it as a UTF-8 CSV or JSON file"
        ) from None
    rows = (
        _json_rows(text, file)
        if file.suffix.lower() == ".json"
        else list(csv.DictReader(text.splitlines()))
    )
    if not rows:
        raise BadSeriesError(f"{file.name} holds no intensity points")
    starts: list[datetime] = []
    values: list[float] = []
    durations: list[timedelta | None] = []
    for n, row in enumerate(rows, start=1):
        keyed = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        time_text = _pick(keyed, _TIME_KEYS, file, n, "time")
        value_text = _pick(keyed, _VALUE_KEYS, file, n, "intensity")
        try:
            stamp = datetime.fromisoformat(str(time_text).strip().replace("Z", "+00:00"))
            value = float(value_text)
        except (TypeError, ValueError):
            raise BadSeriesError(
                f"{file.name} row {n}: cannot read time {time_text!r} / intensity {value_text!r}"
            ) from None
        starts.append(stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc))
        values.append(value)
        durations.append(_duration(keyed, file, n))
    return IntensitySeries.from_points(
        _points(starts, values, durations),
        signal=signal,
        provider="file",
        region=region,
        basis=basis,
        repair=repair,
    )


def _json_rows(text: str, file: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadSeriesError(f"{file.name} is not valid JSON: {exc}") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise BadSeriesError(
            f"{file.name}: expected a list of objects (or one object holding such a list)"
        )
    return data


def _pick(row: dict[str, Any], keys: Iterable[str], file: Path, n: int, what: str) -> Any:
    for key in keys:
        if key in row and row[key] not in (None, ""):
            return row[key]
    raise BadSeriesError(f"{file.name} row {n} has no {what} column (one of {', '.join(keys)})")


def _duration(row: dict[str, Any], file: Path, n: int) -> timedelta | None:
    if row.get("duration_minutes") not in (None, ""):
        return timedelta(minutes=float(row["duration_minutes"]))
    if row.get("duration") in (None, ""):
        return None
    try:
        return parse_duration(str(row["duration"]), f"{file.name} row {n} duration")
    except ConfigurationError as exc:
        raise BadSeriesError(str(exc)) from None


def _points(
    starts: list[datetime], values: list[float], durations: list[timedelta | None]
) -> list[IntensityPoint]:
    points = []
    for i, (start, value, duration) in enumerate(zip(starts, values, durations)):
        if duration is None:
            if i + 1 < len(starts):
                duration = starts[i + 1] - start
            elif i > 0:
                duration = start - starts[i - 1]
            else:
                raise BadSeriesError("a one-point file needs a duration column")
        points.append(IntensityPoint(start, duration, value))
    return points


class FileProvider(GridIntensityProvider):
    """Intensity read from a file, as measured data or as a replayed "live" forecast.

    Args:
        path: CSV or JSON file (see :func:`read_series_file`).
        region: label recorded in receipts.
        replay: map the file onto the present. With ``speedup == 1`` the file is shifted by
            whole days so that its first day lands on today (times of day are kept); with
            ``speedup > 1`` its first point lands on ``anchor`` and its spacing shrinks
            ``speedup``-fold (an hourly day passes in 86400/speedup seconds).
        speedup: time compression for replay (1 = real time).
        anchor: the real instant the replay starts at (default: when the provider is built;
            pass it explicitly when several processes must see the same replay).
        signal: what the file's numbers mean.
        repair: repair unsorted/duplicate/short-gapped files instead of refusing them.
    """

    kind = "file"
    forecast_horizon = timedelta(days=400)

    def __init__(
        self,
        path: str | Path,
        region: str = "FILE",
        replay: bool = False,
        speedup: float = 1.0,
        anchor: datetime | str | None = None,
        signal: SignalKind | str = SignalKind.AVERAGE_LIFECYCLE,
        repair: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not math.isfinite(float(speedup)) or float(speedup) <= 0:
            raise ConfigurationError(f"file speedup must be a positive number, got {speedup}")
        if float(speedup) != 1.0 and not replay:
            raise ConfigurationError("file speedup only applies to a replay; pass replay=True")
        self.path = Path(path)
        self._region = str(region)
        self.clock = clock
        series = read_series_file(path, region=region, signal=signal, repair=repair)
        for note in series.repairs:
            log.warning("repaired %s: %s", self.path.name, note)
        if replay:
            if isinstance(anchor, str):
                anchor = datetime.fromisoformat(anchor)
            start_at = ensure_utc(anchor, "anchor") if anchor is not None else clock.now()
            first = series.starts[0]
            if float(speedup) == 1.0:
                first_day = first - first % 86400.0
                today = to_epoch(start_at) - to_epoch(start_at) % 86400.0
                series = series.shifted(today - first_day)
            else:
                series = series.shifted(
                    to_epoch(start_at) - first, speedup=float(speedup), anchor=to_epoch(start_at)
                )
        self._series = series

    @property
    def region(self) -> str:
        return self._region

    @property
    def signal(self) -> SignalKind:
        return self._series.signal

    @property
    def series(self) -> IntensitySeries:
        """The whole (possibly replayed) series, e.g. for backtests."""
        return self._series

    async def current(self) -> IntensityPoint:
        now = self.clock.now()
        current = self._series.between(now, now + timedelta(microseconds=1)).points
        if not current:
            raise BadSeriesError(
                f"{self.path.name} has no point at {now.isoformat()} "
                f"(it covers {self._series.start} to {self._series.end}); use replay=True for a past file"
            )
        return current[0]

    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        return self._sliced(start, end, Basis.FORECAST)

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        return self._sliced(start, end, Basis.MEASURED)

    def _sliced(self, start: datetime, end: datetime, basis: Basis) -> IntensitySeries:
        part = self._series.between(start, end)
        return IntensitySeries(
            starts=part.starts,
            ends=part.ends,
            values=part.values,
            signal=part.signal,
            provider=self.name,
            region=self.region,
            basis=basis,
            generated_at=self.clock.now(),
        )
