"""Plan → wait (with re-planning) → receipt, on injected clocks and scripted providers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cleanshift_core import (
    GridIntensityProvider,
    IntensitySeries,
    JobSpec,
    ProviderUnavailableError,
    SchedulingRules,
    SignalKind,
    plan_job,
    replan,
    settle_receipt,
    wait_for_window,
)

from .conftest import T0, FakeClock, hourly


class ScriptedProvider(GridIntensityProvider):
    """Serves whichever forecast the test sets; can be told to fail."""

    kind = "scripted"

    def __init__(self, series: IntensitySeries):
        self.series = series
        self.fail = False
        self.calls = 0

    @property
    def region(self):
        return "TEST"

    @property
    def signal(self):
        return SignalKind.MARGINAL

    async def current(self):
        raise NotImplementedError

    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        self.calls += 1
        if self.fail:
            raise ProviderUnavailableError("scripted outage")
        return self.series.between(start, end)

    async def history(self, start, end):
        raise ProviderUnavailableError("no history here")


CURVE = [400, 400, 300, 300, 100, 100, 300, 400, 400, 400]


async def test_wait_sleeps_to_the_planned_start(clock: FakeClock):
    provider = ScriptedProvider(hourly(CURVE))
    plan = await plan_job(provider, JobSpec.create("1h", "8h"), SchedulingRules(), clock)
    final = await wait_for_window(provider, plan, SchedulingRules(), clock=clock, sleep=clock.sleep)
    assert final.start == T0 + timedelta(hours=4) == clock.now()
    assert max(clock.sleeps) <= 60  # bounded steps survive clock jumps


async def test_replan_moves_only_for_a_real_gain_and_never_past_the_deadline(clock: FakeClock):
    provider = ScriptedProvider(hourly(CURVE))
    rules = SchedulingRules()
    plan = await plan_job(provider, JobSpec.create("1h", "6h"), rules, clock)
    assert plan.start == T0 + timedelta(hours=4)

    clock.current = T0 + timedelta(hours=1)
    provider.series = hourly([400, 400, 300, 300, 100.5, 100, 300, 400, 400, 400])
    assert await replan(provider, plan, rules, clock) is plan  # 0.5% jitter: stay

    provider.series = hourly([400, 400, 50, 300, 100, 100, 300, 400, 5, 5])
    moved = await replan(provider, plan, rules, clock)
    assert moved.start == T0 + timedelta(hours=2)  # the 5s at 08:00 are past the deadline
    assert moved.earliest_start == plan.earliest_start
    assert moved.latest_start == plan.latest_start
    assert "re-planned" in moved.reason


async def test_wait_with_replanning_follows_the_refreshed_forecast(clock: FakeClock):
    provider = ScriptedProvider(hourly(CURVE))
    rules = SchedulingRules()
    plan = await plan_job(provider, JobSpec.create("1h", "6h"), rules, clock)
    provider.series = hourly([400, 400, 20, 300, 100, 100, 300, 400, 400, 400])
    moves = []
    final = await wait_for_window(
        provider,
        plan,
        rules,
        replan_interval=timedelta(minutes=30),
        clock=clock,
        sleep=clock.sleep,
        on_replan=moves.append,
    )
    assert final.start == T0 + timedelta(hours=2) == clock.now()
    assert len(moves) == 1


async def test_provider_failure_while_waiting_keeps_the_plan(clock: FakeClock):
    provider = ScriptedProvider(hourly(CURVE))
    rules = SchedulingRules()
    plan = await plan_job(provider, JobSpec.create("1h", "6h"), rules, clock)
    provider.fail = True
    final = await wait_for_window(
        provider, plan, rules, replan_interval=timedelta(minutes=30), clock=clock, sleep=clock.sleep
    )
    assert final == plan and clock.now() == plan.start


@pytest.mark.parametrize(
    "mode, start", [("run_now", T0), ("wait_until_deadline", T0 + timedelta(hours=6))]
)
async def test_provider_failure_while_planning_follows_on_provider_error(clock, mode, start):
    provider = ScriptedProvider(hourly(CURVE))
    provider.fail = True
    plan = await plan_job(
        provider, JobSpec.create("1h", "6h"), SchedulingRules(on_provider_error=mode), clock
    )
    assert plan.start == start and "scripted outage" in plan.reason


async def test_provider_failure_with_fail_raises(clock):
    provider = ScriptedProvider(hourly(CURVE))
    provider.fail = True
    with pytest.raises(ProviderUnavailableError):
        await plan_job(
            provider, JobSpec.create("1h", "6h"), SchedulingRules(on_provider_error="fail"), clock
        )


async def test_settle_falls_back_to_the_forecast_and_says_so(clock):
    provider = ScriptedProvider(hourly(CURVE))
    plan = await plan_job(provider, JobSpec.create("1h", "8h"), SchedulingRules(), clock)
    receipt = await settle_receipt(provider, plan, [(plan.start, plan.end)])
    assert receipt.intensity_basis == "forecast" and receipt.is_estimate
    assert receipt.avg_intensity_gco2_per_kwh == 100 and receipt.counterfactual_avg_intensity == 400


async def test_clock_step_backwards_does_not_fire_early(clock: FakeClock):
    provider = ScriptedProvider(hourly(CURVE))
    plan = await plan_job(provider, JobSpec.create("1h", "8h"), SchedulingRules(), clock)
    stepped = []

    async def sleep_with_ntp_step(seconds):
        await clock.sleep(seconds)
        if not stepped:
            stepped.append(True)
            clock.current -= timedelta(minutes=30)  # NTP steps the clock back

    final = await wait_for_window(
        provider, plan, SchedulingRules(), clock=clock, sleep=sleep_with_ntp_step
    )
    assert clock.now() >= final.start


async def test_a_retry_plans_within_the_deadline_of_the_first_start():
    """Cleanest hour at T0+5h; a 6 h job first started at T0 and retried at T0+2h may still
    take it, but retried at T0+6h30 (past its latest start, T0+6h) it must start at once, though
    the cleaner T0+7h is only 30 minutes away."""
    provider = ScriptedProvider(hourly([300, 300, 300, 300, 300, 100, 300, 80, 300, 300, 300]))
    job = JobSpec.create(duration="1h", max_delay="6h")
    early = await plan_job(
        provider,
        job.retried(T0, T0 + timedelta(hours=2)),
        SchedulingRules(),
        FakeClock(T0 + timedelta(hours=2)),
    )
    assert early.start == T0 + timedelta(hours=5)  # T0+7h (80) lies past the first deadline
    assert early.latest_start == T0 + timedelta(hours=6)
    retried_at = T0 + timedelta(hours=6, minutes=30)
    late = await plan_job(
        provider, job.retried(T0, retried_at), SchedulingRules(), FakeClock(retried_at)
    )
    assert late.start == late.latest_start == retried_at


async def test_a_downsampled_plan_settles_on_the_forecast_fetched_again(clock):
    five = timedelta(minutes=5)
    values = [300.0 + (i * 37) % 200 for i in range(3 * 288)]  # three days at 5 minutes
    provider = ScriptedProvider(hourly(values, minutes=5))
    plan = await plan_job(provider, JobSpec.create("4h", "60h"), SchedulingRules(), clock)
    assert plan.forecast_downsampled and plan.forecast_series() is None
    calls = provider.calls
    run = (plan.start + five, plan.end + five)  # started late: the receipt charges the real run
    receipt = await settle_receipt(provider, plan, [run])
    assert provider.calls == calls + 1  # the forecast was asked for again, not read off the plan
    assert receipt.intensity_basis == "forecast" and receipt.coverage_pct == 100
    expected, _ = provider.series.mean_over([run])
    assert receipt.avg_intensity_gco2_per_kwh == pytest.approx(expected, rel=1e-12)
