"""An interruptible (checkpointing) training job run in the cleanest slots before its deadline.

plan_chunks → train (mapped: one task per chunk) → chunks_receipt

``plan_chunks`` places the job's total running time in the cleanest slots (at most 2 chunks,
none shorter than 5 s) and returns one plan per chunk; ``train`` is mapped over them, and each
mapped task defers to the triggerer until its own slot opens, trains until ``chunk.end`` and
checkpoints; ``chunks_receipt`` sums every chunk's run into one receipt, against running the
whole job at once.

The provider replays ``data/grid_two_dips.csv`` (hourly, two clean hours at 03:00 and 06:00)
720× faster from the run's start, so the dips come 15 s and 30 s into the run. In production,
pass a ``cleanshift`` connection id and real durations (``duration="6h"``, ``min_chunk="1h"``).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import dag

from cleanshift_airflow.chunks import (
    CarbonChunkOperator,
    CarbonChunkPlanOperator,
    CarbonChunksReceiptOperator,
)
from cleanshift_core import Plan

PROVIDER = {
    "kind": "file",
    "path": str(Path(__file__).parent / "data" / "grid_two_dips.csv"),
    "region": "DEMO",
    "replay": True,
    "speedup": 720,
    "anchor": "{{ dag_run.start_date.isoformat() }}",
}


def train(chunk: Plan) -> int:
    """Train until the chunk's slot ends, then checkpoint (here: count steps)."""
    steps = 0
    while datetime.now(timezone.utc) < chunk.end:
        time.sleep(0.1)  # one training step
        steps += 1
    return steps  # a real job would write its checkpoint here


@dag(
    dag_id="cleanshift_interruptible_training",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["cleanshift", "example"],
)
def cleanshift_interruptible_training():
    plan = CarbonChunkPlanOperator(
        task_id="plan_chunks",
        provider=PROVIDER,
        duration="10s",
        max_delay="30s",
        min_chunk="5s",
        max_chunks=2,
    )
    chunks = CarbonChunkOperator.partial(
        task_id="train", provider=PROVIDER, python_callable=train, power_kw=3.0
    ).expand(chunk=plan.output)
    receipt = CarbonChunksReceiptOperator(
        task_id="chunks_receipt", plan_task_id="plan_chunks", chunk_task_id="train", power_kw=3.0
    )
    plan >> chunks >> receipt


dag_object = cleanshift_interruptible_training()
