"""Backtests: how much a decision rule would have saved on a measured intensity series.

A job pattern (released daily at a UTC time of day, with a duration and a maximum delay) is
replayed over a historical series. Each day the rule sees a *forecast* — the truth itself,
or the truth plus iid Gaussian noise — and picks a start; the job is then charged the mean
intensity of the *truth* over the window it chose. Two references are charged the same way:
running immediately, and the perfect-foresight optimum (the core planner on the truth).

The CLI's ``backtest`` command and the benchmarks in ``benchmarks/`` share this engine, and it
calls the core planner (:func:`~cleanshift_core.planner.scan_windows`,
:func:`~cleanshift_core.policies.decide`) rather than a copy of it.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

import numpy as np

from .errors import ConfigurationError
from .job import JobSpec
from .planner import scan_windows
from .policies import SchedulingRules, decide
from .series import IntensitySeries
from .timeutil import from_epoch, parse_duration, to_epoch

__all__ = [
    "BacktestResult",
    "DecisionRule",
    "ForecastModel",
    "JobOutcome",
    "JobPattern",
    "backtest",
    "policy_rule",
    "run_immediately",
]

#: (forecast, job, now) -> chosen start. ``job.earliest_start`` is the release time.
DecisionRule = Callable[[IntensitySeries, JobSpec, datetime], datetime]


def policy_rule(rules: SchedulingRules | None = None) -> DecisionRule:
    """The decision a cleanshift policy makes (default: ``min_carbon`` with default rules)."""
    rules = rules or SchedulingRules()

    def rule(forecast: IntensitySeries, job: JobSpec, now: datetime) -> datetime:
        return decide(forecast, job, rules, now).start

    return rule


def run_immediately(forecast: IntensitySeries, job: JobSpec, now: datetime) -> datetime:
    """The baseline rule: start at release, whatever the grid."""
    return job.earliest_start or now


@dataclass(frozen=True)
class JobPattern:
    """A job released every day at ``release`` (UTC) that runs ``duration`` and may start up to
    ``max_delay`` after its release."""

    release: time
    duration: timedelta
    max_delay: timedelta

    @classmethod
    def create(
        cls,
        release: time | str,
        duration: timedelta | str | float,
        max_delay: timedelta | str | float,
    ) -> JobPattern:
        """Build from user-facing values: ``release="01:00"``, ``duration="2h"``, ``max_delay="8h"``."""
        if isinstance(release, str):
            match = re.fullmatch(r"(\d{1,2}):(\d{2})", release.strip())
            if not match or int(match[1]) > 23 or int(match[2]) > 59:
                raise ConfigurationError(
                    f"release={release!r} is not a UTC time of day; use HH:MM, e.g. '01:00'"
                )
            release = time(int(match[1]), int(match[2]))
        if not isinstance(release, time):
            raise ConfigurationError(
                f"release must be a time of day such as '01:00', got {release!r}"
            )
        duration = parse_duration(duration, "duration")
        max_delay = parse_duration(max_delay, "max_delay")
        return cls(release=release, duration=duration, max_delay=max_delay)

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise ConfigurationError(f"duration must be positive, got {self.duration}")
        if self.max_delay < timedelta(0):
            raise ConfigurationError(f"max_delay must be zero or positive, got {self.max_delay}")

    def releases(self, series: IntensitySeries) -> Iterator[datetime]:
        """Every daily release whose whole horizon (max delay plus duration) the series covers."""
        first, last = series.start, series.end
        if first is None or last is None:  # an empty series
            return
        day = first.replace(hour=0, minute=0, second=0, microsecond=0)
        horizon = self.max_delay + self.duration
        while True:
            release = datetime.combine(day.date(), self.release, tzinfo=timezone.utc)
            if release + horizon > last:
                return
            if release >= first:
                yield release
            day += timedelta(days=1)


@dataclass(frozen=True)
class ForecastModel:
    """What the rule gets to see: the truth (``error=0``), or the truth plus iid noise
    N(0, error × mean intensity) per point, reproducible from ``seed``. Noisy values are
    clipped at zero (an intensity cannot be negative)."""

    error: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.error) and self.error >= 0):
            raise ConfigurationError(
                f"forecast error must be a fraction ≥ 0 (0.05 = 5%), got {self.error!r}"
            )

    def apply(self, truth: IntensitySeries) -> IntensitySeries:
        if self.error == 0:
            return truth
        sigma = self.error * (sum(truth.values) / len(truth.values))
        rng = random.Random(self.seed)
        return truth.with_values([max(0.0, v + rng.gauss(0.0, sigma)) for v in truth.values])


@dataclass(frozen=True)
class JobOutcome:
    """One released job: where the rule put it and the truth's mean intensity (gCO2eq/kWh)
    over that window, immediately, and at the perfect-foresight optimum."""

    release: datetime
    start: datetime
    actual: float
    immediate: float
    optimal: float
    optimal_start: datetime


@dataclass(frozen=True)
class BacktestResult:
    """All outcomes plus the aggregates. Percentages weight every job equally (same energy
    per job), i.e. they compare total emissions, not averages of per-day percentages."""

    outcomes: tuple[JobOutcome, ...]

    @property
    def jobs(self) -> int:
        return len(self.outcomes)

    @property
    def mean_actual(self) -> float:
        return sum(o.actual for o in self.outcomes) / self.jobs

    @property
    def mean_immediate(self) -> float:
        return sum(o.immediate for o in self.outcomes) / self.jobs

    @property
    def mean_optimal(self) -> float:
        return sum(o.optimal for o in self.outcomes) / self.jobs

    @property
    def saved_pct(self) -> float:
        """Emissions saved vs running every job immediately, in %."""
        return (self.mean_immediate - self.mean_actual) / self.mean_immediate * 100.0

    @property
    def optimal_saved_pct(self) -> float:
        """What perfect foresight would have saved, in %."""
        return (self.mean_immediate - self.mean_optimal) / self.mean_immediate * 100.0

    @property
    def captured(self) -> float | None:
        """Fraction of the optimum's saving the rule captured (1.0 = perfect; None if the
        optimum saves nothing, as when every window is equally clean)."""
        best = self.mean_immediate - self.mean_optimal
        if best <= 0:
            return None
        return (self.mean_immediate - self.mean_actual) / best


def _window_means(series: IntensitySeries, starts: list[datetime], seconds: float) -> list[float]:
    """Mean intensity of each window ``[start, start + seconds)``, read from the series' own
    running integral by the planner's arithmetic (:func:`~cleanshift_core.planner.scan_windows`)."""
    at = np.array([to_epoch(start) for start in starts])
    return ((series.integral.at(at + seconds) - series.integral.at(at)) / seconds).tolist()


