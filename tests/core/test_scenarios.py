"""The Let's Wait Awhile ML scenario: the study's deadline rules, workload and accounting."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from itertools import combinations

import pytest

from cleanshift_core.scenarios import (
    DeadlineRule,
    MLJob,
    on_study_grid,
    simulate_ml,
    study_deadline,
    study_ml_jobs,
    study_noise,
)

from .conftest import hourly

MON = datetime(2020, 3, 2, tzinfo=timezone.utc)  # a Monday


def at(day: int, hour: float) -> datetime:
    return MON + timedelta(days=day, hours=hour)


@pytest.mark.parametrize(
    "finish, rule, deadline",
    [
        (at(0, 10), "semi_weekly", at(3, 9)),  # Monday after 09:00 -> Thursday
        (at(0, 9), "semi_weekly", at(0, 9)),  # Monday 09:00 sharp -> itself
        (at(3, 9), "semi_weekly", at(3, 9)),
        (at(3, 9.5), "semi_weekly", at(7, 9)),  # Thursday after 09:00 -> next Monday
        (at(5, 12), "semi_weekly", at(7, 9)),  # Saturday -> Monday
        (at(1, 12), "next_workday", at(1, 12)),  # inside working hours: no shifting
        (at(2, 3), "next_workday", at(2, 9)),
        (at(1, 18), "next_workday", at(2, 9)),
        (
            at(4, 18),
            "next_workday",
            at(5, 9),
        ),  # the study's quirk: Friday evening -> Saturday 09:00
        (at(5, 1), "next_workday", at(7, 9)),
        (at(6, 23), "next_workday", at(7, 9)),
    ],
)
def test_deadline_rules_match_the_study(finish, rule, deadline):
    assert study_deadline(finish - timedelta(hours=5), timedelta(hours=5), rule) == deadline


def daily_wave(days: int, start: datetime = MON) -> list[float]:
    return [200 + 100 * math.sin(2 * math.pi * h / 24) for h in range(24 * days)]


def test_shifting_saves_and_interrupting_saves_more():
    truth = hourly(daily_wave(14), start=MON)
    jobs = [
        MLJob(at(d, 10), timedelta(hours=h)) for d, h in [(0, 5), (1, 8), (2, 4), (3, 12), (4, 6)]
    ]
    contiguous = simulate_ml(truth, jobs, deadline="semi_weekly", interruptible=False)
    chunked = simulate_ml(truth, jobs, deadline="semi_weekly", interruptible=True)
    none = simulate_ml(truth, jobs, deadline=timedelta(0), interruptible=False)
    assert none.saved_pct == pytest.approx(0.0)
    assert 0 < contiguous.saved_pct < chunked.saved_pct
    assert contiguous.skipped == chunked.skipped == 0


def test_interruptible_jobs_run_in_the_cleanest_slots():
    values = [5, 1, 9, 2, 8, 3, 7, 4, 6, 10, 11, 12]
    truth = hourly(values, start=MON)
    job = MLJob(MON, timedelta(hours=3))
    outcome = simulate_ml(truth, [job], deadline=timedelta(hours=5), interruptible=True)
    best = min(combinations(values[:8], 3), key=sum)
    assert outcome.emitted == pytest.approx(sum(best))
    assert outcome.baseline == pytest.approx(sum(values[:3]))


def test_noisy_forecasts_are_charged_on_the_truth():
    np = pytest.importorskip("numpy")
    truth = hourly(daily_wave(10), start=MON)
    jobs = [MLJob(at(d, 11), timedelta(hours=6)) for d in range(5)]
    noisy = study_noise(truth, 0.1, seed=3)
    assert noisy.values == study_noise(truth, 0.1, seed=3).values != truth.values
    residual = np.asarray(noisy.values) - np.asarray(truth.values)
    assert residual.std() == pytest.approx(0.1 * np.mean(truth.values), rel=0.25)
    perfect = simulate_ml(truth, jobs, deadline="semi_weekly", interruptible=True)
    guessed = simulate_ml(truth, jobs, deadline="semi_weekly", interruptible=True, forecast=noisy)
    assert guessed.baseline == pytest.approx(perfect.baseline)
    assert guessed.emitted >= perfect.emitted - 1e-9  # a noisy forecast cannot beat the truth
    assert study_noise(truth, 0.0, seed=1) is truth


def test_study_extra_step_allows_one_more_half_hour():
    truth = on_study_grid(hourly([100, 100, 100, 100, 1, 1] * 4, start=MON, minutes=30))
    job = MLJob(MON, timedelta(hours=2))
    strict = simulate_ml(truth, [job], deadline=timedelta(0), interruptible=False)
    study = simulate_ml(
        truth, [job], deadline=timedelta(0), interruptible=False, study_extra_step=True
    )
    assert strict.runs[0] == ((MON.timestamp(), MON.timestamp() + 7200),)
    assert study.runs[0][0][0] == MON.timestamp() + 1800


def test_study_grid_subsamples_quarter_hours():
    quarter = hourly([float(i) for i in range(8)], start=MON, minutes=15)
    grid = on_study_grid(quarter)
    assert grid.values == (0.0, 2.0, 4.0, 6.0)
    assert all(e - s == 1800 for s, e in zip(grid.starts, grid.ends))


def test_the_study_workload_is_reproduced():
    pytest.importorskip("numpy")
    jobs = study_ml_jobs()
    assert len(jobs) == 3387
    assert jobs[0] == MLJob(datetime(2020, 1, 1, 9, 30, tzinfo=timezone.utc), timedelta(hours=53))
    assert all(j.release.weekday() < 5 and 9 <= j.release.hour < 17 for j in jobs)
    assert all(timedelta(hours=4) <= j.duration < timedelta(hours=90) for j in jobs)
    assert all(j.duration % timedelta(minutes=30) == timedelta(0) for j in jobs)
    assert [j.release for j in jobs] == sorted(j.release for j in jobs)
    assert study_ml_jobs(n=50, seed=1) == study_ml_jobs(n=50, seed=1) != study_ml_jobs(n=50, seed=2)


def test_deadline_rule_names_are_validated():
    with pytest.raises(ValueError):
        study_deadline(MON, timedelta(hours=1), "fortnightly")
    assert DeadlineRule("semi_weekly") is DeadlineRule.SEMI_WEEKLY
