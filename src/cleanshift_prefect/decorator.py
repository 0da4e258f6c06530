"""``@carbon_window``: make a Prefect flow or task run in the cleanest grid window.

Put it under ``@flow``/``@task`` (or over them: it then returns a flow/task with the same
options), on sync or async functions. Every argument is validated when the decorator is
applied, with core's messages, so a mistake fails at import, not when the window opens.

Where it goes decides what waits: on a flow run from a deployment, the run reschedules itself
to the window and its process exits (the infrastructure is free for the wait); on a task (or
a local flow), the wait is an async sleep inside the flow run's process, which stays up.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from prefect import Flow, Task

from cleanshift_core import (
    WINDOW_DEFAULTS,
    ConfigurationError,
    EnergyRequest,
    GridIntensityProvider,
    OnProviderError,
    Policy,
    Providers,
    WindowRequest,
)
from cleanshift_core.measure import parse_energy_mode
from cleanshift_core.timeutil import SYSTEM_CLOCK, Clock, parse_duration

from . import runtime
from .blocks import GridIntensityCredentials
from .providers import ProviderArg, ProviderSource
from .runtime import CarbonConfig, Opened, Site, close_window, open_window, run_async

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Objects that are (or describe) a provider, not functions to decorate.
_PROVIDER_OBJECTS = (GridIntensityProvider, GridIntensityCredentials)


@overload
def carbon_window(provider: F) -> F: ...
@overload
def carbon_window(provider: ProviderArg = None, **options: Any) -> Callable[[F], F]: ...
def carbon_window(  # type: ignore[misc]  # overload 2 abbreviates the keyword options below
    provider: ProviderArg | Callable[..., Any] = None,
    *,
    duration: timedelta | str | float = WINDOW_DEFAULTS.duration,
    max_delay: timedelta | str | float | None = WINDOW_DEFAULTS.max_delay,
    finish_by: datetime | None = WINDOW_DEFAULTS.finish_by,
    policy: Policy | str = WINDOW_DEFAULTS.policy,
    max_intensity: float | None = WINDOW_DEFAULTS.max_intensity,
    min_savings_pct: float = WINDOW_DEFAULTS.min_savings_pct,
    on_provider_error: OnProviderError | str = WINDOW_DEFAULTS.on_provider_error,
    power_kw: float | None = None,
    energy: str = EnergyRequest.mode.value,
    sci_functional_unit: tuple[str, float] | None = None,
    replan_interval: timedelta | str | None = WINDOW_DEFAULTS.replan_interval,
    min_deferral: timedelta | str = timedelta(minutes=1),
    locations: Mapping[str, ProviderArg] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Any:
    """Run the decorated flow or task in the cleanest window before its deadline.

    On a flow whose run comes from a deployment (``serve()``, a worker), a wait of at least
    ``min_deferral`` leaves the process: the flow run moves itself to ``Scheduled`` (named
    ``Carbon window``) at the window's start and exits, and the runner or worker starts the
    same flow run again then. On a task, the wait holds the flow run's process, and so its
    infrastructure, for the whole wait: decorate the flow instead where freeing it matters.

    Args:
        provider: where intensities come from: a spec (``"mock:speedup=720"``,
            ``{"kind": "electricitymaps", "region": "DE", "api_key": ...}``, a list for a
            fallback chain), a :class:`GridIntensityCredentials` block, its name as
            ``"cleanshift-grid-intensity/<name>"``, or a provider object. Default: the
            embedded mock curve (no account needed).
        duration: how long the work runs; windows are this long ("2h", "45m", a timedelta;
            default 1 hour).
        max_delay: the latest start, relative to when the run starts.
        finish_by: the latest finish (timezone-aware); with ``max_delay`` the stricter holds.
        policy: ``min_carbon`` (default), ``threshold`` or ``now_or_never``.
        max_intensity: the gCO2eq/kWh limit of ``threshold`` and ``now_or_never``.
        min_savings_pct: do not wait for a gain smaller than this percentage (default 0).
        on_provider_error: ``run_now`` (default), ``wait_until_deadline`` or ``fail``.
        power_kw: average power draw, so receipts can report grams.
        energy: ``nominal`` (default: ``power_kw`` × running time) or ``measured``
            (CodeCarbon around the work, extra ``[measure]``; a failed measurement never
            fails the run, the receipt says why).
        sci_functional_unit: the SCI functional unit R, e.g. ``("rows", 1e6)``.
        replan_interval: re-read the forecast this often while waiting in-process (default:
            never).
        min_deferral: from a deployment, waits at least this long reschedule the flow run to
            the window and free its process; shorter ones are slept in-process.
        locations: choose the location and the start together: your label (a cloud region, a
            Kubernetes context) → that location's provider (any ``provider`` form). Instead of
            ``provider``. The function reads the choice with
            :func:`~cleanshift_prefect.current_location`; the receipt records it.
        clock: time source (tests inject one).
    """
    if callable(provider) and not isinstance(provider, _PROVIDER_OBJECTS):
        return carbon_window()(provider)
    request = WindowRequest.create(
        duration=duration,
        max_delay=max_delay,
        finish_by=finish_by,
        policy=policy,
        max_intensity=max_intensity,
        min_savings_pct=min_savings_pct,
        on_provider_error=on_provider_error,
        replan_interval=replan_interval,
    )
    draw = EnergyRequest(
        power_kw, mode=parse_energy_mode(energy), sci_functional_unit=sci_functional_unit
    )
    if request.rules.policy is Policy.HALT_IF_DIRTY:
        raise ConfigurationError(
            "policy='halt_if_dirty' pauses a child process, which a Prefect task cannot be; use "
            "policy='min_carbon' or 'threshold', or cleanshift_core.carbon_window inside the task"
        )
    deferral = parse_duration(min_deferral, "min_deferral")
    if deferral < timedelta(0):
        raise ConfigurationError(f"min_deferral must be zero or positive, got {min_deferral!r}")
    sources = Providers.checked(provider, locations, ProviderSource)
    config = CarbonConfig(
        sources.provider,
        request.job,
        request.rules,
        draw.power_kw,
        request.replan_interval,
        deferral,
        clock,
        sources.locations,
        draw.mode,
        draw.sci_functional_unit,
    )

    def decorate(target: F) -> F:
        if isinstance(target, (Flow, Task)):
            copy = target.with_options()
            copy.fn = _wrap(target.fn, config)
            return copy  # type: ignore[return-value]
        if not callable(target) or inspect.isclass(target):
            raise ConfigurationError(
                "@carbon_window decorates a function, a @flow or a @task, "
                f"not {type(target).__name__}"
            )
        if inspect.isasyncgenfunction(target) or inspect.isgeneratorfunction(target):
            raise ConfigurationError(
                f"@carbon_window cannot wrap the generator {target.__name__!r}: its work runs "
                "after the call returns, outside the window; return results instead of yielding"
            )
        return _wrap(target, config)  # type: ignore[return-value]

    return decorate


def _wrap(func: Callable[..., Any], config: CarbonConfig) -> Callable[..., Any]:
    """The wrappers reach the current-plan context variable through the ``runtime`` module, not
    by name: ``serve()`` cloudpickles a flow's function by value with the globals it names, and
    a ContextVar cannot be pickled (every served run would crash before it starts)."""
    name = getattr(func, "__name__", "job")

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            site = Site.locate(async_wrapper, name)
            opened = await open_window(config, site)
            if not isinstance(opened, Opened):
                return opened
            with runtime.running_plan(opened.plan):
                result = await func(*args, **kwargs)
            await close_window(config, site, opened)
            return result

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        site = Site.locate(wrapper, name)
        opened = run_async(open_window(config, site))
        if not isinstance(opened, Opened):
            return opened
        with runtime.running_plan(opened.plan):
            result = func(*args, **kwargs)
        run_async(close_window(config, site, opened))
        return result

    return wrapper
