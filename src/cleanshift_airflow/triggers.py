"""CarbonWindowTrigger: plan, wait and re-plan in the triggerer, then fire with the final plan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
    Providers,
    ProviderSpec,
    SchedulingRules,
    WindowRequest,
    shared_provider,
    wait_for_window,
)
from cleanshift_core.request import WINDOW_KWARGS
from cleanshift_core.timeutil import SYSTEM_CLOCK, Clock

from .hooks import SerializedProvider, aresolve_spec, public_reference
from .keys import LOCATION_XCOM_KEY, PLAN_XCOM_KEY, RELEASED_AT_XCOM_KEY, decoded

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

    #: The template fields Airflow renders in place in the triggerer (``start_from_trigger``):
    #: two of the window arguments, which the trigger keeps as attributes like all the others.
    provider: SerializedProvider
    finish_by: str | None

    def __init__(
        self,
        *,
        plan: str | None = None,
        locations: Mapping[str, SerializedProvider] | None = None,
        end_from_trigger: bool = False,
        soft_fail: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        **window: Any,
    ) -> None:
        """``window`` is the request's plain kwargs (:meth:`WindowRequest.to_kwargs
        <cleanshift_core.WindowRequest.to_kwargs>`: ``provider``, ``duration`` in seconds,
        ...); a window argument left out takes the core's default, so rows in Airflow's
        trigger table written before an option existed still load."""
        super().__init__()
        for name, value in WindowRequest.plain_kwargs(window).items():
            setattr(self, name, value)
        self.plan = plan
        self.locations = dict(locations) if locations else None
        self.end_from_trigger = bool(end_from_trigger)
        self.soft_fail = bool(soft_fail)
        self.clock = clock
        self.sleep = sleep

    def window_kwargs(self) -> dict[str, Any]:
        """The request's plain kwargs as this trigger holds them (rendered, in a triggerer)."""
        return {name: getattr(self, name) for name in WINDOW_KWARGS}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return TRIGGER_PATH, self._kwargs(self.provider, self.locations)

    def _kwargs(
        self,
        provider: SerializedProvider,
        locations: Mapping[str, SerializedProvider] | None = None,
    ) -> dict[str, Any]:
        return {
            **self.window_kwargs(),
            "provider": provider,
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
        return WindowRequest.from_kwargs(self.window_kwargs())

    @property
    def rules(self) -> SchedulingRules:
        return self.request.rules

    @property
    def job(self) -> JobSpec:
        return self.request.job

    @property
    def providers(self) -> Providers[SerializedProvider]:
        """The providers planning asks: the locations', or the one ``provider``."""
        return Providers.of(self.provider, self.locations)

    @property
    def provider_refs(self) -> dict[str | None, SerializedProvider]:
        """The providers planning asks: one per location label, or ``{None: provider}``."""
        return dict(self.providers.by_label)

    async def make_plan(self, specs: Providers[ProviderSpec]) -> Plan:
        """Plan with the resolved :attr:`providers` (the worker resolves them synchronously,
        the triggerer asynchronously; both then plan here, the same way)."""
        request = self.request
        return await specs.map(shared_provider).plan(request.job, request.rules, self.clock)

    def provider_ref_for(self, plan: Plan) -> SerializedProvider:
        """The provider of the plan's location (re-plans and receipts ask it)."""
        return self.providers.for_plan(plan)

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

    async def shown_plan(self) -> Any:
        """The plan the UI shows now: the task's ``cleanshift_plan`` XCom, as its writer
        pushed it (``None`` if there is none)."""
        ti = self.task_instance
        if ti is None:
            return None
        from airflow.sdk.execution_time.xcom import XCom

        shown = await XCom.aget_one(
            key=PLAN_XCOM_KEY,
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index,
        )
        return decoded(shown)

    async def show_again(self, plan: Plan) -> None:
        """Show the plan this trigger starts from, if the UI shows another.

        A triggerer restart rebuilds the trigger from ``serialize()``, so it waits for the plan
        it was deferred with, while the UI may still show a plan that a re-plan before the
        restart moved (or none, for a chunk). One XCom read per trigger start; a write only
        when the two differ (Airflow 3.3+). Like ``publish``, it never costs the wait.
        """
        from airflow.sdk.execution_time.xcom import XCom

        if self.task_instance is None or not hasattr(XCom, "aget_one"):
            return  # dag.test()'s inline run; Airflow < 3.3 has no async XCom in the triggerer
        try:
            shown = await self.shown_plan()
        except Exception as exc:  # noqa: BLE001 - any backend/API failure: the UI shows an older plan
            self.log.warning("could not read the plan shown in the UI: %s", exc)
            return
        if shown != plan.model_dump(mode="json"):
            await self.publish(plan)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        replans = 0
        # Publishing runs beside the wait; only writes still in flight are held (the asyncio
        # idiom for background tasks), so a long wait's moved plans are not kept to the end.
        publishing: set[asyncio.Task] = set()

        def replanned(moved: Plan) -> None:
            nonlocal replans
            replans += 1
            self.log.debug("re-planned: start %s (%s)", moved.start.isoformat(), moved.reason)
            task = asyncio.ensure_future(self.publish(moved))
            publishing.add(task)
            task.add_done_callback(publishing.discard)

        try:
            request = self.request
            if self.plan:
                plan = Plan.model_validate_json(self.plan)
                await self.show_again(plan)
            else:
                plan = await self.make_plan(await self.providers.amap(aresolve_spec))
                self.log.debug("planned: start %s (%s)", plan.start.isoformat(), plan.reason)
                await self.publish(plan)
            provider = shared_provider(await aresolve_spec(self.provider_ref_for(plan)))
            plan = await wait_for_window(
                provider,
                plan,
                request.rules,
                replan_interval=request.replan_interval,
                clock=self.clock,
                sleep=self.sleep,
                on_replan=replanned,
            )
            await asyncio.gather(*publishing)
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
