"""Secrets canary, Prefect venv: a key stored in a credentials block never reaches any output.

The block names a real provider (electricitymaps) whose API is a local server that echoes the
request headers, the key among them, back in a garbage answer. The flow plans (and falls back),
waits until its deadline, runs and settles its receipt. Then every place Prefect could show a
secret is searched: the run's logs on the server, captured log records and stdout/stderr,
every artifact (data and description), the flow run's state message, and the block document.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from cleanshift_prefect import BLOCK_TYPE_SLUG, GridIntensityCredentials, carbon_window
from tests.fault_server import FaultyGridServer
from tests.prefect.conftest import artifacts_of

CANARY = "CANARY-prefect-0c4e7a19"


async def test_canary_never_reaches_logs_artifacts_states_or_the_block(caplog, capfd):
    caplog.set_level(logging.DEBUG)
    await GridIntensityCredentials.register_type_and_schema()
    now = datetime.now(timezone.utc)
    with FaultyGridServer(now - timedelta(hours=2), lambda t: 250.0) as api:
        api.mode = "echo"
        block = GridIntensityCredentials(
            kind="electricitymaps",
            region="DE",
            api_key=CANARY,
            base_url=api.url,
            options={"retry": {"attempts": 1}},
        )
        await block.save("canary", overwrite=True)

        @flow(name="canary-flow")
        @carbon_window(
            f"{BLOCK_TYPE_SLUG}/canary",
            duration="1s",
            max_delay="2s",
            on_provider_error="wait_until_deadline",
            power_kw=1.0,
        )
        async def canary_flow() -> str:
            print("work ran")
            return "ran"

        state = await canary_flow(return_state=True)
    assert await state.result() == "ran"
    assert api.requests, "the provider never called the API: the canary was not exercised"
    flow_run_id = state.state_details.flow_run_id

    artifacts = await artifacts_of(flow_run_id)
    assert {"canary-flow-carbon-receipt", "canary-flow-carbon-report"} <= set(artifacts)
    async with get_client() as client:
        deadline = time.monotonic() + 15
        while True:  # logs are shipped in the background: wait for the receipt line
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            if any("Carbon receipt" in log.message for log in logs) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        run = await client.read_flow_run(flow_run_id)
        stored = await client.read_block_document_by_name(
            "canary",
            BLOCK_TYPE_SLUG,
            include_secrets=False,  # what the UI and API show
        )
    out, err = capfd.readouterr()

    visible = {
        "server logs": "\n".join(log.message for log in logs),
        "log records": caplog.text,
        "stdout": out,
        "stderr": err,
        "artifacts": "\n".join(str(a.data) + (a.description or "") for a in artifacts.values()),
        "state": f"{run.state.message} {run.state.data!r}",
        "block document": repr(stored.data),
        "block repr": repr(block) + repr(block.to_spec()),
    }
    assert "BadDataError" in visible["artifacts"]  # the echoed answer was refused as data
    assert "Carbon receipt" in visible["server logs"]
    assert "**********" in visible["log records"]  # the echoed key was scrubbed, not lost
    assert not [where for where, text in visible.items() if CANARY in text]
