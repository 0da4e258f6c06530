"""The Airflow UI plugin: the receipt pages, as a task-instance tab and a navigation entry."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from .links import CarbonReceiptLink
from .ui import app


class CleanshiftPlugin(AirflowPlugin):
    name = "cleanshift"
    fastapi_apps = [{"app": app, "url_prefix": "/cleanshift", "name": "cleanshift receipts"}]
    external_views = [
        {
            "name": "Carbon receipt",
            "href": "/cleanshift/ti/{DAG_ID}/{RUN_ID}/{TASK_ID}/{MAP_INDEX}",
            "destination": "task_instance",
            "url_route": "cleanshift_receipt",
        },
        {
            "name": "Carbon receipts",
            "href": "/cleanshift/receipts",
            "destination": "nav",
            "url_route": "cleanshift_receipts",
        },
    ]
    operator_extra_links = [CarbonReceiptLink()]
