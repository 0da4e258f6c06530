"""Provider failures follow on_provider_error; credentials blocks keep their secrets."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from cleanshift_core import (
    GridIntensityProvider,
    MockProvider,
    ProviderUnavailableError,
    SignalKind,
)
from cleanshift_core.providers import register_provider
from cleanshift_prefect import BLOCK_TYPE_SLUG, GridIntensityCredentials, carbon_window
from tests.prefect.conftest import (
    POINT_SECONDS,
    artifacts_of,
    seconds_from_now,
    table_rows,
    trough_at,
)

SECRET = "s3cret-key-do-not-leak"


class UnreachableProvider(GridIntensityProvider):
    """A provider whose upstream is down: every call fails the way a real outage does."""

    kind = "unreachable"

    @property
    def region(self) -> str:
        return "NOWHERE"

    @property
    def signal(self) -> SignalKind:
        return SignalKind.AVERAGE_LIFECYCLE

    async def current(self):
        raise ProviderUnavailableError("grid API unreachable (test outage)")

    async def forecast(self, start, end):
        raise ProviderUnavailableError("grid API unreachable (test outage)")

    async def history(self, start, end):
        raise ProviderUnavailableError("grid API unreachable (test outage)")


def keyed_mock(api_key, **options) -> MockProvider:
    """A provider that needs a key, as real ones do; it checks it got the real one."""
    if api_key.get_secret_value() != SECRET:
        raise ValueError("wrong key")
    return MockProvider(**options)


register_provider("unreachable", UnreachableProvider)
register_provider("keyed-mock", keyed_mock)


async def test_provider_failure_follows_on_provider_error():
    @task
    @carbon_window("unreachable", duration="1m", on_provider_error="run_now")
    async def run_now() -> datetime:
        return datetime.now(timezone.utc)

    @task
    @carbon_window(
        "unreachable", duration="1m", max_delay="3s", on_provider_error="wait_until_deadline"
    )
    async def wait_until_deadline() -> datetime:
        return datetime.now(timezone.utc)

    @task
    @carbon_window("unreachable", duration="1m", on_provider_error="fail")
    async def fail() -> str:
        return "must not run"

    @flow
    async def outage():
        began = datetime.now(timezone.utc)
        ran_now = await run_now()
        waited = await wait_until_deadline()
        failed = await fail(return_state=True)
        return began, ran_now, waited, failed

    state = await outage(return_state=True)
    began, ran_now, waited, failed = await state.result()
    assert (ran_now - began).total_seconds() < 2
    assert (waited - began).total_seconds() >= 3
    assert failed.is_failed()
    with pytest.raises(ProviderUnavailableError, match="unreachable"):
        await failed.result()
    rows = table_rows(
        (await artifacts_of(state.state_details.flow_run_id))["run-now-carbon-receipt"]
    )
    assert rows["intensity of the run (gCO2eq/kWh)"] == "unknown" and rows["estimate"] == "yes"
    assert "on_provider_error='run_now'" in rows["reason"]


async def test_block_by_name_runs_the_flow_and_never_shows_its_secret():
    await GridIntensityCredentials.register_type_and_schema()
    window = seconds_from_now(3)
    options = {k: v for k, v in trough_at(window, "BLOCKED").items() if k not in ("kind", "region")}
    block = GridIntensityCredentials(
        kind="keyed-mock", region="BLOCKED", api_key=SECRET, options=options
    )
    await block.save("test-grid", overwrite=True)
    assert SECRET not in repr(block) and SECRET not in repr(block.to_spec())

    @flow(name="with-block")
    @carbon_window(f"{BLOCK_TYPE_SLUG}/test-grid", duration=f"{POINT_SECONDS}s", max_delay="10s")
    async def with_block() -> str:
        return "ran"

    state = await with_block(return_state=True)
    assert await state.result() == "ran"
    flow_run_id = state.state_details.flow_run_id

    artifacts = await artifacts_of(flow_run_id)
    assert table_rows(artifacts["with-block-carbon-receipt"])["region"] == "BLOCKED"
    async with get_client() as client:
        stored = await client.read_block_document_by_name(
            "test-grid", BLOCK_TYPE_SLUG, include_secrets=False
        )
        deadline = time.monotonic() + 10
        while True:  # logs are shipped in the background: wait for the run's last line
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            if any("Carbon receipt" in log.message for log in logs) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    assert stored.data["api_key"] != SECRET and set(str(stored.data["api_key"])) == {"*"}
    visible = [a.data if isinstance(a.data, str) else repr(a.data) for a in artifacts.values()]
    visible += [a.description or "" for a in artifacts.values()] + [log.message for log in logs]
    assert any("Carbon receipt" in line for line in visible)
    assert not [line for line in visible if SECRET in line]
