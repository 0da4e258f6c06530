"""One end-to-end run on a real Airflow: api-server, scheduler, triggerer and dag-processor on
127.0.0.1 (LocalExecutor, SQLite), all started and stopped by this test, asserted through the
REST API and the plugin's pages."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import EXAMPLE_DAGS
from cryptography.fernet import Fernet

from cleanshift_core import CarbonReceipt, Plan

DAG_ID = "cleanshift_nightly_etl"
TRIGGER_ONLY_DAG = """
from datetime import datetime, timezone

from airflow.sdk import dag

from cleanshift_airflow.sensors import CarbonWindowSensor


@dag(schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)
def cleanshift_start_from_trigger():
    CarbonWindowSensor(
        task_id="carbon_window",
        provider={"kind": "mock", "speedup": 720, "anchor_hour": 18,
                  "anchor": "{{ dag_run.start_date.isoformat() }}"},
        duration="10s",
        max_delay="75s",
        start_from_trigger=True,
    )


cleanshift_start_from_trigger()
"""
PASSWORD = "cleanshift-e2e"
COMPONENTS = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--port", "{port}"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], object], timeout: float, every: float = 0.5):
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except httpx.TransportError as exc:  # not listening yet
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class Stack:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONUNBUFFERED": "1",  # logs survive SIGTERM
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": Fernet.generate_key().decode(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        }

    def airflow(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=240,
        )

    def start(self) -> None:
        for name, args in COMPONENTS.items():
            with open(self.home / f"{name}.log", "wb") as log:  # the child keeps its own fd
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "airflow", *(a.format(port=self.port) for a in args)],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} ---\n" + (self.home / f"{name}.log").read_text(errors="replace")[-3000:]
            for name in self.procs
        )

    def healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}\n{self.logs()}")
        health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        if health.status_code != 200:
            return False
        body = health.json()
        return all(
            body.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Not tmp_path_factory: concurrent pytest sessions of the same user prune its directories.
    home = Path(tempfile.mkdtemp(prefix="stack-", dir=os.environ["AIRFLOW_HOME"]))
    (home / "dags").mkdir()
    shutil.copy(EXAMPLE_DAGS / f"{DAG_ID}.py", home / "dags")
    (home / "dags" / "cleanshift_start_from_trigger.py").write_text(TRIGGER_ONLY_DAG)
    (home / "passwords.json").write_text(json.dumps({"admin": PASSWORD}))
    stack = Stack(home)
    stack.airflow("db", "migrate")
    stack.start()
    try:
        wait_for("a healthy api-server, scheduler, triggerer and dag-processor", stack.healthy, 180)
        yield stack
    finally:
        stack.stop()


def token(stack: Stack) -> str:
    def issue():
        response = httpx.post(
            f"{stack.url}/auth/token", json={"username": "admin", "password": PASSWORD}, timeout=10
        )
        return response.json()["access_token"] if response.status_code in (200, 201) else None

    return wait_for("a JWT from /auth/token", issue, 60)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Api:
    """The REST v2 calls the tests make, as an authenticated user."""

    def __init__(self, stack: Stack) -> None:
        self.http = httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {token(stack)}"}, timeout=10
        )

    def trigger(self, dag_id: str) -> str:
        dag = f"/api/v2/dags/{dag_id}"
        wait_for(f"{dag_id} to be parsed", lambda: self.http.get(dag).status_code == 200, 120)
        self.http.patch(dag, json={"is_paused": False}).raise_for_status()
        run = self.http.post(f"{dag}/dagRuns", json={"logical_date": None})
        run.raise_for_status()
        return run.json()["dag_run_id"]

    def ti(self, dag_id: str, run_id: str, task_id: str) -> Any:
        return self.http.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        ).json()

    def wait_deferred(self, dag_id: str, run_id: str, task_id: str) -> dict:
        def deferred():
            ti = self.ti(dag_id, run_id, task_id)
            assert ti["state"] in (None, "scheduled", "queued", "running", "deferred"), ti
            return ti if ti["state"] == "deferred" else None

        return wait_for(f"{task_id} to defer", deferred, 120, every=0.25)

    def wait_finished(self, dag_id: str, run_id: str) -> str:
        def finished():
            state = self.http.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
            return state if state in ("success", "failed") else None

        return wait_for(f"{dag_id} to finish", finished, 180)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        response = self.http.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": True, "stringify": False},
        )
        response.raise_for_status()
        value = response.json()["value"]
        return json.loads(value) if isinstance(value, str) else value


def test_sensor_defers_without_a_worker_succeeds_on_time_and_the_receipt_shows(stack):
    api = Api(stack)
    plugins = api.http.get("/api/v2/plugins").json()["plugins"]
    assert any(p["name"] == "cleanshift" for p in plugins), plugins
    run_id = api.trigger(DAG_ID)

    deferred = api.wait_deferred(DAG_ID, run_id, "carbon_window")
    assert deferred["trigger"]["classpath"] == "cleanshift_airflow.triggers.CarbonWindowTrigger"
    running = api.http.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"state": "running"}
    ).json()["task_instances"]
    assert running == []  # while the sensor waits, no worker runs anything for this run

    assert api.wait_finished(DAG_ID, run_id) == "success", stack.logs()

    plan = Plan.model_validate(api.xcom(DAG_ID, run_id, "carbon_window", "cleanshift_plan"))
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
    assert f"{receipt.avoided_g:.1f} g" in page.text
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
    """Airflow 3.3's start_from_trigger: the sensor never runs on a worker before its window;
    its templated provider spec is rendered and planned in the triggerer."""
    api = Api(stack)
    dag_id = "cleanshift_start_from_trigger"
    run_id = api.trigger(dag_id)

    deferred = api.wait_deferred(dag_id, run_id, "carbon_window")
    assert deferred["trigger"]["classpath"] == "cleanshift_airflow.triggers.CarbonWindowTrigger"
    assert not deferred["hostname"], deferred  # no worker has run it

    assert api.wait_finished(dag_id, run_id) == "success", stack.logs()
    plan = Plan.model_validate(api.xcom(dag_id, run_id, "carbon_window", "cleanshift_plan"))
    sensor = api.ti(dag_id, run_id, "carbon_window")
    lateness = (when(sensor["end_date"]) - plan.start).total_seconds()
    assert plan.start > plan.earliest_start and plan.region == "MOCK"
    assert 0 <= lateness <= 5, f"sensor ended {lateness:.1f}s after the planned start"
