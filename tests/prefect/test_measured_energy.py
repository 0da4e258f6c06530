"""Measured energy through Prefect: CodeCarbon offline around a decorated task, against the
suite's real Prefect server; the receipt artifact names the energy's source and method."""

from __future__ import annotations

import time

import pytest
from prefect import flow, task

from cleanshift_core import ConfigurationError
from cleanshift_prefect import carbon_window

from .conftest import POINT_SECONDS, artifacts_of, seconds_from_now, table_rows, trough_at


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


def test_bad_energy_mode_fails_at_decoration():
    with pytest.raises(ConfigurationError, match="energy must be 'nominal'"):
        carbon_window("mock", energy="watts")
