"""The carbon-window arguments of the sensors and the task form, validated at parse time.

The arguments, their defaults (:data:`~cleanshift_core.WINDOW_DEFAULTS`) and their checks are
the core's :class:`~cleanshift_core.WindowRequest`; this module adds only what is Airflow's:
the provider reference (a connection id or a spec), a templated ``finish_by`` and the default
``replan_interval``. Every check runs in ``__init__`` (so in the DAG processor).
"""

from __future__ import annotations

from typing import Any

from cleanshift_core import WindowRequest
from cleanshift_core.providers.cache import DEFAULT_TTL

from .hooks import ConnectionOrSpec, provider_reference

__all__ = ["DEFAULT_REPLAN_INTERVAL", "carbon_window_request"]

#: Re-plan as often as the shared cache refreshes the forecast: a re-plan then costs at most
#: one fetch per region per refresh, however many tasks are waiting.
DEFAULT_REPLAN_INTERVAL = DEFAULT_TTL


def carbon_window_request(*, provider: ConnectionOrSpec, **window: Any) -> WindowRequest:
    """The core request from an Airflow task's window arguments (``finish_by`` may be a
    template); what is left out takes the core's default."""
    return WindowRequest.create(provider=provider_reference(provider), templated=True, **window)
