"""Batch planning: one fetch for a fleet, and a concurrency cap that holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cleanshift_core import (
    ConfigurationError,
    JobSpec,
    SchedulingRules,
    decide_batch,
    plan_batch_with_provider,
)
from cleanshift_core.batch import _max_overlap

from .conftest import T0, FakeClock, hourly
from .test_location import SeriesProvider

VALLEY = [300, 280, 250, 60, 50, 60, 250, 280, 300, 300, 300, 300]


def fleet(n: int, hours: float = 1, delay: str = "10h") -> dict[str, JobSpec]:
    return {f"job{i}": JobSpec.create(duration=hours, max_delay=delay) for i in range(n)}


def intervals(batch):
    return [
        (p.start.timestamp(), p.start.timestamp() + p.duration_seconds)
        for p in batch.plans.values()
    ]


async def test_one_forecast_fetch_serves_every_job():
    provider = SeriesProvider(hourly(VALLEY))
    jobs = {**fleet(4), "long": JobSpec.create(duration="3h", max_delay="8h")}
    batch = await plan_batch_with_provider(provider, jobs, SchedulingRules(), FakeClock())
    assert provider.calls == 1
    assert set(batch.plans) == set(jobs)
    assert batch.plans["job0"].start == T0 + timedelta(hours=4)
    assert batch.plans["long"].start == T0 + timedelta(hours=3)


def test_without_a_cap_the_fleet_piles_into_the_valley():
    batch = decide_batch(hourly(VALLEY), fleet(5), SchedulingRules(), T0)
    assert {p.start for p in batch.plans.values()} == {T0 + timedelta(hours=4)}
    assert batch.peak_concurrency == 5


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_the_cap_holds_and_jobs_take_the_next_cleanest_slots(cap):
    batch = decide_batch(
        hourly(VALLEY), fleet(6, hours=1.5), SchedulingRules(), T0, max_concurrent=cap
    )
    spans = intervals(batch)
    assert _max_overlap(spans, float("-inf"), float("inf")) <= cap
    assert all(sum(s <= a < e for s, e in spans) <= cap for a, _ in spans)
    assert batch.peak_concurrency <= cap and batch.over_cap == []
    means = sorted(p.expected_intensity for p in batch.plans.values())
    assert means[0] == pytest.approx(
        min(
            hourly(VALLEY).mean_over(
                [(T0 + timedelta(hours=h / 2), T0 + timedelta(hours=h / 2 + 1.5))]
            )[0]
            for h in range(17)
        )
    )


def test_jobs_are_placed_in_deadline_order():
    jobs = {
        "relaxed": JobSpec.create(duration=1, max_delay="10h"),
        "urgent": JobSpec.create(duration=1, max_delay="4h"),
    }
    batch = decide_batch(hourly(VALLEY), jobs, SchedulingRules(), T0, max_concurrent=1)
    assert batch.order == ["urgent", "relaxed"]
    assert batch.plans["urgent"].start == T0 + timedelta(
        hours=4
    )  # the urgent job gets the valley floor


def test_an_impossible_cap_is_reported_not_hidden():
    batch = decide_batch(
        hourly(VALLEY), fleet(3, delay="0h"), SchedulingRules(), T0, max_concurrent=1
    )
    assert len(batch.over_cap) == 2 and batch.peak_concurrency == 3


@pytest.mark.parametrize("cap", [0, -1, 1.5, True])
def test_bad_caps_are_refused(cap):
    with pytest.raises(ConfigurationError, match="max_concurrent"):
        decide_batch(hourly(VALLEY), fleet(2), SchedulingRules(), T0, max_concurrent=cap)


def test_cap_needs_min_carbon_and_jobs_must_be_specs():
    with pytest.raises(ConfigurationError, match="min_carbon"):
        decide_batch(
            hourly(VALLEY),
            fleet(2),
            SchedulingRules(policy="threshold", max_intensity=100),
            T0,
            max_concurrent=1,
        )
    with pytest.raises(ConfigurationError, match="JobSpec"):
        decide_batch(hourly(VALLEY), {"x": "2h"}, SchedulingRules(), T0)
