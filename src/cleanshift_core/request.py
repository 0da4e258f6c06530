"""The scheduling request: every window, chunk and energy argument, declared and checked once.

The CLI, the Airflow sensors/operators/trigger and the Prefect decorators take the same
arguments (``duration``, ``max_delay``, ``finish_by``, ``policy``, ``power_kw``, ...). Each is
declared here, once, with its validation and its fix-it message; an adapter builds a request at
parse/decoration time and forwards it, and does not check an argument again. The checks reuse
the concept that owns them (:class:`~cleanshift_core.job.JobSpec` for the deadline,
:class:`~cleanshift_core.scheduling.SchedulingRules` for the policy, the chunk planner's limits),
so each message is written once in the whole tree.

The optional arguments' defaults are :data:`WINDOW_DEFAULTS`, read by every adapter's
signature (``policy: str = WINDOW_DEFAULTS.policy``): Airflow needs explicit keyword
parameters (``default_args``, parse-time checks), and this way ``help()`` still shows each
value while a default is written once.

A request travels as plain keyword arguments (:meth:`WindowRequest.to_kwargs`, named by
:data:`WINDOW_KWARGS`): numbers of seconds, ISO strings and enum values, which an Airflow
trigger serialises and a Prefect parameter holds; :meth:`WindowRequest.from_kwargs` reads them
back.

Where the intensities come from, one provider or one per candidate location, is
:class:`Providers`: the adapters keep their own references in it and plan through it, so the
provider-or-locations choice is made here once.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from .chunks import check_chunk_limits
from .errors import ConfigurationError
from .job import JobSpec
from .location import check_locations, plan_across_locations
from .measure import EnergyMode, check_functional_unit, parse_energy_mode
from .plan import Plan
from .scheduling import SchedulingRules, plan_job
from .timeutil import SYSTEM_CLOCK, Clock, ensure_utc, parse_duration


def is_template(value: Any) -> bool:
    """Whether ``value`` is a Jinja template (Airflow renders it later, at run time)."""
    return isinstance(value, str) and any(t in value for t in ("{{", "{%"))


def parse_finish_by(value: datetime | str | None) -> datetime | None:
    """An aware UTC datetime from a datetime or an ISO-8601 string (e.g. a rendered template)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(
                f"finish_by={value!r} is not an ISO-8601 datetime; use e.g. "
                "'{{ (data_interval_end + macros.timedelta(hours=8)).isoformat() }}'"
            ) from None
    return ensure_utc(value, "finish_by")


def parse_replan_interval(value: timedelta | str | float | None) -> timedelta | None:
    """How often a waiting run re-plans on a refreshed forecast; ``None`` never re-plans."""
    if value is None:
        return None
    interval = parse_duration(value, "replan_interval")
    if interval <= timedelta(0):
        raise ConfigurationError(
            f"replan_interval must be positive, got {interval}; e.g. '15m', or None to never "
            "re-plan"
        )
    return interval


_RULES = SchedulingRules()


@dataclass(frozen=True)
class WindowDefaults:
    """What each optional window argument is when a caller leaves it out.

    The rules' defaults are :class:`~cleanshift_core.SchedulingRules`' own. ``max_delay`` and
    ``finish_by`` both left out mean a deadline of
    :data:`~cleanshift_core.job.DEFAULT_MAX_DELAY` (6 hours); ``replan_interval`` left out
    never re-plans (Airflow's operators pass their own default, the shared cache's refresh).
    ``duration`` is the default of the decorators that may be applied bare
    (``@carbon_window``); the Airflow operators and the CLI require it.
    """

    duration: timedelta = timedelta(hours=1)
    max_delay: timedelta | None = None
    finish_by: datetime | None = None
    policy: str = _RULES.policy.value
    max_intensity: float | None = _RULES.max_intensity
    min_savings_pct: float = _RULES.min_savings_pct
    on_provider_error: str = _RULES.on_provider_error.value
    replan_interval: timedelta | None = None


#: The window arguments' defaults; every adapter's signature reads its defaults here.
WINDOW_DEFAULTS = WindowDefaults()

#: The names of a request's plain keyword arguments (:meth:`WindowRequest.to_kwargs`).
WINDOW_KWARGS: tuple[str, ...] = ("provider", *(f.name for f in fields(WindowDefaults)))


