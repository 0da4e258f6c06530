"""What a decorated flow or task does when it runs: plan, defer or wait, run, settle.

The steps themselves (planning, fallback on provider errors, waiting with re-planning,
receipts) are cleanshift_core's; this module only decides *how to wait* for the place the
code runs in, and reports to Prefect (logs, states, artifacts, events).

- The body of a flow run created from a deployment hands its work to a scheduled
  continuation and exits (:mod:`.deferral`), when the wait is at least ``min_deferral``.
- Anything else (tasks, local flows, subflows, short waits) waits in-process with an async
  sleep: other tasks keep running, and a progress artifact fills up.

While waiting in-process, artifact writes go through the step's :class:`.outbox.Outbox`: the
sleep target is the plan's start on the clock, never "when the last write returned", so a slow
Prefect API cannot make a step wake late; the writes are awaited before the step returns
(by :func:`close_window`; if the work raises, the few still in flight, normally none after a
whole wait, finish in the background on the step's event loop).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging import get_run_logger
from prefect.states import Completed, Running, State

from cleanshift_core import (
    JobSkipped,
    JobSpec,
    Plan,
    SchedulingRules,
    plan_across_locations,
    plan_job,
    settle_receipt,
    wait_for_window,
)
from cleanshift_core.timeutil import SYSTEM_CLOCK, Clock, format_duration

from .artifacts import (
    ArtifactKeys,
    WaitProgress,
    announce_window,
    publish_deferral,
    publish_receipt,
)
from .deferral import continuation_plan, deferred_from, deferred_state, schedule_continuation
from .outbox import Outbox
from .providers import ProviderRef

#: Name of the Running state a local flow run shows while it waits for its window.
LOCAL_WAIT_STATE_NAME = "Waiting for carbon window"


@dataclass(frozen=True)
class CarbonConfig:
    """Everything ``@carbon_window`` validated at decoration time."""

    provider: ProviderRef
    job: JobSpec
    rules: SchedulingRules
    power_kw: float | None
    replan_interval: timedelta | None
    min_deferral: timedelta
    clock: Clock = SYSTEM_CLOCK
    #: label → provider, when the location is chosen together with the start.
    locations: dict[str, ProviderRef] | None = None

    async def plan(self) -> Plan:
        if self.locations:
            providers = {label: await ref.get() for label, ref in self.locations.items()}
            return await plan_across_locations(providers, self.job, self.rules, self.clock)
        return await plan_job(await self.provider.get(), self.job, self.rules, self.clock)

    async def provider_for(self, plan: Plan) -> Any:
        """The provider of the plan's location (waits, re-plans and receipts ask it)."""
        if self.locations and plan.location in self.locations:
            return await self.locations[plan.location].get()
        return await self.provider.get()


#: The plan of the decorated call that is running now (see :func:`current_plan`).
_CURRENT_PLAN: ContextVar[Plan | None] = ContextVar("cleanshift_current_plan", default=None)


def current_plan() -> Plan | None:
    """Inside a ``@carbon_window`` function: the plan it runs under (``None`` elsewhere)."""
    return _CURRENT_PLAN.get()


def current_location() -> str | None:
    """Inside a ``@carbon_window(locations=...)`` function: the location chosen for it."""
    plan = _CURRENT_PLAN.get()
    return plan.location if plan is not None else None


@dataclass(frozen=True)
class Site:
    """Where a decorated callable is running, as far as waiting and reporting go."""

    name: str
    keys: ArtifactKeys
    logger: logging.Logger | logging.LoggerAdapter
    in_run: bool
    #: Set only when the callable *is* the body of the current flow run.
    flow_run: FlowRun | None
    run_id: UUID | None
    #: Whether one event loop runs the whole call (an async callable). A sync callable runs
    #: :func:`open_window` and :func:`close_window` in loops of their own, and a loop's
    #: unfinished tasks die with it: each step must then await its writes before it returns.
    one_loop: bool = False
    #: Artifact writes this call has started and not yet awaited.
    outbox: Outbox = field(default_factory=Outbox)

    @classmethod
    def locate(cls, wrapper: Callable[..., Any], fallback_name: str) -> Site:
        task_ctx, flow_ctx = TaskRunContext.get(), FlowRunContext.get()
        one_loop = inspect.iscoroutinefunction(wrapper)
        if task_ctx is not None:
            name = task_ctx.task.name if task_ctx.task.fn is wrapper else fallback_name
            return cls(
                name,
                ArtifactKeys.for_name(name),
                get_run_logger(),
                True,
                None,
                task_ctx.task_run.flow_run_id,
                one_loop,
            )
        if flow_ctx is not None and flow_ctx.flow_run is not None and flow_ctx.flow is not None:
            is_body = flow_ctx.flow.fn is wrapper
            name = flow_ctx.flow.name if is_body else fallback_name
            return cls(
                name,
                ArtifactKeys.for_name(name),
                get_run_logger(),
                True,
                flow_ctx.flow_run if is_body else None,
                flow_ctx.flow_run.id,
                one_loop,
            )
        return cls(
            fallback_name,
            ArtifactKeys.for_name(fallback_name),
            logging.getLogger("cleanshift_prefect"),
            False,
            None,
            None,
            one_loop,
        )

    @property
    def can_defer(self) -> bool:
        return self.flow_run is not None and self.flow_run.deployment_id is not None


