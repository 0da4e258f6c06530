"""Series validation: bad input is refused with a clear message or repaired explicitly."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from cleanshift_core import BadSeriesError, IntensityPoint, IntensitySeries

from .conftest import T0, hourly

H = timedelta(hours=1)


def build(points, **kw):
    return IntensitySeries.from_points(
        points, signal="average/lifecycle", provider="t", region="r", **kw
    )


@pytest.mark.parametrize(
    "points, message",
    [
        ([IntensityPoint(T0, H, math.nan)], "non-finite"),
        ([IntensityPoint(T0, H, -1.0)], "negative"),
        ([IntensityPoint(T0, timedelta(0), 1.0)], "non-positive duration"),
        ([IntensityPoint(datetime(2026, 1, 1), H, 1.0)], "naive"),
        ([IntensityPoint(T0 + H, H, 1.0), IntensityPoint(T0, H, 2.0)], "not sorted"),
        ([IntensityPoint(T0, H, 1.0), IntensityPoint(T0, H, 2.0)], "two intensity points start"),
        ([IntensityPoint(T0, 2 * H, 1.0), IntensityPoint(T0 + H, H, 2.0)], "overlaps"),
        ([IntensityPoint(T0, H, 1.0), IntensityPoint(T0 + 2 * H, H, 2.0)], "gap"),
    ],
)
def test_bad_input_is_refused_with_a_reason(points, message):
    with pytest.raises(BadSeriesError, match=message):
        build(points)


def test_repair_is_explicit_and_listed():
    series = build(
        [
            IntensityPoint(T0 + H, H, 2.0),
            IntensityPoint(T0, H, 1.0),
            IntensityPoint(T0 + H, H, 3.0),  # revised value for 01:00 wins
            IntensityPoint(T0 + 3 * H, H, 4.0),  # one-hour gap: held
        ],
        repair=True,
    )
    assert series.values == (1.0, 3.0, 4.0)
    assert series.ends[1] == series.starts[2]
    assert any("sorted" in r for r in series.repairs)
    assert any("duplicate" in r for r in series.repairs)
    assert any("gap" in r for r in series.repairs)


def test_long_gaps_are_never_bridged():
    with pytest.raises(BadSeriesError, match="not bridged"):
        build([IntensityPoint(T0, H, 1.0), IntensityPoint(T0 + 5 * H, H, 2.0)], repair=True)


def test_nan_is_refused_even_with_repair():
    with pytest.raises(BadSeriesError, match="non-finite"):
        build([IntensityPoint(T0, H, math.inf)], repair=True)


def test_mean_over_weights_time_and_reports_coverage():
    series = hourly([100, 200])
    mean, coverage = series.mean_over([(T0 + timedelta(minutes=30), T0 + timedelta(minutes=150))])
    assert mean == pytest.approx((30 * 100 + 60 * 200) / 90)
    assert coverage == pytest.approx(90 / 120)


def test_between_and_value_at():
    series = hourly([1, 2, 3, 4])
    part = series.between(T0 + timedelta(minutes=90), T0 + timedelta(minutes=150))
    assert part.values == (2, 3)
    assert series.value_at(T0 + timedelta(minutes=125)) == 3
    assert series.value_at(T0 - H) is None
