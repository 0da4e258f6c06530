"""Policies, the savings guard, provider-error fallbacks and argument validation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cleanshift_core import (
    ConfigurationError,
    JobSkipped,
    JobSpec,
    Plan,
    ProviderUnavailableError,
    SchedulingRules,
    decide,
)
from cleanshift_core.policies import fallback_plan

from .conftest import T0, hourly

CURVE = [400, 380, 300, 120, 100, 150, 390, 420]
JOB = JobSpec.create(duration="1h", max_delay="6h")


def test_min_carbon_picks_the_cleanest_window():
    plan = decide(hourly(CURVE), JOB, SchedulingRules(), T0)
    assert plan.start == T0 + timedelta(hours=4)
    assert plan.expected_intensity == 100
    assert plan.immediate_intensity == 400
    assert plan.expected_savings_pct == pytest.approx(75)
    assert plan.alternatives and plan.alternatives[0].start != plan.start


def test_plan_round_trips_through_json():
    plan = decide(hourly(CURVE), JOB, SchedulingRules(), T0)
    assert Plan.model_validate_json(plan.model_dump_json()) == plan
    assert plan.forecast[0].start == T0


def test_threshold_takes_the_first_window_under_the_limit():
    plan = decide(hourly(CURVE), JOB, SchedulingRules(policy="threshold", max_intensity=130), T0)
    assert plan.start < T0 + timedelta(hours=4)
    assert plan.expected_intensity == pytest.approx(130)


def test_threshold_never_met_falls_back_to_the_cleanest():
    plan = decide(hourly(CURVE), JOB, SchedulingRules(policy="threshold", max_intensity=50), T0)
    assert plan.start == T0 + timedelta(hours=4)
    assert "taking the cleanest" in plan.reason


def test_now_or_never_runs_or_skips():
    clean = decide(
        hourly([90, *CURVE[1:]]), JOB, SchedulingRules(policy="now_or_never", max_intensity=100), T0
    )
    assert clean.start == T0
    with pytest.raises(JobSkipped, match="above max_intensity=100"):
        decide(hourly(CURVE), JOB, SchedulingRules(policy="now_or_never", max_intensity=100), T0)


def test_halt_if_dirty_starts_now():
    plan = decide(
        hourly(CURVE), JOB, SchedulingRules(policy="halt_if_dirty", max_intensity=200), T0
    )
    assert plan.start == T0 and "pausing" in plan.reason


def test_min_savings_guard_refuses_small_gains():
    curve = [100, 99, 98, 97]
    plan = decide(hourly(curve), JobSpec.create("1h", "3h"), SchedulingRules(min_savings_pct=5), T0)
    assert plan.start == T0
    assert "under min_savings_pct=5%" in plan.reason
    plan = decide(hourly(curve), JobSpec.create("1h", "3h"), SchedulingRules(min_savings_pct=2), T0)
    assert plan.start == T0 + timedelta(hours=3)


def test_finish_by_and_max_delay_the_stricter_holds():
    job = JobSpec.create("2h", max_delay="6h", finish_by=T0 + timedelta(hours=5))
    assert job.bounds(T0) == (T0, T0 + timedelta(hours=3))
    plan = decide(hourly(CURVE), job, SchedulingRules(), T0)
    assert plan.start + timedelta(hours=2) <= T0 + timedelta(hours=5)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: JobSpec.create(duration="0h"), "duration must be positive"),
        (lambda: JobSpec.create(duration="banana"), "not a duration"),
        (lambda: JobSpec.create("1h", finish_by=datetime(2026, 1, 1)), "naive"),
        (
            lambda: JobSpec.create("3h", finish_by=T0 + timedelta(hours=1), earliest_start=T0),
            "leaves no room",
        ),
        (lambda: SchedulingRules(policy="greenest"), "unknown policy 'greenest'"),
        (lambda: SchedulingRules(policy="threshold"), "needs max_intensity"),
        (lambda: SchedulingRules(min_savings_pct=150), "between 0 and 100"),
        (lambda: SchedulingRules(on_provider_error="retry"), "unknown on_provider_error"),
    ],
)
def test_bad_arguments_fail_at_construction(build, message):
    with pytest.raises(ConfigurationError, match=message):
        build()


@pytest.mark.parametrize(
    "mode, expected_start",
    [("run_now", T0), ("wait_until_deadline", T0 + timedelta(hours=6))],
)
def test_provider_error_fallbacks(mode, expected_start):
    plan = fallback_plan(
        JOB, SchedulingRules(on_provider_error=mode), T0, ProviderUnavailableError("down")
    )
    assert plan.start == expected_start
    assert plan.expected_intensity is None and "down" in plan.reason


def test_provider_error_fail_reraises():
    with pytest.raises(ProviderUnavailableError):
        fallback_plan(
            JOB, SchedulingRules(on_provider_error="fail"), T0, ProviderUnavailableError("down")
        )


def test_times_are_utc_even_from_other_zones():
    cet = timezone(timedelta(hours=1))
    job = JobSpec.create("1h", finish_by=datetime(2026, 3, 2, 8, 0, tzinfo=cet))
    assert job.finish_by == T0 + timedelta(hours=7)
    assert job.finish_by.tzinfo == timezone.utc
