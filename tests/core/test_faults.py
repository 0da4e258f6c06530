"""Provider faults while planning and while waiting, through a real provider client.

The real UK Carbon Intensity client talks over a real socket to a local API
(:mod:`tests.fault_server`) that is down, slow, rate-limiting (429 + Retry-After) or answers
garbage. Time is an injected clock: retry back-offs and waits advance it instead of passing.
Every case checks the documented ``on_provider_error`` outcome, that no wait (and no retry
sleep) ever ends after the job's latest start, and what the receipt says about why.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from cleanshift_core import (
    JobSpec,
    ProviderError,
    SchedulingRules,
    plan_job,
    settle_receipt,
    wait_for_window,
)
from cleanshift_core.errors import BadDataError, ProviderUnavailableError, RateLimitedError
from cleanshift_core.providers import RetryPolicy, UKCarbonIntensityProvider

from ..fault_server import FaultyGridServer, closed_port_url
from .conftest import T0, FakeClock

TROUGH = T0 + timedelta(hours=4)
JOB = JobSpec.create(duration="30m", max_delay="8h")


def grid(t: datetime) -> float:
    """300 gCO2eq/kWh, except 100 for the half-hour starting at TROUGH."""
    return 100.0 if t == TROUGH else 300.0


class Watch(FakeClock):
    """The fake clock, remembering the latest time it ever showed (to catch overshoots)."""

    def __init__(self) -> None:
        super().__init__(T0)
        self.latest = T0

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self.latest = max(self.latest, self.current)


@pytest.fixture
def server():
    with FaultyGridServer(T0 - timedelta(hours=2), grid) as running:
        yield running


def client(url: str, clock: Watch, timeout: float = 0.1) -> UKCarbonIntensityProvider:
    retry = RetryPolicy(attempts=2, initial_backoff=5, jitter=0, budget=600, sleep=clock.sleep)
    return UKCarbonIntensityProvider(base_url=url, timeout=timeout, retry=retry, clock=clock)


#: fault → (set it up, the typed error it must surface as)
FAULTS = {
    "down": (None, ProviderUnavailableError),
    "slow": ("slow", ProviderUnavailableError),
    "rate_limited": ("rate_limited", RateLimitedError),
    "error_500": ("error_500", ProviderUnavailableError),
    "garbage_html": ("garbage_html", BadDataError),
    "garbage_json": ("garbage_json", BadDataError),
}


def faulty(fault: str, server: FaultyGridServer, clock: Watch) -> UKCarbonIntensityProvider:
    mode, _ = FAULTS[fault]
    if mode is None:
        return client(closed_port_url(), clock)
    server.mode, server.delay, server.retry_after = mode, 0.3, "20"
    return client(server.url, clock)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("mode", ["run_now", "wait_until_deadline"])
async def test_fault_while_planning_follows_on_provider_error(fault, mode, server, caplog):
    clock = Watch()
    provider = faulty(fault, server, clock)
    rules = SchedulingRules(on_provider_error=mode)
    caplog.set_level(logging.WARNING, "cleanshift_core")

    plan = await plan_job(provider, JOB, rules, clock)

    earliest, latest = T0, T0 + timedelta(hours=8)
    assert plan.start == (earliest if mode == "run_now" else latest)
    assert plan.expected_intensity is None and plan.forecast == []
    error = FAULTS[fault][1].__name__
    assert (
        f"provider error ({error}:" in plan.reason and f"on_provider_error='{mode}'" in plan.reason
    )
    assert "planning without data" in caplog.text
    assert clock.latest <= latest  # retry back-offs never slept past the latest start
    planned = clock.now()

    final = await wait_for_window(
        provider, plan, rules, replan_interval=timedelta(hours=3), clock=clock, sleep=clock.sleep
    )
    assert final == plan and clock.now() == max(plan.start, planned) and clock.latest <= latest

    ran = clock.now()
    receipt = await settle_receipt(provider, final, [(ran, ran + JOB.duration)])
    assert receipt.reason == plan.reason and error in receipt.reason
    assert receipt.avg_intensity_gco2_per_kwh is None and receipt.intensity_basis is None
    assert receipt.is_estimate and receipt.coverage_pct == 0


@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_while_planning_with_fail_raises_the_typed_error(fault, server):
    clock = Watch()
    provider = faulty(fault, server, clock)
    with pytest.raises(FAULTS[fault][1]) as caught:
        await plan_job(provider, JOB, SchedulingRules(on_provider_error="fail"), clock)
    assert str(caught.value) and "Traceback" not in str(caught.value)
    assert clock.latest <= T0 + timedelta(hours=8)


@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_while_waiting_keeps_the_plan_and_never_waits_past_it(fault, server, caplog):
    clock = Watch()
    provider = client(server.url, clock)
    rules = SchedulingRules(on_provider_error="fail")  # waiting faults never fail the job
    plan = await plan_job(provider, JOB, rules, clock)
    assert plan.start == TROUGH and plan.expected_intensity == 100

    provider = faulty(fault, server, clock)  # the API breaks after the plan is made
    caplog.set_level(logging.WARNING, "cleanshift_core")
    final = await wait_for_window(
        provider, plan, rules, replan_interval=timedelta(hours=1), clock=clock, sleep=clock.sleep
    )

    assert final == plan and clock.now() == plan.start and clock.latest <= plan.start
    skipped = [r for r in caplog.records if "re-plan skipped" in r.getMessage()]
    assert len(skipped) == 3  # one per hourly re-plan before the window (at +1h, +2h, +3h)
    assert FAULTS[fault][1].__name__ not in plan.reason  # the plan's own reason stands

    receipt = await settle_receipt(provider, final, [(plan.start, plan.end)])
    # No measured history could be had: the receipt falls back to the plan's forecast and says so.
    assert receipt.reason == plan.reason
    assert receipt.intensity_basis == "forecast" and receipt.is_estimate
    assert receipt.avg_intensity_gco2_per_kwh == 100 and receipt.counterfactual_avg_intensity == 300


async def test_rate_limit_is_waited_out_when_the_deadline_allows(server):
    clock = Watch()
    server.mode, server.retry_after = "rate_limited", "120"
    provider = client(server.url, clock)
    served = []

    async def sleep_then_recover(seconds: float) -> None:
        served.append(seconds)
        await clock.sleep(seconds)
        server.mode = "ok"

    provider = UKCarbonIntensityProvider(
        base_url=server.url,
        timeout=1,
        retry=RetryPolicy(attempts=3, initial_backoff=1, jitter=0, sleep=sleep_then_recover),
        clock=clock,
    )
    plan = await plan_job(provider, JOB, SchedulingRules(on_provider_error="fail"), clock)
    assert served == [120.0]  # Retry-After honoured as the minimum wait
    assert plan.start == TROUGH and "provider error" not in plan.reason


async def test_rate_limit_longer_than_the_time_left_plans_without_data_at_once(server):
    clock = Watch()
    server.mode, server.retry_after = "rate_limited", "240"  # 4 minutes; the job has 2
    provider = client(server.url, clock)
    job = JobSpec.create(duration="30m", max_delay="2m")
    plan = await plan_job(provider, job, SchedulingRules(on_provider_error="run_now"), clock)
    assert clock.sleeps == [] and clock.latest == T0  # no retry was slept at all
    assert plan.start == T0 and "RateLimitedError" in plan.reason


async def test_slow_api_is_given_up_on_after_the_timeout_of_each_attempt(server):
    """Real seconds here: two attempts at a 0.1 s timeout against a 0.3 s answer."""
    clock = Watch()
    provider = faulty("slow", server, clock)
    with pytest.raises(ProviderUnavailableError, match=r"did not answer within 0\.1s"):
        await provider.forecast(T0, T0 + timedelta(hours=8))
    assert [m for m, _ in server.requests].count("slow") == 2


def test_every_fault_surfaces_as_a_provider_error():
    assert all(issubclass(error, ProviderError) for _, error in FAULTS.values())
