"""``@carbon_task``: the TaskFlow form of :class:`CarbonAwarePythonOperator`.

::

    @carbon_task(provider="cleanshift_default", duration="2h", max_delay="8h", power_kw=3.5)
    def score(batch):
        ...

The function runs in the cleanest window (the wait happens in the triggerer), its return value
is the task's, and its receipt is in XCom under ``cleanshift_receipt``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk.bases.decorator import DecoratedOperator, TaskDecorator, task_decorator_factory

from cleanshift_core import EnergyRequest
from cleanshift_core.request import WINDOW_KWARGS

from .operators import CarbonAwarePythonOperator, check_task_deferrable
from .window_args import carbon_window_request


class _CarbonDecoratedOperator(DecoratedOperator, CarbonAwarePythonOperator):
    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, "provider", "finish_by")
    custom_operator_name = "@carbon_task"

    def __init__(
        self, *, python_callable: Callable, op_args: Any, op_kwargs: Any, **kwargs: Any
    ) -> None:
        super().__init__(
            kwargs_to_upstream={
                "python_callable": python_callable,
                "op_args": op_args,
                "op_kwargs": op_kwargs,
            },
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


def carbon_task(
    python_callable: Callable | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """Wrap a function into a carbon-aware task; takes the operator's window arguments
    (``provider``, ``duration``, ``max_delay`` / ``finish_by``, ``policy``, ``power_kw``, ...)
    and any ``@task`` argument. Window and energy arguments, and ``deferrable`` (only
    ``True``: the task form waits in the triggerer), are validated at decoration time."""
    carbon_window_request(**{k: kwargs[k] for k in WINDOW_KWARGS if k in kwargs})
    EnergyRequest(
        kwargs.get("power_kw"),
        kwargs.get("energy_kwh"),
        mode=kwargs.get("energy", EnergyRequest.mode),
        sci_functional_unit=kwargs.get("sci_functional_unit"),
    )
    check_task_deferrable(kwargs.get("deferrable", True))
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=_CarbonDecoratedOperator,
        **kwargs,
    )
