"""The carbon-window arguments of the sensors and the task form, validated at parse time.

The arguments and their checks are the core's :class:`~cleanshift_core.WindowRequest`; this
module adds only what is Airflow's: the provider reference (a connection id or a spec) and the
default ``replan_interval``. Every check runs in ``__init__`` (so in the DAG processor).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cleanshift_core import WindowRequest
from cleanshift_core.providers.cache import DEFAULT_TTL

from .hooks import ProviderArg, provider_reference

__all__ = ["DEFAULT_REPLAN_INTERVAL", "carbon_window_request"]

#: Re-plan as often as the shared cache refreshes the forecast: a re-plan then costs at most
#: one fetch per region per refresh, however many tasks are waiting.
DEFAULT_REPLAN_INTERVAL = DEFAULT_TTL


def carbon_window_request(
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
) -> WindowRequest:
    """The core request from an Airflow task's arguments (``finish_by`` may be a template)."""
    return WindowRequest.create(
        provider=provider_reference(provider),
        duration=duration,
        max_delay=max_delay,
        finish_by=finish_by,
        policy=policy,
        max_intensity=max_intensity,
        min_savings_pct=min_savings_pct,
        on_provider_error=on_provider_error,
        replan_interval=replan_interval,
        templated=True,
    )
