"""The example DAGs end to end with ``dag.test()``: a real (short) carbon wait in-process,
and the receipt read back from the metadata database's XCom table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cleanshift_airflow import PLAN_XCOM_KEY, RECEIPT_XCOM_KEY
from cleanshift_airflow.keys import LOCATION_XCOM_KEY
from cleanshift_core import CarbonReceipt, Plan
from tests.airflow.helpers import run_example, task_instance, xcom


@pytest.mark.usefixtures("airflow_db")
def test_nightly_etl_waits_for_the_window_and_settles_the_receipt_of_the_gated_work():
    dag_run = run_example("cleanshift_nightly_etl")
    assert dag_run.state == "success"

    plan = Plan.model_validate(xcom(dag_run.run_id, "carbon_window", PLAN_XCOM_KEY))
    receipt = CarbonReceipt.model_validate(xcom(dag_run.run_id, "carbon_receipt", RECEIPT_XCOM_KEY))
    transform, load = task_instance(dag_run, "transform"), task_instance(dag_run, "load")

    # The gated work started only once the window opened, and the receipt covers it.
    assert transform.start_date >= plan.start
    assert receipt.ran_at <= transform.start_date and load.end_date <= receipt.finished_at
    assert receipt.planned_start == plan.start and receipt.scheduled_at == plan.earliest_start
    # It waited for a cleaner window, and the receipt says so on the same basis.
    assert plan.start > plan.earliest_start
    assert receipt.avg_intensity_gco2_per_kwh < receipt.counterfactual_avg_intensity
    assert receipt.avoided_g > 0 and receipt.energy_kwh == pytest.approx(
        2.0 * receipt.duration_seconds / 3600
    )

    # The tab, read from this run's XComs: the receipt at a useful precision (the job ran
    # for seconds: a few Wh, not "0.0 kWh"), and a plain answer on a task that is not
    # carbon-aware (Airflow shows plugin tabs on every task instance).
    from airflow.utils.session import create_session

    from cleanshift_airflow.ui import energy, grams, task_page

    with create_session() as session:
        tab = task_page(session, dag_run.dag_id, dag_run.run_id, "carbon_receipt", -1)
        plain = task_page(session, dag_run.dag_id, dag_run.run_id, "transform", -1)
    assert receipt.energy_kwh < 0.1 and f"<td>{energy(receipt.energy_kwh)}</td>" in tab
    assert " Wh</td>" in tab and "0.0 kWh" not in tab
    assert f"<td>{grams(receipt.avoided_g)}</td>" in tab
    assert 'id="not-carbon-aware"' in plain and "transform (@task) is not a carbon-aware" in plain


@pytest.mark.usefixtures("airflow_db")
def test_batch_inference_task_form_runs_in_the_window_and_records_its_own_run():
    dag_run = run_example("cleanshift_batch_inference")
    assert dag_run.state == "success"

    plan = Plan.model_validate(xcom(dag_run.run_id, "score", PLAN_XCOM_KEY))
    receipt = CarbonReceipt.model_validate(xcom(dag_run.run_id, "score", RECEIPT_XCOM_KEY))
    score = task_instance(dag_run, "score")

    assert xcom(dag_run.run_id, "score", "return_value")["documents"] == 500
    assert plan.start - plan.earliest_start > timedelta(seconds=5)  # it really deferred
    assert plan.start <= receipt.ran_at <= receipt.finished_at <= score.end_date
    assert receipt.delay_seconds == pytest.approx(
        (receipt.ran_at - plan.earliest_start).total_seconds()
    )
    assert receipt.estimated_savings_pct > 0


@pytest.mark.usefixtures("airflow_db")
def test_reschedule_mode_waits_for_the_window_under_dag_test():
    """Airflow's own loop on the example for deployments without a triggerer: the sensor is
    rescheduled (slot freed) until the planned start, then the receipt is settled."""
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    dag_run = run_example("cleanshift_without_triggerer")
    assert dag_run.state == "success"
    sensor = task_instance(dag_run, "carbon_window")
    with create_session() as session:
        reschedules = session.scalar(
            select(func.count(TaskReschedule.id)).where(TaskReschedule.ti_id == sensor.id)
        )
    plan = Plan.model_validate(xcom(dag_run.run_id, "carbon_window", PLAN_XCOM_KEY))
    receipt = CarbonReceipt.model_validate(xcom(dag_run.run_id, "carbon_receipt", RECEIPT_XCOM_KEY))
    assert reschedules >= 1  # poked, freed the slot, poked again
    assert plan.start > plan.earliest_start and sensor.end_date >= plan.start
    assert task_instance(dag_run, "transform").start_date >= plan.start
    assert receipt.scheduled_at == plan.earliest_start and receipt.planned_start == plan.start


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
