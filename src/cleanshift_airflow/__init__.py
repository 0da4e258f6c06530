"""cleanshift for Apache Airflow 3: run work in the cleanest grid window without holding a worker.

The provider only adapts :mod:`cleanshift_core` to Airflow: arguments are validated when the DAG
is parsed, planning and waiting happen in the triggerer (:class:`CarbonWindowTrigger`), and plans
and receipts land in XCom under :data:`PLAN_XCOM_KEY` and :data:`RECEIPT_XCOM_KEY`.

Submodules are imported lazily so that ``get_provider_info`` (read by every Airflow CLI call)
stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import version
from typing import Any

from .keys import PLAN_XCOM_KEY, RECEIPT_XCOM_KEY

#: The distribution's version, written once: in ``pyproject.toml``.
__version__ = version("cleanshift-suite")

_LAZY = {
    "CarbonWindowTrigger": "cleanshift_airflow.triggers",
    "CarbonWindowSensor": "cleanshift_airflow.sensors",
    "CarbonAwarePythonOperator": "cleanshift_airflow.operators",
    "CarbonReceiptOperator": "cleanshift_airflow.operators",
    "carbon_task": "cleanshift_airflow.decorators",
    "CleanshiftHook": "cleanshift_airflow.hooks",
}

__all__ = [
    "PLAN_XCOM_KEY",
    "RECEIPT_XCOM_KEY",
    "CarbonAwarePythonOperator",
    "CarbonReceiptOperator",
    "CarbonWindowSensor",
    "CarbonWindowTrigger",
    "CleanshiftHook",
    "carbon_task",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cleanshift_airflow' has no attribute {name!r}")
