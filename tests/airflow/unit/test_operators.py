"""``cleanshift_airflow.operators``: the task form and the receipt operator validate at parse
time, and the receipt operator never invents a receipt."""

from __future__ import annotations

import pytest

from cleanshift_airflow.compat import AirflowFailException
from cleanshift_airflow.decorators import carbon_task
from cleanshift_airflow.operators import CarbonAwarePythonOperator, CarbonReceiptOperator
from cleanshift_core import ConfigurationError
from tests.airflow.helpers import GOOD, RecordingTI

# --- validation at parse time --------------------------------------------------------------


def test_task_form_and_receipt_operator_validate_too():
    with pytest.raises(ConfigurationError, match="power_kw must be a positive number"):
        CarbonAwarePythonOperator(
            task_id="t",
            python_callable=print,
            power_kw=-1,
            **{k: v for k, v in GOOD.items() if k != "task_id"},
        )
    with pytest.raises(ConfigurationError, match="sensor_task_id must be the task_id"):
        CarbonReceiptOperator(task_id="r", sensor_task_id="")
    with pytest.raises(ConfigurationError, match="unknown policy"):
        carbon_task(provider="mock", duration="1h", policy="fastest")  # at decoration time


# --- the sensor's decision -----------------------------------------------------------------


def test_receipt_operator_refuses_to_invent_a_receipt_without_a_plan():
    op = CarbonReceiptOperator(task_id="r", sensor_task_id="carbon_window", provider="mock")
    with pytest.raises(AirflowFailException, match="no carbon plan from task 'carbon_window'"):
        op.execute({"ti": RecordingTI()})


# --- connection and provider info ----------------------------------------------------------


# --- UI ------------------------------------------------------------------------------------
