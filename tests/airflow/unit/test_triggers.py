"""CarbonWindowTrigger.run() on an injected clock: re-plan, deadline, provider failures."""

from __future__ import annotations

import importlib
import json
import types
import uuid
from datetime import datetime, timedelta

import pytest
from airflow.sdk.execution_time.xcom import XCom
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent

from cleanshift_airflow.keys import LOCATION_XCOM_KEY, PLAN_XCOM_KEY, RELEASED_AT_XCOM_KEY
from cleanshift_airflow.triggers import CarbonWindowTrigger
from cleanshift_core import JobSpec, Plan, ProviderUnavailableError, SchedulingRules, plan_job
from cleanshift_core.providers import build_provider
from tests.airflow.unit._scripted_provider import HOUR, SCRIPTS, T0, FakeClock, Script

FLAT = [300.0] * 8


def scripted(values, error=None) -> tuple[dict, FakeClock]:
    clock = FakeClock()
    name = uuid.uuid4().hex  # a fresh spec, so the process-wide shared cache starts empty
    SCRIPTS[name] = Script(values=values, clock=clock, error=error)
    return {"kind": "scripted", "script": name}, clock


def kwargs(provider: dict, **overrides) -> dict:
    base = {
        "provider": provider,
        "duration": 3600.0,
        "max_delay": 4 * 3600.0,
        "replan_interval": 1800.0,
    }
    return {**base, **overrides}


async def initial_plan(provider: dict, clock: FakeClock, **job) -> str:
    spec = JobSpec(duration=HOUR, max_delay=job.get("max_delay", 4 * HOUR))
    plan = await plan_job(build_provider(provider), spec, SchedulingRules(), clock)
    return plan.model_dump_json()


async def fire(trigger: CarbonWindowTrigger) -> dict:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


def with_refresh(before: list[float], after: list[float], at: timedelta = timedelta(minutes=20)):
    return lambda now: before if now < T0 + at else after


async def test_replan_moves_to_a_much_cleaner_window_after_a_refresh():
    before = [300, 300, 200, 300, 300, 300, 300, 300]
    after = [300, 100, 200, 300, 300, 300, 300, 300]
    provider, clock = scripted(with_refresh(before, after))
    plan = await initial_plan(provider, clock)
    assert Plan.model_validate_json(plan).start == T0 + 2 * HOUR

    trigger = CarbonWindowTrigger(**kwargs(provider), plan=plan, clock=clock, sleep=clock.sleep)
    event = await fire(trigger)

    final = Plan.model_validate(event["plan"])
    assert event["status"] == "ready"
    assert final.start == T0 + HOUR
    assert "re-planned" in final.reason
    assert final.earliest_start == T0  # the counterfactual still starts when the job could have
    assert clock.now() == T0 + HOUR  # fired at the new start, not before
    assert max(clock.sleeps) <= 60  # bounded steps, like DateTimeTrigger


class ShownTrigger(CarbonWindowTrigger):
    """Records the plans the trigger shows in the UI (in a triggerer: the task's XCom)."""

    async def publish(self, plan: Plan) -> None:
        self.shown.append(plan)


async def test_the_plan_shown_while_waiting_follows_each_replan_that_moves_the_start():
    before = [300, 300, 200, 300, 300, 300, 300, 300]
    after = [300, 100, 200, 300, 300, 300, 300, 300]
    provider, clock = scripted(with_refresh(before, after))
    trigger = ShownTrigger(
        **kwargs(provider), plan=await initial_plan(provider, clock), clock=clock, sleep=clock.sleep
    )
    trigger.shown = []
    final = Plan.model_validate((await fire(trigger))["plan"])
    assert [p.start for p in trigger.shown] == [T0 + HOUR] == [final.start]

    # Planned in the triggerer (start_from_trigger): shown as soon as it is made.
    provider, clock = scripted(lambda now: before)
    planned_here = ShownTrigger(**kwargs(provider), clock=clock, sleep=clock.sleep)
    planned_here.shown = []
    await fire(planned_here)
    assert [p.start for p in planned_here.shown] == [T0 + 2 * HOUR]


