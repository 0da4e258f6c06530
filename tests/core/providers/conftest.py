"""Fixtures for provider tests: field-exact sample bodies, a fake clock, instant retries.

Samples are copies of the shapes in the project's provider-samples (values invented), kept
here so the suite runs anywhere. Retries go through the real tenacity path; only ``sleep`` is
replaced, and it advances the fake clock, so deadlines and budgets are exercised honestly.
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cleanshift_core.providers import RetryPolicy

SAMPLES = Path(__file__).parent / "samples"
#: Just after the samples' "now" (their forecasts start 2025-03-04T18:00-18:05Z).
NOW = datetime(2025, 3, 4, 18, 7, tzinfo=timezone.utc)
BASE = "http://providers.test"


def sample(name: str) -> Any:
    """A fresh copy of a sample body (JSON decoded, or text for .html)."""
    path = SAMPLES / name
    if path.suffix == ".json":
        return copy.deepcopy(json.loads(path.read_text()))
    return path.read_text()


class Clock:
    """A settable clock whose ``sleep`` moves time instead of waiting."""

    def __init__(self, now: datetime = NOW) -> None:
        self.current = now
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def retry(clock: Clock) -> RetryPolicy:
    """Three attempts, 1 s then 2 s backoff (+ ≤0.1 s jitter), slept on the fake clock."""
    return RetryPolicy(
        attempts=3,
        initial_backoff=1.0,
        max_backoff=30.0,
        jitter=0.1,
        budget=60.0,
        sleep=clock.sleep,
    )
