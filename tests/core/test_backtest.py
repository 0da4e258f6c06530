"""The backtest engine: charges on the truth, the optimum from the core planner, noise models."""

from __future__ import annotations

import statistics
from datetime import datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanshift_core import ConfigurationError, IntensityPoint, IntensitySeries, SchedulingRules
from cleanshift_core.backtest import (
    ForecastModel,
    JobPattern,
    backtest,
    policy_rule,
    run_immediately,
)

from .conftest import hourly

DAY0 = datetime(2026, 3, 2, tzinfo=timezone.utc)


def three_days() -> IntensitySeries:
    """Each day: 300 until 03:00, 100 from 03:00 to 05:00, 300 after; one day of tail."""
    day = [300.0] * 3 + [100.0] * 2 + [300.0] * 19
    return hourly(day * 4, start=DAY0)


def direct_mean(series: IntensitySeries, start: datetime, seconds: float) -> float:
    mean, covered = series.mean_over([(start, start + timedelta(seconds=seconds))])
    assert covered == pytest.approx(1.0)
    return mean


def test_hand_computed_savings_and_optimum():
    result = backtest(three_days(), JobPattern.create("01:00", "2h", "4h"), policy_rule())
    assert result.jobs == 4
    for outcome in result.outcomes:
        assert outcome.start == outcome.optimal_start == outcome.release.replace(hour=3)
        assert outcome.actual == outcome.optimal == 100.0
        assert outcome.immediate == 300.0
    assert result.saved_pct == pytest.approx(200 / 3)
    assert result.optimal_saved_pct == pytest.approx(200 / 3)
    assert result.captured == pytest.approx(1.0)


def test_running_immediately_saves_nothing_and_captures_none_of_the_optimum():
    result = backtest(three_days(), JobPattern.create("01:00", "2h", "4h"), run_immediately)
    assert result.saved_pct == 0.0
    assert result.captured == 0.0
    assert all(o.actual == o.immediate for o in result.outcomes)


def test_a_window_too_short_to_reach_the_valley_saves_part():
    # Released 01:00, may start until 02:00: best is 02:00-04:00 = (300 + 100) / 2.
    result = backtest(three_days(), JobPattern.create("01:00", "2h", "1h"), policy_rule())
    assert {o.optimal for o in result.outcomes} == {200.0}
    assert result.saved_pct == pytest.approx(100 / 3)


def test_the_optimum_is_flat_when_no_window_is_cleaner():
    flat = hourly([250.0] * 72, start=DAY0)
    result = backtest(flat, JobPattern.create("01:00", "1h", "6h"), policy_rule())
    assert result.captured is None
    assert result.saved_pct == 0.0
    assert all(o.start == o.release for o in result.outcomes)  # ties go to the earliest start


def test_actual_emissions_are_charged_on_the_truth_not_the_forecast():
    truth = three_days()
    # A forecast that is wrong: it shows the valley at 05:00-07:00 instead of 03:00-05:00.
    wrong_day = [300.0] * 5 + [100.0] * 2 + [300.0] * 17
    wrong = hourly(wrong_day * 4, start=DAY0)
    result = backtest(truth, JobPattern.create("01:00", "2h", "6h"), policy_rule(), wrong)
    for outcome in result.outcomes:
        assert outcome.start == outcome.release.replace(hour=5)
        assert outcome.actual == 300.0  # the truth at 05:00-07:00
        assert outcome.optimal == 100.0
    assert result.captured == 0.0


def test_unaligned_release_and_duration_still_hit_the_optimum_exactly():
    values = [300, 280, 120, 90, 260, 310, 150, 140, 330] * 10
    truth = hourly([float(v) for v in values], start=DAY0, minutes=30)
    result = backtest(truth, JobPattern.create("01:10", "50m", "3h"), policy_rule())
    assert result.jobs > 0
    for o in result.outcomes:
        assert o.actual == o.optimal
        assert o.actual == pytest.approx(direct_mean(truth, o.start, 3000))


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(min_value=0, max_value=900), min_size=200, max_size=260),
    minutes=st.sampled_from([15, 30, 60]),
    duration_min=st.integers(min_value=5, max_value=300),
    delay_min=st.integers(min_value=0, max_value=600),
)
def test_the_optimum_matches_brute_force(values, minutes, duration_min, delay_min):
    truth = hourly(values, start=DAY0, minutes=minutes)
    pattern = JobPattern(time(1, 0), timedelta(minutes=duration_min), timedelta(minutes=delay_min))
    try:
        result = backtest(truth, pattern, run_immediately)
    except ConfigurationError:
        return  # the series holds no whole horizon: refused, which is covered elsewhere
    d = duration_min * 60.0
    for o in result.outcomes:
        # Every start on a one-minute grid (all boundaries are whole minutes).
        brute = min(
            direct_mean(truth, o.release + timedelta(minutes=k), d) for k in range(delay_min + 1)
        )
        assert o.optimal == pytest.approx(brute, rel=1e-9, abs=1e-9)
        assert o.optimal_start <= o.release + pattern.max_delay


