"""Receipts integrate the real run and the counterfactual on one series and say how."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cleanshift_core import CarbonReceipt, JobSpec, SchedulingRules, build_receipt, decide

from .conftest import T0, hourly

CURVE = [400, 400, 100, 100, 300, 300]


def plan():
    return decide(hourly(CURVE), JobSpec.create("1h", "4h"), SchedulingRules(), T0)


def test_counterfactual_is_the_window_at_scheduled_time_over_the_real_duration():
    p = plan()
    run = [
        (T0 + timedelta(hours=2), T0 + timedelta(minutes=210))
    ]  # ran 90 min, longer than planned
    receipt = build_receipt(p, run, [hourly(CURVE, basis="measured")], power_kw=2.0)
    assert receipt.avg_intensity_gco2_per_kwh == pytest.approx(100)
    assert receipt.counterfactual_avg_intensity == pytest.approx(400)  # 00:00–01:30
    assert receipt.estimated_savings_pct == pytest.approx(75)
    assert receipt.energy_kwh == pytest.approx(3.0)
    assert receipt.emitted_g == pytest.approx(300)
    assert receipt.avoided_g == pytest.approx(900)
    assert receipt.intensity_basis == receipt.counterfactual_basis == "measured"
    assert receipt.is_estimate  # energy from nominal power is an estimate
    assert receipt.delay_seconds == 7200


def test_measured_history_is_preferred_and_forecast_is_flagged():
    p = plan()
    run = [(T0 + timedelta(hours=2), T0 + timedelta(hours=3))]
    measured = hourly([380, 380, 110, 110, 300, 300], basis="measured")
    receipt = build_receipt(p, run, [measured, p.forecast_series()], energy_kwh=1.0)
    assert receipt.intensity_basis == "measured" and receipt.avg_intensity_gco2_per_kwh == 110
    assert not receipt.is_estimate and receipt.energy_measured
    from_forecast = build_receipt(p, run, [None, p.forecast_series()])
    assert from_forecast.intensity_basis == "forecast" and from_forecast.is_estimate


def test_paused_runs_count_only_running_time():
    p = plan()
    run = [
        (T0 + timedelta(hours=2), T0 + timedelta(minutes=150)),
        (T0 + timedelta(hours=4), T0 + timedelta(minutes=270)),
    ]
    receipt = build_receipt(p, run, [hourly(CURVE, basis="measured")])
    assert receipt.duration_seconds == 3600
    assert receipt.avg_intensity_gco2_per_kwh == pytest.approx(200)  # 30 min at 100, 30 at 300
    assert receipt.counterfactual_avg_intensity == pytest.approx(400)


def test_partial_coverage_is_reported_not_hidden():
    p = plan()
    run = [(T0 + timedelta(hours=5), T0 + timedelta(hours=7))]  # data ends at 06:00
    receipt = build_receipt(p, run, [hourly(CURVE, basis="measured")])
    assert receipt.coverage_pct == pytest.approx(50)
    assert receipt.is_estimate


def test_receipt_round_trips_and_keeps_seed_fields():
    p = plan()
    receipt = build_receipt(
        p, [(T0 + timedelta(hours=2), T0 + timedelta(hours=3))], [p.forecast_series()]
    )
    data = receipt.model_dump(mode="json")
    for field in (
        "scheduled_at",
        "ran_at",
        "delay_seconds",
        "duration_seconds",
        "avg_intensity_gco2_per_kwh",
        "counterfactual_avg_intensity",
        "estimated_savings_pct",
        "region",
        "provider",
    ):
        assert field in data
    assert CarbonReceipt.model_validate_json(receipt.model_dump_json()) == receipt
