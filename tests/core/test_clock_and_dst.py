"""Deadlines given in local time across DST changes, and wall-clock steps during waits.

cleanshift works in UTC only: a ``finish_by`` in Europe/London or America/New_York is converted
once, at the boundary, so a DST change between planning and the deadline neither adds nor
removes an hour. Waits re-read the clock in bounded steps, so an NTP step back never fires a
job early and a step forward is noticed within one step.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from cleanshift_core import JobSpec, SchedulingRules, plan_job, wait_for_window
from cleanshift_core.timeutil import sleep_until

from .conftest import FakeClock, hourly
from .test_scheduling import ScriptedProvider

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc


@pytest.mark.parametrize(
    ("now", "finish_by", "latest_start"),
    [
        # London springs forward 2026-03-29 01:00 UTC (01:00 GMT -> 02:00 BST).
        (
            datetime(2026, 3, 28, 22, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 4, 0, tzinfo=LONDON),  # BST: 03:00 UTC
            datetime(2026, 3, 29, 2, 0, tzinfo=UTC),
        ),
        # London falls back 2026-10-25 01:00 UTC; 01:30 local happens twice.
        (
            datetime(2026, 10, 24, 20, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 1, 30, tzinfo=LONDON),  # first (BST): 00:30 UTC
            datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
        ),
        (
            datetime(2026, 10, 24, 20, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=LONDON),  # second (GMT): 01:30 UTC
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        ),
        # New York springs forward 2026-03-08 07:00 UTC (02:00 EST -> 03:00 EDT).
        (
            datetime(2026, 3, 8, 3, 0, tzinfo=UTC),
            datetime(2026, 3, 8, 6, 0, tzinfo=NEW_YORK),  # EDT: 10:00 UTC
            datetime(2026, 3, 8, 9, 0, tzinfo=UTC),
        ),
        # New York falls back 2026-11-01 06:00 UTC; 01:30 local happens twice.
        (
            datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK),  # first (EDT): 05:30 UTC
            datetime(2026, 11, 1, 4, 30, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK),  # second (EST): 06:30 UTC
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        ),
    ],
    ids=[
        "london-spring",
        "london-fall-first",
        "london-fall-second",
        "ny-spring",
        "ny-fall-first",
        "ny-fall-second",
    ],
)
async def test_local_deadline_across_dst_gives_utc_bounds_and_waits(now, finish_by, latest_start):
    job = JobSpec.create(duration="1h", finish_by=finish_by)
    assert job.finish_by.tzinfo is UTC
    assert job.bounds(now) == (now, latest_start)

    # A falling grid: the cleanest start is the latest one, right at the DST-shifted deadline.
    hours = int((latest_start - now).total_seconds() // 3600) + 2
    clock = FakeClock(now)
    provider = ScriptedProvider(hourly([500 - 10 * k for k in range(hours)], start=now))
    plan = await plan_job(provider, job, SchedulingRules(), clock)
    assert plan.latest_start == latest_start and plan.start == latest_start
    assert plan.end <= job.finish_by

    final = await wait_for_window(provider, plan, SchedulingRules(), clock=clock, sleep=clock.sleep)
    assert clock.now() == final.start == latest_start
    # The wait is exactly the UTC distance: no hour gained or lost to the DST change.
    assert sum(clock.sleeps) == (latest_start - now).total_seconds()


def test_same_instant_in_any_zone_is_the_same_deadline():
    instant = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    specs = [
        JobSpec.create("1h", finish_by=instant.astimezone(zone))
        for zone in (LONDON, NEW_YORK, ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe"))
    ]
    assert {spec.finish_by for spec in specs} == {instant}


class SteppingClock(FakeClock):
    """Sleeps advance the clock; after the ``at``-th sleep the wall clock steps by ``step``."""

    def __init__(self, now: datetime, at: int, step: timedelta) -> None:
        super().__init__(now)
        self.at, self.step = at, step

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if len(self.sleeps) == self.at:
            self.current += self.step


T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def test_step_back_during_sleep_until_never_wakes_early():
    clock = SteppingClock(T, at=1, step=-timedelta(hours=1))
    target = T + timedelta(minutes=10)
    await sleep_until(target, clock, clock.sleep, max_step=60)
    assert clock.now() == target  # woke exactly at the target, by the wall clock
    assert all(s <= 60 for s in clock.sleeps)
    assert sum(clock.sleeps) == pytest.approx(600 + 3600)  # the lost hour is slept again


async def test_step_forward_during_sleep_until_is_noticed_within_one_step():
    clock = SteppingClock(T, at=1, step=timedelta(hours=3))  # e.g. a VM resumed
    target = T + timedelta(hours=2)
    await sleep_until(target, clock, clock.sleep, max_step=60)
    assert clock.sleeps == [60]  # the next check saw the target had passed: no more sleeping
    assert clock.now() - target == timedelta(hours=1, seconds=60)  # late only by the step itself


@pytest.mark.parametrize("step", [timedelta(hours=-2), timedelta(minutes=-1), timedelta(hours=1)])
async def test_clock_steps_while_waiting_with_replans(step):
    clock = SteppingClock(T, at=2, step=step)
    provider = ScriptedProvider(hourly([400, 400, 300, 300, 100, 100, 300, 400, 400], start=T))
    rules = SchedulingRules()
    plan = await plan_job(provider, JobSpec.create("1h", "6h"), rules, clock)
    assert plan.start == T + timedelta(hours=4)

    final = await wait_for_window(
        provider, plan, rules, replan_interval=timedelta(minutes=30), clock=clock, sleep=clock.sleep
    )
    assert final.start == plan.start  # the same forecast: a step never moves the window
    assert clock.now() == plan.start  # never early; and not late, since no step jumped past it
    assert final.latest_start == plan.latest_start


async def test_step_forward_past_the_whole_window_returns_at_once():
    clock = SteppingClock(T, at=1, step=timedelta(hours=10))
    provider = ScriptedProvider(hourly([400, 400, 300, 300, 100, 100, 300, 400, 400], start=T))
    plan = await plan_job(provider, JobSpec.create("1h", "6h"), SchedulingRules(), clock)
    calls = provider.calls
    final = await wait_for_window(
        provider,
        plan,
        SchedulingRules(),
        replan_interval=timedelta(minutes=30),
        clock=clock,
        sleep=clock.sleep,
    )
    assert final == plan and len(clock.sleeps) == 1
    assert provider.calls == calls  # a re-plan after the start is a no-op: no fetch
