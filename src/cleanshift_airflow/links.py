"""The "Carbon receipt" extra link: opens the task instance's "Carbon receipt" tab inside
Airflow's UI (which handles the login), not the plugin's bare page."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: The tab's ``url_route`` in the plugin's ``external_views``.
TAB_ROUTE = "cleanshift_receipt"


def ti_href(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """A task instance's page in Airflow 3's UI."""
    parts = (dag_id, "runs", run_id, "tasks", task_id)
    href = "/dags/" + "/".join(quote(p, safe="") for p in parts)
    return href if map_index < 0 else f"{href}/mapped/{map_index}"


class CarbonReceiptLink(BaseOperatorLink):
    name = "Carbon receipt"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        href = ti_href(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index)
        return f"{href}/plugin/{TAB_ROUTE}"
