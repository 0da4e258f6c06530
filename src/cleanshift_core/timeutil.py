"""UTC-only time helpers, duration parsing and the injectable clock.

Everything inside cleanshift is a timezone-aware UTC ``datetime``; naive values are refused at
the boundary rather than guessed, because a silently mis-zoned deadline is a missed deadline.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol

from .errors import ConfigurationError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Clock(Protocol):
    """Anything that tells the current UTC time; tests inject a fake one."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


def ensure_utc(value: datetime, name: str) -> datetime:
    """Return ``value`` converted to UTC; refuse naive datetimes with a fixable message."""
    if not isinstance(value, datetime):
        raise ConfigurationError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ConfigurationError(
            f"{name}={value.isoformat()} is naive; pass a timezone-aware datetime "
            f"(e.g. {value.isoformat()}+00:00 or datetime(..., tzinfo=timezone.utc))"
        )
    return value.astimezone(timezone.utc)


def to_epoch(value: datetime) -> float:
    """Seconds since the Unix epoch of an aware datetime (the planner's number line)."""
    return (value - EPOCH).total_seconds()


def from_epoch(seconds: float) -> datetime:
    """Aware UTC datetime for epoch seconds, rounded to the microsecond."""
    return EPOCH + timedelta(microseconds=round(seconds * 1e6))


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s|ms)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: timedelta | str | float, name: str) -> timedelta:
    """Parse a duration given as a timedelta, "2h", "1h30m", "90s", "01:30:00" or ISO "PT2H".

    A bare number means hours, as in cleanshift 0.1's ``*_hours`` arguments.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a duration such as '2h', got {value!r}")
    if isinstance(value, (int, float)):
        return _checked(lambda: timedelta(hours=float(value)), name, value)
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{name} must be a timedelta or a string such as '2h' or '30m', "
            f"got {type(value).__name__}"
        )
    text = value.strip()
    hms = re.fullmatch(r"(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)", text)
    if hms:
        h, m, s = hms.groups()
        return _checked(
            lambda: timedelta(hours=int(h), minutes=int(m), seconds=float(s)), name, value
        )
    iso = re.fullmatch(
        r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?",
        text.upper(),
    )
    if iso and any(iso.groups()):
        d, h, m, s = (float(g) if g else 0.0 for g in iso.groups())
        return _checked(lambda: timedelta(days=d, hours=h, minutes=m, seconds=s), name, value)
    compact = text.replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if parts and "".join(n + u for n, u in parts).lower() == compact.lower():
        return _checked(
            lambda: timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)),
            name,
            value,
        )
    try:
        hours = float(text)
    except ValueError:
        raise ConfigurationError(
            f"{name}={value!r} is not a duration; use e.g. '2h', '45m', '1h30m', '90s', "
            f"'01:30:00' or 'PT2H'"
        ) from None
    return _checked(lambda: timedelta(hours=hours), name, value)


def _checked(make: Callable[[], timedelta], name: str, value: object) -> timedelta:
    """``make()``, with NaN, infinite and out-of-range amounts refused as configuration errors."""
    try:
        return make()
    except (OverflowError, ValueError):
        raise ConfigurationError(
            f"{name}={value!r} is not a usable duration (infinite, NaN or beyond "
            f"{timedelta.max.days:,} days); use e.g. '2h' or '45m'"
        ) from None


def format_duration(value: timedelta) -> str:
    """Short human form: '2h 5m', '45s'."""
    total = round(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    parts = [f"{h}h"] if h else []
    if m:
        parts.append(f"{m}m")
    if s and not h:
        parts.append(f"{s}s")
    return sign + (" ".join(parts) or "0s")


async def sleep_until(
    target: datetime,
    clock: Clock = SYSTEM_CLOCK,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    max_step: float = 60.0,
) -> None:
    """Sleep until ``clock.now() >= target`` in bounded steps.

    Bounded steps re-read the wall clock, so an NTP step or a suspended VM cannot make us
    oversleep by more than ``max_step`` (the same reason Airflow's DateTimeTrigger loops).
    """
    while True:
        remaining = (target - clock.now()).total_seconds()
        if remaining <= 0:
            return
        await sleep(min(remaining, max_step))


def sleep_until_blocking(
    target: datetime, clock: Clock = SYSTEM_CLOCK, max_step: float = 60.0
) -> None:
    """Blocking twin of :func:`sleep_until` for synchronous callers."""
    while True:
        remaining = (target - clock.now()).total_seconds()
        if remaining <= 0:
            return
        time.sleep(min(remaining, max_step))
