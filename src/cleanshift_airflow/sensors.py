"""CarbonWindowSensor: hold the tasks after it until the cleanest grid window opens."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.triggers.base import StartTriggerArgs

from cleanshift_core import WINDOW_DEFAULTS, ConfigurationError, Plan, parse_duration
from cleanshift_core.job import DEFAULT_MAX_DELAY

from .compat import (
    AirflowException,
    AirflowRescheduleException,
    AirflowSkipException,
    conf,
    require_start_from_trigger,
)
from .hooks import ConnectionOrSpec, SerializedProvider, provider_reference
from .keys import PLAN_XCOM_KEY, RELEASED_AT_XCOM_KEY
from .links import CarbonReceiptLink
from .triggers import TRIGGER_PATH
from .waiting import CarbonWaitMixin, utcnow
from .window_args import DEFAULT_REPLAN_INTERVAL, carbon_window_request

#: The non-deferred waits (``deferrable=False``) Airflow offers; ``reschedule`` is the default
#: here because it releases the worker slot between pokes.
WAIT_MODES = ("reschedule", "poke")


def default_deferrable() -> bool:
    """``deferrable`` when a DAG passes neither it nor ``mode``: Airflow's ``[operators]
    default_deferrable`` (read when the sensor is built, as Airflow's own deferrable sensors
    read it; Airflow's packaged default is ``False``)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class CarbonWindowSensor(CarbonWaitMixin, BaseSensorOperator):
    """Succeed when the cleanest window for the downstream work opens; never hold a worker
    while waiting (the wait runs in the triggerer, or, with ``deferrable=False``, between
    rescheduled pokes).

    :param provider: a ``cleanshift`` connection id, or a provider spec (``"mock:speedup=720"``,
        ``{"kind": "file", "path": "grid.csv"}``); templated.
    :param duration: how long the gated work runs (timedelta or ``"2h"``).
    :param max_delay: the latest start, relative to when the sensor runs.
    :param finish_by: the latest finish, a datetime or an ISO string (templated, e.g.
        ``"{{ (data_interval_end + macros.timedelta(hours=8)).isoformat() }}"``). With both,
        the stricter deadline holds; with neither, 6 hours.
    :param policy: ``min_carbon`` (default), ``threshold`` or ``now_or_never`` (these two need
        ``max_intensity``).
    :param min_savings_pct: do not delay for less than this expected saving (percent; default
        0, any saving).
    :param on_provider_error: ``run_now`` (default), ``wait_until_deadline`` or ``fail``.
    :param replan_interval: how often the waiting trigger re-plans on a refreshed forecast
        (default 5 minutes, the shared cache's refresh); ``None`` never re-plans.
    :param start_from_trigger: start straight in the triggerer, so no worker is used even to
        plan. Needs Airflow 3.3+ (older releases ignore it; the sensor refuses it there). Opt-in: the triggerer then loads the serialized DAG with each such
        trigger (~1.6 MiB per trigger for a 200-task DAG) and keeps it.
    :param deferrable: wait in the triggerer (``True``) or, with ``False``, on workers in
        Airflow's ``mode="reschedule"``. The default is Airflow's ``[operators]
        default_deferrable`` (``False`` unless the deployment sets it), or ``True`` with
        ``start_from_trigger``. In reschedule mode each poke re-plans on a fresh forecast against the
        deadline fixed at the first poke and frees the worker slot until the next poke
        (every ``poke_interval``, default ``replan_interval``, and never later than the
        planned start), for deployments without a triggerer. Passing ``mode`` (``"reschedule"``
        or ``"poke"``, which holds the slot and sleeps) implies ``deferrable=False``.
    :param end_from_trigger: with ``start_from_trigger``, let the trigger end the task too
        (Airflow's ``TaskSuccessEvent``, pushing the same XComs): no worker resumes the sensor
        when its window opens, so many windows opening at once are not queued behind worker
        slots. Airflow 3.3 stores such XComs JSON-encoded on the server side: the REST API and
        the "Carbon receipt" tab decode them, but a worker's ``xcom_pull`` returns JSON text
        (:func:`~cleanshift_airflow.keys.decoded` reads either form, as
        :class:`~cleanshift_airflow.operators.CarbonReceiptOperator` does).
        ``dag.test()`` runs ``execute()`` and still resumes on the worker.

    Airflow's ``timeout`` (default ``[sensors] default_timeout``) applies to the deferral
    (the task fails with ``AirflowSensorTimeout``, or is skipped with ``soft_fail``) and to
    the reschedule-mode wait; it must not be shorter than ``max_delay``. ``soft_fail=True``
    skips instead of failing on any failure of the wait (provider failure with
    ``on_provider_error="fail"``, timeout), on every path.

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
        provider: ConnectionOrSpec,
        duration: timedelta | str,
        max_delay: timedelta | str | None = WINDOW_DEFAULTS.max_delay,
        finish_by: datetime | str | None = WINDOW_DEFAULTS.finish_by,
        policy: str = WINDOW_DEFAULTS.policy,
        max_intensity: float | None = WINDOW_DEFAULTS.max_intensity,
        min_savings_pct: float = WINDOW_DEFAULTS.min_savings_pct,
        on_provider_error: str = WINDOW_DEFAULTS.on_provider_error,
        replan_interval: timedelta | str | None = DEFAULT_REPLAN_INTERVAL,
        start_from_trigger: bool = False,
        end_from_trigger: bool = False,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        window = carbon_window_request(
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
        deferrable = _wait_kind(deferrable, kwargs, start_from_trigger)
        if not deferrable:
            if isinstance(kwargs.get("poke_interval"), str):  # "15m"; numbers stay seconds
                kwargs["poke_interval"] = parse_duration(kwargs["poke_interval"], "poke_interval")
            kwargs.setdefault("mode", "reschedule")
            kwargs.setdefault("poke_interval", window.replan_interval or DEFAULT_REPLAN_INTERVAL)
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.window = window
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
        require_start_from_trigger(start_from_trigger)
        if start_from_trigger and not deferrable:
            raise ConfigurationError(
                "start_from_trigger=True needs the triggerer: drop deferrable=False / mode=, "
                "or drop start_from_trigger"
            )
        self._check_timeout()
        self.start_from_trigger = start_from_trigger
        self.end_from_trigger = end_from_trigger
        self._anchor: datetime | None = None  # poke mode: the first poke
        self._planned_start: datetime | None = None  # the current poke's plan
        if start_from_trigger:
            # trigger_kwargs named like template fields ("finish_by") render in the triggerer.
            self.start_trigger_args = dataclasses.replace(
                self.start_trigger_args,
                trigger_kwargs={
                    **self.trigger_kwargs(),
                    "end_from_trigger": end_from_trigger,
                    "soft_fail": self.soft_fail or self.never_fail,
                },
                timeout=timedelta(seconds=self.timeout),
            )

    def _check_timeout(self) -> None:
        max_delay = self.window.max_delay
        if max_delay is None and self.window.finish_by is None:
            max_delay = DEFAULT_MAX_DELAY
        if max_delay is not None and self.timeout < max_delay.total_seconds():
            raise ConfigurationError(
                f"timeout={self.timeout:g}s is shorter than max_delay={max_delay}: the sensor "
                "would time out before its latest start; raise timeout or lower max_delay"
            )

    def execute(self, context: Context) -> Any:
        # Also the path of dag.test(), which ignores start_from_trigger.
        with self._soft_failing():
            if not self.deferrable:
                return BaseSensorOperator.execute(self, context)  # pokes until the window
            return self._release(
                context, self.plan_or_defer(context, timeout=timedelta(seconds=self.timeout))
            )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        # Failures here reach BaseSensorOperator.resume_execution, which applies soft_fail.
        return self._release(context, self.plan_from_event(event))

    @contextmanager
    def _soft_failing(self) -> Iterator[None]:
        """``soft_fail`` / ``never_fail`` on the worker paths as ``resume_execution`` applies
        them after a deferral: any failure of the wait skips the task."""
        try:
            yield
        except (AirflowSkipException, AirflowRescheduleException):
            raise
        except AirflowException as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"skipped (soft_fail): {exc}") from exc
            raise

    def provider_for(self, plan: Plan, context: Context) -> SerializedProvider:
        """The provider that planned ``plan``, rendered for this run (the receipt asks it)."""
        return provider_reference(self.render_template(self.provider, context))

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """``deferrable=False``: plan on a fresh forecast; done once the planned start is here.

        The deadline stays the one of the first poke (``ti.get_first_reschedule_date`` in
        reschedule mode), so rescheduling never pushes it later.
        """
        if self.reschedule:
            anchor = context["ti"].get_first_reschedule_date(context) or utcnow()
        else:
            self._anchor = anchor = self._anchor or utcnow()
        plan = self.plan_anchored(anchor)
        self._planned_start = plan.start
        if plan.start > utcnow():
            self.log.info("carbon window opens at %s: %s", plan.start.isoformat(), plan.reason)
            self.push_plan(context, plan)  # visible in the tab until the next poke
            return False
        return PokeReturnValue(True, self._release(context, plan))

    def _get_next_poke_interval(
        self, started_at: Any, run_duration: Callable[[], float], poke_count: int
    ) -> float:
        # The next poke comes at poke_interval, or at the planned start if that is sooner.
        interval = super()._get_next_poke_interval(started_at, run_duration, poke_count)
        if self._planned_start is None:
            return interval
        return max(0.0, min(interval, (self._planned_start - utcnow()).total_seconds()))

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


def _wait_kind(deferrable: bool | None, kwargs: dict[str, Any], start_from_trigger: bool) -> bool:
    """Whether the sensor defers, from ``deferrable``, ``start_from_trigger`` (which needs the
    triggerer) and Airflow's ``mode`` / ``poke_interval`` (both meaningful only for a wait on
    workers), checked at parse time."""
    if deferrable is not None and not isinstance(deferrable, bool):
        raise ConfigurationError(f"deferrable must be True or False, got {deferrable!r}")
    mode = kwargs.get("mode")
    if mode is not None and mode not in WAIT_MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(WAIT_MODES)}, got {mode!r}")
    if deferrable is None:
        deferrable = start_from_trigger or (mode is None and default_deferrable())
    if deferrable and (mode is not None or "poke_interval" in kwargs):
        given = ", ".join(k for k in ("mode", "poke_interval") if k in kwargs)
        raise ConfigurationError(
            f"{given} applies to a wait on workers (deferrable=False); a deferred "
            "CarbonWindowSensor waits in the triggerer and re-plans every replan_interval. "
            "Drop it, or pass deferrable=False"
        )
    return deferrable