class RestartedTrigger(ShownTrigger):
    """A trigger in a triggerer after a restart: it has a task instance, and the UI shows the
    plan a re-plan before the restart moved (the task's XCom, here ``self.ui``)."""

    async def shown_plan(self):
        return self.ui

    async def publish(self, plan: Plan) -> None:
        self.shown.append(plan)
        self.ui = plan.model_dump(mode="json")


@pytest.mark.skipif(
    not hasattr(XCom, "aget_one"), reason="Airflow < 3.3 has no async XCom in the triggerer"
)
async def test_after_a_triggerer_restart_the_ui_shows_the_plan_the_trigger_waits_for():
    provider, clock = scripted(lambda now: [300, 300, 200, 300, 300, 300, 300, 300])
    plan = await initial_plan(provider, clock)
    _, data = CarbonWindowTrigger(**kwargs(provider), plan=plan).serialize()
    moved = Plan.model_validate_json(plan).model_copy(update={"start": T0 + 3 * HOUR})
    ti = types.SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)

    resumed = RestartedTrigger(**data, clock=clock, sleep=clock.sleep)
    resumed.task_instance, resumed.shown, resumed.ui = ti, [], moved.model_dump(mode="json")
    final = Plan.model_validate((await fire(resumed))["plan"])
    assert [p.start for p in resumed.shown] == [T0 + 2 * HOUR] == [final.start]

    # The UI already shows it (no re-plan before the restart): read, not written again.
    again = RestartedTrigger(**data, clock=clock, sleep=clock.sleep)
    again.task_instance, again.shown = ti, []
    again.ui = Plan.model_validate_json(plan).model_dump(mode="json")
    clock.t = T0
    await fire(again)
    assert again.shown == []


async def test_replan_ignores_gains_inside_forecast_noise():
    before = [300, 300, 200, 300, 300, 300, 300, 300]
    after = [300, 199, 200, 300, 300, 300, 300, 300]  # 0.5 % better: not worth moving
    provider, clock = scripted(with_refresh(before, after))
    trigger = CarbonWindowTrigger(
        **kwargs(provider), plan=await initial_plan(provider, clock), clock=clock, sleep=clock.sleep
    )
    final = Plan.model_validate((await fire(trigger))["plan"])
    assert final.start == T0 + 2 * HOUR
    assert clock.now() == T0 + 2 * HOUR


async def test_replan_never_moves_past_the_deadline():
    before = [300, 300, 200, 300, 300, 300, 300, 300]
    after = [300, 300, 200, 300, 300, 300, 10, 10]  # far cleaner, but after latest_start (T0+4h)
    provider, clock = scripted(with_refresh(before, after))
    trigger = CarbonWindowTrigger(
        **kwargs(provider), plan=await initial_plan(provider, clock), clock=clock, sleep=clock.sleep
    )
    final = Plan.model_validate((await fire(trigger))["plan"])
    assert final.start == T0 + 2 * HOUR
    assert final.start <= final.latest_start == T0 + 4 * HOUR


async def test_provider_failure_during_a_replan_keeps_the_plan():
    def values(now):
        if now > T0 + timedelta(minutes=10):
            raise ProviderUnavailableError("503 from upstream")
        return [300, 300, 200, 300, 300, 300, 300, 300]

    provider, clock = scripted(values)
    trigger = CarbonWindowTrigger(
        **kwargs(provider), plan=await initial_plan(provider, clock), clock=clock, sleep=clock.sleep
    )
    event = await fire(trigger)
    assert event["status"] == "ready"
    assert Plan.model_validate(event["plan"]).start == T0 + 2 * HOUR


async def test_without_a_plan_the_trigger_plans_itself():
    """The start_from_trigger path: nothing was planned on a worker."""
    provider, clock = scripted(lambda now: [300, 300, 300, 120, 300, 300, 300, 300])
    trigger = CarbonWindowTrigger(**kwargs(provider), clock=clock, sleep=clock.sleep)
    final = Plan.model_validate((await fire(trigger))["plan"])
    assert final.start == T0 + 3 * HOUR
    assert final.planned_at == T0


