"""The scheduling request: every window, chunk and energy argument, declared and checked once.

The CLI, the Airflow sensors/operators/trigger and the Prefect decorators take the same
arguments (``duration``, ``max_delay``, ``finish_by``, ``policy``, ``power_kw``, ...). Each is
declared here, once, with its validation and its fix-it message; an adapter builds a request at
parse/decoration time and forwards it, and does not check an argument again. The checks reuse
the concept that owns them (:class:`~cleanshift_core.job.JobSpec` for the deadline,
:class:`~cleanshift_core.scheduling.SchedulingRules` for the policy, the chunk planner's limits),
so each message is written once in the whole tree.

A request travels as plain keyword arguments (:meth:`WindowRequest.to_kwargs`): numbers of
seconds, ISO strings and enum values, which an Airflow trigger serialises and a Prefect
parameter holds; :meth:`WindowRequest.from_kwargs` reads them back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .chunks import check_chunk_limits
from .errors import ConfigurationError
from .job import JobSpec
from .location import plan_across_locations
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
        max_delay: timedelta | str | float | None = None,
        finish_by: datetime | str | None = None,
        policy: str = "min_carbon",
        max_intensity: float | None = None,
        min_savings_pct: float = 0.0,
        on_provider_error: str = "run_now",
        replan_interval: timedelta | str | float | None = None,
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
        """The request :meth:`to_kwargs` wrote (``finish_by`` must be rendered by now)."""

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
            policy=kwargs.get("policy", "min_carbon"),
            max_intensity=kwargs.get("max_intensity"),
            min_savings_pct=kwargs.get("min_savings_pct", 0.0),
            on_provider_error=kwargs.get("on_provider_error", "run_now"),
            replan_interval=seconds("replan_interval"),
        )


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
