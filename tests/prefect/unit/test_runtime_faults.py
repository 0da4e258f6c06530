"""Provider faults through the decorator: a real ukci client against a failing local API.

Planning hits a 429 whose Retry-After is longer than the job may wait, or a garbage answer:
the task follows ``on_provider_error``, never starts after its deadline, and the receipt
artifact read back from the server says why.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from prefect import flow, task

from cleanshift_core import RateLimitedError
from cleanshift_prefect import carbon_window
from tests.fault_server import FaultyGridServer
from tests.prefect.conftest import artifacts_of, table_rows


@pytest.fixture
def api():
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    with FaultyGridServer(now - timedelta(hours=2), lambda t: 250.0) as running:
        yield running


def ukci(api) -> dict:
    return {
        "kind": "ukci",
        "base_url": api.url,
        "timeout": 2,
        "retry": {"attempts": 2, "jitter": 0},
    }


async def test_rate_limited_and_garbage_answers_follow_on_provider_error(api):
    api.mode, api.retry_after = "rate_limited", "600"  # longer than the policy's max_retry_after

    @task(name="limited")
    @carbon_window(
        ukci(api), duration="1m", max_delay="3s", on_provider_error="wait_until_deadline"
    )
    async def limited() -> datetime:
        return datetime.now(timezone.utc)

    @task(name="garbled")
    @carbon_window(ukci(api), duration="1m", max_delay="1h", on_provider_error="run_now")
    async def garbled() -> datetime:
        return datetime.now(timezone.utc)

    @task(name="refused")
    @carbon_window(ukci(api), duration="1m", on_provider_error="fail")
    async def refused() -> str:
        return "must not run"

    @flow
    async def faults():
        began = datetime.now(timezone.utc)
        waited = await limited()
        api.mode = "garbage_html"
        ran_now = await garbled()
        api.mode = "rate_limited"
        failed = await refused(return_state=True)
        return began, waited, ran_now, failed

    state = await faults(return_state=True)
    began, waited, ran_now, failed = await state.result()

    # wait_until_deadline: waited for the latest start (3 s), and not past it by more than
    # the time it takes to start a task.
    assert began + timedelta(seconds=3) <= waited < began + timedelta(seconds=13)
    assert (ran_now - waited).total_seconds() < 10  # run_now did not wait for the 1 h deadline
    assert failed.is_failed()
    with pytest.raises(RateLimitedError, match="600"):
        await failed.result()
    # Retry-After beyond what the policy may sleep: refused at once, never retried.
    assert [mode for mode, _ in api.requests].count(
        "rate_limited"
    ) == 1 + 1 + 1  # plan, history, fail

    artifacts = await artifacts_of(state.state_details.flow_run_id)
    limited_rows = table_rows(artifacts["limited-carbon-receipt"])
    assert "RateLimitedError" in limited_rows["reason"]
    assert "on_provider_error='wait_until_deadline'" in limited_rows["reason"]
    assert limited_rows["estimate"] == "yes"
    garbled_rows = table_rows(artifacts["garbled-carbon-receipt"])
    assert "BadDataError" in garbled_rows["reason"] and "not with JSON" in garbled_rows["reason"]
    assert garbled_rows["intensity of the run (gCO2eq/kWh)"] == "unknown"
