"""Faults on a real Airflow (api-server, scheduler, triggerer, dag-processor on 127.0.0.1):
the triggerer killed mid-wait, the worker killed during gated work, the plugin's pages
refusing unauthenticated and unauthorised users, and an API key that never reaches the UI,
XCom or any log. One stack serves the whole module.

The provider is the real ``ukci`` client against a fake UK Carbon Intensity API in this
process (``fake_ukci.py``), so each test places the cleanest window itself.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from cleanshift_core import CarbonReceipt, Plan
from tests.airflow.fake_ukci import FakeUKCI
from tests.airflow.stack import HERE, Api, Stack, running_stack, wait_for, when
from tests.fault_server import FaultyGridServer

RESTART_DAG = "cleanshift_fault_restart"
RETRY_DAG = "cleanshift_fault_retry"
CANARY_DAG = "cleanshift_fault_canary"
CANARY = "CANARY-real-stack-5e1f0c7a"
STEP = 5  # seconds per forecast point
USERS = {
    "admin": ("admin", "cleanshift-e2e"),
    "insider": ("viewer", "insider-pw"),  # may read RETRY_DAG
    "outsider": ("viewer", "outsider-pw"),  # may read RESTART_DAG only
}
DAG_ACCESS = f"insider={RETRY_DAG};outsider={RESTART_DAG}"

DAGS = """
import os
import signal
from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, get_current_context

from cleanshift_airflow import carbon_task
from cleanshift_airflow.operators import CarbonReceiptOperator
from cleanshift_airflow.sensors import CarbonWindowSensor

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dag(dag_id="{restart}", schedule=None, start_date=START, catchup=False)
def restart():
    CarbonWindowSensor(
        task_id="carbon_window",
        provider={{"kind": "ukci", "base_url": "{url}"}},
        duration="5s",
        max_delay="3m",
        replan_interval="20s",
        deferrable=True,
    )


@dag(dag_id="{retry}", schedule=None, start_date=START, catchup=False)
def retry():
    @carbon_task(
        provider={{"kind": "ukci", "region": 7, "base_url": "{url}"}},
        duration="5s",
        max_delay="1m",
        power_kw=2.0,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
    def gated_work():
        if get_current_context()["ti"].try_number == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-work
        return "done"

    gated_work()


@dag(dag_id="{canary}", schedule=None, start_date=START, catchup=False)
def canary():
    window = CarbonWindowSensor(
        task_id="carbon_window", provider="canary_grid", duration="1s", max_delay="3s",
        on_provider_error="wait_until_deadline", replan_interval=None, deferrable=True,
    )
    receipt = CarbonReceiptOperator(
        task_id="carbon_receipt", sensor_task_id="carbon_window", power_kw=1.0
    )
    window >> receipt


restart()
retry()
canary()
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUKCI]:
    with FakeUKCI(step=STEP) as api:
        yield api


@pytest.fixture(scope="module")
def echoing_api() -> Iterator[FaultyGridServer]:
    """An API that echoes the request headers (the key among them) back in its answer."""
    with FaultyGridServer(datetime.now(timezone.utc) - timedelta(hours=2), lambda t: 250.0) as api:
        api.mode = "echo"
        yield api


@pytest.fixture(scope="module")
def stack(fake: FakeUKCI, echoing_api: FaultyGridServer) -> Iterator[Stack]:
    source = DAGS.format(restart=RESTART_DAG, retry=RETRY_DAG, canary=CANARY_DAG, url=fake.url)
    canary_connection = {
        "conn_type": "cleanshift",
        "host": echoing_api.url,
        "password": CANARY,
        "extra": {
            "provider": "electricitymaps",
            "region": "DE",
            "options": {"retry": {"attempts": 1}},
        },
    }
    env = {
        "AIRFLOW_CONN_CANARY_GRID": json.dumps(canary_connection),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "AIRFLOW__CORE__AUTH_MANAGER": "dag_scoped_auth_manager.DagScopedAuthManager",
        "CLEANSHIFT_TEST_DAG_ACCESS": DAG_ACCESS,
        # A killed triggerer's triggers go to a live one after this many seconds (default 30).
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
    }
    with running_stack({"cleanshift_faults.py": source}, users=USERS, env=env) as stack:
        yield stack


