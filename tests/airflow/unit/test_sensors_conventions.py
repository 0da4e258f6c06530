"""BaseSensorOperator's conventions on CarbonWindowSensor: ``deferrable`` (and ``[operators]
default_deferrable``), ``mode`` / ``poke_interval``, ``timeout`` and ``soft_fail``, on the
deferred path and on the reschedule-mode path, through Airflow's own ``execute`` /
``resume_execution`` and ``dag.test()``."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent

from cleanshift_airflow import PLAN_XCOM_KEY
from cleanshift_airflow.keys import RELEASED_AT_XCOM_KEY
from cleanshift_airflow.location import CarbonLocationSensor
from cleanshift_airflow.sensors import CarbonWindowSensor
from cleanshift_airflow.triggers import CarbonWindowTrigger
from cleanshift_core import ConfigurationError, Plan, ProviderUnavailableError
from tests.airflow.helpers import RecordingTI, demo_provider
from tests.airflow.unit._scripted_provider import SCRIPTS, FakeClock, Script


class ReschedulingTI(RecordingTI):
    """A task instance in reschedule mode: knows when its first poke ran."""

    def __init__(self, first_poke: datetime | None = None) -> None:
        super().__init__()
        self.first_poke = first_poke

    def get_first_reschedule_date(self, context):
        return self.first_poke


def failing_provider() -> dict:
    name = uuid.uuid4().hex
    SCRIPTS[name] = Script(
        values=lambda now: [300.0] * 8,
        clock=FakeClock(),
        error=ProviderUnavailableError("grid API down"),
    )
    return {"kind": "scripted", "script": name}


BASE = {"task_id": "w", "provider": "mock", "duration": "10s", "max_delay": "75s"}

# --- deferrable and [operators] default_deferrable ----------------------------------------


def test_deferrable_defaults_to_operators_default_deferrable(monkeypatch):
    monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    sensor = CarbonWindowSensor(**BASE)  # Airflow's packaged default: False
    assert sensor.deferrable is False and sensor.mode == "reschedule"
    assert sensor.poke_interval == 300.0  # replan_interval's default, not Airflow's 60 s
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert CarbonWindowSensor(**BASE).deferrable is True
    assert CarbonWindowSensor(**BASE, deferrable=False).deferrable is False  # the DAG wins
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert CarbonWindowSensor(**BASE, deferrable=True).deferrable is True
    assert CarbonWindowSensor(**BASE, start_from_trigger=True).deferrable is True  # implied


def test_mode_chooses_a_wait_on_workers_and_poke_interval_is_kept():
    sensor = CarbonWindowSensor(**BASE, mode="poke", poke_interval=7)
    assert sensor.deferrable is False and sensor.mode == "poke" and sensor.poke_interval == 7
    sensor = CarbonWindowSensor(**BASE, deferrable=False, replan_interval="2m")
    assert sensor.mode == "reschedule" and sensor.poke_interval == 120
    assert CarbonWindowSensor(**BASE, mode="reschedule", poke_interval="15m").poke_interval == 900


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"deferrable": "yes"}, "deferrable must be True or False"),
        ({"deferrable": True, "mode": "reschedule"}, "mode applies to a wait on workers"),
        ({"deferrable": True, "poke_interval": 30}, "poke_interval applies to a wait on workers"),
        ({"mode": "sometimes"}, "mode must be one of reschedule, poke"),
        ({"deferrable": False, "start_from_trigger": True}, "start_from_trigger=True needs"),
        ({"timeout": 60}, "timeout=60s is shorter than max_delay=0:01:15"),
    ],
)
def test_sensor_conventions_that_cannot_hold_fail_at_parse(overrides, message):
    with pytest.raises(ConfigurationError) as err:
        CarbonWindowSensor(**{**BASE, **overrides})
    assert message in str(err.value)


# --- timeout ---------------------------------------------------------------------------------


def test_timeout_reaches_the_deferral_and_the_start_trigger():
    sensor = CarbonWindowSensor(
        **{**BASE, "provider": demo_provider(18)}, timeout=600, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": RecordingTI()})
    assert deferred.value.timeout == timedelta(seconds=600)
    started = CarbonWindowSensor(**BASE, timeout=900, start_from_trigger=True)
    assert started.start_trigger_args.timeout == timedelta(seconds=900)


@pytest.mark.parametrize("soft_fail", [False, True])
def test_a_deferral_that_times_out_fails_as_a_sensor_timeout_or_skips(soft_fail):
    """What the scheduler hands the worker when the trigger's timeout passes (``__fail__``),
    through Airflow's own ``resume_execution``."""
    from airflow.sdk.bases.operator import TriggerFailureReason

    sensor = CarbonWindowSensor(**BASE, soft_fail=soft_fail)
    expected = AirflowSkipException if soft_fail else AirflowSensorTimeout
    with pytest.raises(expected):
        sensor.resume_execution(
            "__fail__", {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {"ti": RecordingTI()}
        )


def test_reschedule_mode_times_out_after_timeout_since_the_first_poke():
    sensor = CarbonWindowSensor(
        **{**BASE, "provider": demo_provider(18), "max_delay": "10m"}, mode="reschedule"
    )
    sensor.timeout = 60.0  # as [sensors] default_timeout or a cluster policy could leave it
    ti = ReschedulingTI(first_poke=datetime.now(timezone.utc) - timedelta(seconds=61))
    with pytest.raises(AirflowSensorTimeout, match="timed out"):
        sensor.execute({"ti": ti, "task_reschedule_count": 1})


# --- the reschedule-mode wait --------------------------------------------------------------


def test_reschedule_mode_frees_the_slot_until_the_planned_start():
    # 18:00 on the curve: the trough is ~45 s away; poke_interval is longer, so the next poke
    # is the planned start itself.
    sensor = CarbonWindowSensor(
        **{**BASE, "provider": demo_provider(18)}, deferrable=False, poke_interval=600
    )
    ti = ReschedulingTI()
    with pytest.raises(AirflowRescheduleException) as rescheduled:
        sensor.execute({"ti": ti, "task_reschedule_count": 0})
    plan = Plan.model_validate(ti.pushed[PLAN_XCOM_KEY])  # shown in the tab meanwhile
    assert plan.start > datetime.now(timezone.utc) + timedelta(seconds=20)
    assert abs((rescheduled.value.reschedule_date - plan.start).total_seconds()) < 2
    assert RELEASED_AT_XCOM_KEY not in ti.pushed

    short = CarbonWindowSensor(
        **{**BASE, "provider": demo_provider(18)}, deferrable=False, poke_interval=10
    )
    with pytest.raises(AirflowRescheduleException) as rescheduled:
        short.execute({"ti": ReschedulingTI(), "task_reschedule_count": 0})
    wait = rescheduled.value.reschedule_date - datetime.now(timezone.utc)
    assert timedelta(seconds=8) < wait <= timedelta(seconds=10)


def test_reschedule_mode_keeps_the_first_pokes_deadline_and_counterfactual():
    """A poke after the first one's deadline releases at once; the plan still says when the
    work could have started (the first poke), so the receipt compares against that."""
    first = datetime.now(timezone.utc) - timedelta(seconds=80)  # max_delay is 75 s
    ti = ReschedulingTI(first_poke=first)
    sensor = CarbonWindowSensor(**{**BASE, "provider": demo_provider(18)}, deferrable=False)
    sensor.execute({"ti": ti, "task_reschedule_count": 3})
    plan = Plan.model_validate(ti.pushed[PLAN_XCOM_KEY])
    released = datetime.fromisoformat(ti.pushed[RELEASED_AT_XCOM_KEY])
    assert plan.earliest_start == first and plan.start <= released
    assert plan.immediate_intensity is None  # this poke's forecast no longer covers `first`


def test_location_sensor_returns_its_location_from_a_reschedule_mode_wait():
    sensor = CarbonLocationSensor(
        task_id="where",
        locations={"north": demo_provider(3), "south": demo_provider(18)},
        duration="10s",
        max_delay="75s",
        mode="reschedule",
    )
    # the first poke was 80 s ago, past the 75 s deadline: this poke releases
    ti = ReschedulingTI(first_poke=datetime.now(timezone.utc) - timedelta(seconds=80))
    chosen = sensor.execute({"ti": ti, "task_reschedule_count": 2})
    assert chosen in ("north", "south") and ti.pushed["cleanshift_location"] == chosen
    assert Plan.model_validate(ti.pushed[PLAN_XCOM_KEY]).location == chosen


# --- soft_fail on every path ----------------------------------------------------------------


def failing_sensor(soft_fail: bool, **extra) -> CarbonWindowSensor:
    return CarbonWindowSensor(
        **{**BASE, "provider": failing_provider()},
        on_provider_error="fail",
        soft_fail=soft_fail,
        **extra,
    )


@pytest.mark.parametrize("soft_fail", [False, True])
@pytest.mark.parametrize(
    "path", ["worker_deferred", "reschedule", "resumed_after_trigger", "ended_in_trigger"]
)
async def test_a_provider_failure_fails_or_soft_fails_the_same_on_every_path(path, soft_fail):
    expected = AirflowSkipException if soft_fail else AirflowException
    context = {"ti": ReschedulingTI(), "task_reschedule_count": 0}
    if path == "worker_deferred":
        with pytest.raises(expected) as err:
            failing_sensor(soft_fail, deferrable=True).execute(context)
    elif path == "reschedule":
        with pytest.raises(expected) as err:
            failing_sensor(soft_fail, mode="reschedule").execute(context)
    elif path == "resumed_after_trigger":
        sensor = failing_sensor(soft_fail)
        [event] = [e async for e in CarbonWindowTrigger(**sensor.trigger_kwargs()).run()]
        assert event.payload["status"] == "failed"
        with pytest.raises(expected) as err:
            sensor.resume_execution("execute_complete", {"event": event.payload}, context)
    else:
        sensor = failing_sensor(soft_fail, start_from_trigger=True, end_from_trigger=True)
        trigger = CarbonWindowTrigger(**sensor.start_trigger_args.trigger_kwargs)
        [event] = [e async for e in trigger.run()]
        assert isinstance(event, TaskSkippedEvent if soft_fail else TaskFailedEvent)
        return
    assert soft_fail or "grid API down" in str(err.value)
