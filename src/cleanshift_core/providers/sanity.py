"""Boundary sanity: what an API's data must pass before cleanshift plans on it.

Every HTTP provider reads its answers through these, so all of them refuse and repair alike:

- **Timestamps.** :func:`parse_time` reads an API's stamp as aware UTC (naive stamps are UTC:
  every API here documents UTC); :func:`api_time` writes one back, :func:`chunks` cuts a range
  to an API's limit, :func:`objects` refuses a list entry that is not a JSON object.
- **Series.** :func:`build_series` turns raw points into a validated series: nulls, NaN,
  negatives and (where the grid cannot be at zero, :class:`Zeros`) zeros become missing
  points, short holes are bridged, unsorted or duplicated points are repaired, long zero runs,
  long gaps and stale forecasts are refused. Every repair is listed on the series and logged
  once per fetch.
- **One staleness rule per request kind.** A forecast is stale when it was generated too long
  ago or ends before now; a ``current()`` reading is stale when it ended longer ago than the
  provider's ``max_current_age`` (:func:`check_current`); history is never refused for lying in
  the past, whatever its basis.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from ..errors import BadDataError, BadSeriesError, ConfigurationError, StaleDataError
from ..series import Basis, IntensityPoint, IntensitySeries, SignalKind
from ..timeutil import format_duration, parse_duration

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- timestamps, ranges, entries
def parse_time(value: Any, what: str, provider: str) -> datetime:
    """An API timestamp as aware UTC; naive stamps are UTC (every API here documents UTC)."""
    if not isinstance(value, str):
        raise BadDataError(f"{provider} sent a {what} that is not a timestamp: {value!r}")
    text = value.strip().replace("Z", "+00:00")
    # Python 3.10's fromisoformat wants 3 or 6 fraction digits; .NET sends 1-7.
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise BadDataError(f"{provider} sent an unreadable {what} {value!r}") from None
    return (
        stamp.replace(tzinfo=timezone.utc)
        if stamp.tzinfo is None
        else stamp.astimezone(timezone.utc)
    )


def api_time(value: datetime, minutes: bool = False) -> str:
    """UTC ISO 8601 with a Z, as these APIs expect (``minutes``: no seconds, for UK CI)."""
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%MZ" if minutes else "%Y-%m-%dT%H:%M:%SZ")


def chunks(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive pieces no longer than ``size`` (API range limits)."""
    pieces = []
    cursor = start
    while cursor < end:
        upper = min(end, cursor + size)
        pieces.append((cursor, upper))
        cursor = upper
    return pieces


def objects(rows: Sequence[Any], provider: str, what: str) -> list[Mapping[str, Any]]:
    """An API's list of entries, each checked to be a JSON object (else :class:`BadDataError`
    naming the entry, e.g. "watttime sent a non-object data point 3")."""
    for row in rows:
        if not isinstance(row, Mapping):
            raise BadDataError(f"{provider} sent a non-object {what} {row!r}")
    return list(rows)


# ---------------------------------------------------------------------------- series
#: No real grid, marginal or average, emits more than this (lignite is ~1 100 g/kWh); a
#: larger number means the units are wrong (lbs/MWh, g/MWh), not that the grid is dirty.
MAX_PLAUSIBLE_G_PER_KWH = 2000.0


class Zeros(str, Enum):
    """What a 0 gCO2eq/kWh reading means for a signal."""

    #: An average intensity over a whole grid cannot be zero: a zero is a missing value.
    MISSING = "missing"
    #: Zero is possible (marginal curtailment, a wind-only region) but a long run is an outage.
    SUSPECT_RUNS = "suspect_runs"
    #: Zero is routine (e.g. NESO's North Scotland region, all wind and hydro).
    ALLOWED = "allowed"


@dataclass(frozen=True)
class RawPoint:
    """A point as an API sent it: value may be None/NaN; duration None = until the next one."""

    start: datetime
    value: Any
    duration: timedelta | None = None