async def test_finish_by_deadline_is_honoured():
    provider, clock = scripted(lambda now: [300, 250, 300, 300, 300, 50, 50, 50])
    finish_by = (T0 + 3 * HOUR).isoformat()  # the 50s start at 5h: too late to finish by 3h
    trigger = CarbonWindowTrigger(
        **kwargs(provider, max_delay=None), finish_by=finish_by, clock=clock, sleep=clock.sleep
    )
    final = Plan.model_validate((await fire(trigger))["plan"])
    assert final.start == T0 + HOUR
    assert final.end <= T0 + 3 * HOUR


@pytest.mark.parametrize(
    ("on_error", "status", "start"),
    [
        ("run_now", "ready", T0),
        ("wait_until_deadline", "ready", T0 + 4 * HOUR),
        ("fail", "failed", None),
    ],
)
async def test_provider_failure_follows_on_provider_error(on_error, status, start):
    provider, clock = scripted(
        lambda now: FLAT, error=ProviderUnavailableError("connection refused")
    )
    trigger = CarbonWindowTrigger(
        **kwargs(provider), on_provider_error=on_error, clock=clock, sleep=clock.sleep
    )
    event = await fire(trigger)
    assert event["status"] == status
    if start is None:
        assert "ProviderUnavailableError" in event["message"]
        assert clock.sleeps == []
    else:
        final = Plan.model_validate(event["plan"])
        assert final.start == start and clock.now() == start
        assert "provider error" in final.reason
        assert final.expected_intensity is None  # no invented numbers


async def test_now_or_never_on_a_dirty_grid_skips():
    provider, clock = scripted(lambda now: FLAT)
    trigger = CarbonWindowTrigger(
        **kwargs(provider), policy="now_or_never", max_intensity=200, clock=clock, sleep=clock.sleep
    )
    event = await fire(trigger)
    assert event["status"] == "skipped"
    assert "max_intensity=200" in event["message"]


async def test_serialize_round_trip_keeps_absolute_times_and_the_plan():
    provider, clock = scripted(lambda now: [300, 300, 200, 300, 300, 300, 300, 300])
    plan = await initial_plan(provider, clock)
    trigger = CarbonWindowTrigger(
        **kwargs(provider), finish_by=(T0 + 6 * HOUR).isoformat(), plan=plan
    )

    classpath, data = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**data)

    assert rebuilt.serialize() == (classpath, data)
    assert json.loads(json.dumps(data)) == data  # plain JSON, nothing process-local
    assert Plan.model_validate_json(data["plan"]).start == T0 + 2 * HOUR  # absolute, not "in 2h"
    assert "clock" not in data and "sleep" not in data


async def test_resumed_trigger_waits_for_the_same_start():
    """A triggerer restart rebuilds the trigger from serialize(): same wait, no new window."""
    provider, clock = scripted(lambda now: [300, 300, 200, 300, 300, 300, 300, 300])
    plan = await initial_plan(provider, clock)
    _, data = CarbonWindowTrigger(**kwargs(provider), plan=plan).serialize()
    clock.t = T0 + 90 * timedelta(minutes=1)  # the triggerer comes back 90 minutes later
    resumed = CarbonWindowTrigger(**data, clock=clock, sleep=clock.sleep)
    final = Plan.model_validate((await fire(resumed))["plan"])
    assert final.start == T0 + 2 * HOUR
    assert clock.now() == T0 + 2 * HOUR


def test_repr_masks_secrets_of_inline_specs():
    provider, _ = scripted(lambda now: FLAT)
    trigger = CarbonWindowTrigger(**kwargs({**provider, "api_key": "canary-5ecret"}))
    assert "canary-5ecret" not in repr(trigger)
    assert "**********" in repr(trigger)


# --- end_from_trigger: the trigger ends the task itself --------------------------------------


