"""The "Carbon receipt" extra link: opens the plugin's receipt page for a task instance."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class CarbonReceiptLink(BaseOperatorLink):
    name = "Carbon receipt"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        parts = (ti_key.dag_id, ti_key.run_id, ti_key.task_id, str(ti_key.map_index))
        return "/cleanshift/ti/" + "/".join(quote(p, safe="") for p in parts)
