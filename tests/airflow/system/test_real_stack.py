"""One end-to-end run on a real Airflow: api-server, scheduler, triggerer and dag-processor on
127.0.0.1 (LocalExecutor, SQLite), all started and stopped by this test, asserted through the
REST API and the plugin's pages."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cleanshift_airflow.keys import decoded
from cleanshift_airflow.ui import grams
from cleanshift_core import CarbonReceipt, Plan
from tests.airflow.conftest import EXAMPLE_DAGS
from tests.airflow.stack import Api, Stack, running_stack, wait_for, when

DAG_ID = "cleanshift_nightly_etl"
TRIGGER_ONLY_DAG = """
from datetime import datetime, timezone

from airflow.sdk import dag, task

from cleanshift_airflow.operators import CarbonReceiptOperator
from cleanshift_airflow.sensors import CarbonWindowSensor

PROVIDER = {"kind": "mock", "speedup": 720, "anchor_hour": 18,
            "anchor": "{{ dag_run.start_date.isoformat() }}"}


@dag(schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)
def cleanshift_start_from_trigger():
    CarbonWindowSensor(
        task_id="carbon_window",
        provider=PROVIDER,
        duration="10s",
        max_delay="75s",
        start_from_trigger=True,
    )
    ended = CarbonWindowSensor(
        task_id="carbon_window_ended",
        provider=PROVIDER,
        duration="10s",
        max_delay="75s",
        start_from_trigger=True,
        end_from_trigger=True,
    )

    @task
    def pulled(ti=None):
        # what a downstream task reads of the sensor's XComs (on a worker, through the SDK)
        return {
            key: ti.xcom_pull(task_ids="carbon_window_ended", key=key)
            for key in ("cleanshift_plan", "cleanshift_released_at")
        }

    receipt = CarbonReceiptOperator(
        task_id="carbon_receipt", sensor_task_id="carbon_window_ended", power_kw=1.0
    )
    ended >> [pulled(), receipt]


