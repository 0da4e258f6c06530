"""What a decorated flow or task does when it runs: plan, defer or wait, run, settle.

The steps themselves (planning, fallback on provider errors, waiting with re-planning,
receipts) are cleanshift_core's; this module only decides *how to wait* for the place the
code runs in, and reports to Prefect (logs, states, artifacts, events).

- The body of a flow run created from a deployment, when the wait is at least
  ``min_deferral``, reschedules *itself* to the window's start and exits (:mod:`.deferral`):
  the same flow run starts again when the window opens, so it stays one flow run.
- Anything else (tasks, local flows, in-process subflows, short waits) waits in-process with
  an async sleep: other tasks keep running, and a progress artifact fills up. A task-level
  window therefore holds its flow run's process (and infrastructure) for the whole wait.

A retried flow run (its run count above one) plans again with its deadline measured from
the run's first start, not from the retry.

While waiting in-process, artifact writes go through the step's :class:`.outbox.Outbox`: the
sleep target is the plan's start on the clock, never "when the last write returned", so a slow
Prefect API cannot make a step wake late; the writes are awaited before the step returns
(by :func:`close_window`; if the work raises, the few still in flight, normally none after a
whole wait, finish in the background on the step's event loop).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import Pause
from prefect.logging import get_run_logger
from prefect.states import Completed, Running, State

from cleanshift_core import (
    JobSkipped,
    JobSpec,
    Plan,
    Providers,
    SchedulingRules,
    settle_receipt,
    wait_for_window,
)
from cleanshift_core.measure import EnergyMeter, EnergyMode
from cleanshift_core.timeutil import SYSTEM_CLOCK, Clock, format_duration

from .artifacts import (
    ArtifactKeys,
    WaitProgress,
    announce_window,
    complete_wait_progress,
    publish_deferral,
    publish_receipt,
    start_wait_progress,
)
from .deferral import PendingWait, forget_plan, not_an_attempt, pending_plan, reschedule
from .outbox import Outbox
from .providers import ProviderSource

#: Name of the Running state a local flow run shows while it waits for its window.
LOCAL_WAIT_STATE_NAME = "Waiting for carbon window"

T = TypeVar("T")


@dataclass(frozen=True)
class CarbonConfig:
    """Everything ``@carbon_window`` validated at decoration time."""

    provider: ProviderSource
    job: JobSpec
    rules: SchedulingRules
    power_kw: float | None
    replan_interval: timedelta | None
    min_deferral: timedelta
    clock: Clock = SYSTEM_CLOCK
    #: label → provider, when the location is chosen together with the start.
    locations: dict[str, ProviderSource] | None = None
    #: ``measured``: CodeCarbon around the work (the receipt's energy); SCI unit R if given.
    energy: EnergyMode = EnergyMode.NOMINAL
    sci_functional_unit: tuple[str, float] | None = None

    @property
    def providers(self) -> Providers[ProviderSource]:
        """The locations' providers, or the one ``provider``."""
        return Providers.of(self.provider, self.locations)

    async def plan(self, first_start: datetime | None = None) -> Plan:
        """Plan now; a retry passes its run's ``first_start`` and keeps that run's deadline."""
        job = self.job if first_start is None else self.job.retried(first_start, self.clock.now())
        resolved = await self.providers.amap(ProviderSource.get)
        return await resolved.plan(job, self.rules, self.clock)

    async def provider_for(self, plan: Plan) -> Any:
        """The provider of the plan's location (waits, re-plans and receipts ask it)."""
        return await self.providers.for_plan(plan).get()


#: The plan of the decorated call that is running now (see :func:`current_plan`).
CURRENT_PLAN: ContextVar[Plan | None] = ContextVar("cleanshift_current_plan", default=None)


@contextmanager
def running_plan(plan: Plan) -> Iterator[None]:
    """Make ``plan`` the :func:`current_plan` while the decorated call runs."""
    token = CURRENT_PLAN.set(plan)
    try:
        yield
    finally:
        CURRENT_PLAN.reset(token)