@dataclass(frozen=True)
class WindowRequest:
    """Where intensities come from, and the window the work may run in.

    ``provider`` is the adapter's own provider reference (a connection id or spec in Airflow,
    a block or spec in Prefect, a spec for the CLI): the core only carries it. ``finish_by``
    is an aware datetime, or, where the adapter allows it (Airflow's templated field), a Jinja
    template rendered at run time; :attr:`job` holds the concrete deadline either way.
    """

    provider: Any
    job: JobSpec
    finish_by: datetime | str | None
    rules: SchedulingRules
    replan_interval: timedelta | None

    @classmethod
    def create(
        cls,
        *,
        provider: Any = None,
        duration: timedelta | str | float,
        max_delay: timedelta | str | float | None = WINDOW_DEFAULTS.max_delay,
        finish_by: datetime | str | None = WINDOW_DEFAULTS.finish_by,
        policy: str = WINDOW_DEFAULTS.policy,
        max_intensity: float | None = WINDOW_DEFAULTS.max_intensity,
        min_savings_pct: float = WINDOW_DEFAULTS.min_savings_pct,
        on_provider_error: str = WINDOW_DEFAULTS.on_provider_error,
        replan_interval: timedelta | str | float | None = WINDOW_DEFAULTS.replan_interval,
        templated: bool = False,
    ) -> WindowRequest:
        """Validate user-facing values (``"2h"``, timedeltas, enum names) into a request.

        With ``templated`` (Airflow's template fields), a Jinja ``finish_by`` is kept as text
        and checked once rendered; otherwise it must be a datetime or ISO-8601 text now."""
        if finish_by is not None and not (templated and is_template(finish_by)):
            finish_by = parse_finish_by(finish_by)
        concrete = finish_by if isinstance(finish_by, datetime) else None
        return cls(
            provider=provider,
            job=JobSpec.create(duration, max_delay, concrete),
            finish_by=finish_by,
            rules=SchedulingRules(
                policy=policy,
                max_intensity=max_intensity,
                min_savings_pct=min_savings_pct,
                on_provider_error=on_provider_error,
            ),
            replan_interval=parse_replan_interval(replan_interval),
        )

    @property
    def duration(self) -> timedelta:
        return self.job.duration

    @property
    def max_delay(self) -> timedelta | None:
        return self.job.max_delay

    def job_for(self, finish_by: datetime | str | None) -> JobSpec:
        """The job with ``finish_by`` as rendered for this run (a datetime or ISO text)."""
        return JobSpec(self.duration, self.max_delay, parse_finish_by(finish_by))

    def to_kwargs(self, finish_by: datetime | str | None = None) -> dict[str, Any]:
        """Plain keyword arguments (seconds, ISO strings, enum values): an Airflow trigger's
        serialised kwargs or a Prefect parameter. ``finish_by`` overrides the request's own
        (the rendered value, or a template the receiver renders)."""
        deadline = self.finish_by if finish_by is None else finish_by
        if isinstance(deadline, datetime):
            deadline = deadline.isoformat()
        return {
            "provider": self.provider,
            "duration": self.duration.total_seconds(),
            "max_delay": None if self.max_delay is None else self.max_delay.total_seconds(),
            "finish_by": deadline,
            "policy": self.rules.policy.value,
            "max_intensity": self.rules.max_intensity,
            "min_savings_pct": self.rules.min_savings_pct,
            "on_provider_error": self.rules.on_provider_error.value,
            "replan_interval": None
            if self.replan_interval is None
            else self.replan_interval.total_seconds(),
        }

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> WindowRequest:
        """The request :meth:`to_kwargs` wrote (``finish_by`` must be rendered by now); an
        argument left out takes its default, so kwargs written before an option existed
        still read."""

        def seconds(name: str) -> timedelta | None:
            value = kwargs.get(name)
            return None if value is None else timedelta(seconds=float(value))

        duration = seconds("duration")
        if duration is None:
            raise ConfigurationError("a window request needs a duration (seconds)")
        return cls.create(
            provider=kwargs.get("provider"),
            duration=duration,
            max_delay=seconds("max_delay"),
            finish_by=parse_finish_by(kwargs.get("finish_by")),
            policy=kwargs.get("policy", WINDOW_DEFAULTS.policy),
            max_intensity=kwargs.get("max_intensity", WINDOW_DEFAULTS.max_intensity),
            min_savings_pct=kwargs.get("min_savings_pct", WINDOW_DEFAULTS.min_savings_pct),
            on_provider_error=kwargs.get("on_provider_error", WINDOW_DEFAULTS.on_provider_error),
            replan_interval=seconds("replan_interval"),
        )

    @staticmethod
    def plain_kwargs(given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` (plain kwargs, some left out) with every window argument present: the
        left-out ones take their defaults. A name that is not a window argument is refused
        (``TypeError``, as a signature would), so a typo cannot pass unseen."""
        unknown = sorted(set(given) - set(WINDOW_KWARGS))
        if unknown:
            raise TypeError(
                f"unexpected window argument(s) {', '.join(unknown)}; the window arguments are "
                f"{', '.join(WINDOW_KWARGS)}"
            )
        missing = [name for name in ("provider", "duration") if name not in given]
        if missing:
            raise TypeError(f"missing window argument(s): {', '.join(missing)}")
        defaults = WindowRequest.create(duration=WINDOW_DEFAULTS.duration).to_kwargs()
        return {**defaults, **given}


@dataclass(frozen=True)
class ChunkRequest:
    """How interruptible work may be cut: no piece shorter than ``min_chunk``, at most
    ``max_chunks`` pieces (both optional; restarts cost, so real jobs set them)."""

    min_chunk: timedelta | None = None
    max_chunks: int | None = None

    @classmethod
    def create(
        cls,
        duration: timedelta,
        min_chunk: timedelta | str | float | None = None,
        max_chunks: int | None = None,
    ) -> ChunkRequest:
        """Check the limits against the job's ``duration`` (messages from the chunk planner)."""
        check_chunk_limits(min_chunk, max_chunks, duration)
        return cls(
            None if min_chunk is None else parse_duration(min_chunk, "min_chunk"), max_chunks
        )


@dataclass(frozen=True)
class EnergyRequest:
    """What the work draws, so a receipt can report grams: ``power_kw`` (nominal draw),
    ``energy_kwh`` (given; it takes precedence) or ``mode="measured"`` (CodeCarbon around the
    work, extra ``[measure]``; a failed measurement falls back to the others). The optional SCI
    functional unit R rides along to the receipt."""

    power_kw: float | None = None
    energy_kwh: float | None = None
    mode: EnergyMode = EnergyMode.NOMINAL
    sci_functional_unit: tuple[str, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", parse_energy_mode(self.mode))
        object.__setattr__(
            self, "sci_functional_unit", check_functional_unit(self.sci_functional_unit)
        )
        for name, value, unit in (
            ("power_kw", self.power_kw, "kilowatts"),
            ("energy_kwh", self.energy_kwh, "kilowatt-hours"),
        ):
            if value is not None and not (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
                and value > 0
            ):
                raise ConfigurationError(
                    f"{name} must be a positive number of {unit}, got {value!r}"
                )

    def to_kwargs(self) -> dict[str, Any]:
        return {"power_kw": self.power_kw, "energy_kwh": self.energy_kwh}


P = TypeVar("P")
Q = TypeVar("Q")


@dataclass(frozen=True)
class Providers(Generic[P]):
    """Where a request's intensities come from: one provider, or one per candidate location.

    ``by_label`` maps ``None`` to the one provider, or each location label to its provider
    (in the user's preference order). The values are whatever the holder keeps: an Airflow
    connection id or spec, a Prefect block reference, a provider; :meth:`map` / :meth:`amap`
    turn them into providers, and :meth:`plan` plans. Adapters forward through it and never
    branch on provider-or-locations themselves.
    """

    by_label: Mapping[str | None, P]

    @classmethod
    def of(cls, provider: P, locations: Mapping[str, P] | None = None) -> Providers[P]:
        """``locations`` if given (label → provider), else the one ``provider``."""
        return cls.across(locations) if locations else cls({None: provider})

    @classmethod
    def across(cls, locations: Mapping[str, P]) -> Providers[P]:
        """One provider per candidate location (label → provider, in preference order)."""
        by_label: dict[str | None, P] = dict(locations.items())
        return cls(by_label)

    @classmethod
    def checked(
        cls, provider: Any, locations: Mapping[str, Any] | None, reference: Callable[[Any], P]
    ) -> Providers[P]:
        """The user's ``provider`` or ``locations`` through the adapter's ``reference`` check
        (locations: labels and values, see :func:`~cleanshift_core.location.check_locations`).
        Giving both is refused."""
        if locations is None:
            return cls({None: reference(provider)})
        if provider is not None:
            raise ConfigurationError(
                "pass either provider= or locations={label: provider, ...}, not both"
            )
        return cls.across(check_locations(locations, reference))

    @property
    def locations(self) -> dict[str, P] | None:
        """Label → provider when the location is chosen with the start, else ``None``."""
        located = {label: p for label, p in self.by_label.items() if label is not None}
        return located or None

    @property
    def provider(self) -> P:
        """The one provider, or the first location's (used when no location's answers)."""
        return next(iter(self.by_label.values()))

    def map(self, resolve: Callable[[P], Q]) -> Providers[Q]:
        return Providers({label: resolve(p) for label, p in self.by_label.items()})

    async def amap(self, resolve: Callable[[P], Awaitable[Q]]) -> Providers[Q]:
        return Providers({label: await resolve(p) for label, p in self.by_label.items()})

    def for_plan(self, plan: Plan) -> P:
        """The provider of the plan's location (waits, re-plans and receipts ask it)."""
        return self.by_label.get(plan.location, self.provider)

    async def plan(self, job: JobSpec, rules: SchedulingRules, clock: Clock = SYSTEM_CLOCK) -> Plan:
        """Plan with these providers (providers or specs by now): :func:`plan_request`."""
        return await plan_request(self.provider, job, rules, clock, locations=self.locations)


async def plan_request(
    provider: Any,
    job: JobSpec,
    rules: SchedulingRules,
    clock: Clock = SYSTEM_CLOCK,
    *,
    locations: Mapping[str, Any] | None = None,
) -> Plan:
    """Plan with ``provider``, or, given ``locations`` (label → provider), choose the location
    and the start together: the one plan-by-location branch the Airflow trigger and the
    Prefect runtime share. Providers may be provider objects or specs."""
    if locations:
        return await plan_across_locations(locations, job, rules, clock)
    return await plan_job(provider, job, rules, clock)