def test_noise_is_reproducible_scaled_and_never_negative():
    truth = hourly([200.0] * 5000, start=DAY0)
    a = ForecastModel(error=0.1, seed=7).apply(truth)
    b = ForecastModel(error=0.1, seed=7).apply(truth)
    c = ForecastModel(error=0.1, seed=8).apply(truth)
    assert a.values == b.values and a.values != c.values
    errors = [x - 200.0 for x in a.values]
    assert statistics.fmean(errors) == pytest.approx(0.0, abs=1.5)
    assert statistics.stdev(errors) == pytest.approx(20.0, rel=0.05)
    huge = ForecastModel(error=2.0, seed=1).apply(truth)
    assert min(huge.values) == 0.0
    assert ForecastModel().apply(truth) is truth


def test_noise_makes_a_rule_miss_sometimes_but_the_optimum_is_unchanged():
    truth = hourly(
        [300.0 - 150 * ((h % 24) in (3, 4)) + (h % 7) for h in range(24 * 20)], start=DAY0
    )
    pattern = JobPattern.create("01:00", "1h", "6h")
    perfect = backtest(truth, pattern, policy_rule())
    noisy = backtest(truth, pattern, policy_rule(), ForecastModel(error=0.4, seed=3))
    assert [o.optimal for o in noisy.outcomes] == [o.optimal for o in perfect.outcomes]
    assert perfect.captured == pytest.approx(1.0)
    assert noisy.captured < 1.0


def test_policy_rule_uses_the_rules():
    # threshold 250: the first window at or under 250 is taken, not the cleanest. A 1 h job
    # started at 01:50 runs 10 min at 300 and 50 min at 240: exactly 250.
    day = [300.0, 300.0, 240.0, 240.0, 100.0, 100.0] + [300.0] * 18
    truth = hourly(day * 3, start=DAY0)
    rule = policy_rule(SchedulingRules(policy="threshold", max_intensity=250))
    result = backtest(truth, JobPattern.create("00:00", "1h", "5h"), rule)
    for o in result.outcomes:
        assert o.start == o.release.replace(hour=1, minute=50)
        assert o.actual == pytest.approx(250.0)
        assert o.optimal == 100.0


def test_a_rule_that_breaks_the_deadline_is_refused():
    def late(forecast, job, now):
        return now + timedelta(hours=9)

    with pytest.raises(ConfigurationError, match="outside its window"):
        backtest(three_days(), JobPattern.create("01:00", "2h", "4h"), late)


def test_releases_need_the_whole_horizon_in_the_data():
    short = hourly([100.0] * 20, start=DAY0)
    with pytest.raises(ConfigurationError, match="no whole day"):
        backtest(short, JobPattern.create("10:00", "2h", "12h"), run_immediately)
    # A release before the data starts is skipped, not charged on missing data.
    late_start = hourly([100.0] * 48, start=DAY0 + timedelta(hours=2))
    result = backtest(late_start, JobPattern.create("01:00", "1h", "1h"), run_immediately)
    assert [o.release for o in result.outcomes] == [DAY0 + timedelta(days=1, hours=1)]


@pytest.mark.parametrize(
    "release, duration, delay, message",
    [
        ("25:00", "1h", "1h", "HH:MM"),
        ("1am", "1h", "1h", "HH:MM"),
        ("01:00", "0h", "1h", "duration must be positive"),
        ("01:00", "1h", "soon", "not a duration"),
    ],
)
def test_bad_patterns_are_refused(release, duration, delay, message):
    with pytest.raises(ConfigurationError, match=message):
        JobPattern.create(release, duration, delay)


def test_bad_noise_is_refused():
    with pytest.raises(ConfigurationError, match="fraction"):
        ForecastModel(error=-0.1)
    with pytest.raises(ConfigurationError, match="empty"):
        backtest(
            IntensitySeries.from_points([], signal="marginal", provider="x", region="x"),
            JobPattern.create("01:00", "1h", "1h"),
            run_immediately,
        )


def test_point_durations_are_respected():
    # 15-minute points: a 30-minute job straddling two points is charged their time-weighted mean.
    points = [
        IntensityPoint(
            DAY0 + timedelta(minutes=15 * i), timedelta(minutes=15), float(100 + 10 * (i % 8))
        )
        for i in range(400)
    ]
    truth = IntensitySeries.from_points(
        points, signal="average/lifecycle", provider="t", region="t"
    )
    result = backtest(truth, JobPattern.create("01:05", "30m", "0h"), run_immediately)
    for o in result.outcomes:
        assert o.actual == pytest.approx(direct_mean(truth, o.release, 1800))
