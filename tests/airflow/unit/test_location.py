"""Location + time and interruptible chunks in Airflow: the deferral decisions (unit), and
both example DAGs end to end with ``dag.test()`` (short real waits on time-compressed grids)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from conftest import needs_start_from_trigger
from test_examples_dag_test import run_example, task_instance, xcom
from test_operators import RecordingTI, demo_provider

from cleanshift_airflow import PLAN_XCOM_KEY, RECEIPT_XCOM_KEY
from cleanshift_airflow.chunks import (
    CarbonChunkOperator,
    CarbonChunkPlanOperator,
    CarbonChunksReceiptOperator,
)
from cleanshift_airflow.compat import TaskDeferred
from cleanshift_airflow.keys import LOCATION_XCOM_KEY
from cleanshift_airflow.location import CarbonLocationSensor
from cleanshift_airflow.triggers import CarbonWindowTrigger
from cleanshift_core import CarbonReceipt, ConfigurationError, Plan


def mapped_xcoms(run_id: str, task_id: str, key: str) -> list:
    """A mapped task's XCom values, in map-index order."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel)
            .where(XComModel.run_id == run_id, XComModel.task_id == task_id, XComModel.key == key)
            .order_by(XComModel.map_index)
        ).all()
        return [XComModel.deserialize_value(row) for row in rows]


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


def test_a_chunk_defers_to_its_own_slot_and_its_callable_gets_the_chunk():
    now = datetime.now(timezone.utc)
    chunk = Plan(
        planned_at=now,
        earliest_start=now,
        latest_start=now + timedelta(seconds=30),
        duration_seconds=5,
        start=now + timedelta(seconds=30),
        policy="min_carbon",
        reason="chunk 2 of 2: test",
    )
    seen = []
    op = CarbonChunkOperator(
        task_id="train",
        provider="mock",
        chunk=chunk.model_dump(mode="json"),
        python_callable=lambda chunk: seen.append(chunk) or "done",
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": RecordingTI()})
    trigger = deferred.value.trigger
    assert Plan.model_validate_json(trigger.plan) == chunk
    assert trigger.replan_interval is None and trigger.duration == 5  # never re-plans a chunk

    with pytest.raises(ConfigurationError, match="must take a `chunk` argument"):
        CarbonChunkOperator(task_id="t", provider="mock", chunk={}, python_callable=lambda: 1)
    with pytest.raises(ConfigurationError, match="min_chunk must be positive"):
        CarbonChunkPlanOperator(task_id="p", provider="mock", duration="1h", min_chunk="2h")
    with pytest.raises(ConfigurationError, match="max_chunks must be a whole number"):
        CarbonChunkPlanOperator(task_id="p", provider="mock", duration="1h", max_chunks=0)
    with pytest.raises(ConfigurationError, match="chunk_task_id"):
        CarbonChunksReceiptOperator(task_id="r", plan_task_id="p", chunk_task_id="")


@pytest.mark.usefixtures("airflow_db")
def test_location_example_pushes_the_chosen_location_and_settles_it():
    dag_run = run_example("cleanshift_location_shift")
    assert dag_run.state == "success"
    run = dag_run.run_id

    assert xcom(run, "carbon_location", LOCATION_XCOM_KEY) == "eu-north-1"
    assert xcom(run, "deploy", "return_value") == "gke-stockholm"
    plan = Plan.model_validate(xcom(run, "carbon_location", PLAN_XCOM_KEY))
    receipt = CarbonReceipt.model_validate(xcom(run, "carbon_receipt", RECEIPT_XCOM_KEY))
    assert plan.location == "eu-north-1" and plan.start > plan.earliest_start
    assert task_instance(dag_run, "deploy").start_date >= plan.start
    # Settled on the chosen location's grid, and the receipt names the location.
    assert receipt.location == "eu-north-1" and receipt.region == "SE-SE3"
    assert receipt.avg_intensity_gco2_per_kwh < receipt.counterfactual_avg_intensity


@pytest.mark.usefixtures("airflow_db")
def test_chunked_example_runs_each_chunk_in_its_slot_and_sums_the_receipts():
    dag_run = run_example("cleanshift_interruptible_training")
    assert dag_run.state == "success"
    run = dag_run.run_id

    chunks = [Plan.model_validate(p) for p in xcom(run, "plan_chunks", "return_value")]
    whole = Plan.model_validate(xcom(run, "plan_chunks", PLAN_XCOM_KEY))
    assert len(chunks) == 2 and chunks[0].end < chunks[1].start  # two separate clean slots
    assert sum(c.duration_seconds for c in chunks) == whole.duration_seconds == 10

    mapped = sorted(
        (ti for ti in dag_run.get_task_instances() if ti.task_id == "train"),
        key=lambda ti: ti.map_index,
    )
    assert [ti.state for ti in mapped] == ["success", "success"]
    receipts = [
        CarbonReceipt.model_validate(r) for r in mapped_xcoms(run, "train", RECEIPT_XCOM_KEY)
    ]
    for chunk, receipt in zip(chunks, receipts):
        assert receipt.planned_start == chunk.start <= receipt.ran_at  # waited for its own slot

    total = CarbonReceipt.model_validate(xcom(run, "chunks_receipt", RECEIPT_XCOM_KEY))
    # In time order: on a loaded machine a chunk whose slot came first can start after the next
    # one did (a worker slot frees late); the sum covers both either way.
    assert total.run_intervals == sorted(iv for r in receipts for iv in r.run_intervals)
    assert total.duration_seconds == pytest.approx(sum(r.duration_seconds for r in receipts))
    assert total.planned_start == chunks[0].start and total.scheduled_at == whole.earliest_start
    assert total.intensity_basis.value == "measured"
    assert total.avg_intensity_gco2_per_kwh < total.counterfactual_avg_intensity
    assert total.emitted_g == pytest.approx(
        3.0 * total.duration_seconds / 3600 * total.avg_intensity_gco2_per_kwh
    )

    # The receipts page counts the job once: its summed receipt, not the sum plus its chunks.
    from airflow.utils.session import create_session

    from cleanshift_airflow.ui import list_receipts

    with create_session() as session:
        rows, (grams, counted), matching = list_receipts(session, [dag_run.dag_id])
    mine = [r for r in rows if r.run_id == run]
    assert sorted((r.task_id, r.map_index) for r in mine) == [
        ("chunks_receipt", -1),
        ("train", 0),
        ("train", 1),
    ]
    assert {r.part_of for r in mine if r.task_id == "train"} == {"chunks_receipt"}
    assert all(r.receipt["avoided_g"] is not None for r in mine)
    others = [  # other runs in this test session's database, if any
        r
        for r in rows
        if r.run_id != run and r.part_of is None and r.receipt.get("avoided_g") is not None
    ]
    assert matching == len(rows) and counted == 1 + len(others)
    assert grams == pytest.approx(total.avoided_g + sum(r.receipt["avoided_g"] for r in others))
    # The chart marks every chunk's window, on the plan task and on the summed receipt.
    from cleanshift_airflow.ui import task_page

    with create_session() as session:
        tabs = {
            t: task_page(session, dag_run.dag_id, run, t, -1)
            for t in ("plan_chunks", "chunks_receipt")
        }
    for tab in tabs.values():
        assert tab.count('class="window"') == len(chunks) == 2
    assert 'id="chunked"' in tabs["plan_chunks"] and 'id="waiting"' not in tabs["plan_chunks"]
    assert tabs["chunks_receipt"].count('class="run"') == len(total.run_intervals)


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
