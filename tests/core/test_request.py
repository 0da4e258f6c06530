"""The request types: one declaration of every window, chunk and energy argument."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest

from cleanshift_core import (
    ChunkRequest,
    ConfigurationError,
    EnergyRequest,
    MockProvider,
    WindowRequest,
    plan_request,
)

from .conftest import T0, FakeClock


def test_a_window_request_round_trips_through_plain_kwargs():
    request = WindowRequest.create(
        provider={"kind": "mock"},
        duration="2h",
        max_delay="8h",
        finish_by="2026-03-02T00:00:00Z",
        policy="threshold",
        max_intensity=250,
        min_savings_pct=5,
        on_provider_error="fail",
        replan_interval="15m",
    )
    kwargs = request.to_kwargs()
    assert kwargs == {
        "provider": {"kind": "mock"},
        "duration": 7200.0,
        "max_delay": 28800.0,
        "finish_by": "2026-03-02T00:00:00+00:00",
        "policy": "threshold",
        "max_intensity": 250,
        "min_savings_pct": 5,
        "on_provider_error": "fail",
        "replan_interval": 900.0,
    }
    assert WindowRequest.from_kwargs(kwargs) == request


def test_only_a_templated_request_keeps_a_jinja_finish_by():
    template = "{{ data_interval_end.isoformat() }}"
    request = WindowRequest.create(duration="1h", finish_by=template, templated=True)
    assert request.finish_by == template and request.job.finish_by is None
    assert request.job_for((T0 + timedelta(hours=5)).isoformat()).finish_by == T0 + timedelta(
        hours=5
    )
    with pytest.raises(ConfigurationError, match="not an ISO-8601 datetime"):
        WindowRequest.create(duration="1h", finish_by=template)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: WindowRequest.create(duration="0s"), "duration must be positive"),
        (lambda: WindowRequest.create(duration="1h", policy="x"), "unknown policy 'x'"),
        (
            lambda: WindowRequest.create(duration="1h", replan_interval="0s"),
            "replan_interval must be positive",
        ),
        (lambda: ChunkRequest.create(timedelta(hours=1), "2h"), "min_chunk must be positive"),
        (lambda: ChunkRequest.create(timedelta(hours=1), None, 0), "max_chunks must be a whole"),
        (lambda: EnergyRequest(power_kw=True), "power_kw must be a positive number of kilowatts"),
        (lambda: EnergyRequest(power_kw=float("nan")), "power_kw must be a positive number"),
        (lambda: EnergyRequest(energy_kwh=-1), "energy_kwh must be a positive number"),
    ],
)
def test_every_argument_fails_at_construction_with_a_fix(build, message):
    with pytest.raises(ConfigurationError, match=message):
        build()


def test_chunk_and_energy_requests_keep_valid_values():
    chunks = ChunkRequest.create(timedelta(hours=6), "1h", 4)
    assert chunks == ChunkRequest(timedelta(hours=1), 4)
    assert EnergyRequest(3.5).to_kwargs() == {"power_kw": 3.5, "energy_kwh": None}


async def test_plan_request_plans_one_provider_or_chooses_a_location():
    clock = FakeClock(T0)
    job = WindowRequest.create(duration="1h", max_delay="6h").job
    rules = WindowRequest.create(duration="1h").rules
    single = await plan_request(MockProvider(clock=clock), job, rules, clock)
    assert single.location is None
    chosen = await plan_request(
        None,
        job,
        rules,
        clock,
        locations={
            "dirty": MockProvider(base_intensity=500, amplitude=50, clock=clock),
            "clean": MockProvider(base_intensity=200, amplitude=50, clock=clock),
        },
    )
    assert chosen.location == "clean"


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("cleanshift_core", "plan_chunks", "decide_chunks"),
        ("cleanshift_core", "chunk_plans", "plans_per_chunk"),
        ("cleanshift_core", "plan_batch", "decide_batch"),
        ("cleanshift_core.chunks", "plan_chunks", "decide_chunks"),
        ("cleanshift_core.batch", "plan_batch", "decide_batch"),
    ],
)
def test_renamed_names_still_work_for_one_release_and_warn(module, old, new):
    namespace = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=f"{old} is renamed {new}"):
        assert getattr(namespace, old) is getattr(namespace, new)
    with pytest.raises(AttributeError):
        namespace.no_such_name  # noqa: B018
