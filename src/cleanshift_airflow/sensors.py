"""CarbonWindowSensor: hold the tasks after it until the cleanest grid window opens."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.triggers.base import StartTriggerArgs

from cleanshift_core import ConfigurationError, Plan

from .hooks import ProviderArg, ProviderRef, provider_reference
from .keys import PLAN_XCOM_KEY, RELEASED_AT_XCOM_KEY
from .links import CarbonReceiptLink
from .triggers import TRIGGER_PATH
from .waiting import CarbonWaitMixin, utcnow
from .window_args import DEFAULT_REPLAN_INTERVAL, CarbonWindowArgs


class CarbonWindowSensor(CarbonWaitMixin, BaseSensorOperator):
    """Succeed when the cleanest window for the downstream work opens; never hold a worker
    while waiting (the wait runs in the triggerer).

    :param provider: a ``cleanshift`` connection id, or a provider spec (``"mock:speedup=720"``,
        ``{"kind": "file", "path": "grid.csv"}``); templated.
    :param duration: how long the gated work runs (timedelta or ``"2h"``).
    :param max_delay: the latest start, relative to when the sensor runs.
    :param finish_by: the latest finish, a datetime or an ISO string (templated, e.g.
        ``"{{ (data_interval_end + macros.timedelta(hours=8)).isoformat() }}"``). With both,
        the stricter deadline holds; with neither, 6 hours.
    :param policy: ``min_carbon`` (default), ``threshold`` or ``now_or_never`` (these two need
        ``max_intensity``).
    :param min_savings_pct: do not delay for less than this expected saving (percent).
    :param on_provider_error: ``run_now`` (default), ``wait_until_deadline`` or ``fail``.
    :param replan_interval: how often the waiting trigger re-plans on a refreshed forecast
        (default 5 minutes, the shared cache's refresh); ``None`` never re-plans.
    :param start_from_trigger: start straight in the triggerer (Airflow 3.3+), so no worker is
        used even to plan. Opt-in: the triggerer then loads the serialized DAG with each such
        trigger (~1.6 MiB per trigger for a 200-task DAG) and keeps it.
    :param end_from_trigger: with ``start_from_trigger``, let the trigger end the task too
        (Airflow's ``TaskSuccessEvent``, pushing the same XComs): no worker resumes the sensor
        when its window opens, so many windows opening at once are not queued behind worker
        slots. Airflow 3.3 stores such XComs JSON-encoded on the server side: the REST API and
        the "Carbon receipt" tab decode them, but a worker's ``xcom_pull`` returns JSON text
        (:func:`~cleanshift_airflow.keys.decoded` reads either form, as
        :class:`~cleanshift_airflow.operators.CarbonReceiptOperator` does).
        ``dag.test()`` runs ``execute()`` and still resumes on the worker.

    The final plan is pushed to XCom under ``cleanshift_plan``, and the instant the gated work
    was released under ``cleanshift_released_at`` (read by
    :class:`~cleanshift_airflow.operators.CarbonReceiptOperator`).
    """

    template_fields: Sequence[str] = ("provider", "finish_by")
    ui_color = "#c8e6c9"
    operator_extra_links = (CarbonReceiptLink(),)
    start_trigger_args = StartTriggerArgs(
        trigger_cls=TRIGGER_PATH,
        trigger_kwargs={},
        next_method="execute_complete",
        next_kwargs=None,
        timeout=None,
    )
    start_from_trigger = False

    def __init__(
        self,
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
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.window = CarbonWindowArgs.create(
            provider=provider,
            duration=duration,
            max_delay=max_delay,
            finish_by=finish_by,
            policy=policy,
            max_intensity=max_intensity,
            min_savings_pct=min_savings_pct,
            on_provider_error=on_provider_error,
            replan_interval=replan_interval,
        )
        self.provider = provider
        self.finish_by = self.window.finish_by
        if not isinstance(end_from_trigger, bool):
            raise ConfigurationError(
                f"end_from_trigger must be True or False, got {end_from_trigger!r}"
            )
        if end_from_trigger and not start_from_trigger:
            # execute() (also dag.test()'s path) defers from a worker and resumes there to push
            # the plan: dag.test() hands a TaskSuccessEvent's payload to execute_complete and
            # drops its XComs.
            raise ConfigurationError(
                "end_from_trigger=True needs start_from_trigger=True: only a sensor that starts "
                "in the triggerer can also end there"
            )
        self.start_from_trigger = start_from_trigger
        self.end_from_trigger = end_from_trigger
        if start_from_trigger:
            # trigger_kwargs named like template fields ("finish_by") render in the triggerer.
            self.start_trigger_args = dataclasses.replace(
                self.start_trigger_args,
                trigger_kwargs={**self.trigger_kwargs(), "end_from_trigger": end_from_trigger},
            )

    def execute(self, context: Context) -> Any:
        # Also the path of dag.test(), which ignores start_from_trigger.
        return self._release(context, self.plan_or_defer(context))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self._release(context, self.plan_from_event(event))

    def provider_for(self, plan: Plan, context: Context) -> ProviderRef:
        """The provider that planned ``plan``, rendered for this run (the receipt asks it)."""
        return provider_reference(self.render_template(self.provider, context))

    def poke(self, context: Context) -> bool:
        raise NotImplementedError("CarbonWindowSensor always defers; it is never poked")

    def _release(self, context: Context, plan: Plan) -> str | None:
        """Push the plan and release the task; what it returns is the task's return value."""
        self.push_plan(context, plan)
        context["ti"].xcom_push(key=RELEASED_AT_XCOM_KEY, value=utcnow().isoformat())
        saving = plan.expected_savings_pct
        self.log.info(
            "carbon window open at %s (planned %s); expected saving %s; plan in XCom %r",
            utcnow().isoformat(),
            plan.start.isoformat(),
            "unknown" if saving is None else f"{saving:.1f}%",
            PLAN_XCOM_KEY,
        )
        return None
