"""The Airflow UI plugin: the receipt pages, as a task-instance tab and a navigation entry.

Airflow 3.3's React UI draws a top-level nav entry as a 56-pixel square with the icon above a
one-line label cut with an ellipsis, so the entry is named "Carbon" (as short as "Browse" or
"Admin") with a leaf icon; the page it opens keeps the full title "Carbon receipts".
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from .links import TAB_ROUTE, CarbonReceiptLink
from .ui import ICON_PATH, app


class CleanshiftPlugin(AirflowPlugin):
    name = "cleanshift"
    fastapi_apps = [{"app": app, "url_prefix": "/cleanshift", "name": "cleanshift receipts"}]
    external_views = [
        {
            "name": "Carbon receipt",
            "href": "/cleanshift/ti/{DAG_ID}/{RUN_ID}/{TASK_ID}/{MAP_INDEX}",
            "destination": "task_instance",
            "url_route": TAB_ROUTE,
        },
        {
            "name": "Carbon",
            "href": "/cleanshift/receipts",
            "destination": "nav",
            "url_route": "cleanshift_receipts",
            "icon": f"/cleanshift{ICON_PATH}",
            "icon_dark_mode": f"/cleanshift{ICON_PATH}?dark=1",
        },
    ]
    operator_extra_links = [CarbonReceiptLink()]
