"""cleanshift 0.1's documented API keeps working, with real (short) waits."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timezone

import pytest

from cleanshift_core import (
    ConfigurationError,
    JobSkipped,
    MockProvider,
    carbon_window,
    find_cleanest_window,
)


def fast_mock(hour: float = 15, speedup: float = 3600.0) -> MockProvider:
    """A day passes in 24 s; the curve starts at ``hour`` (15 = peak, trough 12 s later)."""
    return MockProvider(speedup=speedup, anchor=datetime.now(timezone.utc), anchor_hour=hour)


def test_find_cleanest_window_is_the_trough():
    start = find_cleanest_window(MockProvider(), duration_hours=2, max_delay_hours=24)
    assert start.tzinfo is not None and start.hour in (
        2,
        3,
    )  # 02:00–04:00 straddles the 03:00 trough


def test_context_manager_waits_for_the_window_and_leaves_a_receipt():
    provider = fast_mock(hour=21)  # trough (03:00) is 6 curve-hours = 6 s away
    began = time.monotonic()
    with carbon_window(provider=provider, duration="1s", max_delay="10s") as window:
        waited = time.monotonic() - began
        time.sleep(0.2)
    assert 4 < waited < 9
    receipt = window.receipt
    assert receipt.delay_seconds == pytest.approx(waited, abs=0.5)
    assert receipt.avg_intensity_gco2_per_kwh < receipt.counterfactual_avg_intensity
    assert receipt.estimated_savings_pct > 30
    assert receipt.intensity_basis == "measured"


def test_decorator_sync_records_last_receipt():
    @carbon_window(provider=fast_mock(hour=2.5), duration="1s", max_delay="3s")
    def job(x):
        return x * 2

    assert job(21) == 42
    assert job.last_receipt is not None and job.last_receipt.provider == "mock"


async def test_async_decorator_and_async_context_manager_do_not_block_the_loop():
    @carbon_window(provider=fast_mock(hour=0), duration="1s", max_delay="5s")
    async def job():
        return "done"

    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.05)

    ticking = asyncio.create_task(ticker())
    assert await job() == "done"
    async with carbon_window(provider=fast_mock(hour=0), duration="1s", max_delay="3s") as window:
        pass
    ticking.cancel()
    assert ticks > 20  # the loop kept running while both waited
    assert job.last_receipt and window.receipt


def test_threshold_seed_spelling_and_now_or_never():
    window = carbon_window(
        provider=fast_mock(hour=15),
        duration="1s",
        max_delay="12s",
        policy="threshold",
        max_intensity_gco2_per_kwh=200,
    )
    with window:
        pass
    assert window.plan.expected_intensity == pytest.approx(200, abs=1)
    with (
        pytest.raises(JobSkipped),
        carbon_window(
            provider=fast_mock(hour=15),
            duration="1s",
            policy="now_or_never",
            max_intensity_gco2_per_kwh=200,
        ),
    ):
        pytest.fail("must not run")


@pytest.mark.skipif(os.name != "posix", reason="SIGSTOP/SIGCONT")
def test_halt_if_dirty_pauses_the_child_not_the_caller():
    # A curve-day lasts 12 s; starting at 10:00 the curve is above 400 from 11:48 to 18:12,
    # i.e. from ~0.9 s to ~4.1 s after the start: the job must be frozen in between.
    provider = fast_mock(hour=10, speedup=7200.0)

    @carbon_window(
        provider=provider,
        duration="3s",
        max_delay="0s",
        policy="halt_if_dirty",
        max_intensity_gco2_per_kwh=400,
        poll_interval_seconds=0.1,
    )
    def work(seconds):
        deadline = time.process_time() + seconds  # CPU time does not advance while stopped
        while time.process_time() < deadline:
            pass
        return os.getpid()

    began = time.monotonic()
    child_pid = work(2.0)
    elapsed = time.monotonic() - began
    receipt = work.last_receipt
    assert child_pid != os.getpid()
    assert len(receipt.run_intervals) >= 2  # it was paused at least once
    assert elapsed > receipt.duration_seconds + 2  # paused time is not running time
    assert receipt.avg_intensity_gco2_per_kwh < 400  # it ran only while clean


def test_halt_if_dirty_refuses_a_with_block():
    with (
        pytest.raises(ConfigurationError, match="decorate a function"),
        carbon_window(policy="halt_if_dirty", max_intensity_gco2_per_kwh=100),
    ):
        pass


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_delay_hours": 1, "max_delay": "1h"}, "not both"),
        ({"power_kw": -1}, "power_kw"),
        ({"policy": "threshold"}, "needs max_intensity"),
        ({"provider": "nonexistent"}, "unknown provider"),
        ({"finish_by": datetime(2030, 1, 1)}, "naive"),
    ],
)
def test_bad_arguments_fail_when_the_window_is_made(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        carbon_window(**kwargs)
