"""Nightly ETL that runs its heavy steps in the cleanest grid window.

extract → carbon_window → transform → load → carbon_receipt

``carbon_window`` (a deferrable :class:`CarbonWindowSensor`) holds transform and load until the
cleanest 10-second window of the next 75 seconds; while it waits, no worker slot is used (the
wait runs in the triggerer). ``carbon_receipt`` settles the receipt of the work that really
ran, from the moment the sensor released it, and pushes it to XCom as ``cleanshift_receipt``.

The provider is the embedded demo one: the mock grid curve replayed 720× faster (one curve
hour every 5 real seconds) and anchored so that the run starts at 18:00 curve time; the
night's trough (03:00) then arrives 45 s into the run, so the sensor really waits (about
15–35 s, depending on how long the run took to reach it). The anchor is rendered from the
run, so the sensor, its trigger and the receipt task all see the same curve. In production, pass a
``cleanshift`` connection id instead, e.g. ``provider="cleanshift_default"``, and real
durations, e.g. ``duration="2h"``,
``finish_by="{{ (data_interval_end + macros.timedelta(hours=8)).isoformat() }}"``.
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
    "anchor_hour": 18,
}


@dag(
    dag_id="cleanshift_nightly_etl",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["cleanshift", "example"],
)
def cleanshift_nightly_etl():
    @task
    def extract() -> list[int]:
        return list(range(1_000))

    carbon_window = CarbonWindowSensor(
        task_id="carbon_window",
        provider=DEMO_PROVIDER,
        duration="10s",
        max_delay="75s",
        min_savings_pct=5,
        deferrable=True,  # wait in the triggerer (default: [operators] default_deferrable)
    )

    @task
    def transform(rows: list[int]) -> list[int]:
        return [r * r for r in rows]

    @task
    def load(rows: list[int]) -> int:
        return len(rows)

    receipt = CarbonReceiptOperator(
        task_id="carbon_receipt", sensor_task_id="carbon_window", power_kw=2.0
    )

    rows = extract()
    transformed = transform(rows)
    rows >> carbon_window >> transformed
    load(transformed) >> receipt


dag_object = cleanshift_nightly_etl()
