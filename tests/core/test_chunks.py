"""Interruptible jobs: exact cleanest slots, chunk limits always honoured, receipts sum chunks."""

from __future__ import annotations

from datetime import timedelta
from itertools import combinations, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanshift_core import (
    BadSeriesError,
    ChunkPlan,
    ConfigurationError,
    JobSpec,
    Plan,
    build_receipt,
    decide_chunks,
    plans_per_chunk,
)

from .conftest import T0, hourly

VALUES = [300, 100, 280, 90, 95, 310, 120, 400, 80, 290]


def job(hours: float, span_hours: float = 10) -> JobSpec:
    return JobSpec.create(
        duration=hours, earliest_start=T0, finish_by=T0 + timedelta(hours=span_hours)
    )


def test_unconstrained_takes_exactly_the_cleanest_slots():
    plan = decide_chunks(hourly(VALUES), job(4), T0)
    best = min(combinations(range(len(VALUES)), 4), key=lambda c: sum(VALUES[i] for i in c))
    assert plan.method == "exact"
    assert plan.expected_intensity == pytest.approx(sum(VALUES[i] for i in best) / 4)
    assert [(c.start, c.end) for c in plan.chunks] == [
        (T0 + timedelta(hours=1), T0 + timedelta(hours=2)),
        (T0 + timedelta(hours=3), T0 + timedelta(hours=5)),
        (T0 + timedelta(hours=8), T0 + timedelta(hours=9)),
    ]
    assert plan.immediate_intensity == pytest.approx(sum(VALUES[:4]) / 4)
    assert plan.expected_savings_pct > 0
    assert plan.contiguous_intensity == pytest.approx((100 + 280 + 90 + 95) / 4)
    assert plan.contiguous_start == T0 + timedelta(hours=1)


def test_fractional_durations_use_part_of_the_marginal_slot():
    plan = decide_chunks(hourly(VALUES), job(2.5), T0)
    total = sum((c.end - c.start).total_seconds() for c in plan.chunks)
    assert total == pytest.approx(2.5 * 3600)
    assert plan.expected_intensity == pytest.approx((80 + 90 + 0.5 * 95) / 2.5)


def test_chunk_plan_round_trips_and_maps_to_one_plan_per_chunk():
    plan = decide_chunks(hourly(VALUES), job(4), T0)
    assert ChunkPlan.model_validate_json(plan.model_dump_json()) == plan
    plans = plans_per_chunk(plan)
    assert len(plans) == len(plan.chunks)
    for p, c in zip(plans, plan.chunks):
        assert isinstance(p, Plan) and p.start == c.start and p.end == c.end
        assert p.expected_intensity == pytest.approx(c.intensity)
        assert p.earliest_start == T0 and Plan.model_validate_json(p.model_dump_json()) == p


def test_receipt_sums_every_chunk():
    series = hourly(VALUES, basis="measured")
    plan = decide_chunks(series, job(4), T0)
    receipt = build_receipt(plan.as_plan(), plan.run_intervals, [series], power_kw=2.0)
    assert receipt.duration_seconds == pytest.approx(4 * 3600)
    assert receipt.avg_intensity_gco2_per_kwh == pytest.approx((100 + 90 + 95 + 80) / 4)
    assert receipt.counterfactual_avg_intensity == pytest.approx(sum(VALUES[:4]) / 4)
    assert receipt.emitted_g == pytest.approx(2.0 * 4 * (100 + 90 + 95 + 80) / 4)
    assert (
        receipt.run_intervals[0][0] == plan.chunks[0].start
        and receipt.finished_at == plan.chunks[-1].end
    )
    assert not receipt.is_estimate or receipt.energy_measured is False


def brute_force(values: list[float], slots: int, min_slots: int, max_chunks: int | None) -> float:
    """Cleanest mean over every choice of whole slots that meets the limits."""
    best = float("inf")
    for combo in combinations(range(len(values)), slots):
        runs, length = [], 0
        for i, slot in enumerate(combo):
            if i and slot == combo[i - 1] + 1:
                length += 1
            else:
                if length:
                    runs.append(length)
                length = 1
        runs.append(length)
        if min(runs) >= min_slots and (max_chunks is None or len(runs) <= max_chunks):
            best = min(best, sum(values[i] for i in combo) / slots)
    return best


