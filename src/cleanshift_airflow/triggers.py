"""CarbonWindowTrigger: plan, wait and re-plan in the triggerer, then fire with the final plan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from airflow.triggers.base import (
    BaseTrigger,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)

from cleanshift_core import (
    CleanshiftError,
    JobSkipped,
    JobSpec,
    Plan,
    ProviderSpec,
    SchedulingRules,
    WindowRequest,
    plan_request,
    shared_provider,
    wait_for_window,
)
from cleanshift_core.timeutil import SYSTEM_CLOCK, Clock

from .hooks import ProviderRef, aresolve_spec, public_reference
from .keys import LOCATION_XCOM_KEY, PLAN_XCOM_KEY, RELEASED_AT_XCOM_KEY

#: Airflow's key for a task's return value (``task.output``).
XCOM_RETURN_KEY = "return_value"

TRIGGER_PATH = "cleanshift_airflow.triggers.CarbonWindowTrigger"


class CarbonWindowTrigger(BaseTrigger):
    """Wait for the cleanest window without holding a worker.

    Given a ``plan`` (JSON, made by the operator on the worker) it waits for that plan's start;
    without one (``start_from_trigger``) it plans first. While waiting it re-plans every
    ``replan_interval`` seconds on the shared, cached forecast (so a thousand triggers for one
    region cost one fetch per refresh); the core moves the start only for a real gain and never
    past the deadline. Sleeps are bounded steps that re-read the clock, like the standard
    ``DateTimeTrigger``, so clock steps cannot make it oversleep.

    ``serialize()`` holds only absolute times and the plan, so a triggerer restart resumes the
    same wait. The event payload is ``{"status": "ready", "plan": {...}}``, or ``"skipped"`` /
    ``"failed"`` with a ``message`` (the plan travels in the event because ``dag.test()``
    drops defer kwargs).

    The plan it waits for is also written to the task's ``cleanshift_plan`` XCom whenever it
    changes (planned here, or moved by a re-plan), so the UI shows it during the wait.

    With ``end_from_trigger`` it ends the task itself instead (Airflow's convention, as in
    ``DateTimeTrigger``): a ``TaskSuccessEvent`` carrying the XComs the sensor's
    ``execute_complete`` would push (the plan and the released-at instant), or a
    ``TaskSkippedEvent`` / ``TaskFailedEvent`` (retries still apply). No worker resumes the
    task, so a thousand windows opening at once cost the triggerer one database write each
    and no worker slots, and the event itself stays a few bytes.

    One INFO line per trigger (when the window opens, with how often it re-planned); planning
    and re-planning log at DEBUG, because a thousand triggers firing together would otherwise
    write thousands of lines at the instant they should be handing over their events.

    With ``locations`` (your label → provider reference) it chooses the location and the start
    together (:func:`~cleanshift_core.plan_across_locations`); the plan names the location, and
    re-plans move the start within it. ``provider`` is then the location used when no
    location's provider answers.

    ``clock`` and ``sleep`` are for tests and are not serialised.
    """

    def __init__(
        self,
        *,
        provider: ProviderRef,
        duration: float,
        max_delay: float | None = None,
        finish_by: str | None = None,
        policy: str = "min_carbon",
        max_intensity: float | None = None,
        min_savings_pct: float = 0.0,
        on_provider_error: str = "run_now",
        replan_interval: float | None = None,
        plan: str | None = None,
        locations: Mapping[str, ProviderRef] | None = None,
        end_from_trigger: bool = False,
        soft_fail: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        super().__init__()
        self.provider = provider
        self.duration = float(duration)
        self.max_delay = None if max_delay is None else float(max_delay)
        self.finish_by = finish_by
        self.policy = policy
        self.max_intensity = max_intensity
        self.min_savings_pct = float(min_savings_pct)
        self.on_provider_error = on_provider_error
        self.replan_interval = None if replan_interval is None else float(replan_interval)
        self.plan = plan
        self.locations = dict(locations) if locations else None
        self.end_from_trigger = bool(end_from_trigger)
        self.soft_fail = bool(soft_fail)
        self.clock = clock
        self.sleep = sleep

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return TRIGGER_PATH, self._kwargs(self.provider, self.locations)

    def _kwargs(
        self, provider: ProviderRef, locations: Mapping[str, ProviderRef] | None = None
    ) -> dict[str, Any]:
        return {
            "provider": provider,
            "duration": self.duration,
            "max_delay": self.max_delay,
            "finish_by": self.finish_by,
            "policy": self.policy,
            "max_intensity": self.max_intensity,
            "min_savings_pct": self.min_savings_pct,
            "on_provider_error": self.on_provider_error,
            "replan_interval": self.replan_interval,
            "plan": self.plan,
            "locations": self.locations if locations is None else dict(locations),
            "end_from_trigger": self.end_from_trigger,
            "soft_fail": self.soft_fail,
        }

    def __repr__(self) -> str:
        # BaseTrigger's repr prints serialize(); an inline spec may carry an API key.
        locations = self.locations and {k: public_reference(v) for k, v in self.locations.items()}
        return self.repr(TRIGGER_PATH, self._kwargs(public_reference(self.provider), locations))

    @property
    def request(self) -> WindowRequest:
        """The window these kwargs describe (``finish_by`` rendered by now)."""
        return WindowRequest.from_kwargs(self._kwargs(self.provider))

    @property
    def rules(self) -> SchedulingRules:
        return self.request.rules

    @property
    def job(self) -> JobSpec:
        return self.request.job

    @property
    def provider_refs(self) -> dict[str | None, ProviderRef]:
        """The providers planning asks: one per location label, or ``{None: provider}``."""
        return dict(self.locations.items()) if self.locations else {None: self.provider}

    async def make_plan(self, specs: Mapping[str | None, ProviderSpec]) -> Plan:
        """Plan with the resolved ``provider_refs`` (the worker resolves them synchronously,
        the triggerer asynchronously; both then plan here, the same way)."""
        providers = {label: shared_provider(spec) for label, spec in specs.items()}
        locations = {label: p for label, p in providers.items() if label is not None}
        request = self.request
        return await plan_request(
            providers.get(None), request.job, request.rules, self.clock, locations=locations
        )

    def provider_ref_for(self, plan: Plan) -> ProviderRef:
        """The provider of the plan's location (re-plans and receipts ask it)."""
        if self.locations and plan.location in self.locations:
            return self.locations[plan.location]
        return self.provider

    async def publish(self, plan: Plan) -> None:
        """Replace the task's ``cleanshift_plan`` XCom, so the UI shows the plan the trigger
        now waits for (after planning in the triggerer, and after each re-plan that moves the
        start). Only where the triggerer runs this trigger for a task instance.

        The display must never cost the wait: a failed write is logged and the wait goes on.
        """
        ti = self.task_instance
        if ti is None:  # unit tests, dag.test()'s inline run
            return
        from airflow.sdk.execution_time.xcom import XCom

        try:
            await XCom.aset(
                PLAN_XCOM_KEY,
                plan.model_dump(mode="json"),
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index,
            )
        except Exception as exc:  # noqa: BLE001 - any backend/API failure: the UI shows an older plan
            self.log.warning("could not show the current plan in the UI: %s", exc)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        replans = 0
        published: list[asyncio.Task] = []

        def replanned(moved: Plan) -> None:
            nonlocal replans
            replans += 1
            self.log.debug("re-planned: start %s (%s)", moved.start.isoformat(), moved.reason)
            published.append(asyncio.ensure_future(self.publish(moved)))

        try:
            rules = self.rules
            if self.plan:
                plan = Plan.model_validate_json(self.plan)
            else:
                specs = {k: await aresolve_spec(ref) for k, ref in self.provider_refs.items()}
                plan = await self.make_plan(specs)
                self.log.debug("planned: start %s (%s)", plan.start.isoformat(), plan.reason)
                await self.publish(plan)
            provider = shared_provider(await aresolve_spec(self.provider_ref_for(plan)))
            plan = await wait_for_window(
                provider,
                plan,
                rules,
                replan_interval=None
                if self.replan_interval is None
                else timedelta(seconds=self.replan_interval),
                clock=self.clock,
                sleep=self.sleep,
                on_replan=replanned,
            )
            await asyncio.gather(*published)
        except JobSkipped as exc:
            yield self._skipped(str(exc))
            return
        except CleanshiftError as exc:
            yield self._failed(f"{type(exc).__name__}: {exc}")
            return
        saving = plan.expected_savings_pct
        self.log.info(
            "carbon window open: start %s, expected saving %s, %d re-plan(s); %s",
            plan.start.isoformat(),
            "unknown" if saving is None else f"{saving:.1f}%",
            replans,
            plan.reason,
        )
        if self.end_from_trigger:
            xcoms: dict[str, Any] = {
                PLAN_XCOM_KEY: plan.model_dump(mode="json"),
                RELEASED_AT_XCOM_KEY: self.clock.now().isoformat(),
            }
            if self.locations:
                # What CarbonLocationSensor._release pushes and returns (``sensor.output``).
                xcoms[LOCATION_XCOM_KEY] = plan.location
                xcoms[XCOM_RETURN_KEY] = plan.location
            yield TaskSuccessEvent(xcoms=xcoms)
        else:
            yield TriggerEvent({"status": "ready", "plan": plan.model_dump(mode="json")})

    def _skipped(self, message: str) -> TriggerEvent:
        if self.end_from_trigger:
            self.log.info("skipped by the carbon policy: %s", message)
            return TaskSkippedEvent()
        return TriggerEvent({"status": "skipped", "message": message})

    def _failed(self, message: str) -> TriggerEvent:
        if self.end_from_trigger:
            self.log.error("carbon window failed: %s", message)
            # No worker resumes the task, so the sensor's soft_fail is applied here.
            return TaskSkippedEvent() if self.soft_fail else TaskFailedEvent()
        return TriggerEvent({"status": "failed", "message": message})
