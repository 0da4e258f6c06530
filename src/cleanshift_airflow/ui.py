"""The plugin's web app: a "Carbon receipt" tab per task instance and a receipts page.

Plugin FastAPI apps are mounted open by default, so every route here depends on Airflow's own
authentication (the JWT bearer header or the UI's session cookie, via ``get_user``) and
authorisation (the auth manager's DAG-level XCom permission), exactly like the core REST API.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models.xcom import XComModel
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from .chart import forecast_svg
from .keys import PLAN_XCOM_KEY, RECEIPT_XCOM_KEY

app = FastAPI(title="cleanshift", description="Carbon receipts of cleanshift tasks")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1rem;color:#1b1b1b}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f1f8e9}.muted{color:#666}.num{text-align:right}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h2>{escape(title)}</h2>{body}</body></html>"
    )


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return '<span class="muted">n/a</span>'
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return escape(str(value)) + unit


RECEIPT_ROWS = (
    ("Planned start", "planned_start", ""),
    ("Scheduled at (could have run)", "scheduled_at", ""),
    ("Ran at", "ran_at", ""),
    ("Finished at", "finished_at", ""),
    ("Delay", "delay_seconds", " s"),
    ("Duration", "duration_seconds", " s"),
    ("Intensity of the run", "avg_intensity_gco2_per_kwh", " gCO2eq/kWh"),
    ("Intensity if run at once", "counterfactual_avg_intensity", " gCO2eq/kWh"),
    ("Saving", "estimated_savings_pct", " %"),
    ("Energy", "energy_kwh", " kWh"),
    ("Emitted", "emitted_g", " g"),
    ("Avoided", "avoided_g", " g"),
    ("Basis", "intensity_basis", ""),
    ("Coverage", "coverage_pct", " %"),
    ("Estimate", "is_estimate", ""),
    ("Provider / region", None, ""),
    ("Policy", "policy", ""),
    ("Reason", "reason", ""),
)


def render_task_page(title: str, plan: dict | None, receipt: dict | None) -> str:
    """The tab's body: the receipt table (or the plan, for a sensor) and the chart."""
    if plan is None and receipt is None:
        return '<p class="muted">No cleanshift plan or receipt for this task instance (yet).</p>'
    html = []
    if receipt is not None:
        rows = []
        for label, key, unit in RECEIPT_ROWS:
            value = (
                f"{receipt.get('provider')} / {receipt.get('region')}"
                if key is None
                else receipt.get(key)
            )
            rows.append(f"<tr><th>{label}</th><td>{_fmt(value, unit)}</td></tr>")
        html.append("<table>" + "".join(rows) + "</table>")
    elif plan is not None:
        fields = [
            ("Planned start", plan.get("start")),
            ("Planned end", plan.get("end")),
            ("Could have started", plan.get("earliest_start")),
            ("Deadline (latest start)", plan.get("latest_start")),
            ("Expected intensity", plan.get("expected_intensity")),
            ("If started at once", plan.get("immediate_intensity")),
            ("Expected saving %", plan.get("expected_savings_pct")),
            ("Reason", plan.get("reason")),
        ]
        html.append(
            '<p class="muted">Plan of a sensor; the receipt of the gated work is on the '
            "receipt task.</p><table>"
            + "".join(f"<tr><th>{k}</th><td>{_fmt(v)}</td></tr>" for k, v in fields)
            + "</table>"
        )
    if plan is not None:
        runs = receipt.get("run_intervals", []) if receipt else []
        html.append(forecast_svg(plan.get("forecast", []), (plan["start"], plan["end"]), runs))
    return "".join(html)


def render_receipts_page(rows: Iterable[tuple[str, str, str, dict]]) -> str:
    """A table of receipts across DAG runs, with the total grams avoided."""
    body, total, counted = [], 0.0, 0
    for dag_id, run_id, task_id, r in rows:
        avoided = r.get("avoided_g")
        if avoided is not None:
            total += avoided
            counted += 1
        body.append(
            "<tr>"
            + "".join(
                f"<td>{cell}</td>"
                for cell in (
                    escape(dag_id),
                    escape(run_id),
                    escape(task_id),
                    _fmt(r.get("ran_at")),
                    _fmt(r.get("avg_intensity_gco2_per_kwh")),
                    _fmt(r.get("counterfactual_avg_intensity")),
                    _fmt(r.get("estimated_savings_pct"), " %"),
                    _fmt(avoided, " g"),
                )
            )
            + "</tr>"
        )
    if not body:
        return '<p class="muted">No carbon receipts yet.</p>'
    head = "".join(
        f"<th>{h}</th>"
        for h in ("DAG", "Run", "Task", "Ran at", "gCO2eq/kWh", "if at once", "Saving", "Avoided")
    )
    return (
        f'<p>Total avoided: <strong id="total-avoided">{total:.1f} g</strong> CO2eq over '
        f"{counted} receipt(s) with known energy; {len(body)} receipt(s) in all.</p>"
        f"<table><tr>{head}</tr>{''.join(body)}</table>"
    )


def _xcom_rows(session: Any, *conditions: Any) -> list[XComModel]:
    return list(session.scalars(select(XComModel).where(*conditions)))


@app.get(
    "/ti/{dag_id}/{run_id}/{task_id}/{map_index}",
    response_class=HTMLResponse,
    dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.XCOM))],
)
def task_instance_receipt(
    dag_id: str, run_id: str, task_id: str, map_index: str, session: SessionDep
) -> HTMLResponse:
    """The "Carbon receipt" tab of one task instance."""
    index = int(map_index) if map_index.lstrip("-").isdigit() else -1  # "{MAP_INDEX}" if unmapped
    values = {
        row.key: XComModel.deserialize_value(row)
        for row in _xcom_rows(
            session,
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id == task_id,
            XComModel.map_index == index,
            XComModel.key.in_((PLAN_XCOM_KEY, RECEIPT_XCOM_KEY)),
        )
    }
    return _page(
        f"Carbon receipt — {dag_id} / {task_id}",
        render_task_page(task_id, values.get(PLAN_XCOM_KEY), values.get(RECEIPT_XCOM_KEY)),
    )


@app.get("/receipts", response_class=HTMLResponse)
def receipts(
    user: GetUserDep, session: SessionDep, dag_id: str | None = None, limit: int = 500
) -> HTMLResponse:
    """Receipts across DAG runs the user may read, newest first, with total grams avoided."""
    allowed = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
    if dag_id is not None:
        allowed = allowed & {dag_id}
    rows = _xcom_rows(session, XComModel.key == RECEIPT_XCOM_KEY, XComModel.dag_id.in_(allowed))
    rows.sort(key=lambda r: r.timestamp, reverse=True)
    return _page(
        "Carbon receipts",
        render_receipts_page(
            (r.dag_id, r.run_id, r.task_id, XComModel.deserialize_value(r)) for r in rows[:limit]
        ),
    )
