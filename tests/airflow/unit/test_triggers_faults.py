"""Faults at the trigger: a failing provider (down, slow, rate limiting, garbage) while
planning and while waiting, clock steps, and DST around ``finish_by``.

Everything runs through the real ``CarbonWindowTrigger.run()`` with an injected clock; the
provider is the real ``ukci`` client against a local fake API (``fake_ukci.py``), or the real
``file`` provider for the DST cases.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from cleanshift_airflow.sensors import CarbonWindowSensor
from cleanshift_airflow.triggers import CarbonWindowTrigger
from cleanshift_core import ConfigurationError, JobSpec, Plan, SchedulingRules, plan_job
from cleanshift_core.providers import build_provider
from tests.airflow.fake_ukci import FakeUKCI
from tests.airflow.stack import free_port

HOUR = timedelta(hours=1)
LONDON = ZoneInfo("Europe/London")
#: Fake "now": the last half hour of the real clock, so the real client's staleness checks
#: (which read the real clock) accept the fake API's forecast.
T0 = datetime.fromtimestamp(math.floor(time.time() / 1800) * 1800, timezone.utc)


class StepClock:
    """A fake clock whose sleeps take no real time; ``steps`` maps the n-th sleep to a jump
    of the wall clock (an NTP step, a suspended VM) applied after it."""

    def __init__(self, now: datetime, steps: dict[int, timedelta] | None = None) -> None:
        self.t = now
        self.steps = steps or {}
        self.sleeps: list[float] = []
        self.on_first_sleep = lambda: None

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        if not self.sleeps:
            self.on_first_sleep()
        self.sleeps.append(seconds)
        self.t += timedelta(seconds=seconds)
        step = self.steps.get(len(self.sleeps))
        if step is not None:
            self.t += step


@pytest.fixture
def api():
    with FakeUKCI(step=1800) as fake:
        fake.hours = 6
        fake.set_dip("GB", int((T0 + 2 * HOUR).timestamp()), 100.0, seconds=3600)
        yield fake


def ukci(url: str) -> dict:
    """The real ukci client at ``url``; quick timeouts and two tries, so faults cost ~1 s."""
    return {
        "kind": "ukci",
        "base_url": url,
        "timeout": 0.5,
        "retry": {"attempts": 2, "initial_backoff": 0.0, "jitter": 0.0, "max_retry_after": 1.0},
    }


def trigger(provider: dict, clock: StepClock, **kwargs) -> CarbonWindowTrigger:
    base = {"duration": 3600.0, "max_delay": 4 * 3600.0, "replan_interval": 1800.0}
    return CarbonWindowTrigger(
        provider=provider, **{**base, **kwargs}, clock=clock, sleep=clock.sleep
    )


async def fire(t: CarbonWindowTrigger) -> dict:
    events = [event.payload async for event in t.run()]
    assert len(events) == 1
    return events[0]


FAULTS = {
    # mode: the error class the reason must name
    "down": "ProviderUnavailableError",
    "slow": "ProviderUnavailableError",
    "429": "RateLimitedError",
    "500": "ProviderUnavailableError",
    "garbage": "BadDataError",
    "wrong_shape": "BadDataError",
}


@pytest.mark.parametrize("mode", FAULTS)
@pytest.mark.parametrize("on_error", ["run_now", "wait_until_deadline", "fail"])
async def test_provider_fault_while_planning_follows_on_provider_error(api, mode, on_error):
    """start_from_trigger: the trigger plans itself and the provider fails."""
    api.mode = "ok" if mode == "down" else mode
    url = f"http://127.0.0.1:{free_port()}" if mode == "down" else api.url
    clock = StepClock(T0)
    planning: list[int] = []
    clock.on_first_sleep = lambda: planning.append(len(api.requests))

    event = await fire(
        trigger(ukci(url), clock, on_provider_error=on_error, replan_interval=3600.0)
    )

    if mode != "down":  # at most the retry policy's two tries, then the fallback
        assert 1 <= (planning[0] if planning else len(api.requests)) <= 2
    if on_error == "fail":
        assert event["status"] == "failed"
        assert FAULTS[mode] in event["message"]
        assert clock.sleeps == []
        return
    plan = Plan.model_validate(event["plan"])
    assert event["status"] == "ready"
    assert f"provider error ({FAULTS[mode]}" in plan.reason  # the reason travels with the plan
    assert f"on_provider_error={on_error!r}" in plan.reason
    assert plan.expected_intensity is None and plan.immediate_intensity is None  # none invented
    assert plan.latest_start == T0 + 4 * HOUR
    expected = T0 if on_error == "run_now" else plan.latest_start
    assert plan.start == expected
    assert clock.now() == expected  # fired at the fallback start: never past the deadline
    assert all(s <= 60 for s in clock.sleeps)


@pytest.mark.parametrize("mode", [m for m in FAULTS if m != "down"])
async def test_provider_fault_while_waiting_keeps_the_plan_and_fires_on_time(api, mode, caplog):
    """The worker planned on a healthy API; then it breaks for the whole wait."""
    spec = ukci(api.url)
    job = JobSpec(duration=HOUR, max_delay=4 * HOUR)
    plan = await plan_job(build_provider(spec), job, SchedulingRules(), StepClock(T0))
    assert plan.start == T0 + 2 * HOUR and plan.expected_intensity == 100.0
    api.mode = mode
    clock = StepClock(T0)

    with caplog.at_level(logging.WARNING):
        event = await fire(trigger(spec, clock, plan=plan.model_dump_json()))

    final = Plan.model_validate(event["plan"])
    assert event["status"] == "ready"
    assert final == plan  # nothing moved, nothing invented
    assert clock.now() == plan.start <= plan.latest_start  # on time, never past the deadline
    broken = [r for r in api.requests if r["mode"] == mode]
    assert len(broken) >= 3  # every re-plan (at +30, +60, +90 min) asked again: no cached failure
    skipped = [r.getMessage() for r in caplog.records if "re-plan skipped" in r.getMessage()]
    assert len(skipped) == 3 and all(plan.start.isoformat() in m for m in skipped)


async def test_provider_recovering_mid_wait_moves_to_the_cleaner_window(api):
    """Down while planning (run_now would start at once), so wait_until_deadline is chosen;
    the API comes back and the re-plan finds the real dip."""
    spec = ukci(api.url)
    api.mode = "500"
    clock = StepClock(T0, steps={})
    t = trigger(spec, clock, on_provider_error="wait_until_deadline")

    async def recover(seconds: float) -> None:
        await StepClock.sleep(clock, seconds)
        api.mode = "ok"

    t.sleep = recover
    plan = Plan.model_validate((await fire(t))["plan"])
    assert plan.start == T0 + 2 * HOUR and plan.expected_intensity == 100.0
    assert "re-planned" in plan.reason
    assert clock.now() == plan.start


# ------------------------------------------------------------------ clock steps


def file_spec(tmp_path, start: datetime, values: list[float], step=HOUR) -> dict:
    rows = ["time,value"] + [f"{(start + k * step).isoformat()},{v}" for k, v in enumerate(values)]
    path = tmp_path / "grid.csv"
    path.write_text("\n".join(rows))
    return {"kind": "file", "path": str(path)}


@pytest.fixture
def dip_at_2h(tmp_path):
    base = datetime(2026, 1, 5, tzinfo=timezone.utc)
    return base, file_spec(tmp_path, base, [300, 300, 100, 300, 300, 300, 300, 300])


async def planned(spec: dict, now: datetime) -> Plan:
    job = JobSpec(duration=HOUR, max_delay=4 * HOUR)
    return await plan_job(build_provider(spec), job, SchedulingRules(), StepClock(now))


async def test_clock_stepping_back_does_not_fire_early(dip_at_2h):
    base, spec = dip_at_2h
    plan = await planned(spec, base)
    clock = StepClock(base, steps={10: -HOUR})  # 10 minutes in, the clock jumps back an hour
    final = Plan.model_validate(
        (await fire(trigger(spec, clock, plan=plan.model_dump_json())))["plan"]
    )
    assert final.start == plan.start == base + 2 * HOUR
    assert clock.now() == plan.start  # waited out the lost hour: not early
    assert max(clock.sleeps) <= 60  # bounded steps re-read the clock


async def test_clock_stepping_forward_past_the_start_fires_at_once(dip_at_2h):
    base, spec = dip_at_2h
    plan = await planned(spec, base)
    clock = StepClock(base, steps={1: 5 * HOUR})  # suspended VM: wakes after the deadline
    final = Plan.model_validate(
        (await fire(trigger(spec, clock, plan=plan.model_dump_json())))["plan"]
    )
    assert final.start == plan.start  # the plan is not rewritten after the fact
    assert len(clock.sleeps) == 1  # no further waiting once the start has passed
    assert clock.now() - plan.start < 5 * HOUR  # ... at most the one step that was slept


# ------------------------------------------------------------------ DST


def london_trigger(spec: dict, finish_by: datetime | str, clock: StepClock, duration: str):
    """As the sensor builds it: finish_by validated at parse time, handed to the trigger."""
    sensor = CarbonWindowSensor(
        task_id="w", provider=spec, duration=duration, finish_by=finish_by, replan_interval=None
    )
    return CarbonWindowTrigger(**sensor.trigger_kwargs(), clock=clock, sleep=clock.sleep)


@pytest.mark.parametrize(
    "finish_by",
    [datetime(2026, 3, 29, 3, 0, tzinfo=LONDON), "2026-03-29T03:00:00+01:00"],
    ids=["zoneinfo", "iso-string"],
)
async def test_finish_by_in_london_across_the_march_change(tmp_path, finish_by):
    """Clocks go forward at 01:00 UTC on 29 March 2026: 03:00 London is 02:00 UTC, so a 1 h
    job must start by 01:00 UTC. The cleanest hour, 02:00 UTC, would be chosen by anyone
    reading 03:00 as GMT."""
    base = datetime(2026, 3, 28, 22, 0, tzinfo=timezone.utc)
    spec = file_spec(tmp_path, base, [300, 300, 300, 150, 50, 300, 300])  # 01:00Z 150, 02:00Z 50
    clock = StepClock(base)
    t = london_trigger(spec, finish_by, clock, "1h")
    assert t.finish_by == "2026-03-29T02:00:00+00:00"
    plan = Plan.model_validate((await fire(t))["plan"])
    assert plan.start == datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
    assert plan.end <= datetime(2026, 3, 29, 2, 0, tzinfo=timezone.utc)
    assert clock.now() == plan.start


@pytest.mark.parametrize(
    ("fold", "latest_utc", "start_utc"),
    [
        (0, "2026-10-25T00:00:00+00:00", "2026-10-24T23:30:00+00:00"),  # 01:30 BST = 00:30Z
        (1, "2026-10-25T01:00:00+00:00", "2026-10-25T01:00:00+00:00"),
    ],  # 01:30 GMT = 01:30Z
)
async def test_finish_by_in_the_repeated_october_hour(tmp_path, fold, latest_utc, start_utc):
    """01:30 happens twice in London on 25 October 2026; ``fold`` picks which, and the
    deadline in UTC follows it."""
    base = datetime(2026, 10, 24, 22, 0, tzinfo=timezone.utc)
    values = [300, 300, 300, 150, 300, 300, 50, 300, 300]  # 23:30Z 150, 01:00Z 50 (half-hours)
    spec = file_spec(tmp_path, base, values, step=timedelta(minutes=30))
    clock = StepClock(base)
    finish_by = datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=fold)
    t = london_trigger(spec, finish_by, clock, "30m")
    plan = Plan.model_validate((await fire(t))["plan"])
    assert plan.latest_start.isoformat() == latest_utc
    assert plan.start.isoformat() == start_utc
    assert plan.start <= plan.latest_start


def test_naive_finish_by_is_refused_at_parse_time(tmp_path):
    spec = file_spec(tmp_path, datetime(2026, 3, 28, tzinfo=timezone.utc), [300, 300])
    with pytest.raises(ConfigurationError, match="naive; pass a timezone-aware datetime"):
        CarbonWindowSensor(
            task_id="w", provider=spec, duration="1h", finish_by=datetime(2026, 3, 29, 3, 0)
        )
