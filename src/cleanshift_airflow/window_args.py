"""The carbon-window arguments shared by the sensor and the task form, validated at parse time.

Every check that can run without a clock or a connection runs in ``__init__`` (so in the DAG
processor), using the core's own validation, with messages that say what to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cleanshift_core import ConfigurationError, JobSpec, SchedulingRules, parse_duration
from cleanshift_core.providers.cache import DEFAULT_TTL
from cleanshift_core.timeutil import ensure_utc

from .hooks import ProviderArg, ProviderRef, provider_reference

#: Re-plan as often as the shared cache refreshes the forecast: a re-plan then costs at most
#: one fetch per region per refresh, however many tasks are waiting.
DEFAULT_REPLAN_INTERVAL = DEFAULT_TTL


def is_template(value: Any) -> bool:
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


@dataclass(frozen=True)
class CarbonWindowArgs:
    """Validated window arguments; ``finish_by`` may still be a Jinja template."""

    provider: ProviderRef
    duration: timedelta
    max_delay: timedelta | None
    finish_by: datetime | str | None
    rules: SchedulingRules
    replan_interval: timedelta | None

    @classmethod
    def create(
        cls,
        *,
        provider: ProviderArg,
        duration: timedelta | str,
        max_delay: timedelta | str | None = None,
        finish_by: datetime | str | None = None,
        policy: str = "min_carbon",
        max_intensity: float | None = None,
        min_savings_pct: float = 0.0,
        on_provider_error: str = "run_now",
        replan_interval: timedelta | str | None = DEFAULT_REPLAN_INTERVAL,
    ) -> CarbonWindowArgs:
        if finish_by is not None and not is_template(finish_by):
            finish_by = parse_finish_by(finish_by)
        job = JobSpec.create(
            duration, max_delay, finish_by if isinstance(finish_by, datetime) else None
        )
        rules = SchedulingRules(
            policy=policy,
            max_intensity=max_intensity,
            min_savings_pct=min_savings_pct,
            on_provider_error=on_provider_error,
        )
        if replan_interval is not None:
            replan_interval = parse_duration(replan_interval, "replan_interval")
            if replan_interval <= timedelta(0):
                raise ConfigurationError(
                    f"replan_interval must be positive, got {replan_interval}; e.g. '15m', "
                    "or None to never re-plan"
                )
        return cls(
            provider=provider_reference(provider),
            duration=job.duration,
            max_delay=job.max_delay,
            finish_by=finish_by,
            rules=rules,
            replan_interval=replan_interval,
        )

    def trigger_kwargs(self, finish_by: datetime | str | None = None) -> dict[str, Any]:
        """Keyword arguments of a :class:`~cleanshift_airflow.triggers.CarbonWindowTrigger`
        (``finish_by`` is the rendered value, or a template the triggerer renders)."""
        if isinstance(finish_by, datetime):
            finish_by = finish_by.isoformat()
        return {
            "provider": self.provider,
            "duration": self.duration.total_seconds(),
            "max_delay": None if self.max_delay is None else self.max_delay.total_seconds(),
            "finish_by": finish_by,
            "policy": self.rules.policy.value,
            "max_intensity": self.rules.max_intensity,
            "min_savings_pct": self.rules.min_savings_pct,
            "on_provider_error": self.rules.on_provider_error.value,
            "replan_interval": None
            if self.replan_interval is None
            else self.replan_interval.total_seconds(),
        }
