"""``cleanshift_airflow.links``: the "Carbon receipt" extra link."""

from __future__ import annotations


def test_the_extra_link_opens_the_tab_inside_airflows_ui():
    from airflow.models.taskinstancekey import TaskInstanceKey

    from cleanshift_airflow.links import CarbonReceiptLink

    link = CarbonReceiptLink()
    unmapped = TaskInstanceKey("etl", "carbon_window", "manual__2026-01-01T00:00:00+00:00", 1, -1)
    mapped = TaskInstanceKey("train", "chunk", "r1", 1, 3)
    assert link.get_link(None, ti_key=unmapped) == (
        "/dags/etl/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/carbon_window"
        "/plugin/cleanshift_receipt"
    )
    assert link.get_link(None, ti_key=mapped).endswith(
        "/tasks/chunk/mapped/3/plugin/cleanshift_receipt"
    )
