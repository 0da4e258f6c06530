"""Interruptible jobs through dynamic task mapping: plan the chunks, map one deferring task
per chunk, sum the receipts.

::

    plan = CarbonChunkPlanOperator(task_id="plan_chunks", provider=..., duration="6h",
                                   finish_by=..., min_chunk="1h", max_chunks=4)
    work = CarbonChunkOperator.partial(task_id="train", provider=..., python_callable=train,
                                       power_kw=3.0).expand(chunk=plan.output)
    total = CarbonChunksReceiptOperator(task_id="receipt", plan_task_id="plan_chunks",
                                        chunk_task_id="train", power_kw=3.0)
    plan >> work >> total

The planning is the core's (:func:`~cleanshift_core.plan_interruptible`); each chunk task waits
for its own slot in the triggerer (the same :class:`CarbonWindowTrigger`, given the chunk's
plan, never re-planning: a chunk's slot is part of the whole) and runs the callable with
``chunk=`` its :class:`~cleanshift_core.Plan` (work until ``chunk.end``, then checkpoint).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import BaseOperator, Context

from cleanshift_core import (
    WINDOW_DEFAULTS,
    ChunkRequest,
    ConfigurationError,
    EnergyRequest,
    Plan,
    ProviderError,
    plan_interruptible,
    settle_receipt,
    shared_provider,
)
from cleanshift_core.errors import BadSeriesError
from cleanshift_core.measure import EnergyReading, EnergySource
from cleanshift_core.timeutil import sleep_until_blocking
from cleanshift_core.window import run_sync

from .compat import AirflowException, AirflowFailException
from .hooks import ConnectionOrSpec, SerializedProvider, provider_reference, resolve_spec
from .keys import PLAN_XCOM_KEY, RECEIPT_PARTS_XCOM_KEY, RECEIPT_XCOM_KEY
from .links import CarbonReceiptLink
from .operators import CarbonReceiptOperator, describe, rendered_energy, settle_and_push
from .triggers import CarbonWindowTrigger
from .waiting import DEFER_THRESHOLD, CarbonWaitMixin, utcnow
from .window_args import carbon_window_request


class CarbonChunkPlanOperator(BaseOperator):
    """Plan an interruptible job's chunks in the cleanest slots before its deadline.

    Takes the window arguments of :class:`~cleanshift_airflow.sensors.CarbonWindowSensor`
    (``provider``, ``duration`` = total running time, ``max_delay`` / ``finish_by``,
    ``on_provider_error``) plus ``min_chunk`` (no piece shorter) and ``max_chunks``. Returns
    one plan per chunk (``return_value``, for ``.expand(chunk=plan.output)``) and pushes the
    whole job's plan under ``cleanshift_plan``. If no forecast can be had, ``on_provider_error``
    decides and the job runs as one chunk.
    """

    template_fields: Sequence[str] = ("provider", "finish_by")
    ui_color = "#c8e6c9"

    def __init__(
        self,
        *,
        provider: ConnectionOrSpec,
        duration: timedelta | str,
        max_delay: timedelta | str | None = WINDOW_DEFAULTS.max_delay,
        finish_by: datetime | str | None = WINDOW_DEFAULTS.finish_by,
        min_chunk: timedelta | str | None = None,
        max_chunks: int | None = None,
        on_provider_error: str = WINDOW_DEFAULTS.on_provider_error,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.window = carbon_window_request(
            provider=provider,
            duration=duration,
            max_delay=max_delay,
            finish_by=finish_by,
            on_provider_error=on_provider_error,
            replan_interval=None,
        )
        self.chunking = ChunkRequest.create(self.window.duration, min_chunk, max_chunks)
        self.provider = provider
        self.finish_by = self.window.finish_by
        self.min_chunk = self.chunking.min_chunk
        self.max_chunks = self.chunking.max_chunks

    def execute(self, context: Context) -> list[dict[str, Any]]:
        job = self.window.job_for(self.finish_by)
        provider = shared_provider(resolve_spec(provider_reference(self.provider)))
        try:
            planned = run_sync(
                plan_interruptible(
                    provider,
                    job,
                    self.window.rules,
                    min_chunk=self.min_chunk,
                    max_chunks=self.max_chunks,
                )
            )
        except ConfigurationError as exc:
            raise AirflowFailException(str(exc)) from None
        except (ProviderError, BadSeriesError) as exc:  # on_provider_error='fail'
            raise AirflowException(f"{type(exc).__name__}: {exc}") from None
        context["ti"].xcom_push(key=PLAN_XCOM_KEY, value=planned.whole.model_dump(mode="json"))
        self.log.info(
            "%d chunk(s): %s; %s",
            len(planned.chunks),
            ", ".join(f"{p.start.isoformat()} → {p.end.isoformat()}" for p in planned.chunks),
            planned.whole.reason,
        )
        return [p.model_dump(mode="json") for p in planned.chunks]

    def provider_for(self, plan: Plan, context: Context) -> SerializedProvider:
        """The provider that planned the chunks, rendered for this run (receipts ask it)."""
        return provider_reference(self.render_template(self.provider, context))


class CarbonChunkOperator(PythonOperator):
    """Run one chunk of an interruptible job in its slot; map it over the planned chunks.

    ``chunk`` is one plan from :class:`CarbonChunkPlanOperator` (``.expand(chunk=...)``). The
    task defers to the triggerer until the chunk's slot (or runs at once if it is open), calls
    ``python_callable`` with ``chunk=`` the chunk's :class:`~cleanshift_core.Plan` (plus
    ``op_args`` / ``op_kwargs``), and pushes the chunk's receipt under ``cleanshift_receipt``
    and its plan under ``cleanshift_plan``.
    """

    template_fields: Sequence[str] = (*PythonOperator.template_fields, "provider")
    operator_extra_links = (CarbonReceiptLink(),)
    ui_color = "#a5d6a7"

    def __init__(
        self,
        *,
        provider: ConnectionOrSpec,
        chunk: dict[str, Any] | Plan,
        python_callable: Callable,
        power_kw: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(python_callable=python_callable, **kwargs)
        parameters = inspect.signature(python_callable).parameters.values()
        if not any(p.name == "chunk" or p.kind is p.VAR_KEYWORD for p in parameters):
            raise ConfigurationError(
                f"{getattr(python_callable, '__name__', 'python_callable')} must take a `chunk` "
                "argument: the chunk's Plan (work from chunk.start until chunk.end, then checkpoint)"
            )
        self.energy = EnergyRequest(power_kw)
        provider_reference(provider)
        self.provider = provider
        self.chunk = chunk
        self.power_kw = power_kw

    def execute(self, context: Context) -> Any:
        plan = Plan.model_validate(self.chunk)
        if plan.start - utcnow() > DEFER_THRESHOLD:
            self.defer(
                trigger=CarbonWindowTrigger(
                    provider=provider_reference(self.provider),
                    duration=plan.duration_seconds,
                    plan=plan.model_dump_json(),
                ),
                method_name="execute_complete",
            )
        sleep_until_blocking(plan.start)
        return self._run_chunk(context, plan)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self._run_chunk(context, CarbonWaitMixin.plan_from_event(event))

    def _run_chunk(self, context: Context, plan: Plan) -> Any:
        CarbonWaitMixin.push_plan(context, plan)
        self.op_kwargs = {**self.op_kwargs, "chunk": plan}
        started = utcnow()
        result = super().execute(context)
        receipt = settle_and_push(
            context, provider_reference(self.provider), plan, (started, utcnow()), self.power_kw
        )
        self.log.info("chunk receipt: %s", describe(receipt))
        return result


class CarbonChunksReceiptOperator(CarbonReceiptOperator):
    """Sum an interruptible job's chunk runs into one receipt.

    Reads the whole job's plan from ``plan_task_id`` (a :class:`CarbonChunkPlanOperator`) and
    every chunk's receipt from the mapped ``chunk_task_id``, and settles one receipt over all
    their run intervals (the core's ``settle_receipt``: measured history if the provider has
    it), against running the same total time at once. Pushed under ``cleanshift_receipt``,
    with ``cleanshift_receipt_parts`` naming the chunk task, so the receipts page counts the
    job once.
    """

    def __init__(self, *, plan_task_id: str, chunk_task_id: str, **kwargs: Any) -> None:
        super().__init__(sensor_task_id=plan_task_id, **kwargs)
        if not isinstance(chunk_task_id, str) or not chunk_task_id:
            raise ConfigurationError(
                f"chunk_task_id must be the task_id of the mapped CarbonChunkOperator, "
                f"got {chunk_task_id!r}"
            )
        self.chunk_task_id = chunk_task_id

    def execute(self, context: Context) -> None:
        ti = context["ti"]
        whole = ti.xcom_pull(task_ids=self.sensor_task_id, key=PLAN_XCOM_KEY)
        chunks = [r for r in ti.xcom_pull(task_ids=[self.chunk_task_id], key=RECEIPT_XCOM_KEY) if r]
        if not whole or not chunks:
            raise AirflowFailException(
                f"no chunk plan from {self.sensor_task_id!r} or no chunk receipts from "
                f"{self.chunk_task_id!r}; name the CarbonChunkPlanOperator and the mapped "
                "CarbonChunkOperator upstream of this task"
            )
        plan = Plan.model_validate(whole)
        intervals = sorted(
            (datetime.fromisoformat(a), datetime.fromisoformat(b))
            for receipt in chunks
            for a, b in receipt["run_intervals"]
        )
        ti.xcom_push(key=PLAN_XCOM_KEY, value=whole)  # the tab charts it here too
        provider = shared_provider(resolve_spec(self._provider(context, plan)))
        energy_kwh, note = rendered_energy(self.energy_kwh)
        receipt = run_sync(
            settle_receipt(
                provider,
                plan,
                intervals,
                power_kw=self.power_kw,
                energy_kwh=energy_kwh,
                energy=None if note is None else EnergyReading(EnergySource.UNKNOWN, note=note),
            )
        )
        ti.xcom_push(key=RECEIPT_XCOM_KEY, value=receipt.model_dump(mode="json"))
        ti.xcom_push(key=RECEIPT_PARTS_XCOM_KEY, value=self.chunk_task_id)
        self.log.info("receipt of %d chunk run(s): %s", len(intervals), describe(receipt))
