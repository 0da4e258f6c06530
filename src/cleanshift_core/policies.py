"""Policies: turn a window scan into a decision.

The scan (``planner.scan_windows``) says what every start would cost; a policy says which one
to take. Every delaying policy honours ``min_savings_pct``: a delay must buy at least that
much, or the job runs now, because gains inside forecast noise are not worth a late job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from .errors import ConfigurationError, JobSkipped
from .job import JobSpec
from .plan import Interval, Plan, forecast_excerpt
from .planner import WindowScan, scan_windows
from .series import IntensitySeries
from .timeutil import from_epoch


class Policy(str, Enum):
    """How to pick a start among the windows that meet the deadline."""

    MIN_CARBON = "min_carbon"
    """The window with the lowest time-weighted mean intensity (default)."""
    THRESHOLD = "threshold"
    """The first window whose mean is at or under ``max_intensity``, else the cleanest."""
    NOW_OR_NEVER = "now_or_never"
    """Run now if the window starting now is under ``max_intensity``, else skip the job."""
    HALT_IF_DIRTY = "halt_if_dirty"
    """Start now; pause the job while intensity is above ``max_intensity``."""


class OnProviderError(str, Enum):
    """What to do when no provider can answer."""

    RUN_NOW = "run_now"
    WAIT_UNTIL_DEADLINE = "wait_until_deadline"
    FAIL = "fail"


_NEEDS_LIMIT = {Policy.THRESHOLD, Policy.NOW_OR_NEVER, Policy.HALT_IF_DIRTY}


@dataclass(frozen=True)
class SchedulingRules:
    """A policy with its knobs, validated at construction (DAG parse / decoration time)."""

    policy: Policy = Policy.MIN_CARBON
    max_intensity: float | None = None
    min_savings_pct: float = 0.0
    on_provider_error: OnProviderError = OnProviderError.RUN_NOW

    if TYPE_CHECKING:  # the enums' values are accepted too; __post_init__ converts them

        def __init__(
            self,
            policy: Policy | str = Policy.MIN_CARBON,
            max_intensity: float | None = None,
            min_savings_pct: float = 0.0,
            on_provider_error: OnProviderError | str = OnProviderError.RUN_NOW,
        ) -> None: ...

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", _enum(Policy, self.policy, "policy"))
        object.__setattr__(
            self,
            "on_provider_error",
            _enum(OnProviderError, self.on_provider_error, "on_provider_error"),
        )
        if self.policy in _NEEDS_LIMIT and self.max_intensity is None:
            raise ConfigurationError(
                f"policy={self.policy.value!r} needs max_intensity (gCO2eq/kWh), "
                "e.g. max_intensity=200"
            )
        if self.max_intensity is not None and not (
            isinstance(self.max_intensity, (int, float))
            and math.isfinite(self.max_intensity)
            and self.max_intensity > 0
        ):
            raise ConfigurationError(
                f"max_intensity must be a positive number, got {self.max_intensity!r}"
            )
        if not (
            isinstance(self.min_savings_pct, (int, float))
            and math.isfinite(self.min_savings_pct)
            and 0 <= self.min_savings_pct < 100
        ):
            raise ConfigurationError(
                f"min_savings_pct must be between 0 and 100 (a percentage), got {self.min_savings_pct!r}"
            )


def _enum(kind: type[Enum], value: object, name: str) -> Enum:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)
        raise ConfigurationError(f"unknown {name} {value!r}; choose one of {choices}") from None


def decide(series: IntensitySeries, job: JobSpec, rules: SchedulingRules, now: datetime) -> Plan:
    """Plan ``job`` on ``series`` under ``rules`` as of ``now``.

    Raises :class:`JobSkipped` for ``now_or_never`` on a dirty grid and
    :class:`~cleanshift_core.errors.BadSeriesError` when no window fits the data.
    """
    earliest, latest = job.bounds(now)
    scan = scan_windows(series, earliest, latest, job.duration)
    immediate = scan.immediate_mean
    start, mean, reason = _choose(scan, rules, immediate)
    start, mean = float(start), float(mean)  # NumPy scalars stop at the planner

    if (
        start > scan.earliest
        and rules.policy is not Policy.HALT_IF_DIRTY
        and immediate is not None
        and immediate > 0
    ):
        savings = (immediate - mean) / immediate * 100.0
        if savings < rules.min_savings_pct:
            reason = (
                f"running now: waiting until {from_epoch(start).isoformat()} would save "
                f"{savings:.1f}%, under min_savings_pct={rules.min_savings_pct:g}%"
            )
            start, mean = float(scan.starts[0]), immediate

    window_end = from_epoch(scan.starts[-1] + scan.duration)
    forecast, downsampled = forecast_excerpt(
        series, earliest, max(window_end, earliest + job.duration)
    )
    return Plan(
        planned_at=now,
        earliest_start=earliest,
        latest_start=latest,
        duration_seconds=job.duration.total_seconds(),
        start=from_epoch(start),
        expected_intensity=mean,
        immediate_intensity=immediate,
        policy=rules.policy.value,
        reason=reason,
        alternatives=[
            Interval(start=from_epoch(s), end=from_epoch(s + scan.duration), intensity=m)
            for s, m in scan.alternatives(exclude=start)
        ],
        provider=series.provider,
        region=series.region,
        signal=series.signal,
        basis=series.basis,
        forecast_generated_at=series.generated_at,
        forecast=forecast,
        forecast_downsampled=downsampled,
    )


def _choose(
    scan: WindowScan, rules: SchedulingRules, immediate: float | None
) -> tuple[float, float, str]:
    """(start, expected mean, reason) for the policy, before the savings guard."""
    policy, limit = rules.policy, rules.max_intensity
    if policy is Policy.HALT_IF_DIRTY:
        mean = immediate if immediate is not None else scan.means[0]
        return (
            scan.starts[0],
            mean,
            f"starting now; pausing while intensity is above {limit:g} gCO2eq/kWh",
        )
    if policy is Policy.NOW_OR_NEVER:
        assert limit is not None  # required for this policy (__post_init__)
        mean = immediate if immediate is not None else scan.means[0]
        if mean <= limit:
            return scan.starts[0], mean, f"running now: {mean:.0f} ≤ {limit:g} gCO2eq/kWh"
        raise JobSkipped(
            f"skipped: the next {timedelta(seconds=scan.duration)} average {mean:.0f} gCO2eq/kWh, above "
            f"max_intensity={limit:g}; raise max_intensity or use policy='min_carbon' to wait instead"
        )
    best = scan.best_index()
    if policy is Policy.THRESHOLD:
        assert limit is not None  # required for this policy (__post_init__)
        hit = scan.first_at_or_below(limit)
        if hit is not None:
            start, mean = hit
            when = "now" if start == scan.starts[0] else f"at {from_epoch(start).isoformat()}"
            return start, mean, f"first window at or under {limit:g} gCO2eq/kWh starts {when}"
        return (
            scan.starts[best],
            scan.means[best],
            f"no window gets under {limit:g} gCO2eq/kWh before the deadline; taking the cleanest",
        )
    if best == 0 and scan.starts[0] == scan.earliest:
        return scan.starts[0], scan.means[0], "the cleanest window starts now"
    return (
        scan.starts[best],
        scan.means[best],
        f"cleanest {timedelta(seconds=scan.duration)} window before the deadline",
    )


def fallback_plan(job: JobSpec, rules: SchedulingRules, now: datetime, error: Exception) -> Plan:
    """The plan ``on_provider_error`` asks for when no intensity data could be had.

    ``fail`` re-raises; the others return a plan with no intensities, which receipts then
    report as unknown rather than invent.
    """
    if rules.on_provider_error is OnProviderError.FAIL:
        raise error
    earliest, latest = job.bounds(now)
    if rules.on_provider_error is OnProviderError.WAIT_UNTIL_DEADLINE:
        start, what = latest, f"waiting until the deadline {latest.isoformat()}"
    else:
        start, what = earliest, "running now"
    return Plan(
        planned_at=now,
        earliest_start=earliest,
        latest_start=latest,
        duration_seconds=job.duration.total_seconds(),
        start=start,
        policy=rules.policy.value,
        reason=f"provider error ({type(error).__name__}: {error}); {what} "
        f"(on_provider_error={rules.on_provider_error.value!r})",
    )