def backtest(
    truth: IntensitySeries,
    pattern: JobPattern,
    rule: DecisionRule,
    forecast: ForecastModel | IntensitySeries | None = None,
) -> BacktestResult:
    """Replay ``pattern`` over ``truth`` with ``rule`` deciding on ``forecast`` of it.

    ``forecast`` is a :class:`ForecastModel` (default: perfect foresight) or a ready series,
    e.g. an archive of real forecasts, or one noisy draw reused across many patterns. Each day
    the rule sees the forecast from the release to the end of the job's horizon (``release +
    max_delay + duration``); a start outside ``[release, release + max_delay]`` is refused,
    because a rule that breaks the deadline cannot be credited with its savings.
    """
    if not len(truth):
        raise ConfigurationError("the measured series is empty")
    seen = (
        forecast
        if isinstance(forecast, IntensitySeries)
        else (forecast or ForecastModel()).apply(truth)
    )
    d = pattern.duration.total_seconds()
    outcomes = []
    for release in pattern.releases(truth):
        latest = release + pattern.max_delay
        job = JobSpec(
            duration=pattern.duration, max_delay=pattern.max_delay, earliest_start=release
        )
        start = rule(seen.between(release, latest + pattern.duration), job, release)
        if not release <= start <= latest:
            raise ConfigurationError(
                f"the decision rule started the {release.isoformat()} job at {start.isoformat()}, "
                f"outside its window [{release.isoformat()}, {latest.isoformat()}]"
            )
        # The optimum and the charges use the same slice and the same arithmetic, so a rule
        # that picks the optimal start is charged exactly the optimum, to the last bit.
        part = truth.between(release, latest + pattern.duration)
        scan = scan_windows(part, release, latest, pattern.duration)
        best = scan.best_index()
        actual, immediate = _window_means(part, [start, release], d)
        outcomes.append(
            JobOutcome(
                release=release,
                start=start,
                actual=actual,
                immediate=immediate,
                optimal=scan.means[best],
                optimal_start=from_epoch(scan.starts[best]),
            )
        )
    if not outcomes:
        assert truth.start is not None and truth.end is not None  # not empty: checked above
        raise ConfigurationError(
            f"the series ({truth.start.isoformat()} to {truth.end.isoformat()}) holds no whole day "
            f"for a job released at {pattern.release.strftime('%H:%M')} that may take "
            f"{pattern.max_delay + pattern.duration}; use a longer series or a shorter job"
        )
    return BacktestResult(tuple(outcomes))
