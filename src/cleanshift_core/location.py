"""Location and time together: run the job where *and* when the grid is cleanest.

The candidates are the user's own labels (a cloud region such as ``"eu-north-1"``, a
Kubernetes context, a cluster name), each mapped to the intensity source of the grid it draws
from. Which grid zone feeds which region is the user's knowledge, so it is an input here and
never a table inside cleanshift.

Every location is planned with the ordinary single-window policy (:func:`~.policies.decide`),
then the locations are compared on what the policy optimises. Ties go to the earlier start,
then to the location listed first, so a listing order doubles as a preference order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from .errors import BadSeriesError, ConfigurationError, JobSkipped, ProviderError
from .job import JobSpec
from .plan import LocationOption, Plan
from .planner import TIE_TOLERANCE
from .policies import Policy, SchedulingRules, decide, fallback_plan
from .providers.base import GridIntensityProvider
from .providers.deadline import provider_deadline
from .providers.spec import build_provider
from .series import IntensitySeries
from .timeutil import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

__all__ = ["check_locations", "decide_location", "plan_across_locations"]

R = TypeVar("R")


def decide_location(
    series_by_location: Mapping[str, IntensitySeries],
    job: JobSpec,
    rules: SchedulingRules,
    now: datetime,
    *,
    failures: Mapping[str, str] | None = None,
) -> Plan:
    """Choose the location and the start of ``job`` together.

    ``series_by_location`` maps each label to its forecast; all must carry the same signal
    kind (average and marginal intensities measure different things and are never compared).
    ``failures`` lists labels that could not be planned (e.g. their provider failed), so the
    plan records them. A location where no window fits its data is skipped and recorded too.

    Returns the chosen location's plan with ``location`` set and ``location_options`` holding
    every candidate's best window (or error), so the plan says why it chose what it chose.
    Raises :class:`BadSeriesError` when no location can take the job, and
    :class:`JobSkipped` when ``now_or_never`` finds every location dirty.
    """
    _check_labels(series_by_location, "series_by_location")
    if rules.policy is Policy.HALT_IF_DIRTY:
        raise ConfigurationError(
            "policy='halt_if_dirty' pauses a running process in place, so it cannot choose a "
            "location; use policy='min_carbon' or 'threshold' with several locations"
        )
    signals = {label: s.signal for label, s in series_by_location.items()}
    if len(set(signals.values())) > 1:
        listed = ", ".join(f"{label}={kind.value}" for label, kind in signals.items())
        raise ConfigurationError(
            f"cannot compare locations whose intensities mean different things ({listed}); "
            "give every location a provider with the same signal kind (all average or all marginal)"
        )

    options: list[LocationOption] = []
    plans: list[tuple[int, str, Plan]] = []
    skipped: list[str] = []
    for order, (label, series) in enumerate(series_by_location.items()):
        try:
            plan = decide(series, job, rules, now)
        except JobSkipped as exc:
            skipped.append(str(exc))
            options.append(_option(label, series, error=f"skipped: {exc}"))
            continue
        except BadSeriesError as exc:
            options.append(_option(label, series, error=str(exc)))
            continue
        options.append(
            LocationOption(
                location=label,
                provider=plan.provider,
                region=plan.region,
                start=plan.start,
                expected_intensity=plan.expected_intensity,
                immediate_intensity=plan.immediate_intensity,
            )
        )
        plans.append((order, label, plan))
    for label, error in (failures or {}).items():
        options.append(LocationOption(location=label, error=error))

    if not plans:
        if skipped and len(skipped) == len(series_by_location):
            raise JobSkipped(f"every location is too dirty to run now: {'; '.join(skipped)}")
        errors = "; ".join(f"{o.location}: {o.error}" for o in options)
        raise BadSeriesError(f"no location can take the job ({errors})")

    _, label, best = _pick(plans, rules)
    runner_up = [p for p in plans if p[1] != label]
    why = _why(label, best, runner_up, len(series_by_location))
    return best.model_copy(
        update={"location": label, "location_options": options, "reason": f"{why}; {best.reason}"}
    )


async def plan_across_locations(
    providers_by_location: Mapping[str, GridIntensityProvider | Any],
    job: JobSpec,
    rules: SchedulingRules,
    clock: Clock = SYSTEM_CLOCK,
) -> Plan:
    """Fetch every location's forecast concurrently, then :func:`decide_location`.

    Values may be providers or provider specs (``"mock:region=DE"``, dicts, fallback lists).
    A location whose provider fails is skipped and recorded in ``location_options``; when all
    fail, ``rules.on_provider_error`` decides (``run_now`` / ``wait_until_deadline`` use the
    first listed location, the default when nothing could be compared; ``fail`` raises).
    """
    _check_labels(providers_by_location, "providers_by_location")
    providers = {
        label: p if isinstance(p, GridIntensityProvider) else build_provider(p)
        for label, p in providers_by_location.items()
    }
    now = clock.now()
    earliest, latest = job.bounds(now)

    async def fetch(provider: GridIntensityProvider) -> IntensitySeries:
        with provider_deadline(latest):
            return await provider.forecast(earliest, latest + job.duration)

    results = await asyncio.gather(*(fetch(p) for p in providers.values()), return_exceptions=True)
    series: dict[str, IntensitySeries] = {}
    failures: dict[str, str] = {}
    for (label, _provider), result in zip(providers.items(), results):
        if isinstance(result, (ProviderError, BadSeriesError)):
            log.warning("location %s skipped: %s", label, result)
            failures[label] = f"{type(result).__name__}: {result}"
        elif isinstance(result, BaseException):
            raise result
        else:
            series[label] = result
    if series:
        try:
            return decide_location(series, job, rules, now, failures=failures)
        except BadSeriesError as exc:
            error: Exception = exc
    else:
        error = ProviderError(
            "no location's provider answered: "
            + "; ".join(f"{k}: {v}" for k, v in failures.items())
        )
    log.warning("planning across locations without data: %s", error)
    first = next(iter(providers))
    options = [LocationOption(location=label, error=msg) for label, msg in failures.items()]
    return fallback_plan(job, rules, now, error).model_copy(
        update={"location": first, "location_options": options}
    )


def check_locations(
    locations: Mapping[str, Any], reference: Callable[[Any], R], name: str = "locations"
) -> dict[str, R]:
    """A user's ``locations`` argument checked once, at construction: a non-empty mapping of
    non-empty labels, each provider through the adapter's own ``reference`` check (an Airflow
    connection id or spec, a Prefect block), whose message gains the label. Returns label →
    what ``reference`` returned, in the user's (preference) order."""
    _check_labels(locations, name)
    checked: dict[str, R] = {}
    for label, provider in locations.items():
        try:
            checked[label] = reference(provider)
        except ConfigurationError as exc:
            raise ConfigurationError(f"location {label!r}: {exc}") from None
    return checked


