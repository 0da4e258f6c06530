"""Nightly ETL that runs in the cleanest window before the morning deadline.

The whole flow is carbon-aware: it plans when it starts, waits for the window, then extracts,
transforms and loads, and leaves a carbon receipt on the run's Artifacts tab.

    python example_flows/nightly_etl.py          # local run: waits in-process (async sleep)
    python example_flows/serve_deferred.py       # deployment: defers and frees the process

The default grid is cleanshift's embedded mock curve, sped up 720x (a curve hour lasts 5 s,
so "duration=10s, max_delay=60s" is a 2-hour job allowed to wait 12 hours). Point
``CLEANSHIFT_PROVIDER`` at a real provider spec or a block (``cleanshift-grid-intensity/prod``)
and use real durations in production.
"""

from __future__ import annotations

import os

from prefect import flow, task

from cleanshift_prefect import carbon_window

PROVIDER = os.environ.get("CLEANSHIFT_PROVIDER", "mock:region=DEMO,speedup=720")


@task
def extract(day: str) -> list[dict]:
    return [{"day": day, "meter": n, "kwh": 10.0 + n} for n in range(5)]


@task
def transform(rows: list[dict]) -> list[dict]:
    return [{**row, "mwh": row["kwh"] / 1000} for row in rows]


@task
def load(rows: list[dict]) -> int:
    return len(rows)


@flow(name="nightly-etl", log_prints=True)
@carbon_window(
    PROVIDER, duration="10s", max_delay="60s", min_savings_pct=5, power_kw=4.0, min_deferral="5s"
)
def nightly_etl(day: str = "2026-11-23") -> int:
    loaded = load(transform(extract(day)))
    print(f"loaded {loaded} rows for {day}")
    return loaded


if __name__ == "__main__":
    nightly_etl()
