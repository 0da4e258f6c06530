"""An interruptible (checkpointing) training job run in the cleanest slots before its deadline.

``@carbon_chunks`` plans the job's total running time into the cleanest slots once (at most
2 chunks, none shorter than 5 s), maps one ``train`` task run per chunk, each waiting with an
async sleep for its own slot, and sums every chunk's run into one receipt (artifacts
``train-carbon-receipt`` and ``train-carbon-report``), against running the whole job at once.

The provider replays ``example_dags/data/grid_two_dips.csv`` (hourly, two clean hours at 03:00
and 07:00) 720× faster from when this module is imported, so the dips come 15 s and 35 s
later. Point ``CLEANSHIFT_PROVIDER`` at a real provider spec or a block
(``cleanshift-grid-intensity/prod``) and use real durations in production
(``duration="6h"``, ``min_chunk="1h"``).

    python example_flows/interruptible_training.py
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, task

from cleanshift_core import Plan
from cleanshift_prefect import carbon_chunks

GRID = Path(__file__).resolve().parents[1] / "example_dags" / "data" / "grid_two_dips.csv"
PROVIDER = (
    json.loads(os.environ["CLEANSHIFT_PROVIDER"])
    if "CLEANSHIFT_PROVIDER" in os.environ
    else {"kind": "file", "path": str(GRID), "region": "DEMO", "replay": True, "speedup": 720}
)


@carbon_chunks(
    provider=PROVIDER, duration="10s", max_delay="30s", min_chunk="5s", max_chunks=2, power_kw=3.0
)
@task(name="train")
def train(chunk: Plan, model: str) -> int:
    """Train until the chunk's slot ends, then checkpoint (here: count steps)."""
    steps = 0
    while datetime.now(timezone.utc) < chunk.end:
        time.sleep(0.1)  # one training step of `model`
        steps += 1
    return steps  # a real job would write its checkpoint here


@flow(name="interruptible-training", log_prints=True)
def interruptible_training(model: str = "resnet") -> int:
    steps = train(model=model)
    print(f"trained {model} in {len(steps)} chunk(s): {steps} steps")
    return sum(steps)


if __name__ == "__main__":
    interruptible_training()
