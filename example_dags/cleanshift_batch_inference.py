"""Batch inference as a carbon-aware task: the scoring function itself waits for the window.

``@carbon_task`` plans, defers to the triggerer until the cleanest window opens (no worker
held), runs the function, and pushes the receipt of that real run to XCom as
``cleanshift_receipt`` (with grams, since ``power_kw`` is given). Same embedded demo provider as
``cleanshift_nightly_etl``: the mock curve replayed 720× faster, trough ~45 s into the run.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from airflow.sdk import dag, task

from cleanshift_airflow.decorators import carbon_task

DEMO_PROVIDER = {
    "kind": "mock",
    "region": "DEMO",
    "speedup": 720,
    "anchor": "{{ dag_run.start_date.isoformat() }}",
    "anchor_hour": 18,
}


@dag(
    dag_id="cleanshift_batch_inference",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["cleanshift", "example"],
)
def cleanshift_batch_inference():
    @task
    def load_batch() -> list[str]:
        return [f"document {i}" for i in range(500)]

    @carbon_task(provider=DEMO_PROVIDER, duration="10s", max_delay="75s", power_kw=0.3)
    def score(batch: list[str]) -> dict[str, float]:
        """Stand-in for a model: a deterministic score per document."""
        scores = [int(hashlib.sha256(doc.encode()).hexdigest()[:4], 16) / 0xFFFF for doc in batch]
        return {"documents": len(scores), "mean_score": sum(scores) / len(scores)}

    score(load_batch())


dag_object = cleanshift_batch_inference()
