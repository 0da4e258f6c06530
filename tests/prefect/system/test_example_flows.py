"""The example flows run end to end (on a mock grid whose cleanest slot is seconds away)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import pytest

from tests.prefect.conftest import artifacts_of, seconds_from_now, trough_at

EXAMPLES = Path(__file__).resolve().parents[3] / "example_flows"


def load_example(name: str, monkeypatch: pytest.MonkeyPatch, seconds_ahead: float):
    """Import ``example_flows/<name>.py`` with its grid's cleanest slot ``seconds_ahead``."""
    monkeypatch.setenv(
        "CLEANSHIFT_PROVIDER", json.dumps(trough_at(seconds_from_now(seconds_ahead), "EXAMPLE"))
    )
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nightly_etl_example(monkeypatch):
    example = load_example("nightly_etl", monkeypatch, 3)
    state = example.nightly_etl(day="2026-11-23", return_state=True)
    assert state.result() == 5
    keys = set(asyncio.run(artifacts_of(state.state_details.flow_run_id)))
    assert {"nightly-etl-carbon-receipt", "nightly-etl-carbon-report"} <= keys


async def test_batch_inference_example(monkeypatch):
    example = load_example("batch_inference", monkeypatch, 5)
    state = await example.batch_inference(batches=3, rows=10, return_state=True)
    assert await state.result() == 15.0
    keys = set(await artifacts_of(state.state_details.flow_run_id))
    assert {
        "score-batch-carbon-wait",
        "score-batch-carbon-receipt",
        "score-batch-carbon-report",
    } <= keys
