"""Plan, wait, re-plan and settle: the async steps every front door runs.

The Airflow trigger, the Prefect decorator and the CLI all call these, so planning, fallback
on provider errors, re-planning and receipts behave identically everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from .errors import BadSeriesError, ProviderError
from .job import JobSpec
from .measure import EnergyReading
from .plan import Plan
from .policies import SchedulingRules, decide, fallback_plan
from .providers.base import GridIntensityProvider
from .providers.deadline import provider_deadline
from .receipt import CarbonReceipt, build_receipt
from .series import IntensitySeries
from .timeutil import SYSTEM_CLOCK, Clock, sleep_until

log = logging.getLogger(__name__)

#: A re-plan moves the start only if the new window is at least this much cleaner than the
#: current one on the *same* fresh forecast: chasing forecast jitter helps nobody.
REPLAN_MIN_GAIN_PCT = 1.0


async def plan_job(
    provider: GridIntensityProvider,
    job: JobSpec,
    rules: SchedulingRules,
    clock: Clock = SYSTEM_CLOCK,
) -> Plan:
    """Fetch the forecast and decide; provider failures follow ``rules.on_provider_error``."""
    now = clock.now()
    earliest, latest = job.bounds(now)
    try:
        with provider_deadline(latest):  # retries must not eat the time the job has left
            series = await provider.forecast(earliest, latest + job.duration)
        return decide(series, job, rules, now)
    except (ProviderError, BadSeriesError) as exc:
        log.warning("planning without data: %s", exc)
        return fallback_plan(job, rules, now, exc)


async def replan(
    provider: GridIntensityProvider,
    plan: Plan,
    rules: SchedulingRules,
    clock: Clock = SYSTEM_CLOCK,
) -> Plan:
    """Re-plan on a fresh forecast, keeping the original deadline and counterfactual.

    The start moves only for a real gain (see :data:`REPLAN_MIN_GAIN_PCT`), never past
    ``plan.latest_start``; if the provider fails now, the existing plan stands.
    """
    now = clock.now()
    if now >= plan.start:
        return plan
    duration = timedelta(seconds=plan.duration_seconds)
    remaining = JobSpec(
        duration=duration, earliest_start=now, finish_by=plan.latest_start + duration
    )
    try:
        with provider_deadline(plan.start):
            series = await provider.forecast(now, plan.latest_start + duration)
        fresh = decide(series, remaining, rules, now)
    except (ProviderError, BadSeriesError) as exc:
        log.warning("re-plan skipped, keeping %s: %s", plan.start.isoformat(), exc)
        return plan
    current_mean, coverage = series.mean_over([(plan.start, plan.end)])
    if current_mean is None or coverage < 1.0 or fresh.expected_intensity is None:
        return plan
    gain = (current_mean - fresh.expected_intensity) / current_mean * 100.0 if current_mean else 0.0
    if fresh.start == plan.start or gain < max(REPLAN_MIN_GAIN_PCT, rules.min_savings_pct):
        return plan
    return fresh.model_copy(
        update={
            "earliest_start": plan.earliest_start,
            "immediate_intensity": plan.immediate_intensity,
            # A re-plan moves the start within the chosen location, never the location.
            "location": plan.location,
            "location_options": plan.location_options,
            "reason": f"re-planned at {now.isoformat()}: {gain:.1f}% cleaner than "
            f"{plan.start.isoformat()} on the refreshed forecast; {fresh.reason}",
        }
    )


async def wait_for_window(
    provider: GridIntensityProvider,
    plan: Plan,
    rules: SchedulingRules,
    *,
    replan_interval: timedelta | None = None,
    clock: Clock = SYSTEM_CLOCK,
    sleep: Callable[[float], Awaitable[object]] | None = None,
    on_replan: Callable[[Plan], None] | None = None,
) -> Plan:
    """Sleep until the plan's start, re-planning every ``replan_interval``; return the final plan."""
    sleep_kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    while True:
        now = clock.now()
        if now >= plan.start:
            return plan
        wake = plan.start
        if replan_interval is not None and now + replan_interval < plan.start:
            wake = now + replan_interval
        await sleep_until(wake, clock, **sleep_kwargs)
        if wake < plan.start:
            moved = await replan(provider, plan, rules, clock)
            if moved is not plan:
                log.info(
                    "carbon window moved from %s to %s",
                    plan.start.isoformat(),
                    moved.start.isoformat(),
                )
                if on_replan is not None:
                    on_replan(moved)
            plan = moved


async def settle_receipt(
    provider: GridIntensityProvider,
    plan: Plan,
    run_intervals: Sequence[tuple[datetime, datetime]],
    *,
    power_kw: float | None = None,
    energy_kwh: float | None = None,
    energy: EnergyReading | None = None,
    sci_functional_unit: tuple[str, float] | None = None,
) -> CarbonReceipt:
    """The receipt of a finished run, computed from data, never from a chart: measured
    history if the provider has it, else the forecast the plan was made on when the plan
    holds all of it, else that forecast fetched again (the receipt names the basis)."""
    run_seconds = sum((b - a).total_seconds() for a, b in run_intervals)
    start = min(plan.earliest_start, run_intervals[0][0])
    end = max(run_intervals[-1][1], plan.earliest_start + timedelta(seconds=run_seconds))
    measured = await _series_or_none(provider.history, start, end, "measured history")
    candidates = [measured, plan.forecast_series()]
    if plan.forecast_downsampled and not (measured is not None and measured.covers(start, end)):
        candidates.append(await _series_or_none(provider.forecast, start, end, "forecast"))
    return build_receipt(
        plan,
        run_intervals,
        candidates,
        power_kw=power_kw,
        energy_kwh=energy_kwh,
        energy=energy,
        sci_functional_unit=sci_functional_unit,
    )


async def _series_or_none(
    fetch: Callable[[datetime, datetime], Awaitable[IntensitySeries]],
    start: datetime,
    end: datetime,
    what: str,
) -> IntensitySeries | None:
    try:
        return await fetch(start, end)
    except (ProviderError, BadSeriesError, NotImplementedError) as exc:
        log.info("no %s for the receipt (%s)", what, exc)
        return None
