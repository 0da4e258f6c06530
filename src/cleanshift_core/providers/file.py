"""FileProvider: intensity from a CSV or JSON file, optionally replayed onto the present.

The Carbon Aware SDK's "static JSON" data source, generalised: bring your own series (a
measured year, a vendor export) and plan or backtest against it with no network. Replay maps
the file onto today so it behaves like a live forecast; ``speedup`` compresses it so a demo's
hours pass in seconds.

The SDK's own data files read as they are: ``{"Emissions": [{"Location", "Time", "Rating",
"Duration"}]}`` with .NET ``hh:mm`` or ``hh:mm:ss`` durations, many locations interleaved in
one file — ``location`` picks one, and a file of several locations without it is refused with
their names rather than read as one garbled series.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
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
_LOCATION_KEY = "location"
#: .NET TimeSpan's short form, as in the Carbon Aware SDK's data files ("01:00" = one hour).
_HH_MM = re.compile(r"(\d+):(\d\d)")


def read_series_file(
    path: str | Path,
    *,
    region: str = "FILE",
    signal: SignalKind | str = SignalKind.AVERAGE_LIFECYCLE,
    basis: Basis | str = Basis.MEASURED,
    repair: bool = False,
    location: str | None = None,
) -> IntensitySeries:
    """Parse a CSV (header row) or JSON file of intensity points into a series.

    Recognised columns/keys (case-insensitive): a time (``Time``, ``timestamp``, ``start``,
    ...), a value in gCO2eq/kWh (``Carbon Intensity``, ``value``, ``rating``, ...), an
    optional ``duration`` ("01:00", "00:05:00", "5m", or ``duration_minutes``) and an optional
    ``location``: rows of other locations than ``location`` are skipped. Without a duration a
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
    rows = _of_location(rows, location, file)
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


def _of_location(
    rows: list[dict[str, Any]], location: str | None, file: Path
) -> list[dict[str, Any]]:
    """The rows of one location; a file of several needs ``location`` to say which."""
    tagged = [
        (
            next(
                (str(v).strip() for k, v in r.items() if str(k).strip().lower() == _LOCATION_KEY),
                None,
            ),
            r,
        )
        for r in rows
    ]
    names = list(dict.fromkeys(name for name, _ in tagged if name))
    if location is None:
        if len(names) > 1:
            shown = ", ".join(names[:12]) + (
                f", ... ({len(names)} in all)" if len(names) > 12 else ""
            )
            raise ConfigurationError(
                f"{file.name} holds {len(names)} locations ({shown}); choose one with "
                f"location, e.g. location={names[0]!r}"
            )
        return rows
    if not names:
        raise ConfigurationError(
            f"{file.name} has no Location column, so location={location!r} cannot pick rows; drop "
            "the location option"
        )
    chosen = [r for name, r in tagged if name == location]
    if not chosen:
        raise ConfigurationError(
            f"{file.name} has no rows for location {location!r}; it holds {', '.join(names[:12])}"
        )
    return chosen


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
    text = str(row["duration"]).strip()
    short = _HH_MM.fullmatch(text)
    if short:
        return timedelta(hours=int(short.group(1)), minutes=int(short.group(2)))
    try:
        return parse_duration(text, f"{file.name} row {n} duration")
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
        location: the location to read from a file holding several (the Carbon Aware SDK's
            data files hold many, e.g. ``"eastus"``).
        region: label recorded in receipts (default: ``location``, else ``"FILE"``).
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
        region: str | None = None,
        replay: bool = False,
        speedup: float = 1.0,
        anchor: datetime | str | None = None,
        signal: SignalKind | str = SignalKind.AVERAGE_LIFECYCLE,
        repair: bool = False,
        location: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not math.isfinite(float(speedup)) or float(speedup) <= 0:
            raise ConfigurationError(f"file speedup must be a positive number, got {speedup}")
        if float(speedup) != 1.0 and not replay:
            raise ConfigurationError("file speedup only applies to a replay; pass replay=True")
        self.path = Path(path)
        self._region = str(region if region is not None else location or "FILE")
        self.clock = clock
        series = read_series_file(
            path,
            region=self._region,
            signal=signal,
            repair=repair,
            location=None if location is None else str(location),
        )
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
