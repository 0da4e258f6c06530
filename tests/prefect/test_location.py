"""Location + time with ``@carbon_window(locations=...)`` against a real Prefect API: the
function learns the chosen location, waits for its start, and the receipt records it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from prefect import flow, task

from cleanshift_core import ConfigurationError
from cleanshift_prefect import carbon_window, current_location, current_plan

from .conftest import POINT_SECONDS, artifacts_of, seconds_from_now, table_rows, trough_at


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


def test_locations_are_validated_at_decoration():
    with pytest.raises(ConfigurationError, match="not both"):
        carbon_window("mock", locations={"a": "mock"})
    with pytest.raises(ConfigurationError, match="location 'b'"):
        carbon_window(locations={"a": "mock", "b": "nope:x=1"})
    with pytest.raises(ConfigurationError, match="non-empty mapping"):
        carbon_window(locations={})