@pytest.mark.parametrize(
    "min_chunk, max_chunks", [("2h", None), (None, 1), (None, 2), ("2h", 2), ("3h", None)]
)
def test_limits_on_a_slot_grid_are_solved_exactly(min_chunk, max_chunks):
    plan = decide_chunks(hourly(VALUES), job(4), T0, min_chunk=min_chunk, max_chunks=max_chunks)
    _check_limits(plan, 4 * 3600, min_chunk and plan.min_chunk_seconds, max_chunks)
    assert plan.method == "exact"
    min_slots = int(plan.min_chunk_seconds // 3600) if min_chunk else 1
    assert plan.expected_intensity == pytest.approx(brute_force(VALUES, 4, min_slots, max_chunks))


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(min_value=1, max_value=50), min_size=3, max_size=11),
    slots=st.integers(min_value=1, max_value=5),
    min_slots=st.integers(min_value=1, max_value=3),
    max_chunks=st.one_of(st.none(), st.integers(min_value=1, max_value=3)),
)
def test_the_grid_optimum_matches_brute_force(values, slots, min_slots, max_chunks):
    slots = min(slots, len(values))
    min_slots = min(min_slots, slots)
    plan = decide_chunks(
        hourly(values),
        job(slots, len(values)),
        T0,
        min_chunk=f"{min_slots}h",
        max_chunks=max_chunks,
    )
    assert plan.expected_intensity == pytest.approx(
        brute_force(values, slots, min_slots, max_chunks)
    )


def test_off_grid_limits_use_the_heuristic_and_never_lose_to_one_window():
    plan = decide_chunks(hourly(VALUES), job(3.5), T0, min_chunk="75m", max_chunks=2)
    assert plan.method in {"heuristic", "contiguous"}
    _check_limits(plan, 3.5 * 3600, 75 * 60, 2)


def _check_limits(plan: ChunkPlan, duration: float, min_len, max_chunks) -> None:
    spans = [(c.start, c.end) for c in plan.chunks]
    assert sum((b - a).total_seconds() for a, b in spans) == pytest.approx(duration, abs=1e-3)
    assert all(b2 > a2 >= b1 for (a1, b1), (a2, b2) in pairwise(spans))  # disjoint, sorted
    assert spans[0][0] >= plan.earliest_start and spans[-1][1] <= plan.finish_by
    if min_len:
        assert all((b - a).total_seconds() >= min_len - 1e-3 for a, b in spans)
    if max_chunks:
        assert len(spans) <= max_chunks
    assert plan.expected_intensity <= plan.contiguous_intensity + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(min_value=1, max_value=500), min_size=4, max_size=30),
    fraction=st.floats(min_value=0.05, max_value=1.0),
    min_fraction=st.one_of(st.none(), st.floats(min_value=0.05, max_value=1.0)),
    max_chunks=st.one_of(st.none(), st.integers(min_value=1, max_value=5)),
)
def test_any_limits_are_always_satisfied(values, fraction, min_fraction, max_chunks):
    span = len(values)
    duration = round(max(fraction * span, 0.25), 2)
    min_chunk = timedelta(hours=duration * min_fraction) if min_fraction else None
    unconstrained = decide_chunks(hourly(values), job(duration, span), T0)
    plan = decide_chunks(
        hourly(values), job(duration, span), T0, min_chunk=min_chunk, max_chunks=max_chunks
    )
    _check_limits(plan, duration * 3600, min_chunk and min_chunk.total_seconds(), max_chunks)
    assert plan.expected_intensity >= unconstrained.expected_intensity - 1e-9


def test_bad_limits_and_short_data_are_refused():
    with pytest.raises(ConfigurationError, match="min_chunk"):
        decide_chunks(hourly(VALUES), job(2), T0, min_chunk="3h")
    with pytest.raises(ConfigurationError, match="max_chunks"):
        decide_chunks(hourly(VALUES), job(2), T0, max_chunks=0)
    with pytest.raises(BadSeriesError, match="less than the job"):
        decide_chunks(hourly(VALUES[:3]), job(4), T0)
