"""Bounded plans: the forecast excerpt, old plans still loading, and the shared series work."""

from __future__ import annotations

import itertools
import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanshift_core import (
    IntensityPoint,
    IntensitySeries,
    JobSpec,
    Plan,
    SchedulingRules,
    build_receipt,
)
from cleanshift_core.plan import MAX_FORECAST_INTERVALS, forecast_excerpt
from cleanshift_core.policies import decide
from cleanshift_core.series import _checked_columns, _well_formed_columns

from .conftest import T0

FIXTURE = Path(__file__).parent / "fixtures" / "plan_0_2_0.json"
FIVE = timedelta(minutes=5)


def five_minute(days: float, start: datetime = T0) -> IntensitySeries:
    n = int(days * 288)
    values = [
        300 + 150 * math.sin(i / 37.0) + 40 * math.sin(i / 5.3) + (i * 7919) % 23 for i in range(n)
    ]
    return IntensitySeries.from_points(
        [IntensityPoint(start + i * FIVE, FIVE, v) for i, v in enumerate(values)],
        signal="average/lifecycle",
        provider="t",
        region="r",
    )


@pytest.mark.parametrize("days", [7, 365])
def test_a_plan_stays_under_16_kib_whatever_the_forecast_length(days):
    series = five_minute(days)
    job = JobSpec(duration=timedelta(hours=4), earliest_start=T0, finish_by=series.end)
    plan = decide(series, job, SchedulingRules(), T0)
    assert len(plan.model_dump_json()) <= 16 * 1024
    assert plan.forecast_downsampled and len(plan.forecast) <= MAX_FORECAST_INTERVALS
    assert Plan.model_validate_json(plan.model_dump_json()) == plan
    assert plan.forecast_series() is None  # an excerpt is for charts, never for receipts


def test_the_excerpt_keeps_every_bucket_extreme_contiguous_and_in_place():
    series = five_minute(30)
    start, end = T0 + timedelta(hours=5), T0 + timedelta(days=29)
    excerpt, downsampled = forecast_excerpt(series, start, end)
    part = series.between(start, end)
    assert downsampled and len(excerpt) <= MAX_FORECAST_INTERVALS
    assert excerpt[0].start == part.start and excerpt[-1].end == part.end
    assert all(a.end == b.start for a, b in itertools.pairwise(excerpt))
    values = [i.intensity for i in excerpt]
    assert min(values) == min(part.values) and max(values) == max(part.values)
    # every excerpt value is a real point's value, drawn over a span that contains that point
    for interval in excerpt:
        inside = series.between(interval.start, interval.end)
        assert interval.intensity in inside.values


def test_a_short_forecast_is_kept_point_for_point():
    series = five_minute(0.25)  # 72 points
    excerpt, downsampled = forecast_excerpt(series, series.start, series.end)
    assert not downsampled
    assert [(i.start, i.end, i.intensity) for i in excerpt] == [
        (p.start, p.end, p.value) for p in series.points
    ]


def test_a_plan_stored_by_cleanshift_0_2_0_still_loads_and_settles():
    stored = FIXTURE.read_text()
    plan = Plan.model_validate_json(stored)
    assert plan.forecast_downsampled is False
    assert json.loads(plan.model_dump_json())["forecast"] == json.loads(stored)["forecast"]
    series = plan.forecast_series()
    assert series is not None and len(series) == len(plan.forecast)
    receipt = build_receipt(plan, [(plan.start, plan.end)], [None, series])
    assert receipt.avg_intensity_gco2_per_kwh == pytest.approx(plan.expected_intensity)
    assert receipt.counterfactual_avg_intensity == pytest.approx(plan.immediate_intensity)


def test_a_slice_shares_its_parents_running_integral():
    series = five_minute(3)
    part = series.between(T0 + timedelta(hours=7), T0 + timedelta(hours=50))
    assert np.shares_memory(part.integral.prefix, series.integral.prefix)
    assert np.shares_memory(part.integral.bounds, series.integral.bounds)
    fresh = IntensitySeries(
        starts=part.starts,
        ends=part.ends,
        values=part.values,
        signal=part.signal,
        provider=part.provider,
        region=part.region,
        basis=part.basis,
    )
    t = np.array([part.starts[0] + 17.5, part.starts[100] + 299.0, part.ends[-1]])
    shared = part.integral.at(t) - part.integral.at(np.full(3, part.starts[0]))
    own = fresh.integral.at(t) - fresh.integral.at(np.full(3, part.starts[0]))
    assert shared == pytest.approx(own, rel=1e-12)


point_lists = st.lists(
    st.tuples(
        st.sampled_from([60, 300, 900, 1800, 3600]),
        st.one_of(
            st.integers(min_value=0, max_value=2000),
            st.floats(min_value=0, max_value=2000, allow_nan=False),
        ),
        st.integers(min_value=-3, max_value=3),  # microseconds of jitter at each boundary
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(point_lists)
def test_the_fast_path_gives_the_checked_paths_columns(spec):
    points, t = [], datetime(2026, 3, 2, tzinfo=timezone.utc)
    for seconds, value, jitter in spec:
        points.append(
            IntensityPoint(t + timedelta(microseconds=jitter), timedelta(seconds=seconds), value)
        )
        t += timedelta(seconds=seconds)
    fast = _well_formed_columns(points)
    assert fast is not None
    bounds, array, values = fast
    assert array.tolist() == values
    columns = [bounds[:-1].tolist(), bounds[1:].tolist(), values]
    assert columns == list(_checked_columns(points, repair=False, max_gap=None)[:3])


@pytest.mark.parametrize(
    "odd",
    [
        IntensityPoint(T0 + FIVE, FIVE, True),  # a bool is not an intensity
        IntensityPoint(T0.replace(tzinfo=None) + FIVE, FIVE, 1.0),  # naive
        IntensityPoint(T0 + FIVE, FIVE, np.float64(3.0)),  # accepted, by the checked path
    ],
)
def test_anything_unusual_takes_the_checked_path(odd):
    assert _well_formed_columns([IntensityPoint(T0, FIVE, 1.0), odd]) is None