def trigger_logs(stack: Stack, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
    folder = stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return {p.name: p.read_text(errors="replace") for p in folder.glob("*trigger*")}


def test_triggerer_killed_mid_wait_fires_once_at_the_original_start(stack, fake):
    api = Api(stack)
    dip = int(time.time()) + 60
    dip -= dip % STEP
    fake.set_dip("GB", dip, 50.0)
    run_id = api.trigger(RESTART_DAG)

    api.wait_deferred(RESTART_DAG, run_id, "carbon_window")
    wait_for(
        "the triggerer to start the trigger",
        lambda: any(
            "starting" in log
            for log in trigger_logs(stack, RESTART_DAG, run_id, "carbon_window").values()
        ),
        60,
    )
    killed_at = time.time()
    stack.kill("triggerer")
    assert api.ti(RESTART_DAG, run_id, "carbon_window")["state"] == "deferred"
    assert killed_at < dip - 10, "too slow to kill before the window; the test proves nothing"
    # The UI shows a plan the restarted trigger will not wait for (as after a re-plan that
    # moved the start before the kill); the restarted trigger shows its own plan again.
    shown = api.xcom(RESTART_DAG, run_id, "carbon_window", "cleanshift_plan")
    stale = {**shown, "start": datetime.fromtimestamp(dip + 3 * STEP, timezone.utc).isoformat()}
    api.http.patch(
        f"/api/v2/dags/{RESTART_DAG}/dagRuns/{run_id}/taskInstances/carbon_window"
        "/xcomEntries/cleanshift_plan",
        json={"value": stale, "map_index": -1},
    ).raise_for_status()
    assert api.xcom(RESTART_DAG, run_id, "carbon_window", "cleanshift_plan") == stale
    stack.start("triggerer")
    wait_for(
        "the restarted trigger to show its plan again",
        lambda: (
            Plan.model_validate(
                api.xcom(RESTART_DAG, run_id, "carbon_window", "cleanshift_plan")
            ).start.timestamp()
            == dip
        ),
        60,
    )
    # Shown before the window opened: by the trigger (the worker pushes its plan only after).
    assert time.time() < dip, "the plan was shown again only after the window opened"

    assert api.wait_finished(RESTART_DAG, run_id, timeout=180) == "success", stack.logs()
    sensor = api.ti(RESTART_DAG, run_id, "carbon_window")
    plan = Plan.model_validate(api.xcom(RESTART_DAG, run_id, "carbon_window", "cleanshift_plan"))
    assert plan.start.timestamp() == dip  # the window the worker planned before the kill
    assert plan.planned_at.timestamp() < killed_at  # the same plan, resumed, not a new one
    assert sensor["try_number"] == 1
    ((fired,),) = stack.query(
        "SELECT scheduled_dttm FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?",
        RESTART_DAG,
        run_id,
        "carbon_window",
    )  # set by the triggerer as it handed the event over
    fired_lateness = (when(fired).replace(tzinfo=timezone.utc) - plan.start).total_seconds()
    assert 0 <= fired_lateness <= 5, f"fired {fired_lateness:.1f}s after the planned start"
    lateness = (when(sensor["end_date"]) - plan.start).total_seconds()
    assert 0 <= lateness <= 10, f"sensor ended {lateness:.1f}s after the planned start"
    logs = trigger_logs(stack, RESTART_DAG, run_id, "carbon_window")
    assert len(logs) == 2, logs.keys()  # the killed triggerer's run and the new one's
    # Fired once: one resumption on a worker. (Not counted in the trigger logs: Airflow may
    # drop a trigger log's last lines when the trigger completes.)
    worker_log = (
        stack.home
        / "logs"
        / f"dag_id={RESTART_DAG}"
        / f"run_id={run_id}"
        / "task_id=carbon_window"
        / "attempt=1.log"
    ).read_text()
    assert worker_log.count("carbon window open at") == 1
    assert all(log.count("carbon window open:") <= 1 for log in logs.values())


@pytest.fixture(scope="module")
def retried_run(stack) -> str:
    api = Api(stack)
    run_id = api.trigger(RETRY_DAG)
    assert api.wait_finished(RETRY_DAG, run_id, timeout=180) == "success", stack.logs()
    return run_id


def test_worker_killed_during_gated_work_leaves_one_receipt_of_the_retry(stack, retried_run):
    api = Api(stack)
    ti = api.ti(RETRY_DAG, retried_run, "gated_work")
    tries = api.http.get(
        f"/api/v2/dags/{RETRY_DAG}/dagRuns/{retried_run}/taskInstances/gated_work/tries"
    ).json()["task_instances"]
    assert ti["try_number"] == 2
    assert [t["state"] for t in sorted(tries, key=lambda t: t["try_number"])] == [
        "failed",
        "success",
    ]

    entries = api.http.get(
        f"/api/v2/dags/{RETRY_DAG}/dagRuns/{retried_run}/taskInstances/gated_work/xcomEntries"
    ).json()["xcom_entries"]
    keys = sorted(e["key"] for e in entries if not e["key"].startswith("_link_"))
    assert keys == ["cleanshift_plan", "cleanshift_receipt", "return_value"]  # one receipt
    receipt = CarbonReceipt.model_validate(
        api.xcom(RETRY_DAG, retried_run, "gated_work", "cleanshift_receipt")
    )
    first = next(t for t in tries if t["try_number"] == 1)
    assert receipt.ran_at >= when(ti["start_date"]) > when(first["start_date"])  # the retry's run
    assert receipt.finished_at <= when(ti["end_date"])
    assert receipt.run_intervals == [(receipt.ran_at, receipt.finished_at)]
    assert receipt.finished_at - receipt.ran_at < timedelta(seconds=30)
    assert receipt.region == "GB-7" and receipt.energy_kwh is not None

    listing = api.http.get("/cleanshift/receipts", params={"dag_id": RETRY_DAG}).text
    assert listing.count(retried_run) == 1


def tab(run_id: str) -> str:
    return f"/cleanshift/ti/{RETRY_DAG}/{run_id}/gated_work/-1"


def test_plugin_pages_refuse_anonymous_and_forged_users(stack, retried_run):
    for path in (tab(retried_run), "/cleanshift/receipts"):
        anonymous = httpx.get(f"{stack.url}{path}", timeout=10)
        forged = httpx.get(
            f"{stack.url}{path}", headers={"Authorization": "Bearer forged.jwt.token"}, timeout=10
        )
        assert anonymous.status_code == 401 and retried_run not in anonymous.text
        assert forged.status_code in (401, 403) and retried_run not in forged.text


def test_a_user_without_access_to_the_dag_cannot_read_its_receipts(stack, retried_run):
    outsider = Api(stack, "outsider", USERS["outsider"][1])
    page = outsider.http.get(tab(retried_run))
    assert page.status_code == 403 and "Avoided" not in page.text
    listing = outsider.http.get("/cleanshift/receipts")
    assert listing.status_code == 200 and retried_run not in listing.text
    filtered = outsider.http.get("/cleanshift/receipts", params={"dag_id": RETRY_DAG})
    assert filtered.status_code == 200 and "No carbon receipts match" in filtered.text
    core_api = outsider.http.get(f"/api/v2/dags/{RETRY_DAG}/dagRuns/{retried_run}")
    assert core_api.status_code == 403  # the same verdict as Airflow's own API

    insider = Api(stack, "insider", USERS["insider"][1])
    page = insider.http.get(tab(retried_run))
    assert page.status_code == 200 and "Avoided" in page.text and "<svg" in page.text
    assert retried_run in insider.http.get("/cleanshift/receipts").text


def test_an_api_key_never_reaches_the_ui_xcom_or_any_log(stack, echoing_api):
    api = Api(stack)
    run_id = api.trigger(CANARY_DAG)
    assert api.wait_finished(CANARY_DAG, run_id, timeout=180) == "success", stack.logs()
    assert echoing_api.requests, "the provider never called the API: the canary was not exercised"

    pages = {
        "receipt tab": api.http.get(f"/cleanshift/ti/{CANARY_DAG}/{run_id}/carbon_receipt/-1"),
        "sensor tab": api.http.get(f"/cleanshift/ti/{CANARY_DAG}/{run_id}/carbon_window/-1"),
        "receipts page": api.http.get("/cleanshift/receipts", params={"dag_id": CANARY_DAG}),
    }
    assert all(page.status_code == 200 for page in pages.values())
    # The echoed answer was refused as data, and that reason is what the receipt tab shows.
    assert "BadDataError" in pages["receipt tab"].text and run_id in pages["receipts page"].text
    xcoms = {
        task: api.http.get(
            f"/api/v2/dags/{CANARY_DAG}/dagRuns/{run_id}/taskInstances/{task}/xcomEntries",
            params={"deserialize": True},
        ).text
        for task in ("carbon_window", "carbon_receipt")
    }
    assert "cleanshift_receipt" in xcoms["carbon_receipt"]
    logs = {str(p): p.read_text(errors="replace") for p in stack.home.rglob("*.log")}
    assert any(CANARY_DAG in name for name in logs)  # the task and trigger logs are there
    # The echoed key did reach a log line, masked by Airflow's secrets masker:
    assert any("BadDataError" in text and "***" in text for text in logs.values())
    visible = {**{k: r.text for k, r in pages.items()}, **xcoms, **logs}
    assert not [where for where, text in visible.items() if CANARY in text]
