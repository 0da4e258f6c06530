"""How an operator waits for its window: plan on the worker, run at once if the window is
open, otherwise defer to :class:`~cleanshift_airflow.triggers.CarbonWindowTrigger`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import Context

from cleanshift_core import (
    ConfigurationError,
    JobSkipped,
    Plan,
    ProviderError,
    WindowRequest,
)
from cleanshift_core.errors import BadSeriesError
from cleanshift_core.timeutil import sleep_until_blocking
from cleanshift_core.window import run_sync

from .compat import AirflowException, AirflowFailException, AirflowSkipException
from .hooks import ConnectionOrSpec, provider_reference, resolve_spec
from .keys import PLAN_XCOM_KEY
from .triggers import CarbonWindowTrigger

#: A window opening this soon is waited for on the worker: a deferral round trip (worker →
#: triggerer → scheduler → worker) costs more than that, and a deferral that fires before the
#: worker has reported it can be mistaken for a failure.
DEFER_THRESHOLD = timedelta(seconds=5)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class CarbonWaitMixin:
    """Shared by the sensor and the task form.

    Needs ``self.window`` (validated at parse time) and the template fields ``self.provider``
    and ``self.finish_by``, which hold rendered values by the time ``execute()`` runs.
    """

    window: WindowRequest
    provider: ConnectionOrSpec
    finish_by: datetime | str | None

    def trigger_kwargs(self) -> dict[str, Any]:
        return {
            **self.window.to_kwargs(self.finish_by),
            "provider": provider_reference(self.provider),
        }

    def plan_or_defer(self, context: Context, timeout: timedelta | None = None) -> Plan:
        """The plan, once its window is open; defers (raises ``TaskDeferred``, with
        ``timeout``) until then, after pushing the plan to XCom so the UI shows it while the
        task waits (XComs survive a deferral; the trigger replaces it when it re-plans)."""
        plan = self._plan(CarbonWindowTrigger(**self.trigger_kwargs()))
        self.log.info("carbon plan: start %s — %s", plan.start.isoformat(), plan.reason)  # type: ignore[attr-defined]
        if plan.start - utcnow() <= DEFER_THRESHOLD:
            sleep_until_blocking(plan.start)
            return plan
        self.push_plan(context, plan)
        self.defer(  # type: ignore[attr-defined]
            trigger=CarbonWindowTrigger(**self.trigger_kwargs(), plan=plan.model_dump_json()),
            method_name="execute_complete",
            timeout=timeout,
        )
        raise AssertionError("defer() always raises")  # pragma: no cover

    def plan_anchored(self, anchor: datetime) -> Plan:
        """A fresh plan from now to the deadline of a job that became ready at ``anchor``
        (a wait on workers re-plans at every poke; its deadline and counterfactual stay
        those of ``anchor``)."""
        trigger = CarbonWindowTrigger(**self.trigger_kwargs())
        _, latest = trigger.job.bounds(anchor)
        left = max(latest - utcnow(), timedelta(0))
        remaining = CarbonWindowTrigger(
            **{**self.trigger_kwargs(), "max_delay": left.total_seconds(), "finish_by": None}
        )
        plan = self._plan(remaining)
        if plan.earliest_start <= anchor:
            return plan
        # "if run at once" means at anchor, which this poke's forecast no longer covers.
        return plan.model_copy(update={"earliest_start": anchor, "immediate_intensity": None})

    @staticmethod
    def _plan(trigger: CarbonWindowTrigger) -> Plan:
        try:
            return run_sync(trigger.make_plan(trigger.providers.map(resolve_spec)))
        except JobSkipped as exc:
            raise AirflowSkipException(str(exc)) from None
        except ConfigurationError as exc:
            raise AirflowFailException(str(exc)) from None
        except (ProviderError, BadSeriesError) as exc:  # on_provider_error='fail'
            raise AirflowException(f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def plan_from_event(event: dict[str, Any] | None) -> Plan:
        """The final plan carried by the trigger's event (skip / fail as the event says)."""
        payload = event or {}
        status = payload.get("status")
        if status == "ready":
            return Plan.model_validate(payload["plan"])
        if status == "skipped":
            raise AirflowSkipException(payload.get("message", "skipped by the carbon policy"))
        raise AirflowException(f"carbon window failed: {(event or {}).get('message', event)!r}")

    @staticmethod
    def push_plan(context: Context, plan: Plan) -> None:
        context["ti"].xcom_push(key=PLAN_XCOM_KEY, value=plan.model_dump(mode="json"))
