"""XCom keys: the documented places where plans and receipts live, and how to read them back."""

import json
from typing import Any

#: The sensor's (and the task form's) final plan, as JSON (``Plan.model_dump(mode="json")``).
PLAN_XCOM_KEY = "cleanshift_plan"
#: The carbon receipt of the work that actually ran, as JSON (``CarbonReceipt``).
RECEIPT_XCOM_KEY = "cleanshift_receipt"
#: When a :class:`~cleanshift_airflow.sensors.CarbonWindowSensor` released the gated work
#: (ISO-8601 UTC): the start of that work's run interval.
RELEASED_AT_XCOM_KEY = "cleanshift_released_at"
#: The location a :class:`~cleanshift_airflow.location.CarbonLocationSensor` chose (your label,
#: e.g. a cloud region or a Kubernetes context); also the sensor's return value.
LOCATION_XCOM_KEY = "cleanshift_location"
#: The per-chunk plans of an interruptible job (a list of ``Plan`` JSON): the return value of
#: :class:`~cleanshift_airflow.chunks.CarbonChunkPlanOperator`, which mapped chunk tasks
#: ``.expand(chunk=...)`` over. Its ``cleanshift_plan`` is the whole job's plan.
CHUNKS_XCOM_KEY = "return_value"
#: On a :class:`~cleanshift_airflow.chunks.CarbonChunksReceiptOperator`: the task id of the
#: mapped chunk task whose receipts its summed receipt is made of, so totals count that unit
#: of work once (the sum, not the sum plus its parts).
RECEIPT_PARTS_XCOM_KEY = "cleanshift_receipt_parts"


def decoded(value: Any) -> Any:
    """A cleanshift XCom as its writer pushed it, however it was stored.

    Airflow 3.3 stores the XComs of a trigger's ``TaskSuccessEvent`` (``end_from_trigger``)
    JSON-encoded one time more than a worker's ``xcom_push`` (the triggerer serialises them
    with ``XComModel.set``), so a worker's ``xcom_pull`` returns their JSON text. Text that is
    not JSON (a plain ISO timestamp pushed from a worker) is returned unchanged.
    """
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