cleanshift_start_from_trigger()
"""


def shown_while_waiting(api: Api, dag_id: str, run_id: str, task_id: str) -> Plan:
    """While the task is deferred, its "Carbon receipt" tab shows the plan it waits for (the
    worker pushed it before deferring, or the trigger published it after planning)."""

    def shown():
        assert api.ti(dag_id, run_id, task_id)["state"] == "deferred"
        page = api.http.get(f"/cleanshift/ti/{dag_id}/{run_id}/{task_id}/-1")
        return page.text if 'id="waiting"' in page.text else None

    page = wait_for(f"{task_id}'s tab to show its plan while deferred", shown, 30)
    shown_plan = decoded(api.xcom(dag_id, run_id, task_id, "cleanshift_plan"))
    plan = Plan.model_validate(shown_plan)
    assert plan.start > when(api.ti(dag_id, run_id, task_id)["start_date"])
    assert shown_plan["start"] in page and "<svg" in page
    return plan


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    dags = {
        f"{DAG_ID}.py": (EXAMPLE_DAGS / f"{DAG_ID}.py").read_text(),
        "cleanshift_start_from_trigger.py": TRIGGER_ONLY_DAG,
        "cleanshift_without_triggerer.py": (
            EXAMPLE_DAGS / "cleanshift_without_triggerer.py"
        ).read_text(),
    }
    with running_stack(dags) as stack:
        yield stack


def test_sensor_defers_without_a_worker_succeeds_on_time_and_the_receipt_shows(stack):
    api = Api(stack)
    plugins = api.http.get("/api/v2/plugins").json()["plugins"]
    assert any(p["name"] == "cleanshift" for p in plugins), plugins
    # The nav entry as the React UI gets it: a label that fits its 56-px square, and an icon
    # the UI can load (public, like its own assets).
    views = [v for p in plugins if p["name"] == "cleanshift" for v in p["external_views"]]
    nav = next(v for v in views if v["destination"] == "nav")
    assert nav["name"] == "Carbon" and nav["url_route"] == "cleanshift_receipts"
    for icon in (nav["icon"], nav["icon_dark_mode"]):
        image = httpx.get(f"{stack.url}{icon}", timeout=10)
        assert image.status_code == 200 and image.headers["content-type"].startswith("image/svg")
    run_id = api.trigger(DAG_ID)

    deferred = api.wait_deferred(DAG_ID, run_id, "carbon_window")
    assert deferred["trigger"]["classpath"] == "cleanshift_airflow.triggers.CarbonWindowTrigger"
    running = api.http.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"state": "running"}
    ).json()["task_instances"]
    assert running == []  # while the sensor waits, no worker runs anything for this run
    waiting = shown_while_waiting(api, DAG_ID, run_id, "carbon_window")

    assert api.wait_finished(DAG_ID, run_id) == "success", stack.logs()

    plan = Plan.model_validate(api.xcom(DAG_ID, run_id, "carbon_window", "cleanshift_plan"))
    assert waiting.start == plan.start  # the tab showed the plan the sensor then kept
    sensor = api.ti(DAG_ID, run_id, "carbon_window")
    lateness = (when(sensor["end_date"]) - plan.start).total_seconds()
    assert plan.start > plan.earliest_start  # there was a real wait
    assert 0 <= lateness <= 5, f"sensor ended {lateness:.1f}s after the planned start"

    receipt = CarbonReceipt.model_validate(
        api.xcom(DAG_ID, run_id, "carbon_receipt", "cleanshift_receipt")
    )
    transform = api.ti(DAG_ID, run_id, "transform")
    assert receipt.ran_at <= when(transform["start_date"]) and receipt.planned_start == plan.start
    assert receipt.avoided_g is not None and receipt.avoided_g > 0

    tab = f"/cleanshift/ti/{DAG_ID}/{run_id}/carbon_receipt/{{MAP_INDEX}}"
    page = api.http.get(tab)
    assert page.status_code == 200 and "Carbon receipt" in page.text and "<svg" in page.text
    assert f"<td>{grams(receipt.avoided_g)}</td>" in page.text
    listing = api.http.get("/cleanshift/receipts")
    assert listing.status_code == 200 and run_id in listing.text

    anonymous = httpx.get(f"{stack.url}{tab}", timeout=10)
    forged = httpx.get(
        f"{stack.url}{tab}", headers={"Authorization": "Bearer forged.jwt.token"}, timeout=10
    )
    assert anonymous.status_code == 401 and "<svg" not in anonymous.text
    assert forged.status_code in (401, 403) and "<svg" not in forged.text
    assert httpx.get(f"{stack.url}/cleanshift/receipts", timeout=10).status_code == 401


def test_start_from_trigger_plans_and_waits_in_the_triggerer(stack):
    """Airflow 3.3's start_from_trigger: the sensors never run on a worker before their window;
    their templated provider spec is rendered and planned in the triggerer. The one with
    end_from_trigger is also ended there (TaskSuccessEvent with its XComs): no worker at all.

    Airflow 3.3 stores TaskSuccessEvent XComs JSON-encoded once more (``XComModel.set``
    serialises them on the server side), so a worker's ``xcom_pull`` may get JSON text while the
    REST API and the plugin's tab get the decoded value: the receipt operator downstream, which
    reads them on a worker, must still settle a valid receipt."""
    api = Api(stack)
    dag_id = "cleanshift_start_from_trigger"
    run_id = api.trigger(dag_id)

    waiting = {}
    for task_id in ("carbon_window", "carbon_window_ended"):
        deferred = api.wait_deferred(dag_id, run_id, task_id)
        assert deferred["trigger"]["classpath"] == "cleanshift_airflow.triggers.CarbonWindowTrigger"
        assert not deferred["hostname"], deferred  # no worker has run it
        waiting[task_id] = shown_while_waiting(api, dag_id, run_id, task_id)  # planned there

    assert api.wait_finished(dag_id, run_id) == "success", stack.logs()
    plans = {}
    for task_id in ("carbon_window", "carbon_window_ended"):
        plan = Plan.model_validate(api.xcom(dag_id, run_id, task_id, "cleanshift_plan"))
        sensor = api.ti(dag_id, run_id, task_id)
        lateness = (when(sensor["end_date"]) - plan.start).total_seconds()
        assert plan.start > plan.earliest_start and plan.region == "MOCK"
        assert 0 <= lateness <= 5, f"{task_id} ended {lateness:.1f}s after the planned start"
        assert waiting[task_id].start == plan.start
        plans[task_id] = plan, sensor

    plan, sensor = plans["carbon_window_ended"]
    assert not sensor["hostname"], sensor  # ended in the triggerer, never on a worker
    on_worker = api.xcom(dag_id, run_id, "pulled", "return_value")
    assert Plan.model_validate(decoded(on_worker["cleanshift_plan"])) == plan
    released = when(decoded(on_worker["cleanshift_released_at"]))
    assert plan.start <= released <= when(sensor["end_date"])
    receipt = CarbonReceipt.model_validate(
        api.xcom(dag_id, run_id, "carbon_receipt", "cleanshift_receipt")
    )
    assert receipt.planned_start == plan.start and receipt.ran_at == released


def test_without_a_triggerer_the_sensor_frees_its_slot_between_pokes_and_releases_on_time(stack):
    """deferrable=False on the real scheduler: up_for_reschedule (no worker, no trigger) while
    waiting, the plan in the tab meanwhile, released at the planned start."""
    api = Api(stack)
    dag_id = "cleanshift_without_triggerer"
    run_id = api.trigger(dag_id)

    def rescheduled():
        ti = api.ti(dag_id, run_id, "carbon_window")
        assert ti["state"] in (None, "scheduled", "queued", "running", "up_for_reschedule"), ti
        return ti if ti["state"] == "up_for_reschedule" else None

    waiting = wait_for("the sensor to be rescheduled", rescheduled, 120, every=0.25)
    assert waiting["trigger"] is None
    page = api.http.get(f"/cleanshift/ti/{dag_id}/{run_id}/carbon_window/-1")
    assert 'id="waiting"' in page.text

    assert api.wait_finished(dag_id, run_id) == "success", stack.logs()
    plan = Plan.model_validate(api.xcom(dag_id, run_id, "carbon_window", "cleanshift_plan"))
    sensor = api.ti(dag_id, run_id, "carbon_window")
    lateness = (when(sensor["end_date"]) - plan.start).total_seconds()
    assert plan.start > plan.earliest_start
    assert 0 <= lateness <= 10, f"released {lateness:.1f}s after the planned start"
    receipt = CarbonReceipt.model_validate(
        api.xcom(dag_id, run_id, "carbon_receipt", "cleanshift_receipt")
    )
    assert receipt.planned_start == plan.start and receipt.scheduled_at == plan.earliest_start
