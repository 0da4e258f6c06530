"""A slow Prefect API must not make a waiting step wake late, and must not lose its artifacts.

Prefect's artifact calls are replaced by ones that hold every write until the test lets go, and
time is an injected clock whose ``sleep`` moves it on: a 12-hour wait passes at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from cleanshift_core import JobSpec, SchedulingRules
from cleanshift_core.providers.mock import MockProvider
from cleanshift_prefect import artifacts
from cleanshift_prefect.artifacts import ArtifactKeys
from cleanshift_prefect.outbox import MAX_CONCURRENT_WRITES
from cleanshift_prefect.providers import ProviderSource
from cleanshift_prefect.runtime import CarbonConfig, Site, close_window, open_window

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)


class Clock:
    """Stands still until the step sleeps; sleeping moves it on by the time asked."""

    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


class HeldApi:
    """Prefect's artifact calls, answering only once ``release`` is set (or failing one kind)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: str | None = None) -> None:
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.started: list[str] = []
        self.written: list[tuple[str, object]] = []
        for kind in ("markdown", "table", "progress"):
            monkeypatch.setattr(artifacts, f"acreate_{kind}_artifact", self._write(kind, fail))
        monkeypatch.setattr(artifacts, "aupdate_progress_artifact", self._write("update", fail))

    def _write(self, kind: str, fail: str | None):
        async def write(*args, **kwargs):
            self.started.append(kind)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await self.release.wait()
            finally:
                self.in_flight -= 1
            if kind == fail:
                raise RuntimeError(f"the API refused the {kind} artifact")
            self.written.append((kind, kwargs.get("progress", kwargs.get("key"))))
            return uuid4()

        return write


def waiting_step() -> tuple[Clock, CarbonConfig, Site]:
    clock = Clock()
    config = CarbonConfig(
        ProviderSource(MockProvider(region="HELD", clock=clock)),
        JobSpec.create("1h", max_delay="12h"),
        SchedulingRules(),
        power_kw=None,
        replan_interval=timedelta(hours=1),
        min_deferral=timedelta(0),
        clock=clock,
    )
    site = Site(
        "held step",
        ArtifactKeys.for_name("held step"),
        logging.getLogger("test"),
        in_run=True,
        flow_run=None,
        run_id=None,
        one_loop=True,
    )
    return clock, config, site


async def settle(predicate) -> None:
    """Let the event loop run until ``predicate()`` holds (bounded in steps, not in time)."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the background writes never got there")


async def test_the_window_opens_on_time_while_every_artifact_write_is_held(monkeypatch):
    api = HeldApi(monkeypatch)
    clock, config, site = waiting_step()

    # A step whose wake-up waited on a held write would never get here (60 s: a hang guard only).
    opened = await asyncio.wait_for(open_window(config, site), timeout=60)

    # The step slept on the clock to its planned start while no write had been answered.
    assert opened.plan.start > T0 + timedelta(hours=1)
    assert opened.ran_at == opened.plan.start == clock.now()
    assert api.written == []
    assert api.started == ["markdown", "progress"]  # deferral, then the progress artifact

    closing = asyncio.ensure_future(close_window(config, site, opened))
    await settle(lambda: len(api.started) == 4)  # + the receipt's table and report
    assert not closing.done()  # the step does not return before its writes have landed
    assert api.most_in_flight <= MAX_CONCURRENT_WRITES

    api.release.set()
    await closing

    progress = [value for kind, value in api.written if kind in ("progress", "update")]
    # Created at 0 %, then only the newest value: no timer wrote the 12 hours in between.
    assert progress == [0.0, 100.0]
    assert {value for kind, value in api.written if kind != "update"} >= {
        "held-step-carbon-deferral",
        "held-step-carbon-receipt",
        "held-step-carbon-report",
    }


async def test_a_failed_write_fails_the_step_after_the_others_land(monkeypatch):
    api = HeldApi(monkeypatch, fail="table")
    api.release.set()
    _, config, site = waiting_step()

    opened = await open_window(config, site)
    with pytest.raises(RuntimeError, match="refused the table artifact"):
        await close_window(config, site, opened)

    assert ("markdown", "held-step-carbon-report") in api.written
    assert ("update", 100.0) in api.written