@dataclass(frozen=True)
class Opened:
    """The window is open: run the work now, then settle with this plan."""

    plan: Plan
    ran_at: datetime


async def open_window(config: CarbonConfig, site: Site) -> Opened | State:
    """Plan (or pick up a deferred plan), then defer or wait; a State means: do not run now."""
    log, clock = site.logger, config.clock
    plan = continuation_plan(site.flow_run) if site.flow_run is not None else None
    if plan is not None and site.flow_run is not None:
        log.info(
            "Continuing the work deferred by flow run %s: carbon window planned for %s (%s)",
            deferred_from(site.flow_run),
            plan.start.isoformat(),
            plan.reason,
        )
    else:
        try:
            plan = await config.plan()
        except JobSkipped as exc:
            log.warning("%s", exc)
            return Completed(name="Skipped", message=str(exc))
        now = clock.now()
        log.info(
            "Carbon plan for %s: start %s (in %s), expected %s vs %s gCO2eq/kWh now; %s",
            site.name,
            plan.start.isoformat(),
            format_duration(max(plan.start - now, timedelta(0))),
            _fmt(plan.expected_intensity),
            _fmt(plan.immediate_intensity),
            plan.reason,
        )
        if plan.start > now:
            if site.can_defer and plan.start - now >= config.min_deferral:
                return await _defer(site, plan, clock)
            if site.in_run:
                site.outbox.post(
                    publish_deferral(
                        site.keys,
                        site.name,
                        plan,
                        "waiting in this process with an async sleep (other tasks keep running)",
                    )
                )
    if plan.start > clock.now():
        plan = await _wait_here(config, site, await config.provider_for(plan), plan)
    if site.in_run:
        announce_window(site.name, site.keys, plan, site.run_id)
    if not site.one_loop:
        await site.outbox.flush()
    log.info("Carbon window open: running %s", site.name)
    return Opened(plan, clock.now())


async def close_window(config: CarbonConfig, site: Site, opened: Opened) -> None:
    """Settle and publish the receipt of a finished run, and await every artifact write the
    call started (the ones :func:`open_window` left running while the work ran, too)."""
    provider = await config.provider_for(opened.plan)
    receipt = await settle_receipt(
        provider, opened.plan, [(opened.ran_at, config.clock.now())], power_kw=config.power_kw
    )
    savings = receipt.estimated_savings_pct
    site.logger.info(
        "Carbon receipt for %s: %s gCO2eq/kWh vs %s if run immediately (%s; basis %s%s)",
        site.name,
        _fmt(receipt.avg_intensity_gco2_per_kwh),
        _fmt(receipt.counterfactual_avg_intensity),
        "savings unknown" if savings is None else f"{savings:.1f}% saved",
        receipt.intensity_basis.value if receipt.intensity_basis else "none",
        ", an estimate" if receipt.is_estimate else "",
    )
    if site.in_run:
        site.outbox.post(publish_receipt(site.keys, site.name, opened.plan, receipt))
    await site.outbox.flush()


async def _defer(site: Site, plan: Plan, clock: Clock) -> State:
    assert site.flow_run is not None
    continuation = await schedule_continuation(site.flow_run, plan, clock.now())
    await publish_deferral(
        site.keys,
        site.name,
        plan,
        f"flow run `{continuation.name}` ({continuation.id}), scheduled for "
        f"{plan.start.isoformat()}; this run's process exits and frees its infrastructure",
    )
    site.logger.info(
        "Deferring to the carbon window: flow run %r (%s) is scheduled for %s; this run ends now "
        "and releases its process",
        continuation.name,
        continuation.id,
        plan.start.isoformat(),
    )
    return deferred_state(plan, continuation)


async def _wait_here(config: CarbonConfig, site: Site, provider: Any, plan: Plan) -> Plan:
    """Async wait with a progress artifact; a local flow run also shows it in its states.

    The progress moves when the wait begins, when a re-plan moves the window and when the
    window opens: moments the step is awake anyway, so it needs no timer of its own. A clock
    with an async ``sleep`` (a test's) also decides how the wait passes.
    """
    clock = config.clock
    progress = (
        WaitProgress(site.outbox, site.keys, site.name, plan, clock.now()) if site.in_run else None
    )

    def moved(new_plan: Plan) -> None:
        site.logger.info(
            "Carbon window moved to %s: %s", new_plan.start.isoformat(), new_plan.reason
        )
        if progress is not None:
            progress.update(clock.now(), new_plan.start)

    site.logger.info("Waiting in-process until %s for the carbon window", plan.start.isoformat())
    await _set_flow_state(
        site, Running(name=LOCAL_WAIT_STATE_NAME, message=f"until {plan.start.isoformat()}")
    )
    plan = await wait_for_window(
        provider,
        plan,
        config.rules,
        replan_interval=config.replan_interval,
        clock=clock,
        sleep=getattr(clock, "sleep", None),
        on_replan=moved,
    )
    if progress is not None:
        progress.update(clock.now(), plan.start)
    await _set_flow_state(site, Running())
    return plan


async def _set_flow_state(site: Site, state: State) -> None:
    """Record the wait in the state history of a local flow run whose body is waiting."""
    if site.flow_run is None:
        return
    async with get_client() as client:
        await client.set_flow_run_state(site.flow_run.id, state, force=True)


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f}"
