"""Batch planning: many jobs, one forecast fetch, optionally a cap on jobs running at once.

The Carbon Aware SDK's ``forecasts/batch`` idea: a fleet of jobs shares one grid, so it needs
one forecast, fetched once over the union of their horizons, not one request per job.

Without a cap every job simply gets its own policy decision on that forecast. With
``max_concurrent`` the jobs are placed **greedily**, one at a time, in deadline order (latest
start, then the order given): each takes the cleanest start that keeps the number of jobs
running at every instant within the cap, given the jobs placed before it. Greedy is not a
global optimum (an early job may take a valley a later one needed more), but it is
predictable, fast, and it never breaks the cap when a feasible start exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from .deprecation import renamed
from .errors import BadSeriesError, ConfigurationError, ProviderError
from .job import JobSpec
from .plan import Plan
from .planner import TIE_TOLERANCE, scan_windows
from .policies import Policy, SchedulingRules, decide, fallback_plan
from .providers.base import GridIntensityProvider
from .providers.deadline import provider_deadline
from .series import IntensitySeries
from .timeutil import SYSTEM_CLOCK, Clock, from_epoch, to_epoch

__all__ = ["BatchPlan", "decide_batch", "plan_batch_with_provider"]


class BatchPlan(BaseModel):
    """One plan per job (by name), in the order they were placed, and the cap they kept."""

    model_config = ConfigDict(frozen=True)

    plans: dict[str, Plan]
    order: list[str]
    max_concurrent: int | None = None
    peak_concurrency: int
    over_cap: list[str] = []


def decide_batch(
    series: IntensitySeries,
    jobs: Mapping[str, JobSpec],
    rules: SchedulingRules,
    now: datetime,
    *,
    max_concurrent: int | None = None,
) -> BatchPlan:
    """Plan every job in ``jobs`` (name → spec) on one ``series``.

    With ``max_concurrent`` only ``policy='min_carbon'`` is supported (a cap and a threshold
    race pull in different directions). A job that cannot be placed within the cap at all is
    put where it overlaps the fewest others (then cleanest) and listed in ``over_cap``.
    """
    _check(jobs, max_concurrent, rules)
    names = sorted(jobs, key=lambda n: (jobs[n].bounds(now)[1], list(jobs).index(n)))
    if max_concurrent is None:
        plans = {name: decide(series, jobs[name], rules, now) for name in names}
        return BatchPlan(plans=plans, order=names, peak_concurrency=_peak(plans.values()))

    placed: list[tuple[float, float]] = []
    plans = {}
    over: list[str] = []
    for name in names:
        job = jobs[name]
        plan = decide(series, job, rules, now)  # context, forecast slice, immediate mean
        start, mean, fits = _capped_start(series, job, now, placed, max_concurrent)
        d = job.duration.total_seconds()
        if not fits:
            over.append(name)
        if abs(start - to_epoch(plan.start)) > 1e-6 or not fits:
            reason = (
                f"cleanest {job.duration} window that keeps at most {max_concurrent} jobs running at once"
                if fits
                else f"no start keeps at most {max_concurrent} jobs running at once; "
                "placed where it overlaps the fewest others"
            )
            plan = plan.model_copy(
                update={
                    "start": from_epoch(start),
                    "expected_intensity": mean,
                    "reason": reason,
                    "alternatives": [],
                }
            )
        placed.append((start, start + d))
        plans[name] = plan
    return BatchPlan(
        plans=plans,
        order=names,
        max_concurrent=max_concurrent,
        peak_concurrency=_peak(plans.values()),
        over_cap=over,
    )


async def plan_batch_with_provider(
    provider: GridIntensityProvider,
    jobs: Mapping[str, JobSpec],
    rules: SchedulingRules,
    clock: Clock = SYSTEM_CLOCK,
    *,
    max_concurrent: int | None = None,
) -> BatchPlan:
    """Fetch one forecast covering every job's horizon, then :func:`decide_batch`.

    If the provider fails, every job gets ``rules.on_provider_error``'s fallback plan.
    """
    _check(jobs, max_concurrent, rules)
    now = clock.now()
    bounds = {name: job.bounds(now) for name, job in jobs.items()}
    start = min(b[0] for b in bounds.values())
    end = max(b[1] + jobs[n].duration for n, b in bounds.items())
    try:
        with provider_deadline(min(b[1] for b in bounds.values())):
            series = await provider.forecast(start, end)
        return decide_batch(series, jobs, rules, now, max_concurrent=max_concurrent)
    except (ProviderError, BadSeriesError) as exc:
        plans = {name: fallback_plan(job, rules, now, exc) for name, job in jobs.items()}
        return BatchPlan(
            plans=plans,
            order=list(jobs),
            max_concurrent=max_concurrent,
            peak_concurrency=_peak(plans.values()),
        )


def _check(jobs: Mapping[str, JobSpec], max_concurrent: int | None, rules: SchedulingRules) -> None:
    if not isinstance(jobs, Mapping) or not jobs:
        raise ConfigurationError("jobs must be a non-empty mapping from a job name to its JobSpec")
    for name, job in jobs.items():
        if not isinstance(job, JobSpec):
            raise ConfigurationError(
                f"job {name!r} must be a JobSpec (JobSpec.create(duration='2h', ...))"
            )
    if max_concurrent is not None:
        if (
            isinstance(max_concurrent, bool)
            or not isinstance(max_concurrent, int)
            or max_concurrent < 1
        ):
            raise ConfigurationError(
                f"max_concurrent must be a whole number ≥ 1, got {max_concurrent!r}"
            )
        if rules.policy is not Policy.MIN_CARBON:
            raise ConfigurationError(
                f"max_concurrent works with policy='min_carbon' only, not {rules.policy.value!r}"
            )


def _capped_start(
    series: IntensitySeries,
    job: JobSpec,
    now: datetime,
    placed: list[tuple[float, float]],
    cap: int,
) -> tuple[float, float, bool]:
    """(start, mean, fits): the cleanest start whose window keeps overlap below ``cap``.

    Under the cap, the optimum may sit against a placed job, so each placed job's start and
    end (and those minus the duration) join the planner's candidate starts.
    """
    earliest, latest = job.bounds(now)
    d = job.duration.total_seconds()
    scan = scan_windows(series, earliest, latest, job.duration)
    lo, hi = scan.starts[0], scan.starts[-1]
    candidates = dict(zip(scan.starts, scan.means))
    for a, b in placed:
        for s in (a, b, a - d, b - d):
            if lo <= s <= hi and s not in candidates:
                mean, _ = series.mean_over([(from_epoch(s), from_epoch(s + d))])
                if mean is not None:  # inside the scan's range, so always known
                    candidates[s] = mean
    ranked = sorted(candidates.items(), key=lambda c: (c[1], c[0]))
    feasible = [(s, m) for s, m in ranked if _max_overlap(placed, s, s + d) < cap]
    if feasible:
        bar = feasible[0][1] + TIE_TOLERANCE * max(1.0, abs(feasible[0][1]))
        start = min(s for s, m in feasible if m <= bar)  # ties go to the earliest start
        return start, candidates[start], True
    start, mean = min(ranked, key=lambda c: (_max_overlap(placed, c[0], c[0] + d), c[1], c[0]))
    return start, mean, False


def _max_overlap(placed: list[tuple[float, float]], a: float, b: float) -> int:
    """Most placed jobs running at any one instant of ``[a, b)``."""
    events = []
    for s, e in placed:
        lo, hi = max(s, a), min(e, b)
        if hi > lo:
            events.append((lo, 1))
            events.append((hi, -1))
    events.sort()  # ends (-1) sort before starts (+1) at the same instant: [s, e) intervals
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def _peak(plans: Iterable[Plan]) -> int:
    intervals = [(to_epoch(p.start), to_epoch(p.start) + p.duration_seconds) for p in plans]
    return _max_overlap(intervals, float("-inf"), float("inf"))


#: Deprecated names (one release): see docs/reference/deprecations.md.
__getattr__ = renamed(__name__, {"plan_batch": "decide_batch"})
