"""The seed's Python API, kept: ``carbon_window`` and ``find_cleanest_window``.

``carbon_window(...)`` works as a context manager (sync and async) and as a decorator (sync
and async functions). It plans on the forecast, waits until the window opens, runs the work
and leaves a :class:`~cleanshift_core.receipt.CarbonReceipt` on ``window.receipt`` (or
``func.last_receipt``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ConfigurationError
from .halting import HaltController, require_posix, run_function_halting
from .job import JobSpec
from .measure import (
    EnergyMeter,
    EnergyMode,
    EnergyReading,
    parse_energy_mode,
)
from .plan import Plan
from .policies import OnProviderError, Policy, SchedulingRules
from .providers.base import GridIntensityProvider
from .providers.mock import MockProvider
from .providers.spec import ProviderSpec, build_provider
from .receipt import CarbonReceipt
from .request import WINDOW_DEFAULTS, EnergyRequest, WindowRequest
from .scheduling import plan_job, settle_receipt, wait_for_window
from .timeutil import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from typing_extensions import Self

T = TypeVar("T")


def run_sync(coro: Awaitable[T]) -> T:
    """Run ``coro`` to completion from synchronous code, even inside a running event loop
    (then in a helper thread, because nesting loops is not allowed)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


class CarbonWindow:
    """One carbon-aware execution; create it with :func:`carbon_window`."""

    def __init__(
        self,
        provider: GridIntensityProvider,
        job: JobSpec,
        rules: SchedulingRules,
        *,
        power_kw: float | None,
        poll_interval_seconds: float,
        replan_interval: timedelta | None,
        clock: Clock,
        energy: EnergyMode = EnergyMode.NOMINAL,
        sci_functional_unit: tuple[str, float] | None = None,
    ) -> None:
        self.provider = provider
        self.job = job
        self.rules = rules
        self.power_kw = power_kw
        self.poll_interval_seconds = poll_interval_seconds
        self.replan_interval = replan_interval
        self.clock = clock
        self.energy = energy
        self.sci_functional_unit = sci_functional_unit
        self._meter: EnergyMeter | None = None
        self.plan: Plan | None = None
        self.receipt: CarbonReceipt | None = None
        self._ran_at: datetime | None = None

    # -------------------------------------------------------------- shared steps
    async def _open(self) -> None:
        self.plan = await plan_job(self.provider, self.job, self.rules, self.clock)
        self.plan = await wait_for_window(
            self.provider,
            self.plan,
            self.rules,
            replan_interval=self.replan_interval,
            clock=self.clock,
        )
        self._ran_at = self.clock.now()
        if self.energy is EnergyMode.MEASURED:
            self._meter = EnergyMeter()
            self._meter.start()

    async def _close(self, intervals: list[tuple[datetime, datetime]] | None = None) -> None:
        assert self.plan is not None and self._ran_at is not None
        intervals = intervals or [(self._ran_at, self.clock.now())]
        reading: EnergyReading | None = self._meter.stop() if self._meter is not None else None
        self._meter = None
        self.receipt = await settle_receipt(
            self.provider,
            self.plan,
            intervals,
            power_kw=self.power_kw,
            energy=reading,
            sci_functional_unit=self.sci_functional_unit,
        )

    def _refuse_halting_block(self) -> None:
        if self.rules.policy is Policy.HALT_IF_DIRTY:
            raise ConfigurationError(
                "policy='halt_if_dirty' pauses a child process, so it cannot wrap a with-block; "
                "decorate a function with @carbon_window(...) or use `cleanshift wait -- CMD`"
            )

    # -------------------------------------------------------------- context managers
    def __enter__(self) -> Self:
        self._refuse_halting_block()
        run_sync(self._open())
        return self

    def __exit__(self, *exc_info: object) -> None:
        run_sync(self._close())

    async def __aenter__(self) -> Self:
        self._refuse_halting_block()
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> bool:
        await self._close()
        return False

    # -------------------------------------------------------------- decorator
    def _fresh(self) -> CarbonWindow:
        return CarbonWindow(
            self.provider,
            self.job,
            self.rules,
            power_kw=self.power_kw,
            poll_interval_seconds=self.poll_interval_seconds,
            replan_interval=self.replan_interval,
            clock=self.clock,
            energy=self.energy,
            sci_functional_unit=self.sci_functional_unit,
        )

    async def _run_halting(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        await self._open()

        limit = self.rules.max_intensity
        assert limit is not None  # halt_if_dirty requires it (SchedulingRules)

        def controller(pid: int) -> HaltController:
            return HaltController(pid, self.provider, limit, self.poll_interval_seconds, self.clock)

        result, intervals = await run_function_halting(func, args, kwargs, controller)
        await self._close(intervals)
        return result

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap ``func`` so every call waits for its own window; see ``func.last_receipt``."""
        if self.rules.policy is Policy.HALT_IF_DIRTY:
            require_posix()

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                window = self._fresh()
                async_wrapper.last_window = window  # type: ignore[attr-defined]
                if self.rules.policy is Policy.HALT_IF_DIRTY:
                    result = await window._run_halting(func, args, kwargs)
                else:
                    async with window:
                        result = await func(*args, **kwargs)
                async_wrapper.last_receipt = window.receipt  # type: ignore[attr-defined]
                return result

            async_wrapper.last_receipt = None  # type: ignore[attr-defined]
            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            window = self._fresh()
            wrapper.last_window = window  # type: ignore[attr-defined]
            if self.rules.policy is Policy.HALT_IF_DIRTY:
                result = run_sync(window._run_halting(func, args, kwargs))
            else:
                with window:
                    result = func(*args, **kwargs)
            wrapper.last_receipt = window.receipt  # type: ignore[attr-defined]
            return result

        wrapper.last_receipt = None  # type: ignore[attr-defined]
        return wrapper


def carbon_window(
    provider: GridIntensityProvider
    | ProviderSpec
    | str
    | Mapping[str, Any]
    | list[Any]
    | None = None,
    max_delay_hours: float | None = None,
    policy: str | Policy = WINDOW_DEFAULTS.policy,
    max_intensity_gco2_per_kwh: float | None = WINDOW_DEFAULTS.max_intensity,
    poll_interval_seconds: float = 300.0,
    *,
    duration: timedelta | str | float = WINDOW_DEFAULTS.duration,
    max_delay: timedelta | str | None = WINDOW_DEFAULTS.max_delay,
    finish_by: datetime | None = WINDOW_DEFAULTS.finish_by,
    min_savings_pct: float = WINDOW_DEFAULTS.min_savings_pct,
    on_provider_error: str | OnProviderError = WINDOW_DEFAULTS.on_provider_error,
    power_kw: float | None = None,
    replan_interval: timedelta | str | None = WINDOW_DEFAULTS.replan_interval,
    energy: str | EnergyMode = EnergyRequest.mode,
    sci_functional_unit: tuple[str, float] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> CarbonWindow:
    """Create a carbon-aware execution window (context manager or decorator).

    Args:
        provider: a provider, or a spec (``"mock"``, ``{"kind": "file", "path": ...}``); the
            default is the embedded :class:`MockProvider` (no key, no server).
        max_delay_hours / max_delay: latest start, relative to entering the window.
        policy: ``min_carbon`` (default), ``threshold``, ``now_or_never`` or ``halt_if_dirty``.
        max_intensity_gco2_per_kwh: the limit for threshold-type policies.
        poll_interval_seconds: how often ``halt_if_dirty`` re-reads the intensity.
        duration: how long the work runs (default 1 hour); windows are this long.
        finish_by: latest finish (aware datetime); with ``max_delay`` the stricter one holds.
        min_savings_pct: do not wait for a gain smaller than this.
        on_provider_error: ``run_now`` (default), ``wait_until_deadline`` or ``fail``.
        power_kw: average power draw, to turn intensities into grams on the receipt.
        replan_interval: re-read the forecast this often while waiting (default: never).
        energy: ``nominal`` (default: ``power_kw`` × running time) or ``measured`` (CodeCarbon
            around the work, extra ``[measure]``; a failed measurement never fails the work).
        sci_functional_unit: the SCI functional unit R, e.g. ``("rows", 1e6)``.
        clock: time source (tests inject a fake one).
    """
    if max_delay_hours is not None and max_delay is not None:
        raise ConfigurationError("pass max_delay or max_delay_hours, not both")
    delay = max_delay if max_delay is not None else max_delay_hours
    request = WindowRequest.create(
        duration=duration,
        max_delay=delay,
        finish_by=finish_by,
        policy=policy,
        max_intensity=max_intensity_gco2_per_kwh,
        min_savings_pct=min_savings_pct,
        on_provider_error=on_provider_error,
        replan_interval=replan_interval,
    )
    draw = EnergyRequest(
        power_kw, mode=parse_energy_mode(energy), sci_functional_unit=sci_functional_unit
    )
    if draw.mode is EnergyMode.MEASURED and request.rules.policy is Policy.HALT_IF_DIRTY:
        raise ConfigurationError(
            "energy='measured' measures this process, but policy='halt_if_dirty' runs the work "
            "in a child process; use another policy or pass power_kw"
        )
    if not (isinstance(poll_interval_seconds, (int, float)) and poll_interval_seconds > 0):
        raise ConfigurationError(
            f"poll_interval_seconds must be positive, got {poll_interval_seconds!r}"
        )
    return CarbonWindow(
        build_provider(provider) if provider is not None else MockProvider(clock=clock),
        request.job,
        request.rules,
        power_kw=draw.power_kw,
        poll_interval_seconds=float(poll_interval_seconds),
        replan_interval=request.replan_interval,
        clock=clock,
        energy=draw.mode,
        sci_functional_unit=draw.sci_functional_unit,
    )


def find_cleanest_window(
    provider: GridIntensityProvider | ProviderSpec | str | Mapping[str, Any] | list[Any],
    duration_hours: float,
    max_delay_hours: float,
    clock: Clock = SYSTEM_CLOCK,
) -> datetime:
    """Start (aware UTC) of the cleanest ``duration_hours`` window starting within
    ``max_delay_hours`` from now: exact time-weighted means, O(n)."""
    job = JobSpec.create(duration=duration_hours, max_delay=max_delay_hours)
    plan = run_sync(plan_job(build_provider(provider), job, SchedulingRules(), clock))
    return plan.start
