"""``cleanshift_airflow.chunks``: each chunk of an interruptible job defers to its own slot."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cleanshift_airflow.chunks import (
    CarbonChunkOperator,
    CarbonChunkPlanOperator,
    CarbonChunksReceiptOperator,
)
from cleanshift_airflow.compat import TaskDeferred
from cleanshift_core import ConfigurationError, Plan
from tests.airflow.helpers import RecordingTI


def test_a_chunk_defers_to_its_own_slot_and_its_callable_gets_the_chunk():
    now = datetime.now(timezone.utc)
    chunk = Plan(
        planned_at=now,
        earliest_start=now,
        latest_start=now + timedelta(seconds=30),
        duration_seconds=5,
        start=now + timedelta(seconds=30),
        policy="min_carbon",
        reason="chunk 2 of 2: test",
    )
    seen = []
    op = CarbonChunkOperator(
        task_id="train",
        provider="mock",
        chunk=chunk.model_dump(mode="json"),
        python_callable=lambda chunk: seen.append(chunk) or "done",
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": RecordingTI()})
    trigger = deferred.value.trigger
    assert Plan.model_validate_json(trigger.plan) == chunk
    assert trigger.replan_interval is None and trigger.duration == 5  # never re-plans a chunk

    with pytest.raises(ConfigurationError, match="must take a `chunk` argument"):
        CarbonChunkOperator(task_id="t", provider="mock", chunk={}, python_callable=lambda: 1)
    with pytest.raises(ConfigurationError, match="min_chunk must be positive"):
        CarbonChunkPlanOperator(task_id="p", provider="mock", duration="1h", min_chunk="2h")
    with pytest.raises(ConfigurationError, match="max_chunks must be a whole number"):
        CarbonChunkPlanOperator(task_id="p", provider="mock", duration="1h", max_chunks=0)
    with pytest.raises(ConfigurationError, match="chunk_task_id"):
        CarbonChunksReceiptOperator(task_id="r", plan_task_id="p", chunk_task_id="")
