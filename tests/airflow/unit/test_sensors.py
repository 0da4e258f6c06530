"""``CarbonWindowSensor``: parse-time validation with a fix, hostile arguments, the defer
decision on a worker, ``execute_complete`` and ``start_from_trigger`` / ``end_from_trigger``.
(BaseSensorOperator's conventions on it: ``test_sensors_conventions.py``.)"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanshift_airflow import PLAN_XCOM_KEY
from cleanshift_airflow.compat import AirflowException, AirflowSkipException, TaskDeferred
from cleanshift_airflow.location import CarbonLocationSensor
from cleanshift_airflow.sensors import CarbonWindowSensor
from cleanshift_airflow.triggers import CarbonWindowTrigger
from cleanshift_core import CleanshiftError, ConfigurationError, Plan
from tests import hostile
from tests.airflow.conftest import needs_start_from_trigger, refuses_start_from_trigger
from tests.airflow.helpers import GOOD, RecordingTI, demo_provider


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"duration": "0s"}, "duration must be positive"),
        ({"duration": "soon"}, "is not a duration"),
        ({"max_delay": "-1h"}, "max_delay"),
        ({"finish_by": datetime(2026, 1, 1)}, "is naive"),
        ({"finish_by": "2026-01-01T00:00:00"}, "is naive"),
        ({"finish_by": "tomorrow"}, "not an ISO-8601 datetime"),
        ({"policy": "greenest"}, "unknown policy 'greenest'; choose one of"),
        ({"policy": "threshold"}, "needs max_intensity"),
        ({"min_savings_pct": 150}, "min_savings_pct must be between 0 and 100"),
        ({"on_provider_error": "retry"}, "unknown on_provider_error"),
        ({"replan_interval": "0s"}, "replan_interval must be positive"),
        ({"provider": "mockk:speedup=1"}, "unknown provider 'mockk'"),
        ({"provider": "mock:speedup=0"}, "speedup must be positive"),
        ({"provider": "mock:colour=green"}, "does not take option(s) colour"),
        ({"provider": "not a conn id!"}, "neither a connection id nor a provider spec"),
        ({"provider": {"kind": "nope", "anchor": "{{ ts }}"}}, "unknown provider kind 'nope'"),
        ({"end_from_trigger": True}, "end_from_trigger=True needs start_from_trigger=True"),
        ({"end_from_trigger": "yes", "start_from_trigger": True}, "must be True or False"),
    ],
)
def test_sensor_arguments_fail_at_parse_with_a_fix(overrides, message):
    with pytest.raises(ConfigurationError, match=None) as err:
        CarbonWindowSensor(**{**GOOD, **overrides})
    assert message in str(err.value)


def test_sensor_defers_to_the_carbon_trigger_when_the_window_is_ahead():
    # 18:00 on the curve now; the trough (03:00) is 9 curve hours = 45 real seconds away.
    sensor = CarbonWindowSensor(
        task_id="w",
        provider=demo_provider(18),
        duration="10s",
        max_delay="75s",
        replan_interval="1m",
        deferrable=True,
    )
    ti = RecordingTI()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={"ti": ti})
    trigger = deferred.value.trigger
    assert isinstance(trigger, CarbonWindowTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=sensor.timeout)  # [sensors] default
    plan = Plan.model_validate_json(trigger.plan)
    # the plan the task waits for is in XCom during the deferral (the UI tab shows it)
    assert Plan.model_validate(ti.pushed[PLAN_XCOM_KEY]) == plan
    assert plan.start > datetime.now(timezone.utc) + timedelta(seconds=20)
    assert plan.start <= plan.latest_start
    assert trigger.provider["kind"] == "mock" and trigger.replan_interval == 60.0
    assert trigger.duration == 10.0 and trigger.max_delay == 75.0


def test_sensor_succeeds_without_deferring_when_the_window_is_open():
    ti = RecordingTI()
    sensor = CarbonWindowSensor(
        task_id="w", provider=demo_provider(3), duration="10s", max_delay="75s", deferrable=True
    )
    sensor.execute(context={"ti": ti})  # no TaskDeferred
    plan = Plan.model_validate(ti.pushed[PLAN_XCOM_KEY])
    assert plan.start == plan.earliest_start
    assert "cleanshift_released_at" in ti.pushed


def test_execute_complete_follows_the_event():
    sensor = CarbonWindowSensor(task_id="w", provider="mock", duration="1h")
    now = datetime.now(timezone.utc)
    plan = Plan(
        planned_at=now,
        earliest_start=now,
        latest_start=now,
        duration_seconds=60,
        start=now,
        policy="min_carbon",
        reason="test",
    )
    ti = RecordingTI()
    sensor.execute_complete({"ti": ti}, {"status": "ready", "plan": plan.model_dump(mode="json")})
    assert Plan.model_validate(ti.pushed[PLAN_XCOM_KEY]) == plan
    with pytest.raises(AirflowSkipException, match="too dirty"):
        sensor.execute_complete({"ti": ti}, {"status": "skipped", "message": "too dirty"})
    with pytest.raises(AirflowException, match="boom"):
        sensor.execute_complete({"ti": ti}, {"status": "failed", "message": "boom"})


@needs_start_from_trigger
def test_start_from_trigger_hands_the_triggerer_renderable_kwargs():
    sensor = CarbonWindowSensor(
        task_id="w",
        provider="cleanshift_default",
        duration="2h",
        finish_by="{{ (data_interval_end + macros.timedelta(hours=8)).isoformat() }}",
        start_from_trigger=True,
    )
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger and args.next_method == "execute_complete"
    assert args.trigger_kwargs["finish_by"].startswith("{{")  # rendered in the triggerer
    assert {"provider", "finish_by"} <= set(sensor.template_fields)
    module, _, name = args.trigger_cls.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**args.trigger_kwargs)
    assert trigger.plan is None and trigger.provider == "cleanshift_default"


@needs_start_from_trigger
def test_end_from_trigger_reaches_the_start_trigger_but_not_the_worker_path():
    """The triggerer's trigger ends the task; execute() (the worker and dag.test() path) still
    defers to a trigger that resumes on the worker, because dag.test() would drop the XComs."""
    sensor = CarbonWindowSensor(
        task_id="w",
        provider=demo_provider(18),
        duration="10s",
        max_delay="75s",
        start_from_trigger=True,
        end_from_trigger=True,
    )
    args = sensor.start_trigger_args
    module, _, name = args.trigger_cls.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**args.trigger_kwargs).end_from_trigger
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={"ti": RecordingTI()})
    assert not deferred.value.trigger.end_from_trigger
    assert deferred.value.method_name == "execute_complete"


@refuses_start_from_trigger
@pytest.mark.parametrize(
    ("sensor_cls", "where"),
    [
        (CarbonWindowSensor, {"provider": "mock"}),
        (CarbonLocationSensor, {"locations": {"a": "mock"}}),
    ],
)
def test_start_from_trigger_is_refused_at_parse_time_where_airflow_would_ignore_it(
    sensor_cls, where
):
    with pytest.raises(ConfigurationError, match=r"start_from_trigger=True needs Airflow 3\.3"):
        sensor_cls(task_id="w", duration="1h", start_from_trigger=True, **where)


# --- hostile arguments (hypothesis) ------------------------------------------------------

scalars = hostile.scalars(
    "{{ ds }}", "2026-03-29T01:30:00+01:00", "not a date", "cleanshift_default"
)
providers = hostile.providers(scalars)
finish = hostile.deadlines(scalars)
ARGS = hostile.WINDOW_ARGS


@settings(max_examples=80, deadline=None)
@given(providers, scalars, finish, st.dictionaries(st.sampled_from(ARGS), scalars, max_size=4))
def test_sensor_arguments_accept_or_refuse_cleanly(provider, duration, finish_by, kwargs):
    try:
        sensor = CarbonWindowSensor(
            task_id="window", provider=provider, duration=duration, finish_by=finish_by, **kwargs
        )
    except CleanshiftError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
        return
    assert sensor.window is not None
