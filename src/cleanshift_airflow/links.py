"""The "Carbon receipt" extra link: opens the plugin's receipt page for a task instance."""

from __future__ import annotations

from urllib.parse import quote

from airflow.sdk import BaseOperatorLink


class CarbonReceiptLink(BaseOperatorLink):
    name = "Carbon receipt"

    def get_link(self, operator, *, ti_key) -> str:  # type: ignore[override]
        parts = (ti_key.dag_id, ti_key.run_id, ti_key.task_id, str(ti_key.map_index))
        return "/cleanshift/ti/" + "/".join(quote(p, safe="") for p in parts)