def build_series(
    raw: Sequence[RawPoint],
    *,
    provider: str,
    region: str,
    signal: SignalKind,
    basis: Basis,
    now: datetime,
    generated_at: datetime | None = None,
    zeros: Zeros = Zeros.MISSING,
    max_zero_run: timedelta = timedelta(hours=6),
    max_age: timedelta | None = None,
    resolution: timedelta | None = None,
    what: str = "data",
    forecast: bool = False,
) -> IntensitySeries:
    """Validate an API's points into a series, repairing only what is safe and saying so.

    - no points at all → :class:`BadDataError` (empty answers are never "all clean");
    - null, NaN, infinite, negative or non-numeric values, and zeros where ``zeros`` is
      ``MISSING``, are dropped; the hole left is bridged by holding the previous value when
      it is at most two points long, otherwise the series is refused;
    - with ``SUSPECT_RUNS``, a run of zeros longer than ``max_zero_run`` is refused (a real
      WattTime outage once served 0.0 for ten hours);
    - a value above :data:`MAX_PLAUSIBLE_G_PER_KWH` means wrong units and is refused;
    - unsorted points are sorted, duplicates keep the last value (providers revise);
    - with ``forecast`` (the series answers a forecast request), one generated more than
      ``max_age`` ago, or one that ends before ``now``, is stale and refused. Only the request
      decides: NESO's regional history is labelled basis ``forecast`` and is still history.

    ``resolution`` is the point length the API documents, used when it cannot be inferred
    from the spacing (a one-point answer).
    """
    if not raw:
        raise BadDataError(
            f"{provider} returned no {what} for {region}; the region may have no coverage for this "
            "period — try a later time, another region or a fallback source"
        )
    notes: list[str] = []
    ordered = sorted(raw, key=lambda p: p.start)
    starts = [p.start for p in ordered]
    spacing = sorted(b - a for a, b in itertools.pairwise(starts) if b > a)
    resolution = spacing[len(spacing) // 2] if spacing else resolution
    points: list[tuple[datetime, timedelta, float | None]] = []
    for i, p in enumerate(ordered):
        duration = p.duration
        if duration is None:
            later = next((s for s in starts[i + 1 :] if s > p.start), None)
            duration = (later - p.start) if later is not None else resolution
        if duration is None or duration <= timedelta(0):
            raise BadDataError(
                f"{provider} sent a single {what} point without a duration; cannot place it in time"
            )
        points.append((p.start, duration, _number(p.value)))

    implausible = next(
        ((s, v) for s, _, v in points if v is not None and v > MAX_PLAUSIBLE_G_PER_KWH), None
    )
    if implausible is not None:
        raise BadDataError(
            f"{provider} reports {implausible[1]:g} gCO2/kWh for {region} at {implausible[0].isoformat()}, "
            f"more than any real grid (> {MAX_PLAUSIBLE_G_PER_KWH:g}); the units look wrong — check "
            "base_url and the provider's signal options"
        )
    if zeros is Zeros.SUSPECT_RUNS:
        _refuse_long_zero_runs(points, provider, region, max_zero_run)
    bad = [(s, v) for s, _, v in points if v is None or (v == 0.0 and zeros is Zeros.MISSING)]
    if len(bad) == len(points):
        kinds = "zero" if all(v == 0.0 for _, v in bad) else "missing/invalid"
        raise BadDataError(
            f"{provider} returned only {kinds} {what} values for {region} ({len(points)} points); "
            "the provider's feed looks broken — try later or use a fallback source"
        )
    if bad:
        zeros_n = sum(1 for _, v in bad if v == 0.0)
        notes.append(
            f"dropped {len(bad)} unusable point(s) ({zeros_n} zero, {len(bad) - zeros_n} null/invalid) "
            f"from {bad[0][0].isoformat()}"
        )
    kept = [
        IntensityPoint(s, d, v)
        for s, d, v in points
        if v is not None and not (v == 0.0 and zeros is Zeros.MISSING)
    ]
    if sorted(raw, key=lambda p: p.start) != list(raw):
        notes.append("sorted points by start time")
    # Holes are judged against the points' own length: sparse points that carry a duration
    # (an elided forecast) leave holes, however regular their spacing.
    lengths = sorted(p.duration for p in kept)
    typical = lengths[len(lengths) // 2]
    try:
        series = IntensitySeries.from_points(
            kept,
            signal=signal,
            provider=provider,
            region=region,
            basis=basis,
            generated_at=generated_at,
            repair=True,
            max_gap=typical * 2,
        )
    except BadSeriesError as exc:
        raise BadDataError(f"{provider} {what} for {region} is unusable: {exc}") from None
    notes.extend(series.repairs)
    if forecast:
        _refuse_stale(series, provider, region, now, max_age)
    if notes:
        log.warning("%s %s for %s repaired: %s", provider, what, region, "; ".join(notes))
    return replace(series, repairs=tuple(notes))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _refuse_long_zero_runs(
    points: list[tuple[datetime, timedelta, float | None]],
    provider: str,
    region: str,
    limit: timedelta,
) -> None:
    run_start: datetime | None = None
    run_end: datetime | None = None
    for start, duration, value in points:
        if value == 0.0:
            run_start = run_start or start
            run_end = start + duration
            if run_end - run_start > limit:
                raise BadDataError(
                    f"{provider} reports 0 gCO2/kWh for {region} from {run_start.isoformat()} for more "
                    f"than {limit}; zero for that long is an outage, not a clean grid — try later or use "
                    "a fallback source"
                )
        else:
            run_start = None


def _refuse_stale(
    series: IntensitySeries, provider: str, region: str, now: datetime, max_age: timedelta | None
) -> None:
    if (
        max_age is not None
        and series.generated_at is not None
        and now - series.generated_at > max_age
    ):
        raise StaleDataError(
            f"{provider} forecast for {region} was generated at {series.generated_at.isoformat()}, "
            f"{now - series.generated_at} ago (limit {max_age}); the provider's forecast looks stalled "
            "— try later or use a fallback source"
        )
    if series.end is not None and series.end <= now:
        raise StaleDataError(
            f"{provider} forecast for {region} ends at {series.end.isoformat()}, before now; it is "
            "stale — try later or use a fallback source"
        )


# ---------------------------------------------------------------------------- current readings
#: A ``current()`` reading may have ended at most this many of its own lengths (the source's
#: resolution) ago: one late publication is normal, three in a row is a stalled feed.
CURRENT_AGE_POINTS = 3
#: ...but never less than this: 5-minute feeds (WattTime, Energi Data Service) publish minutes late.
MIN_CURRENT_AGE = timedelta(minutes=30)


def check_max_current_age(value: timedelta | str | float | None, provider: str) -> timedelta | None:
    """The ``max_current_age`` option: None (the default rule) or a positive duration."""
    if value is None:
        return None
    age = parse_duration(value, f"{provider} max_current_age")
    if age <= timedelta(0):
        raise ConfigurationError(
            f"{provider} max_current_age must be a positive duration such as '2h', got {value!r}"
        )
    return age


def check_current(
    point: IntensityPoint,
    *,
    provider: str,
    region: str,
    now: datetime,
    max_age: timedelta | None,
) -> IntensityPoint:
    """The one staleness rule for every provider's ``current()``.

    A reading that ended more than ``max_age`` before ``now`` is refused with
    :class:`StaleDataError`; without ``max_age`` the limit is :data:`CURRENT_AGE_POINTS` times
    the reading's length, at least :data:`MIN_CURRENT_AGE`. A gate (``cleanshift check``), a
    halt-if-dirty monitor or a counterfactual must never act on a dead feed's last value.
    """
    limit = (
        max_age
        if max_age is not None
        else max(point.duration * CURRENT_AGE_POINTS, MIN_CURRENT_AGE)
    )
    age = now - point.end
    if age > limit:
        raise StaleDataError(
            f"{provider} current intensity for {region} is {_age_text(age)} old (its reading "
            f"ended at {point.end.isoformat()}, limit {format_duration(limit)}); the feed looks "
            "stalled — try later, add a fallback source, or raise the provider's max_current_age"
        )
    return point


def _age_text(age: timedelta) -> str:
    days = age.total_seconds() / 86400
    if days >= 365:
        return f"{days / 365.25:.1f} years"
    return f"{days:.1f} days" if days >= 2 else format_duration(age)