async def test_end_from_trigger_succeeds_the_task_with_the_sensors_xcoms():
    provider, clock = scripted(lambda now: [300, 300, 300, 120, 300, 300, 300, 300])
    trigger = CarbonWindowTrigger(
        **kwargs(provider), end_from_trigger=True, clock=clock, sleep=clock.sleep
    )
    events = [event async for event in trigger.run()]
    assert len(events) == 1 and isinstance(events[0], TaskSuccessEvent)
    xcoms = events[0].xcoms
    assert set(xcoms) == {PLAN_XCOM_KEY, RELEASED_AT_XCOM_KEY}
    assert Plan.model_validate(xcoms[PLAN_XCOM_KEY]).start == T0 + 3 * HOUR
    assert datetime.fromisoformat(xcoms[RELEASED_AT_XCOM_KEY]) == clock.now() == T0 + 3 * HOUR
    # What Airflow stores and logs: the state, not the plan.
    assert events[0].payload == "success"


@pytest.mark.parametrize(
    ("overrides", "error", "event_type"),
    [
        ({"policy": "now_or_never", "max_intensity": 200}, None, TaskSkippedEvent),
        ({"on_provider_error": "fail"}, ProviderUnavailableError("refused"), TaskFailedEvent),
    ],
)
async def test_end_from_trigger_skips_and_fails_the_task(overrides, error, event_type, capsys):
    provider, clock = scripted(lambda now: FLAT, error=error)
    trigger = CarbonWindowTrigger(
        **kwargs(provider), **overrides, end_from_trigger=True, clock=clock, sleep=clock.sleep
    )
    events = [event async for event in trigger.run()]
    assert len(events) == 1 and type(events[0]) is event_type and not events[0].xcoms
    (line,) = trigger_lines(capsys)  # the reason stays in the task log: no worker logs it
    assert "max_intensity=200" in line if error is None else "ProviderUnavailableError" in line


def trigger_lines(capsys) -> list[str]:
    """The trigger's log lines (Airflow's structlog writes them to stdout, at INFO and up)."""
    out = capsys.readouterr().out
    return [line for line in out.splitlines() if "CarbonWindowTrigger" in line]


async def test_one_info_line_per_trigger(capsys):
    """Planning and re-planning log at DEBUG: a thousand triggers opening together must not
    write thousands of lines at the instant they hand their events over."""
    before = [300, 300, 200, 300, 300, 300, 300, 300]
    after = [300, 100, 200, 300, 300, 300, 300, 300]
    provider, clock = scripted(with_refresh(before, after))
    trigger = CarbonWindowTrigger(**kwargs(provider), clock=clock, sleep=clock.sleep)
    capsys.readouterr()
    await fire(trigger)
    (line,) = trigger_lines(capsys)
    assert f"carbon window open: start {(T0 + HOUR).isoformat()}" in line
    assert "1 re-plan(s)" in line and "re-planned at" in line


def test_end_from_trigger_survives_serialize():
    provider, _ = scripted(lambda now: FLAT)
    _, data = CarbonWindowTrigger(**kwargs(provider), end_from_trigger=True).serialize()
    assert data["end_from_trigger"] is True
    assert CarbonWindowTrigger(**data).end_from_trigger


async def test_a_location_trigger_that_ends_the_task_pushes_the_chosen_location():
    # What CarbonLocationSensor.execute_complete would push, when no worker resumes it.
    from airflow.triggers.base import TaskSuccessEvent

    trigger = CarbonWindowTrigger(
        provider={"kind": "mock"},
        locations={"dirty": {"kind": "mock", "base_intensity": 500}, "clean": {"kind": "mock"}},
        duration=5.0,
        max_delay=0.0,
        end_from_trigger=True,
    )
    [event] = [e async for e in trigger.run()]
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms[LOCATION_XCOM_KEY] == event.xcoms["return_value"]
    assert Plan.model_validate(event.xcoms[PLAN_XCOM_KEY]).location == event.xcoms["return_value"]
