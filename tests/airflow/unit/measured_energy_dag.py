"""DAG for tests/airflow/unit/test_decorators_energy.py (copied into a scratch DAGs folder)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from airflow.sdk import DAG, task

from cleanshift_airflow.decorators import carbon_task
from cleanshift_airflow.operators import CarbonReceiptOperator
from cleanshift_airflow.sensors import CarbonWindowSensor
from cleanshift_core.measure import EnergyMeter

OPEN_NOW = {"kind": "mock", "anchor": datetime.now(timezone.utc).isoformat(), "anchor_hour": 3}


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


with DAG("measured_energy", schedule=None, start_date=datetime(2026, 1, 1)) as dag_object:

    @carbon_task(
        provider=OPEN_NOW,
        duration="2s",
        max_delay="0s",
        energy="measured",
        sci_functional_unit=("rows", 1000),
    )
    def score() -> int:
        busy(1.2)
        return 1

    gate = CarbonWindowSensor(task_id="gate", provider=OPEN_NOW, duration="2s", max_delay="0s")

    @task
    def transform(ti=None) -> None:
        meter = EnergyMeter()
        meter.start()
        busy(1.0)
        ti.xcom_push(key="energy_kwh", value=meter.stop().kwh)

    receipt = CarbonReceiptOperator(
        task_id="receipt",
        sensor_task_id="gate",
        energy_kwh="{{ ti.xcom_pull(task_ids='transform', key='energy_kwh') }}",
    )
    empty = CarbonReceiptOperator(
        task_id="empty",
        sensor_task_id="gate",
        energy_kwh="{{ ti.xcom_pull(task_ids='transform', key='nothing') }}",
    )
    score()
    gate >> transform() >> [receipt, empty]
