"""Interruptible jobs with ``@carbon_chunks`` against a real Prefect API: planned once, one
mapped task run per chunk, each starting in its own slot, one receipt summing the runs."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from cleanshift_core import ConfigurationError, Plan
from cleanshift_prefect import carbon_chunks
from tests.prefect.conftest import artifacts_of, table_rows

ROOT = Path(__file__).resolve().parents[3]
GRID = ROOT / "example_dags" / "data" / "grid_two_dips.csv"


def two_dips(speedup: float, seconds_before_now: float) -> tuple[dict, datetime]:
    """The two-dip grid replayed ``speedup``-fold, its first point ``seconds_before_now`` ago.

    The file's clean hours are 03:00 (120) and 07:00 (110), every other hour ≥ 300.
    """
    anchor = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(
        seconds=seconds_before_now
    )
    return {
        "kind": "file",
        "path": str(GRID),
        "region": "DIPS",
        "replay": True,
        "speedup": speedup,
        "anchor": anchor.isoformat(),
    }, anchor


def dip_slots(anchor: datetime, speedup: float) -> list[tuple[datetime, datetime]]:
    hour = timedelta(hours=1) / speedup
    return [(anchor + 3 * hour, anchor + 4 * hour), (anchor + 7 * hour, anchor + 8 * hour)]


def receipt_runs(receipt: dict) -> list[tuple[datetime, datetime]]:
    """The receipt table's ``runs`` row, back as datetimes (to the second)."""

    def parse(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=timezone.utc)

    return [
        tuple(parse(end.strip()) for end in run.split("→"))  # type: ignore[misc]
        for run in receipt["runs"].split(";")
    ]


async def test_async_chunks_run_in_their_slots_and_the_receipt_sums_them():
    speedup = 3600  # a file hour lasts 1 s: clean slots 3 s and 7 s after the anchor
    provider, anchor = two_dips(speedup, 0)
    slots = dip_slots(anchor, speedup)

    @carbon_chunks(provider=provider, duration="2s", max_delay="6s", min_chunk="1s", max_chunks=2)
    @task(name="Fit Model")
    async def fit(chunk: Plan, scale: int) -> tuple[datetime, datetime, int]:
        started = datetime.now(timezone.utc)
        await asyncio.sleep(max((chunk.end - datetime.now(timezone.utc)).total_seconds(), 0))
        return started, datetime.now(timezone.utc), scale

    @flow
    async def training():
        return await fit(scale=7)

    state = await training(return_state=True)
    runs = await state.result()
    assert [scale for *_, scale in runs] == [7, 7]
    for (started, finished, _), (slot_start, slot_end) in zip(runs, slots, strict=True):
        assert slot_start <= started < slot_end  # each chunk waited for its own slot
        assert finished >= slot_end - timedelta(seconds=0.01)

    flow_run_id = state.state_details.flow_run_id
    async with get_client() as client:
        task_runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    assert len(task_runs) == 2 and {t.state.name for t in task_runs} == {"Completed"}

    artifacts = await artifacts_of(flow_run_id)
    receipt = table_rows(artifacts["fit-model-carbon-receipt"])
    for (started, finished, _), (ran, done) in zip(runs, receipt_runs(receipt), strict=True):
        # the receipt's intervals are the chunks' real runs (taken just around the call)
        assert abs((started - ran).total_seconds()) < 1
        assert abs((finished - done).total_seconds()) < 1
    assert receipt["region"] == "DIPS"
    assert receipt["basis"] == "measured"  # the replayed file has history too
    assert float(receipt["intensity of the run (gCO2eq/kWh)"]) < 200  # both clean hours
    assert float(receipt["intensity if run immediately (gCO2eq/kWh)"]) >= 300
    report = artifacts["fit-model-carbon-report"].data
    assert "### Fit Model: carbon receipt" in report and report.count("◆ window ● run") == 2
    plan = artifacts["fit-model-carbon-deferral"].data
    assert "2 chunk task run(s)" in plan and plan.count("◆ window") == 2


def test_example_flow_runs_two_chunks_in_the_two_dips(monkeypatch):
    provider, anchor = two_dips(720, 13)  # the dips come 2 s and 22 s from now
    slots = dip_slots(anchor, 720)
    monkeypatch.setenv("CLEANSHIFT_PROVIDER", json.dumps(provider))
    spec = importlib.util.spec_from_file_location(
        "example_interruptible_training", ROOT / "example_flows" / "interruptible_training.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    state = example.interruptible_training(model="tiny", return_state=True)
    assert state.result() > 0
    artifacts = asyncio.run(artifacts_of(state.state_details.flow_run_id))
    receipt = table_rows(artifacts["train-carbon-receipt"])
    runs = receipt_runs(receipt)
    assert len(runs) == 2
    for (ran, done), (slot_start, slot_end) in zip(runs, slots, strict=True):
        assert slot_start <= ran and done >= slot_end.replace(microsecond=0) - timedelta(seconds=1)
    assert float(receipt["intensity of the run (gCO2eq/kWh)"]) < 200  # both clean hours
    assert float(receipt["savings"].rstrip("%")) > 0  # vs 10 s from the call (one dip in it)
    assert receipt["emitted (g)"] != "unknown"  # power_kw=3.0 gives grams


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs the job's total running time, e.g. duration='6h'"),
        ({"duration": "soon"}, "is not a duration; use e.g. '2h'"),
        ({"duration": "1h", "min_chunk": "2h"}, "min_chunk must be positive and no longer than"),
        ({"duration": "1h", "min_chunk": "0s"}, "e.g. min_chunk='1h'"),
        ({"duration": "1h", "max_chunks": 0}, "max_chunks must be a whole number ≥ 1"),
        ({"duration": "1h", "max_chunks": True}, "e.g. max_chunks=4"),
        ({"duration": "1h", "on_provider_error": "retry"}, "unknown on_provider_error 'retry'"),
        ({"duration": "1h", "power_kw": 0}, "power_kw must be a positive number"),
        ({"duration": "1h", "provider": "nosuch"}, "unknown provider 'nosuch'"),
        ({"duration": "1h", "finish_by": datetime(2030, 1, 1)}, "pass a timezone-aware datetime"),
    ],
)
def test_bad_arguments_fail_at_decoration(kwargs, message):
    with pytest.raises(ConfigurationError) as caught:
        carbon_chunks(**kwargs)
    assert message in str(caught.value)


def test_bad_targets_fail_at_decoration():
    with pytest.raises(ConfigurationError, match="must take a `chunk` argument"):

        @carbon_chunks(duration="1h")
        @task
        def no_chunk(step: int) -> None: ...

    with pytest.raises(ConfigurationError, match="goes over a @task, not a @flow"):

        @carbon_chunks(duration="1h")
        @flow
        def whole(chunk: Plan) -> None: ...

    with pytest.raises(ConfigurationError, match="needs arguments"):

        @carbon_chunks
        def bare(chunk: Plan) -> None: ...

    @carbon_chunks(duration="1h")
    def plain(chunk: Plan, n: int) -> int:
        return n

    assert plain.name == "plain"
    with pytest.raises(RuntimeError, match="from the body of a @flow"):
        plain(n=1)
