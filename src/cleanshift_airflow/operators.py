"""Operators: the carbon-aware Python task form and the receipt finaliser of a sensor group."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import BaseOperator, Context

from cleanshift_core import (
    WINDOW_DEFAULTS,
    CarbonReceipt,
    ConfigurationError,
    EnergyRequest,
    Plan,
    settle_receipt,
    shared_provider,
)
from cleanshift_core.measure import (
    EnergyMeter,
    EnergyMode,
    EnergyReading,
    EnergySource,
    parse_energy_mode,
)
from cleanshift_core.window import run_sync

from .compat import AirflowFailException
from .hooks import ConnectionOrSpec, SerializedProvider, provider_reference, resolve_spec
from .keys import PLAN_XCOM_KEY, RECEIPT_XCOM_KEY, RELEASED_AT_XCOM_KEY, decoded
from .links import CarbonReceiptLink
from .waiting import CarbonWaitMixin, utcnow
from .window_args import DEFAULT_REPLAN_INTERVAL, carbon_window_request


def check_task_deferrable(deferrable: object) -> None:
    """The task form always waits in the triggerer: ``deferrable=True`` is accepted (it is
    what happens), ``False`` is refused at parse time with what to do instead.

    The sensor maps ``deferrable=False`` to Airflow's reschedule mode; the task form cannot do
    the same honestly: its callable must run in the task that waited, and a rescheduled
    ``PythonOperator`` would hold its worker slot for the callable's whole run on every poke
    that finds the window open, while ``mode`` is a sensor-only concept in Airflow."""
    if deferrable is True:
        return
    if deferrable is False:
        raise ConfigurationError(
            "deferrable=False is not available on @carbon_task / CarbonAwarePythonOperator: "
            "the task form waits in the triggerer. Without a triggerer, gate the work with "
            "CarbonWindowSensor(deferrable=False) (it waits in reschedule mode) followed by a "
            "plain @task and a CarbonReceiptOperator"
        )
    raise ConfigurationError(f"deferrable must be True or False, got {deferrable!r}")


def settle_and_push(
    context: Context,
    provider: SerializedProvider,
    plan: Plan,
    ran: tuple[datetime, datetime],
    power_kw: float | None,
    energy_kwh: float | None = None,
    energy: EnergyReading | None = None,
    sci_functional_unit: tuple[str, float] | None = None,
) -> CarbonReceipt:
    """Settle the receipt of a run with the core and push it to XCom (``cleanshift_receipt``)."""
    receipt = run_sync(
        settle_receipt(
            shared_provider(resolve_spec(provider)),
            plan,
            [ran],
            power_kw=power_kw,
            energy_kwh=energy_kwh,
            energy=energy,
            sci_functional_unit=sci_functional_unit,
        )
    )
    context["ti"].xcom_push(key=RECEIPT_XCOM_KEY, value=receipt.model_dump(mode="json"))
    return receipt


def rendered_energy(value: float | str | None) -> tuple[float | None, str | None]:
    """``energy_kwh`` after templating: (kWh, None), or (None, why it is not usable)."""
    if value is None or isinstance(value, (int, float)):
        return value, None
    text = value.strip()
    if text in ("", "None"):
        return None, "energy_kwh rendered empty (the upstream task pushed no energy)"
    try:
        kwh = float(text)
    except ValueError:
        return None, f"energy_kwh rendered to {text[:40]!r}, not a number of kWh"
    if not (math.isfinite(kwh) and kwh > 0):
        return None, f"energy_kwh rendered to {kwh!r}, not a positive number of kWh"
    return kwh, None


def describe(receipt: CarbonReceipt) -> str:
    """A one-line summary for task logs (never includes provider options)."""

    def num(value: float | None, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    return (
        f"ran {receipt.ran_at.isoformat()} → {receipt.finished_at.isoformat()} "
        f"(delay {receipt.delay_seconds:.0f}s): {num(receipt.avg_intensity_gco2_per_kwh, '.1f')} vs "
        f"{num(receipt.counterfactual_avg_intensity, '.1f')} gCO2eq/kWh if run at once, "
        f"saving {num(receipt.estimated_savings_pct, '.1f')}%, avoided {num(receipt.avoided_g, '.1f')} g "
        f"({'estimate' if receipt.is_estimate else 'measured'}, "
        f"basis {receipt.intensity_basis.value if receipt.intensity_basis else 'none'})"
    )


class CarbonAwarePythonOperator(CarbonWaitMixin, PythonOperator):
    """Run a Python callable in the cleanest window, then record its receipt.

    Takes :class:`~cleanshift_airflow.sensors.CarbonWindowSensor`'s window arguments plus
    ``power_kw`` (nominal draw, for grams) and ``energy_kwh`` (measured, if known). It plans,
    defers to the triggerer until the window opens (or runs at once if it is open), runs the
    callable and pushes the receipt of that real run under ``cleanshift_receipt`` and the plan
    under ``cleanshift_plan``; the callable's return value is the task's return value.
    """

    template_fields: Sequence[str] = (*PythonOperator.template_fields, "provider", "finish_by")
    operator_extra_links = (CarbonReceiptLink(),)
    ui_color = "#a5d6a7"

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
        power_kw: float | None = None,
        energy_kwh: float | None = None,
        energy: str = EnergyRequest.mode.value,
        sci_functional_unit: tuple[str, float] | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        check_task_deferrable(deferrable)
        super().__init__(**kwargs)
        self.window = carbon_window_request(
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
        self.energy = EnergyRequest(
            power_kw,
            energy_kwh,
            mode=parse_energy_mode(energy),
            sci_functional_unit=sci_functional_unit,
        )
        self.power_kw = power_kw
        self.energy_kwh = energy_kwh

    def execute(self, context: Context) -> Any:
        return self._run_in_window(context, self.plan_or_defer(context))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self._run_in_window(context, self.plan_from_event(event))

    def _run_in_window(self, context: Context, plan: Plan) -> Any:
        self.push_plan(context, plan)
        meter = EnergyMeter() if self.energy.mode is EnergyMode.MEASURED else None
        started = utcnow()
        if meter is not None:
            meter.start()
        try:
            result = super().execute(context)
        finally:
            reading = meter.stop() if meter is not None else None
        receipt = settle_and_push(
            context,
            provider_reference(self.provider),
            plan,
            (started, utcnow()),
            self.power_kw,
            self.energy_kwh,
            reading,
            self.energy.sci_functional_unit,
        )
        self.log.info("carbon receipt: %s", describe(receipt))
        return result


class CarbonReceiptOperator(BaseOperator):
    """Settle the receipt of the work a :class:`CarbonWindowSensor` gated.

    Place it after the gated tasks (``sensor >> [transform, load] >> receipt``). The work ran
    from the moment the sensor released it (XCom ``cleanshift_released_at``) until this task
    starts, so that interval is the receipt's run: the real span of the gated work, plus the
    scheduler's hand-over latency (typically a second or two). The plan comes from the
    sensor's ``cleanshift_plan`` XCom and the provider, unless given, from the sensor itself.
    The receipt is pushed under ``cleanshift_receipt`` (and the plan, again, under
    ``cleanshift_plan``, so this task's "Carbon receipt" tab can chart both).

    ``energy_kwh`` may be a template, so the gated tasks' measured energy reaches the receipt:
    ``energy_kwh="{{ ti.xcom_pull(task_ids='transform', key='energy_kwh') }}"``. A rendered
    value that is empty, ``None`` or not a positive number never fails the task: the receipt
    falls back to ``power_kw``, else says ``unknown``, with the reason.
    """

    template_fields: Sequence[str] = ("provider", "energy_kwh")
    operator_extra_links = (CarbonReceiptLink(),)
    ui_color = "#e8f5e9"

    def __init__(
        self,
        *,
        sensor_task_id: str,
        provider: ConnectionOrSpec | None = None,
        power_kw: float | None = None,
        energy_kwh: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(sensor_task_id, str) or not sensor_task_id:
            raise ConfigurationError(
                f"sensor_task_id must be the task_id of the CarbonWindowSensor, got {sensor_task_id!r}"
            )
        # A template is checked once rendered (execute), a number here.
        self.energy = EnergyRequest(power_kw, None if isinstance(energy_kwh, str) else energy_kwh)
        self.sensor_task_id = sensor_task_id
        if provider is not None:
            provider_reference(provider)
        self.provider = provider
        self.power_kw = power_kw
        self.energy_kwh = energy_kwh

    def execute(self, context: Context) -> None:
        finished = utcnow()
        ti = context["ti"]
        plan_json = decoded(ti.xcom_pull(task_ids=self.sensor_task_id, key=PLAN_XCOM_KEY))
        released = decoded(ti.xcom_pull(task_ids=self.sensor_task_id, key=RELEASED_AT_XCOM_KEY))
        if not plan_json or not released:
            raise AirflowFailException(
                f"no carbon plan from task {self.sensor_task_id!r}; sensor_task_id must name the "
                "CarbonWindowSensor upstream of this task, and it must have succeeded"
            )
        plan = Plan.model_validate(plan_json)
        context["ti"].xcom_push(key=PLAN_XCOM_KEY, value=plan_json)  # the tab charts it here too
        energy_kwh, note = rendered_energy(self.energy_kwh)
        receipt = settle_and_push(
            context,
            self._provider(context, plan),
            plan,
            (datetime.fromisoformat(released), finished),
            self.power_kw,
            energy_kwh,
            None if note is None else EnergyReading(EnergySource.UNKNOWN, note=note),
        )
        self.log.info("carbon receipt: %s", describe(receipt))

    def _provider(self, context: Context, plan: Plan) -> SerializedProvider:
        if self.provider is not None:
            return provider_reference(self.provider)
        sensor = context["dag"].get_task(self.sensor_task_id)
        provider_for = getattr(sensor, "provider_for", None)
        if not callable(provider_for):
            raise AirflowFailException(
                f"task {self.sensor_task_id!r} is not a CarbonWindowSensor; pass provider= explicitly"
            )
        # The sensor's own argument (for a location plan, the chosen location's), rendered for
        # this run: its spec may be templated.
        return provider_for(plan, context)
