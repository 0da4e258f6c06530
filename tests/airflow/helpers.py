"""What several Airflow test modules share: the smallest valid window arguments, a mock grid
running 720× fast, a task instance that records XCom pushes, and ``dag.test()`` of an example
DAG with its task instances and XComs read back from the metadata database."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timezone

from tests.airflow.conftest import EXAMPLE_DAGS


def demo_provider(curve_hour_now: float) -> dict:
    """The mock curve 720× faster, showing ``curve_hour_now`` o'clock right now."""
    return {
        "kind": "mock",
        "speedup": 720,
        "anchor": datetime.now(timezone.utc).isoformat(),
        "anchor_hour": curve_hour_now,
    }


class RecordingTI:
    """Stands in for the runtime task instance: records XCom pushes."""

    def __init__(self, pulls: dict | None = None) -> None:
        self.pushed: dict = {}
        self.pulls = pulls or {}

    def xcom_push(self, key, value):
        self.pushed[key] = json.loads(json.dumps(value))  # what XCom would store

    def xcom_pull(self, task_ids, key):
        return self.pulls.get((task_ids, key))


GOOD = {"task_id": "w", "provider": "mock", "duration": "1h"}


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
