"""Shared helpers for core tests: a settable clock and series builders."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from cleanshift_core import IntensityPoint, IntensitySeries, SignalKind

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock tests move by hand; ``sleep`` advances it instead of waiting."""

    def __init__(self, now: datetime = T0) -> None:
        self.current = now
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


def hourly(values: list[float], start: datetime = T0, minutes: int = 60, **kw) -> IntensitySeries:
    return IntensitySeries.from_points(
        [
            IntensityPoint(start + timedelta(minutes=minutes * i), timedelta(minutes=minutes), v)
            for i, v in enumerate(values)
        ],
        signal=kw.pop("signal", SignalKind.AVERAGE_LIFECYCLE),
        provider=kw.pop("provider", "test"),
        region=kw.pop("region", "TEST"),
        **kw,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
