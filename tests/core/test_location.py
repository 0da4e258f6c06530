"""Location + time: the plan says where and when, and why; provider failures are survivable."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from cleanshift_core import (
    ConfigurationError,
    GridIntensityProvider,
    IntensityPoint,
    IntensitySeries,
    JobSkipped,
    JobSpec,
    Plan,
    ProviderError,
    ProviderUnavailableError,
    SchedulingRules,
    SignalKind,
    decide_location,
    plan_across_locations,
)

from .conftest import T0, FakeClock, hourly

JOB = JobSpec.create(duration="2h", max_delay="6h")


class SeriesProvider(GridIntensityProvider):
    """Serves a fixed series; optionally fails, or waits for its peers (to prove concurrency)."""

    kind = "series"

    def __init__(
        self, series: IntensitySeries, *, fail: bool = False, barrier: asyncio.Barrier | None = None
    ):
        self.series, self.fail, self.barrier, self.calls = series, fail, barrier, 0

    @property
    def region(self) -> str:
        return self.series.region

    @property
    def signal(self) -> SignalKind:
        return self.series.signal

    async def current(self) -> IntensityPoint:
        return self.series.points[0]

    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        self.calls += 1
        if self.barrier is not None:
            await asyncio.wait_for(self.barrier.wait(), timeout=5)
        if self.fail:
            raise ProviderUnavailableError("down for maintenance")
        return self.series

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        return self.series


def test_chooses_location_and_start_together_and_says_why():
    series = {
        "eu-west-1": hourly([300, 250, 200, 220, 260, 280, 300, 300, 300], region="IE"),
        "eu-north-1": hourly([100, 90, 40, 30, 80, 100, 100, 100, 100], region="SE"),
    }
    plan = decide_location(series, JOB, SchedulingRules(), T0)
    assert plan.location == "eu-north-1"
    assert plan.region == "SE"
    assert plan.start == T0 + timedelta(hours=2)
    assert plan.expected_intensity == pytest.approx(35)
    assert [o.location for o in plan.location_options] == ["eu-west-1", "eu-north-1"]
    west = plan.location_options[0]
    assert west.start == T0 + timedelta(hours=2) and west.expected_intensity == pytest.approx(210)
    assert "eu-north-1" in plan.reason and "eu-west-1" in plan.reason


def test_ties_go_to_the_earlier_start_then_the_first_listed():
    late = hourly([100, 100, 50, 50, 100, 100, 100, 100, 100], region="A")
    early = hourly([50, 50, 100, 100, 100, 100, 100, 100, 100], region="B")
    assert decide_location({"a": late, "b": early}, JOB, SchedulingRules(), T0).location == "b"
    same = hourly([100, 50, 50, 100, 100, 100, 100, 100, 100], region="C")
    assert decide_location({"x": same, "y": same}, JOB, SchedulingRules(), T0).location == "x"
    assert decide_location({"y": same, "x": same}, JOB, SchedulingRules(), T0).location == "y"


def test_mixed_signal_kinds_are_refused():
    with pytest.raises(ConfigurationError, match="same signal kind"):
        decide_location(
            {"a": hourly([100] * 9), "b": hourly([100] * 9, signal=SignalKind.MARGINAL)},
            JOB,
            SchedulingRules(),
            T0,
        )


def test_location_without_room_is_skipped_and_recorded():
    short = hourly([10], region="SHORT")  # one hour of data cannot hold a 2 h job
    plan = decide_location({"short": short, "ok": hourly([100] * 9)}, JOB, SchedulingRules(), T0)
    assert plan.location == "ok"
    assert plan.location_options[0].error and "window" in plan.location_options[0].error


def test_now_or_never_skips_only_when_every_location_is_dirty():
    rules = SchedulingRules(policy="now_or_never", max_intensity=150)
    plan = decide_location({"dirty": hourly([400] * 9), "clean": hourly([100] * 9)}, JOB, rules, T0)
    assert plan.location == "clean" and plan.start == T0
    with pytest.raises(JobSkipped):
        decide_location({"a": hourly([400] * 9), "b": hourly([300] * 9)}, JOB, rules, T0)


def test_plan_with_location_round_trips_and_old_plans_still_load():
    plan = decide_location(
        {"a": hourly([100, 50] * 5), "b": hourly([70] * 10)}, JOB, SchedulingRules(), T0
    )
    assert Plan.model_validate_json(plan.model_dump_json()) == plan
    legacy = plan.model_dump(
        exclude={"location", "location_options", "end", "expected_savings_pct"}
    )
    old = Plan.model_validate(legacy)
    assert old.location is None and old.location_options == []


@pytest.mark.parametrize("bad", [{}, {"": hourly([1] * 9)}, [("a", hourly([1] * 9))]])
def test_bad_location_mappings_are_refused(bad):
    with pytest.raises(ConfigurationError):
        decide_location(bad, JOB, SchedulingRules(), T0)


async def test_fetches_concurrently_and_survives_a_failing_provider():
    barrier = asyncio.Barrier(3)  # only passes if all three fetches are in flight together
    providers = {
        "down": SeriesProvider(hourly([10] * 9, region="D"), fail=True, barrier=barrier),
        "dirty": SeriesProvider(hourly([300] * 9, region="X"), barrier=barrier),
        "clean": SeriesProvider(
            hourly([120, 60, 60, 120, 120, 120, 120, 120, 120], region="Y"), barrier=barrier
        ),
    }
    plan = await plan_across_locations(providers, JOB, SchedulingRules(), FakeClock())
    assert plan.location == "clean" and plan.start == T0 + timedelta(hours=1)
    down = next(o for o in plan.location_options if o.location == "down")
    assert "ProviderUnavailableError" in down.error
    assert all(p.calls == 1 for p in providers.values())


async def test_all_providers_failing_follows_on_provider_error():
    providers = {k: SeriesProvider(hourly([1] * 9), fail=True) for k in ("first", "second")}
    plan = await plan_across_locations(
        providers, JOB, SchedulingRules(on_provider_error="run_now"), FakeClock()
    )
    assert plan.location == "first" and plan.start == T0 and plan.expected_intensity is None
    assert {o.location for o in plan.location_options} == {"first", "second"}
    with pytest.raises(ProviderError, match="no location"):
        await plan_across_locations(
            providers, JOB, SchedulingRules(on_provider_error="fail"), FakeClock()
        )


async def test_specs_are_accepted_as_providers():
    clock = FakeClock()
    plan = await plan_across_locations(
        {
            "home": "mock:region=HOME",
            "away": {"kind": "mock", "region": "AWAY", "base_intensity": 200.0, "amplitude": 50.0},
        },
        JOB,
        SchedulingRules(),
        clock,
    )
    assert plan.location in {"home", "away"}
    assert {o.location for o in plan.location_options} == {"home", "away"}