def run_async(coro: Awaitable[T]) -> T:
    """Run ``coro`` from sync code, keeping Prefect's run context (a context variable).

    With no loop in this thread, ``asyncio.run`` copies the context itself; under a running
    loop (a sync task called from async code) a helper thread runs it in a copy of ours.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coro).result()  # type: ignore[arg-type]


def current_plan() -> Plan | None:
    """Inside a ``@carbon_window`` function: the plan it runs under (``None`` elsewhere)."""
    return CURRENT_PLAN.get()


def current_location() -> str | None:
    """Inside a ``@carbon_window(locations=...)`` function: the location chosen for it."""
    plan = CURRENT_PLAN.get()
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
    meter: EnergyMeter | None = None


async def open_window(config: CarbonConfig, site: Site) -> Opened | State:
    """Plan (or pick up the plan this run waited with), then wait; a State means: do not run.

    A deployment run that leaves its process to wait raises Prefect's ``Pause`` signal.
    """
    log, clock = site.logger, config.clock
    pending = await pending_plan(site.flow_run) if site.flow_run is not None else None
    if pending is not None:
        plan = pending.plan
        await _resume(site, pending)
    else:
        try:
            plan = await config.plan(await _first_start_of_retry(site))
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
                await _leave_process(site, plan, clock)  # returns only if the server refused
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
    meter = EnergyMeter() if config.energy is EnergyMode.MEASURED else None
    if meter is not None:
        meter.start()
    return Opened(plan, clock.now(), meter)


async def close_window(config: CarbonConfig, site: Site, opened: Opened) -> None:
    """Settle and publish the receipt of a finished run, and await every artifact write the
    call started (the ones :func:`open_window` left running while the work ran, too)."""
    provider = await config.provider_for(opened.plan)
    finished = config.clock.now()
    reading = opened.meter.stop() if opened.meter is not None else None
    receipt = await settle_receipt(
        provider,
        opened.plan,
        [(opened.ran_at, finished)],
        power_kw=config.power_kw,
        energy=reading,
        sci_functional_unit=config.sci_functional_unit,
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


async def _first_start_of_retry(site: Site) -> datetime | None:
    """When the flow run whose body this is runs again (a retry), its first start."""
    if site.flow_run is None:
        return None
    async with get_client() as client:
        run = await client.read_flow_run(site.flow_run.id)
    if run.run_count <= 1 or run.start_time is None:
        return None
    # The client's datetime type is not always a plain aware datetime: normalise it.
    start = datetime.fromisoformat(run.start_time.isoformat())
    return start if start.tzinfo is not None else start.replace(tzinfo=timezone.utc)


async def _leave_process(site: Site, plan: Plan, clock: Clock) -> None:
    """Reschedule this deployment run to the window's start and end its process (``Pause``).

    Returns only if the server refused the ``Scheduled`` state; the caller then waits here.
    """
    assert site.flow_run is not None
    progress = await start_wait_progress(site.keys, site.name, plan)
    await publish_deferral(
        site.keys,
        site.name,
        plan,
        f"this flow run, rescheduled for {plan.start.isoformat()}; its process exits and frees "
        "its infrastructure until the runner or worker starts it again in the window",
    )
    now = clock.now()
    state = await reschedule(
        site.flow_run.id, PendingWait(plan, progress), waiting_message(plan, now), now
    )
    if state is None:
        await forget_plan(site.flow_run.id)
        site.logger.warning(
            "Prefect refused to reschedule this flow run to the carbon window; waiting in-process"
        )
        return
    site.logger.info(
        "Rescheduled this flow run to the carbon window at %s; its process exits now and the "
        "runner or worker starts it again then",
        plan.start.isoformat(),
    )
    raise Pause(state=state)


async def _resume(site: Site, pending: PendingWait) -> None:
    """The run is back at its window: log it, drop the stored plan, fill the progress."""
    assert site.flow_run is not None
    if pending.deferred_from is not None:
        site.logger.info(
            "Continuing the work deferred by flow run %s: carbon window planned for %s (%s)",
            pending.deferred_from,
            pending.plan.start.isoformat(),
            pending.plan.reason,
        )
        return
    site.logger.info(
        "Back at the carbon window planned for %s (%s)",
        pending.plan.start.isoformat(),
        pending.plan.reason,
    )
    await forget_plan(site.flow_run.id)
    if pending.progress_artifact_id is not None:
        await complete_wait_progress(pending.progress_artifact_id)


def waiting_message(plan: Plan, now: datetime) -> str:
    """Why a run waits: the start it waits for and what that saves."""
    saving = plan.expected_savings_pct
    return (
        f"Waiting for the carbon window at {plan.start.isoformat()} "
        f"(in {format_duration(max(plan.start - now, timedelta(0)))}): expected "
        f"{_fmt(plan.expected_intensity)} vs {_fmt(plan.immediate_intensity)} gCO2eq/kWh now"
        + ("" if saving is None else f", {saving:.1f}% less")
    )


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
        site,
        Running(name=LOCAL_WAIT_STATE_NAME, message=waiting_message(plan, clock.now())),
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
    """Record the wait in the state history of a flow run whose body is waiting.

    These ``Running`` states are not attempts: each is marked so the server does not count it
    (otherwise the wait would use up the flow's ``retries``).
    """
    if site.flow_run is None:
        return
    async with get_client() as client:
        await not_an_attempt(client, site.flow_run.id)
        await client.set_flow_run_state(site.flow_run.id, state, force=True)


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f}"
