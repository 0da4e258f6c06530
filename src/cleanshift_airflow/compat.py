"""What differs between the Airflow releases the provider supports (3.1 to 3.3), in one place.

The task-related exceptions and the configuration parser reached ``airflow.sdk`` only in task-sdk
1.2 (Airflow 3.2); Airflow 3.1 pins task-sdk 1.1 and still has them in ``airflow.exceptions`` and
``airflow.configuration``. Airflow 3.3
is the first release that honours ``start_from_trigger``: older ones run such a sensor on a
worker without a word, so the provider refuses the flag there when the DAG is parsed rather
than let a DAG silently hold workers it was written not to hold.
"""

from __future__ import annotations

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk.exceptions import AirflowException
from packaging.version import Version

from cleanshift_core import ConfigurationError

try:
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowNotFoundException,
        AirflowRescheduleException,
        AirflowSkipException,
        TaskDeferred,
    )
except ImportError:  # task-sdk < 1.2 (Airflow 3.1)
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowNotFoundException,
        AirflowRescheduleException,
        AirflowSkipException,
        TaskDeferred,
    )

try:
    from airflow.sdk.configuration import conf
except ImportError:  # task-sdk < 1.2 (Airflow 3.1): the core config parser
    from airflow.configuration import conf

START_FROM_TRIGGER_SINCE = Version("3.3")
AIRFLOW_V = Version(Version(AIRFLOW_VERSION).base_version)

__all__ = [
    "AIRFLOW_V",
    "START_FROM_TRIGGER_SINCE",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowRescheduleException",
    "AirflowSkipException",
    "TaskDeferred",
    "conf",
    "require_start_from_trigger",
]


def require_start_from_trigger(start_from_trigger: bool) -> None:
    """Refuse ``start_from_trigger=True`` (and so ``end_from_trigger``) where Airflow ignores it."""
    if start_from_trigger and AIRFLOW_V < START_FROM_TRIGGER_SINCE:
        raise ConfigurationError(
            f"start_from_trigger=True needs Airflow {START_FROM_TRIGGER_SINCE} or newer; "
            f"Airflow {AIRFLOW_VERSION} would ignore it and run the sensor on a worker: "
            "upgrade Airflow, or drop start_from_trigger (and end_from_trigger) to defer from "
            "a worker"
        )
