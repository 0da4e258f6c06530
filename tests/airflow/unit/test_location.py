"""``cleanshift_airflow.location``: ``CarbonLocationSensor``'s deferral decisions and its
``start_from_trigger`` / ``end_from_trigger`` wiring (the location example DAG end to end:
``system/test_example_dags.py``)."""

from __future__ import annotations

import pytest

from cleanshift_airflow import PLAN_XCOM_KEY
from cleanshift_airflow.compat import TaskDeferred
from cleanshift_airflow.keys import LOCATION_XCOM_KEY
from cleanshift_airflow.location import CarbonLocationSensor
from cleanshift_airflow.triggers import CarbonWindowTrigger
from cleanshift_core import ConfigurationError, Plan
from tests.airflow.conftest import needs_start_from_trigger
from tests.airflow.helpers import RecordingTI, demo_provider


def locations(dirty_hour: float, clean_hour: float) -> dict:
    """Two mock grids 720x faster; 'clean' is the lower one and shows ``clean_hour`` now."""
    return {
        "dirty": {**demo_provider(dirty_hour), "region": "D", "base_intensity": 500},
        "clean": {**demo_provider(clean_hour), "region": "C", "base_intensity": 150},
    }


def test_location_sensor_defers_with_the_chosen_location_and_all_candidates():
    # The clean grid's trough (03:00) is 2 curve hours = 10 s away: worth deferring for.
    sensor = CarbonLocationSensor(
        task_id="where",
        locations=locations(3, 1),
        duration="5s",
        max_delay="60s",
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": RecordingTI()})
    trigger = deferred.value.trigger
    assert isinstance(trigger, CarbonWindowTrigger) and trigger.replan_interval == 300
    plan = Plan.model_validate_json(trigger.plan)
    assert plan.location == "clean" and plan.region == "C"
    assert {o.location for o in plan.location_options} == {"dirty", "clean"}
    assert set(trigger.locations) == {"dirty", "clean"}
    assert trigger.provider_ref_for(plan)["region"] == "C"  # waits and re-plans there

    # The event carries the plan; the sensor pushes the location and returns it.
    ti = RecordingTI()
    chosen = sensor.execute_complete(
        {"ti": ti}, {"status": "ready", "plan": plan.model_dump(mode="json")}
    )
    assert chosen == "clean" and ti.pushed[LOCATION_XCOM_KEY] == "clean"
    assert Plan.model_validate(ti.pushed[PLAN_XCOM_KEY]).location == "clean"


def test_location_sensor_arguments_fail_at_parse_with_a_fix():
    with pytest.raises(ConfigurationError, match="non-empty mapping"):
        CarbonLocationSensor(task_id="w", locations={}, duration="1h")
    with pytest.raises(ConfigurationError, match="location 'b': unknown provider 'nope'"):
        CarbonLocationSensor(task_id="w", locations={"a": "mock", "b": "nope:x=1"}, duration="1h")
    with pytest.raises(ConfigurationError, match="not provider="):
        CarbonLocationSensor(task_id="w", locations={"a": "mock"}, provider="mock", duration="1h")


@needs_start_from_trigger
def test_location_sensor_starting_in_the_triggerer_plans_across_locations_there():
    sensor = CarbonLocationSensor(
        task_id="where",
        locations={"a": "mock", "b": "mock:region=B"},
        duration="1h",
        start_from_trigger=True,
    )
    trigger = CarbonWindowTrigger(**sensor.start_trigger_args.trigger_kwargs)
    assert trigger.plan is None  # so the triggerer plans, across both locations
    assert trigger.provider_refs == {"a": {"kind": "mock"}, "b": {"kind": "mock", "region": "B"}}


# --- the location sensor shares the sensor's start/end-from-trigger wiring ------------------


def test_location_sensor_refuses_end_from_trigger_without_start_from_trigger():
    with pytest.raises(ConfigurationError, match="end_from_trigger=True needs start_from_trigger"):
        CarbonLocationSensor(
            task_id="w", locations={"a": "mock"}, duration="1h", end_from_trigger=True
        )


def test_location_sensor_on_a_worker_has_no_start_trigger_kwargs():
    sensor = CarbonLocationSensor(task_id="w", locations={"a": "mock"}, duration="1h")
    assert not sensor.start_from_trigger and not sensor.end_from_trigger
    assert sensor.start_trigger_args.trigger_kwargs == {}


@needs_start_from_trigger
@pytest.mark.parametrize("end_from_trigger", [False, True])
def test_location_sensor_starting_in_the_triggerer_passes_end_from_trigger(end_from_trigger):
    sensor = CarbonLocationSensor(
        task_id="where",
        locations={"a": "mock", "b": "mock:region=B"},
        duration="1h",
        start_from_trigger=True,
        end_from_trigger=end_from_trigger,
    )
    assert sensor.start_from_trigger and sensor.end_from_trigger is end_from_trigger
    trigger = CarbonWindowTrigger(**sensor.start_trigger_args.trigger_kwargs)
    assert trigger.end_from_trigger is end_from_trigger
    assert set(trigger.locations) == {"a", "b"}
