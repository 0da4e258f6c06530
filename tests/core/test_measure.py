"""Measured energy: CodeCarbon offline around the gated work, on this machine's real CPU."""

from __future__ import annotations

import importlib.util
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from cleanshift_core import CarbonReceipt, ConfigurationError, MockProvider, carbon_window
from cleanshift_core.measure import EnergyMeter, EnergySource

needs_codecarbon = pytest.mark.skipif(
    importlib.util.find_spec("codecarbon") is None, reason="needs the [measure] extra"
)


def busy(seconds: float) -> int:
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += 1
    return n


def now_mock() -> MockProvider:
    return MockProvider(anchor=datetime.now(timezone.utc), anchor_hour=3)


@needs_codecarbon
def test_measured_busy_loop_names_the_method_and_splits_the_energy():
    with carbon_window(
        provider=now_mock(),
        duration="2s",
        max_delay="0s",
        energy="measured",
        sci_functional_unit=("rows", 1e6),
    ) as window:
        busy(1.2)
    receipt = window.receipt
    assert receipt is not None
    assert receipt.energy_source == "measured" and receipt.energy_measured
    assert receipt.energy_kwh is not None and receipt.energy_kwh > 0
    assert receipt.energy_cpu_kwh is not None and receipt.energy_cpu_kwh > 0
    parts = receipt.energy_cpu_kwh + receipt.energy_gpu_kwh + receipt.energy_ram_kwh
    assert parts == pytest.approx(receipt.energy_kwh, rel=1e-6)
    assert receipt.energy_method and receipt.energy_method != "unknown method"
    assert receipt.emitted_g == pytest.approx(
        receipt.energy_kwh * receipt.avg_intensity_gco2_per_kwh
    )
    assert receipt.sci_signal == receipt.signal
    assert receipt.sci_g_per_unit == pytest.approx(receipt.emitted_g / 1e6)
    again = CarbonReceipt.model_validate_json(receipt.model_dump_json())
    assert again == receipt


@needs_codecarbon
def test_a_failing_measurement_never_fails_the_job(monkeypatch):
    import codecarbon

    def broken(*args, **kwargs):
        raise RuntimeError("no sensors")

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", broken)
    with carbon_window(
        provider=now_mock(), duration="1s", max_delay="0s", energy="measured", power_kw=0.5
    ) as window:
        pass
    assert window.receipt is not None
    assert window.receipt.energy_source == "nominal"  # falls back to power_kw
    assert "no sensors" in window.receipt.energy_note
    meter = EnergyMeter()
    meter.start()
    reading = meter.stop()
    assert reading.source is EnergySource.UNKNOWN and "no sensors" in reading.note


def test_measured_without_the_extra_fails_at_construction_in_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "codecarbon" else real(name)
    )
    with pytest.raises(ConfigurationError, match=r"pip install 'cleanshift-suite\[measure\]'"):
        carbon_window(energy="measured")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"energy": "joules"},
        {"sci_functional_unit": ("rows", 0)},
        {"sci_functional_unit": "rows"},
    ],
)
def test_bad_energy_arguments_say_what_to_change(kwargs):
    with pytest.raises(ConfigurationError):
        carbon_window(**kwargs)


def test_receipt_written_by_an_older_version_still_loads():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    old = {
        "scheduled_at": t0.isoformat(),
        "ran_at": t0.isoformat(),
        "delay_seconds": 0.0,
        "duration_seconds": 3600.0,
        "avg_intensity_gco2_per_kwh": 100.0,
        "counterfactual_avg_intensity": 200.0,
        "region": "GB",
        "provider": "mock",
        "planned_start": t0.isoformat(),
        "finished_at": (t0 + timedelta(hours=1)).isoformat(),
        "run_intervals": [[t0.isoformat(), (t0 + timedelta(hours=1)).isoformat()]],
        "signal": "average/lifecycle",
        "intensity_basis": "measured",
        "counterfactual_basis": "measured",
        "coverage_pct": 100.0,
        "policy": "min_carbon",
        "reason": "cleanest window",
        "power_kw": 2.0,
        "energy_kwh": 2.0,
        "energy_measured": False,
        "emitted_g": 200.0,
        "counterfactual_g": 400.0,
        "avoided_g": 200.0,
        "is_estimate": True,
        "estimated_savings_pct": 50.0,
    }
    receipt = CarbonReceipt.model_validate_json(json.dumps(old))
    assert receipt.energy_source == "nominal" and not receipt.energy_measured
    given = CarbonReceipt.model_validate({**old, "power_kw": None, "energy_measured": True})
    assert given.energy_source == "given" and given.energy_measured
