"""The planner against a brute-force reference, plus its documented edge cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanshift_core import BadSeriesError, IntensityPoint, IntensitySeries, scan_windows
from cleanshift_core.planner import TIE_TOLERANCE

from .conftest import T0, hourly


def brute_force_best(minute_lengths, values, duration_min, earliest_min, latest_min):
    """Every whole-minute start, each integrated minute by minute: slow, obviously right.

    All boundaries are whole minutes, so the optimum is among whole-minute starts.
    """
    per_minute = [v for length, v in zip(minute_lengths, values) for _ in range(length)]
    total = len(per_minute)
    best = None
    for s in range(max(earliest_min, 0), min(latest_min, total - duration_min) + 1):
        mean = sum(per_minute[s : s + duration_min]) / duration_min
        if best is None or mean < best[1] - TIE_TOLERANCE * max(1.0, abs(best[1])):
            best = (s, mean)
    return best


series_cases = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from([5, 15, 30, 60]), min_size=n, max_size=n),
        st.lists(st.integers(min_value=0, max_value=900), min_size=n, max_size=n),
        st.integers(min_value=1, max_value=600),
        st.integers(min_value=-120, max_value=900),
        st.integers(min_value=0, max_value=1500),
    )
)


@settings(max_examples=400, deadline=None)
@given(series_cases)
def test_matches_brute_force(case):
    lengths, values, duration, earliest, delay = case
    points, t = [], T0
    for length, value in zip(lengths, values):
        points.append(IntensityPoint(t, timedelta(minutes=length), value))
        t += timedelta(minutes=length)
    series = IntensitySeries.from_points(points, signal="marginal", provider="t", region="r")
    expected = brute_force_best(lengths, values, duration, earliest, earliest + delay)
    start = T0 + timedelta(minutes=earliest)
    if expected is None:
        with pytest.raises(BadSeriesError):
            scan_windows(
                series, start, start + timedelta(minutes=delay), timedelta(minutes=duration)
            )
        return
    scan = scan_windows(
        series, start, start + timedelta(minutes=delay), timedelta(minutes=duration)
    )
    i = scan.best_index()
    assert scan.means[i] == pytest.approx(expected[1], rel=1e-9, abs=1e-9)
    assert scan.starts[i] == pytest.approx((T0 + timedelta(minutes=expected[0])).timestamp())


def test_partial_intervals_are_weighted_exactly():
    series = hourly([100, 300, 200])
    # 90 minutes from 00:30: 30 min at 100, 60 min at 300 → (3000 + 18000) / 90
    scan = scan_windows(
        series, T0 + timedelta(minutes=30), T0 + timedelta(minutes=30), timedelta(minutes=90)
    )
    assert scan.means == [pytest.approx((30 * 100 + 60 * 300) / 90)]


def test_earliest_start_off_the_grid_is_a_candidate():
    series = hourly([100, 500, 500])
    start = T0 + timedelta(minutes=20)
    scan = scan_windows(series, start, start + timedelta(hours=1), timedelta(minutes=40))
    assert scan.starts[0] == start.timestamp()
    assert scan.means[scan.best_index()] == 100  # 00:20–01:00 is all at 100
    assert scan.immediate_mean == 100


def test_no_window_runs_past_the_data():
    series = hourly([500, 500, 10])
    scan = scan_windows(series, T0, T0 + timedelta(hours=10), timedelta(hours=2))
    assert max(scan.starts) == (T0 + timedelta(hours=1)).timestamp()


def test_ties_go_to_the_earliest_start():
    series = hourly([100, 100, 100, 100])
    scan = scan_windows(series, T0, T0 + timedelta(hours=2), timedelta(hours=1))
    assert scan.starts[scan.best_index()] == T0.timestamp()


def test_window_that_cannot_fit_says_what_to_change():
    series = hourly([100, 200])
    with pytest.raises(BadSeriesError, match="shorten the job"):
        scan_windows(series, T0, T0 + timedelta(hours=1), timedelta(hours=3))


def test_threshold_crossing_is_solved_exactly():
    series = hourly([400, 400, 100, 100])
    scan = scan_windows(series, T0, T0 + timedelta(hours=3), timedelta(hours=1))
    start, mean = scan.first_at_or_below(250)
    # mean(s) over [s, s+1h) falls linearly from 400 to 100 between 01:00 and 02:00
    assert start == pytest.approx((T0 + timedelta(minutes=90)).timestamp())
    assert mean == 250


def test_alternatives_do_not_overlap_the_choice():
    series = hourly([300, 100, 300, 120, 300, 110, 300, 400])
    scan = scan_windows(series, T0, T0 + timedelta(hours=7), timedelta(hours=1))
    best = scan.starts[scan.best_index()]
    alternatives = scan.alternatives(exclude=best)
    assert [round(m) for _, m in alternatives][:2] == [110, 120]
    assert all(abs(s - best) >= 3600 for s, _ in alternatives)


def test_year_of_five_minute_data_is_linear_enough():
    n = 105_120
    series = IntensitySeries(
        starts=tuple(T0.timestamp() + 300 * i for i in range(n)),
        ends=tuple(T0.timestamp() + 300 * (i + 1) for i in range(n)),
        values=tuple(float((i * 7919) % 500) for i in range(n)),
        signal="marginal",
        provider="t",
        region="r",
        basis="forecast",
    )
    scan = scan_windows(series, T0, T0 + timedelta(days=360), timedelta(hours=3))
    assert len(scan.starts) <= 2 * n + 2
