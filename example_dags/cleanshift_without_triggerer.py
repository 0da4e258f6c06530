"""The nightly ETL gate for a deployment without a triggerer: ``deferrable=False``.

The sensor waits in Airflow's ``mode="reschedule"``: each poke re-plans on a fresh forecast
(against the deadline of the first poke) and frees the worker slot until the next poke, which
comes every ``poke_interval`` or at the planned start, whichever is sooner. Same embedded demo
provider as ``cleanshift_nightly_etl``: the mock curve 720× faster, trough ~32 s into the run.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import dag, task

from cleanshift_airflow.operators import CarbonReceiptOperator
from cleanshift_airflow.sensors import CarbonWindowSensor

DEMO_PROVIDER = {
    "kind": "mock",
    "region": "DEMO",
    "speedup": 720,
    "anchor": "{{ dag_run.start_date.isoformat() }}",
    "anchor_hour": 20.5,
}


@dag(
    dag_id="cleanshift_without_triggerer",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["cleanshift", "example"],
)
def cleanshift_without_triggerer():
    gate = CarbonWindowSensor(
        task_id="carbon_window",
        provider=DEMO_PROVIDER,
        duration="10s",
        max_delay="45s",
        deferrable=False,  # or [operators] default_deferrable = False for the deployment
        poke_interval=10,
    )

    @task
    def transform() -> int:
        return sum(range(1000))

    receipt = CarbonReceiptOperator(
        task_id="carbon_receipt", sensor_task_id="carbon_window", power_kw=2.0
    )
    gate >> transform() >> receipt


dag_object = cleanshift_without_triggerer()
