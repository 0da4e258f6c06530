"""The example DAGs end to end with ``dag.test()``: a real (short) carbon wait in-process,
and the receipt read back from the metadata database's XCom table."""

from __future__ import annotations

import importlib.util
from datetime import timedelta

import pytest
from conftest import EXAMPLE_DAGS

from cleanshift_airflow import PLAN_XCOM_KEY, RECEIPT_XCOM_KEY
from cleanshift_core import CarbonReceipt, Plan


def run_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLE_DAGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag_object.test()


def xcom(run_id: str, task_id: str, key: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.run_id == run_id, XComModel.task_id == task_id, XComModel.key == key
            )
        ).one()
        return XComModel.deserialize_value(row)


def task_instance(dag_run, task_id: str):
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti


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
