"""Batch inference: each batch is a carbon-aware task with its own deadline.

The tasks are async, so their waits overlap: four batches that each wait for their window
take about as long as the longest wait, not the sum. Each batch leaves its own receipt
(``score-batch-carbon-receipt``, one version per batch) and a progress artifact while it waits.
Task-level windows wait inside the flow run's process: from a deployment, that process (and
its container or VM) stays up for the longest wait. A window on the flow frees it instead.

    python example_flows/batch_inference.py
"""

from __future__ import annotations

import asyncio
import os

from prefect import flow, task

from cleanshift_prefect import carbon_window

PROVIDER = os.environ.get("CLEANSHIFT_PROVIDER", "mock:region=DEMO,speedup=720")


@task(name="score-batch", retries=1)
@carbon_window(PROVIDER, duration="5s", max_delay="40s", power_kw=0.7)
async def score_batch(batch: int, rows: int) -> float:
    await asyncio.sleep(0.2)  # stand-in for model.predict on `rows` rows
    return rows * 0.5


@flow(name="batch-inference", log_prints=True)
async def batch_inference(batches: int = 4, rows: int = 1000) -> float:
    scores = await asyncio.gather(*(score_batch(b, rows) for b in range(batches)))
    print(f"scored {batches} batches: {sum(scores)}")
    return sum(scores)


if __name__ == "__main__":
    asyncio.run(batch_inference())
