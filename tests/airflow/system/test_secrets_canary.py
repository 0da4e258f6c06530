"""Secrets canary, Airflow venv: an API key stored in a ``cleanshift`` connection never reaches
XCom, task logs or the captured output of a full ``dag.test()`` run.

The connection names a real provider (electricitymaps) whose API is a local server that echoes
the request headers, the key among them, back in a garbage answer. The sensor plans (and falls
back), waits until its deadline, releases the work, and the receipt operator settles the
receipt. Then every XCom of the run, the log records and stdout/stderr are searched.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from tests.fault_server import FaultyGridServer

CANARY = "CANARY-airflow-93d0b6f2"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
DAG_SOURCE = """
from datetime import datetime, timezone

from airflow.sdk import dag, task

from cleanshift_airflow.operators import CarbonReceiptOperator
from cleanshift_airflow.sensors import CarbonWindowSensor


@dag(dag_id="cleanshift_canary", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
def cleanshift_canary():
    window = CarbonWindowSensor(
        task_id="carbon_window", provider="canary_grid", duration="1s", max_delay="2s",
        on_provider_error="wait_until_deadline", replan_interval=None, deferrable=True,
    )

    @task
    def work() -> str:
        return "work ran"

    receipt = CarbonReceiptOperator(task_id="carbon_receipt", sensor_task_id="carbon_window", power_kw=1.0)
    window >> work() >> receipt


dag_object = cleanshift_canary()
"""


@pytest.mark.usefixtures("airflow_db")
def test_canary_never_reaches_xcom_or_logs(monkeypatch, tmp_path, caplog, capfd):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    caplog.set_level(logging.DEBUG)
    now = datetime.now(timezone.utc)
    with FaultyGridServer(now - timedelta(hours=2), lambda t: 250.0) as api:
        api.mode = "echo"
        monkeypatch.setenv(
            "AIRFLOW_CONN_CANARY_GRID",
            json.dumps(
                {
                    "conn_type": "cleanshift",
                    "host": api.url,
                    "password": CANARY,
                    "extra": {
                        "provider": "electricitymaps",
                        "region": "DE",
                        "options": {"retry": {"attempts": 1}},
                    },
                }
            ),
        )

        dag_file = tmp_path / "cleanshift_canary.py"
        dag_file.write_text(DAG_SOURCE)
        # dag.test() syncs the DAG from a bundle: make this directory one, next to dags-folder.
        monkeypatch.setenv(
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
            json.dumps(
                [
                    {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
                    {
                        "name": "canary",
                        "classpath": LOCAL_BUNDLE,
                        "kwargs": {"path": str(tmp_path)},
                    },
                ]
            ),
        )
        spec = importlib.util.spec_from_file_location("cleanshift_canary", dag_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag_run = module.dag_object.test()
    assert dag_run.state == "success"
    assert api.requests, "the provider never called the API: the canary was not exercised"

    with create_session() as session:
        rows = session.scalars(select(XComModel).where(XComModel.run_id == dag_run.run_id)).all()
        xcoms = {
            row.key + "@" + row.task_id: json.dumps(XComModel.deserialize_value(row), default=str)
            for row in rows
        }
    out, err = capfd.readouterr()
    assert any(key.startswith("cleanshift_receipt") for key in xcoms), sorted(xcoms)
    assert "BadDataError" in " ".join(xcoms.values())  # the echoed answer was refused as data
    # ...and the key in it scrubbed from the task logs (dag.test() prints them to stdout)
    assert "**********" in out + err + caplog.text
    visible = {"xcom": " ".join(xcoms.values()), "logs": caplog.text, "stdout": out, "stderr": err}
    assert not [where for where, text in visible.items() if CANARY in text]
