"""CarbonWindowTrigger rows written by earlier releases still load and run.

A deferred task's trigger lives in Airflow's ``trigger`` table as its ``serialize()`` kwargs,
and a triggerer that starts on a new release rebuilds it from them. The trigger now takes the
core request's plain kwargs (``WINDOW_KWARGS``) instead of listing each window argument, so
these tests write the kwargs exactly as earlier releases' ``serialize()`` did, put them through
Airflow's own encode/decode of a trigger row, rebuild the trigger by its classpath as the
triggerer does, and run it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from airflow._shared.module_loading import import_string
from airflow.models.trigger import Trigger
from airflow.serialization.decoders import smart_decode_trigger_kwargs

from cleanshift_airflow.triggers import TRIGGER_PATH, CarbonWindowTrigger
from cleanshift_core import JobSpec, Plan, SchedulingRules, plan_job
from cleanshift_core.providers import build_provider
from cleanshift_core.request import WINDOW_KWARGS
from tests.airflow.unit._scripted_provider import HOUR, SCRIPTS, T0, FakeClock, Script

CURVE = [300, 300, 200, 300, 300, 300, 300, 300]  # the cleanest hour starts at T0 + 2h


def scripted() -> tuple[dict, FakeClock]:
    clock = FakeClock()
    name = uuid.uuid4().hex  # a fresh spec, so the process-wide shared cache starts empty
    SCRIPTS[name] = Script(values=lambda now: CURVE, clock=clock)
    return {"kind": "scripted", "script": name}, clock


def row_of_0_4(provider: dict, plan: str | None) -> dict:
    """``serialize()`` of the trigger at 428cd33: every window argument listed by name."""
    return {
        "provider": provider,
        "duration": 3600.0,
        "max_delay": 4 * 3600.0,
        "finish_by": (T0 + 8 * HOUR).isoformat(),
        "policy": "min_carbon",
        "max_intensity": None,
        "min_savings_pct": 0.0,
        "on_provider_error": "run_now",
        "replan_interval": 1800.0,
        "plan": plan,
        "locations": None,
        "end_from_trigger": False,
        "soft_fail": False,
    }


def first_row(provider: dict, plan: str | None) -> dict:
    """The first release's rows: no ``locations``, ``end_from_trigger`` or ``soft_fail``."""
    row = row_of_0_4(provider, plan)
    for newer in ("locations", "end_from_trigger", "soft_fail"):
        del row[newer]
    return row


def through_the_trigger_table(classpath: str, kwargs: dict, clock: FakeClock):
    """What the triggerer does with a row: decrypt, decode, import the class, build it."""
    stored = Trigger(classpath=classpath, kwargs=kwargs).encrypted_kwargs
    decoded = {
        k: smart_decode_trigger_kwargs(v) for k, v in Trigger._decrypt_kwargs(stored).items()
    }
    return import_string(classpath)(**decoded, clock=clock, sleep=clock.sleep)


async def fire(trigger: CarbonWindowTrigger) -> dict:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize("row", [row_of_0_4, first_row])
async def test_an_earlier_releases_row_with_a_plan_resumes_the_same_wait(row):
    provider, clock = scripted()
    job = JobSpec(duration=HOUR, max_delay=4 * HOUR)
    plan = await plan_job(build_provider(provider), job, SchedulingRules(), clock)
    clock.t = T0 + timedelta(minutes=30)  # the triggerer restarts half an hour in

    trigger = through_the_trigger_table(TRIGGER_PATH, row(provider, plan.model_dump_json()), clock)
    event = await fire(trigger)

    assert event["status"] == "ready"
    assert Plan.model_validate(event["plan"]).start == plan.start == T0 + 2 * HOUR
    assert clock.now() == T0 + 2 * HOUR
    assert trigger.request.job.finish_by == T0 + 8 * HOUR
    assert trigger.request.replan_interval == HOUR / 2


@pytest.mark.parametrize("row", [row_of_0_4, first_row])
async def test_an_earlier_releases_row_without_a_plan_plans_in_the_triggerer(row):
    provider, clock = scripted()
    trigger = through_the_trigger_table(TRIGGER_PATH, row(provider, None), clock)
    event = await fire(trigger)
    assert event["status"] == "ready"
    assert Plan.model_validate(event["plan"]).start == T0 + 2 * HOUR


async def test_a_rebuilt_row_serialises_to_todays_shape_and_keeps_its_window():
    provider, clock = scripted()
    trigger = through_the_trigger_table(TRIGGER_PATH, first_row(provider, None), clock)
    classpath, kwargs = trigger.serialize()
    assert classpath == TRIGGER_PATH
    assert kwargs == row_of_0_4(provider, None)  # the left-out ones at their defaults
    assert set(kwargs) == {*WINDOW_KWARGS, "plan", "locations", "end_from_trigger", "soft_fail"}


def test_a_name_that_is_no_window_argument_fails_like_a_signature_would():
    provider, _ = scripted()
    with pytest.raises(TypeError, match=r"unexpected window argument\(s\) max_delai"):
        CarbonWindowTrigger(provider=provider, duration=60.0, max_delai=60.0)
    with pytest.raises(TypeError, match=r"missing window argument\(s\): duration"):
        CarbonWindowTrigger(provider=provider)
