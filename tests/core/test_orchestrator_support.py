"""The core steps the orchestrator adapters share for location and interruptible jobs:
``plan_interruptible`` (fetch + chunk, with the provider-error policy), receipts that name the
chosen location, and re-plans that keep it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cleanshift_core import (
    ConfigurationError,
    GridIntensityProvider,
    InterruptiblePlan,
    JobSpec,
    ProviderUnavailableError,
    SchedulingRules,
    decide_location,
    plan_interruptible,
    replan,
    settle_receipt,
)
from cleanshift_core.series import SignalKind

from .conftest import T0, FakeClock, hourly

VALUES = [300, 100, 280, 290, 310, 90, 320, 330, 340, 350]


class StaticProvider(GridIntensityProvider):
    """Serves one fixed series (or fails), counting forecast calls."""

    def __init__(self, values: list[float], *, fail: bool = False, region: str = "TEST") -> None:
        self.series = hourly(values, region=region)
        self.fail = fail
        self.calls = 0

    @property
    def region(self) -> str:
        return self.series.region

    @property
    def signal(self) -> SignalKind:
        return SignalKind.AVERAGE_LIFECYCLE

    async def current(self):
        return self.series.points[0]

    async def forecast(self, start, end):
        self.calls += 1
        if self.fail:
            raise ProviderUnavailableError("down for the test")
        return self.series.between(start, end)

    async def history(self, start, end):
        return self.series.between(start, end)


def job(hours: float = 2, span: float = 10) -> JobSpec:
    return JobSpec.create(duration=hours, earliest_start=T0, finish_by=T0 + timedelta(hours=span))


async def test_plan_interruptible_maps_the_cleanest_slots_and_sums_them_in_one_receipt():
    provider = StaticProvider(VALUES)
    planned = await plan_interruptible(
        provider, job(), clock=FakeClock(T0), min_chunk="1h", max_chunks=2
    )
    assert provider.calls == 1
    assert [(p.start, p.end) for p in planned.chunks] == [
        (T0 + timedelta(hours=1), T0 + timedelta(hours=2)),
        (T0 + timedelta(hours=5), T0 + timedelta(hours=6)),
    ]
    assert planned.whole.start == planned.chunks[0].start
    assert planned.whole.earliest_start == T0 and planned.whole.expected_intensity == 95
    assert InterruptiblePlan.model_validate_json(planned.model_dump_json()) == planned

    runs = [(p.start, p.end) for p in planned.chunks]
    receipt = await settle_receipt(provider, planned.whole, runs)
    assert receipt.avg_intensity_gco2_per_kwh == 95
    assert receipt.counterfactual_avg_intensity == 200  # the first two hours, run at once
    assert receipt.run_intervals == runs and receipt.duration_seconds == 7200


@pytest.mark.parametrize(("on_error", "start_hours"), [("run_now", 0), ("wait_until_deadline", 8)])
async def test_provider_failure_falls_back_to_one_uninterrupted_run(on_error, start_hours):
    rules = SchedulingRules(on_provider_error=on_error)
    planned = await plan_interruptible(StaticProvider(VALUES, fail=True), job(), rules, FakeClock())
    assert planned.chunk_plan is None and planned.chunks == [planned.whole]
    assert planned.whole.start == T0 + timedelta(hours=start_hours)
    assert planned.whole.duration_seconds == 7200 and "provider error" in planned.whole.reason


async def test_fail_raises_and_only_min_carbon_applies():
    with pytest.raises(ProviderUnavailableError):
        await plan_interruptible(
            StaticProvider(VALUES, fail=True), job(), SchedulingRules(on_provider_error="fail")
        )
    with pytest.raises(ConfigurationError, match="policy='min_carbon'"):
        await plan_interruptible(
            StaticProvider(VALUES), job(), SchedulingRules(policy="threshold", max_intensity=100)
        )
    with pytest.raises(ConfigurationError, match="min_chunk"):
        await plan_interruptible(StaticProvider(VALUES), job(), min_chunk="3h")


async def test_receipts_name_the_location_and_replans_keep_it():
    series = {"north": hourly(VALUES, region="N"), "south": hourly([v + 50 for v in VALUES])}
    plan = decide_location(series, job(1), SchedulingRules(), T0)
    assert plan.location == "north"
    provider = StaticProvider(VALUES, region="N")
    receipt = await settle_receipt(provider, plan, [(plan.start, plan.end)])
    assert receipt.location == "north" and receipt.region == "N"

    # A fresh forecast where a later hour got much cleaner: the start moves, the location stays.
    moved_values = list(VALUES)
    moved_values[7] = 10
    clock = FakeClock(T0 + timedelta(minutes=30))
    moved = await replan(StaticProvider(moved_values, region="N"), plan, SchedulingRules(), clock)
    assert moved.start == T0 + timedelta(hours=7)
    assert moved.location == "north" and moved.location_options == plan.location_options