def _check_labels(mapping: Mapping[str, Any], name: str) -> None:
    if not isinstance(mapping, Mapping) or not mapping:
        raise ConfigurationError(
            f"{name} must be a non-empty mapping from your location label (e.g. a cloud region "
            "'eu-west-1' or a Kubernetes context) to its provider"
        )
    for label in mapping:
        if not isinstance(label, str) or not label.strip():
            raise ConfigurationError(f"location labels must be non-empty strings, got {label!r}")


def _option(label: str, series: IntensitySeries, *, error: str) -> LocationOption:
    return LocationOption(
        location=label, provider=series.provider, region=series.region, error=error
    )


def _pick(plans: list[tuple[int, str, Plan]], rules: SchedulingRules) -> tuple[int, str, Plan]:
    """The winner: what the policy optimises, then the earlier start, then listing order.

    Means within the planner's tie tolerance are equal, so float noise never decides.
    """

    def mean(item: tuple[int, str, Plan]) -> float:
        value = item[2].expected_intensity
        return value if value is not None else float("inf")

    if rules.policy is Policy.THRESHOLD:
        under = [p for p in plans if mean(p) <= (rules.max_intensity or 0)]
        if under:  # under the limit, the earliest such window wins
            return min(under, key=lambda p: (p[2].start, mean(p), p[0]))
    best = plans[0]
    for item in plans[1:]:
        bar = TIE_TOLERANCE * max(1.0, abs(mean(best)))
        if mean(item) < mean(best) - bar or (
            abs(mean(item) - mean(best)) <= bar and item[2].start < best[2].start
        ):
            best = item
    return best


def _why(label: str, best: Plan, others: list[tuple[int, str, Plan]], total: int) -> str:
    mean = best.expected_intensity
    text = f"location {label!r}"
    if mean is not None:
        text += f" ({mean:.0f} gCO2eq/kWh from {best.start.isoformat()})"
    if others:
        rival = min(others, key=lambda o: o[2].expected_intensity or float("inf"))
        if rival[2].expected_intensity is not None:
            text += f" beats {rival[1]!r} ({rival[2].expected_intensity:.0f} gCO2eq/kWh)"
    return text + f" among {total} candidate location{'s' if total != 1 else ''}"
