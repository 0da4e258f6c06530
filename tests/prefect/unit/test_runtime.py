"""Local mode against a real Prefect API: in-process async waits, states, artifacts, events,
the cleaner of several locations, and measured energy (CodeCarbon offline) in the receipt.

Runs are plain ``flow()`` calls (no deployment), so the decorator must wait in the process;
every wait here is a few real seconds on the time-compressed mock grid.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter

from cleanshift_prefect import (
    LOCAL_WAIT_STATE_NAME,
    WINDOW_OPENED_EVENT,
    carbon_window,
    current_location,
    current_plan,
)
from tests.prefect.conftest import (
    POINT_SECONDS,
    artifacts_of,
    seconds_from_now,
    state_names,
    table_rows,
    trough_at,
)


async def test_two_async_tasks_wait_concurrently_and_leave_receipts():
    @flow
    async def both():
        # Windows are placed once the flow is running, so start-up time cannot eat the waits.
        soon, later = seconds_from_now(4), seconds_from_now(8)

        @task(name="Short Wait")
        @carbon_window(trough_at(soon, "A"), duration=f"{POINT_SECONDS}s", max_delay="20s")
        async def short_wait(x: int) -> tuple[int, datetime]:
            return x * 2, datetime.now(timezone.utc)

        @task(name="long_wait")
        @carbon_window(
            trough_at(later, "B"), duration=f"{POINT_SECONDS}s", max_delay="20s", power_kw=2.0
        )
        async def long_wait(x: int) -> tuple[int, datetime]:
            return x * 3, datetime.now(timezone.utc)

        began = time.monotonic()
        results = await asyncio.gather(short_wait(1), long_wait(2))
        return soon, later, time.monotonic() - began, results

    state = await both(return_state=True)
    soon, later, wall, ((a, ran_a), (b, ran_b)) = await state.result()

    assert (a, b) == (2, 6)
    # Each task started in its own window, not before it.
    assert ran_a >= soon and ran_b >= later

    artifacts = await artifacts_of(state.state_details.flow_run_id)
    # Each wait runs from its plan (the deferral artifact) to its start. Run one after the
    # other, the waits would add up to the wall time; run concurrently, the wall time is about
    # the longer wait and well under the sum.
    waits = [
        (ran - artifacts[f"{slug}-carbon-deferral"].created).total_seconds()
        for slug, ran in (("short-wait", ran_a), ("long-wait", ran_b))
    ]
    assert min(waits) > 2, waits
    assert max(waits) - 1 < wall < sum(waits) - 2, (wall, waits)

    for slug in ("short-wait", "long-wait"):
        assert {
            f"{slug}-carbon-deferral",
            f"{slug}-carbon-wait",
            f"{slug}-carbon-receipt",
            f"{slug}-carbon-report",
        } <= set(artifacts)
        assert artifacts[f"{slug}-carbon-wait"].data == 100.0
        assert "deferred until" in artifacts[f"{slug}-carbon-deferral"].description
    receipt = table_rows(artifacts["long-wait-carbon-receipt"])
    assert receipt["region"] == "B" and receipt["basis"] == "measured"
    assert float(receipt["savings"].rstrip("%")) > 0
    assert receipt["emitted (g)"] != "unknown"  # power_kw turned intensity into grams
    report = artifacts["long-wait-carbon-report"].data
    assert "◆ window" in report and "● run" in report and "carbon receipt" in report


def test_sync_flow_shows_the_wait_in_its_state_history():
    window = seconds_from_now(4)

    @flow(name="Nightly ETL (test)")
    @carbon_window(trough_at(window), duration=f"{POINT_SECONDS}s", max_delay="15s")
    def nightly(rows: int) -> int:
        return rows + 1

    state = nightly(41, return_state=True)
    assert state.is_completed() and state.result() == 42
    flow_run_id = state.state_details.flow_run_id

    names = asyncio.run(state_names(flow_run_id))
    assert names.index(LOCAL_WAIT_STATE_NAME) < names.index("Completed"), names
    artifacts = asyncio.run(artifacts_of(flow_run_id))
    assert "nightly-etl-test-carbon-receipt" in artifacts
    assert table_rows(artifacts["nightly-etl-test-carbon-receipt"])["planned start"].startswith(
        window.strftime("%Y-%m-%d %H:%M:%S")
    )


async def test_window_opened_event_reaches_the_server():
    window = seconds_from_now(3)

    @flow(name="event-check")
    @carbon_window(trough_at(window, "EV"), duration=f"{POINT_SECONDS}s", max_delay="10s")
    async def event_check() -> str:
        return "ok"

    state = await event_check(return_state=True)
    assert await state.result() == "ok"

    deadline = time.monotonic() + 15
    event_filter = EventFilter(event=EventNameFilter(name=[WINDOW_OPENED_EVENT]))
    async with get_client() as client:
        while True:
            page = await client.read_events(filter=event_filter, limit=50)
            events = [e for e in page.events if e.resource.id == "cleanshift.job.event-check"]
            if events or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    assert events, f"no {WINDOW_OPENED_EVENT} event for event-check"
    assert events[0].payload["planned_start"] == window.isoformat()
    assert events[0].resource["prefect.resource.name"] == "event-check"


async def test_sync_task_called_from_an_async_flow_waits_and_reports():
    window = seconds_from_now(3)

    @task(name="sync-step")
    @carbon_window(trough_at(window, "SYNC"), duration=f"{POINT_SECONDS}s", max_delay="10s")
    def sync_step(x: int) -> tuple[int, datetime]:
        return x + 1, datetime.now(timezone.utc)

    @flow
    async def mixed() -> tuple[int, datetime]:
        return sync_step(1)

    state = await mixed(return_state=True)
    value, ran = await state.result()
    assert value == 2 and ran >= window
    artifacts = await artifacts_of(state.state_details.flow_run_id)
    assert table_rows(artifacts["sync-step-carbon-receipt"])["region"] == "SYNC"


async def test_now_or_never_on_a_dirty_grid_skips_without_failing():
    ran = []

    @task(name="opportunistic")
    @carbon_window("mock", duration="1h", policy="now_or_never", max_intensity=1)
    async def opportunistic() -> str:
        ran.append(True)
        return "ran"

    @flow
    async def maybe():
        return await opportunistic(return_state=True)

    skipped = await (await maybe(return_state=True)).result()
    assert skipped.is_completed() and skipped.name == "Skipped" and not ran
    assert "above max_intensity=1" in skipped.message


async def test_the_cleaner_location_is_chosen_and_recorded():
    @flow
    async def placed():
        trough = seconds_from_now(6)
        dirty = {**trough_at(seconds_from_now(2), "D"), "base_intensity": 600}
        clean = {**trough_at(trough, "C"), "base_intensity": 150}

        @task(name="Train Where Clean")
        @carbon_window(
            locations={"eu-west-1": dirty, "eu-north-1": clean},
            duration=f"{POINT_SECONDS}s",
            max_delay="20s",
        )
        async def train() -> tuple[str | None, datetime, str]:
            return current_location(), datetime.now(timezone.utc), current_plan().region

        return trough, await train()

    state = await placed(return_state=True)
    trough, (location, ran, region) = await state.result()
    assert (location, region) == ("eu-north-1", "C")
    assert ran >= trough  # waited for the chosen location's window
    assert current_location() is None  # only inside the decorated call

    receipt = table_rows(
        (await artifacts_of(state.state_details.flow_run_id))["train-where-clean-carbon-receipt"]
    )
    assert receipt["location"] == "eu-north-1" and receipt["region"] == "C"
    assert "beats 'eu-west-1'" in receipt["reason"]


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def test_measured_task_receipt_names_the_method_and_has_energy():
    @task(name="measured-step")
    @carbon_window(
        trough_at(seconds_from_now(0), "MEAS"),
        duration=f"{POINT_SECONDS}s",
        max_delay="0s",
        energy="measured",
    )
    def measured_step() -> int:
        busy(1.2)
        return 1

    @flow
    async def measured() -> int:
        return measured_step()

    state = await measured(return_state=True)
    assert await state.result() == 1
    rows = table_rows(
        (await artifacts_of(state.state_details.flow_run_id))["measured-step-carbon-receipt"]
    )
    assert float(rows["energy (kWh)"]) > 0
    source = rows["energy source"]
    assert source.startswith("measured — ") and len(source) > len("measured — ")
