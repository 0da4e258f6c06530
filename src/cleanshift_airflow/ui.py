"""The plugin's web app: a "Carbon receipt" tab per task instance and a receipts page.

Plugin FastAPI apps are mounted open by default, so every route here depends on Airflow's own
authentication (the JWT bearer header or the UI's session cookie, via ``get_user``) and
authorisation (the auth manager's DAG-level XCom permission), exactly like the core REST API.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import ColumnElement, func, select

from cleanshift_core.report import (
    JobReceipt,
    OldReceiptError,
    Report,
    Skipped,
    Totals,
    load_receipt,
    summarise,
)

from .chart import avoided_weeks_svg, forecast_svg
from .keys import (
    CHUNKS_XCOM_KEY,
    PLAN_XCOM_KEY,
    RECEIPT_PARTS_XCOM_KEY,
    RECEIPT_XCOM_KEY,
    RELEASED_AT_XCOM_KEY,
    decoded,
)
from .links import ti_href

app = FastAPI(title="cleanshift", description="Carbon receipts of cleanshift tasks")

_LIGHT = (
    "--fg:#1b1b1b;--bg:#fff;--muted:#666;--line:#ccc;--head:#f1f8e9;--run:#1b5e20;--link:#1565c0"
)
_DARK = "--fg:#e6e6e6;--bg:#18181b;--muted:#a1a1aa;--line:#3f3f46;--head:#1f2e1f;--run:#81c784;--link:#90caf9"
#: Light by default, dark when the operating system prefers it, and whatever Airflow's UI has
#: chosen (its ``light`` / ``dark`` class, copied in by ``_THEME_SCRIPT``) over both.
_STYLE = f"""
:root{{color-scheme:light;{_LIGHT}}}
@media (prefers-color-scheme: dark){{:root:not(.light){{color-scheme:dark;{_DARK}}}}}
:root.dark{{color-scheme:dark;{_DARK}}}
body{{font-family:system-ui,sans-serif;margin:1rem;color:var(--fg);background:var(--bg)}}
a{{color:var(--link)}}
table{{border-collapse:collapse;margin:.5rem 0}}td,th{{border:1px solid var(--line);padding:.25rem .5rem;text-align:left}}
th{{background:var(--head)}}.muted{{color:var(--muted)}}.num{{text-align:right}}
svg .run{{fill:var(--run)}}
"""

#: Airflow 3's React UI renders plugin views in a same-origin iframe (sandbox
#: ``allow-scripts allow-same-origin``) and keeps its theme as a ``light`` / ``dark`` class on
#: its ``<html>`` (next-themes, stored under ``localStorage["theme"]``). The page copies that
#: class and follows it when the user switches; opened on its own, it reads the stored choice;
#: with neither, ``prefers-color-scheme`` decides.
_THEME_SCRIPT = """
(function(){var root=document.documentElement,host=null;
try{if(window.parent!==window){host=window.parent.document.documentElement}}catch(e){}
function sync(){var theme=null;
if(host){theme=host.classList.contains("dark")?"dark":host.classList.contains("light")?"light":null}
if(!theme){try{var saved=localStorage.getItem("theme");if(saved==="dark"||saved==="light"){theme=saved}}catch(e){}}
root.classList.remove("dark","light");if(theme){root.classList.add(theme)}}
sync();if(host){new MutationObserver(sync).observe(host,{attributes:true,attributeFilter:["class"]})}})();
"""


def html_page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style><script>{_THEME_SCRIPT}</script></head>"
        f"<body><h2>{escape(title)}</h2>{body}</body></html>"
    )


def significant(value: float, figures: int = 3, min_decimals: int = 0) -> str:
    """``value`` with ``figures`` significant figures (and at least ``min_decimals``), without
    exponent notation: 0.000312 -> "0.000312", 123.4 -> "123" (or "123.4" with one decimal)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:.{min_decimals}f}"
    decimals = figures - 1 - math.floor(math.log10(abs(value)))
    return f"{value:.{max(decimals, min_decimals)}f}"


def energy(kwh: float | None) -> str:
    """Energy at a useful precision: Wh below 1 kWh (a short job uses a few Wh, which "0.0 kWh"
    hides), kWh above, three significant figures either way."""
    if kwh is None:
        return '<span class="muted">n/a</span>'
    if abs(kwh) < 1:
        return f"{significant(kwh * 1000)} Wh"
    return f"{significant(kwh)} kWh"


def grams(value: float | None) -> str:
    """Grams of CO2eq: one decimal, more below 10 g so that small jobs keep three significant
    figures (0.0312 g, not 0.0 g)."""
    if value is None:
        return '<span class="muted">n/a</span>'
    return f"{significant(value, min_decimals=1)} g"


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
    ("Energy", "energy_kwh", energy),
    ("Energy source", "energy_source", None),
    ("Emitted", "emitted_g", grams),
    ("Avoided", "avoided_g", grams),
    ("Basis", "intensity_basis", ""),
    ("Coverage", "coverage_pct", " %"),
    ("Estimate", "is_estimate", ""),
    ("Provider / region", None, ""),
    ("Policy", "policy", ""),
    ("Reason", "reason", ""),
)


def energy_source(receipt: dict) -> str:
    """Where the energy came from, and how: CodeCarbon's method and the CPU/GPU/RAM split when
    measured, the nominal power when derived from ``power_kw``, why when unknown."""
    source = str(receipt.get("energy_source") or "unknown")
    detail: list[str] = []
    if source == "measured":
        detail.append(f"CodeCarbon, {_fmt(receipt.get('energy_method') or 'method not recorded')}")
        split = [
            f"{part} {energy(receipt.get(f'energy_{part.lower()}_kwh'))}"
            for part in ("CPU", "GPU", "RAM")
            if receipt.get(f"energy_{part.lower()}_kwh") is not None
        ]
        if split:
            detail.append(f'<span id="energy-split">{" · ".join(split)}</span>')
    elif source == "nominal":
        detail.append(f"{_fmt(receipt.get('power_kw'))} kW nominal × running time")
    elif source == "given":
        detail.append("handed in as kWh (e.g. another task's measurement, via XCom)")
    if receipt.get("energy_note"):
        detail.append(("why: " if source == "unknown" else "") + _fmt(receipt["energy_note"]))
    shown = f'<span id="energy-source">{escape(source)}</span>'
    return shown + (f' <span class="muted">({"; ".join(detail)})</span>' if detail else "")


def sci_table(receipt: dict) -> str:
    """The SCI terms (ISO/IEC 21031) the receipt carries: E, I with its signal, the functional
    unit R and SCI per R without M (embodied emissions, left to the user)."""
    unit = receipt.get("sci_functional_unit")
    signal = receipt.get("sci_signal") or receipt.get("signal")
    intensity = receipt.get("avg_intensity_gco2_per_kwh")
    per_unit = receipt.get("sci_g_per_unit")
    rows = [
        ("E (energy)", energy(receipt.get("energy_kwh"))),
        (
            "I (location-based intensity)",
            _fmt(intensity, " gCO2eq/kWh")
            + (f" ({escape(str(signal))})" if intensity is not None and signal else ""),
        ),
        (
            "R (functional unit)",
            f"{significant(float(unit[1]))} {escape(str(unit[0]))}"
            if unit
            else '<span class="muted">not given (sci_functional_unit)</span>',
        ),
        (
            "SCI without M, (E × I) / R",
            f"{grams(per_unit)} CO2eq per {escape(str(unit[0]))}"
            if unit and per_unit is not None
            else '<span class="muted">n/a</span>',
        ),
    ]
    return (
        '<table id="sci"><tr><th colspan="2">SCI terms (ISO/IEC 21031)</th></tr>'
        + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        + '</table><p class="muted">M (embodied emissions of the hardware) is left to you; '
        "I is the time-weighted intensity over the run, of one signal (average or marginal), "
        "never a mix.</p>"
    )


#: Beside a receipt's "Basis" and "Estimate": what the two say together.
BASIS_NOTE = (
    "Basis: the intensity data the receipt was settled on (measured history if the provider "
    "has it, else the forecast the plan was made on). Estimate: True unless that data is "
    "measured and covers the whole run and the energy was measured (energy_kwh), not derived "
    "from a nominal power_kw — so measured basis with a power_kw is still an estimate."
)


#: The operators (``TaskInstance.operator``, the class name) and TaskFlow decorators
#: (``custom_operator_name``) that plan or settle: the tab has something to show on these only.
#: Airflow 3.3 shows a plugin's ``task_instance`` view on every task instance (an external view
#: has a ``destination`` and an ``href`` template, no per-operator filter), so the tab says so
#: plainly on the others.
CARBON_AWARE_OPERATORS = frozenset(
    {
        "CarbonWindowSensor",
        "CarbonLocationSensor",
        "CarbonAwarePythonOperator",
        "CarbonReceiptOperator",
        "CarbonChunkPlanOperator",
        "CarbonChunkOperator",
        "CarbonChunksReceiptOperator",
        "@carbon_task",
    }
)


def render_task_page(
    title: str,
    plan: dict | None,
    receipt: dict | None,
    released_at: str | None = None,
    chunk_windows: Sequence[Sequence[str]] = (),
    operator: str | None = None,
) -> str:
    """The tab's body: the receipt table (or the plan, for a sensor) and the chart.

    A plan without a release instant is the one the task is still waiting for (pushed before
    the deferral, re-published by the trigger when a re-plan moves the start). For an
    interruptible job, ``chunk_windows`` are its chunks' planned windows, one band each (the
    whole job's plan spans from the first chunk's start). ``operator`` names the task's
    operator when known, to say plainly that a task is not carbon-aware.
    """
    if plan is None and receipt is None:
        if operator is not None and operator not in CARBON_AWARE_OPERATORS:
            return (
                f'<p class="muted" id="not-carbon-aware">{escape(title)} ({escape(operator)}) is '
                "not a carbon-aware task: it does not wait for a carbon window or settle a "
                "receipt, so there is nothing to show here. Airflow shows this tab on every task "
                "instance; the cleanshift operators, sensors and <code>@task.carbon_task</code> "
                "fill it.</p>"
            )
        return (
            '<p class="muted">No cleanshift plan or receipt for this task instance: it is not a '
            "carbon-aware task, or it has not planned yet.</p>"
        )
    html = []
    if receipt is None and chunk_windows:
        html.append(
            f'<p id="chunked">Plan of an interruptible job in {len(chunk_windows)} chunk(s), '
            "one band each: every chunk task waits for its own slot; the summed receipt is on "
            "the receipt task.</p>"
        )
    elif receipt is None and released_at is None and plan is not None:
        saving = plan.get("expected_savings_pct")
        html.append(
            f'<p id="waiting"><strong>Waiting for the carbon window</strong>: planned start '
            f"{_fmt(plan.get('start'))}, latest start {_fmt(plan.get('latest_start'))}, "
            f"expected saving {_fmt(saving, ' %')}.</p>"
        )
    if receipt is not None:
        rows = []
        for label, key, unit in RECEIPT_ROWS:
            if key is None:
                shown = _fmt(f"{receipt.get('provider')} / {receipt.get('region')}")
            elif unit is None:
                shown = energy_source(receipt)
            elif callable(unit):
                shown = unit(receipt.get(key))
            else:
                shown = _fmt(receipt.get(key), unit)
            rows.append(f"<tr><th>{label}</th><td>{shown}</td></tr>")
        html.append("<table>" + "".join(rows) + "</table>")
        html.append(f'<p class="muted">{escape(BASIS_NOTE)}</p>')
        html.append(sci_table(receipt))
    elif plan is not None:
        fields = [
            ("Planned start", plan.get("start")),
            ("Planned end", plan.get("end")),
            ("Could have started", plan.get("earliest_start")),
            ("Deadline (latest start)", plan.get("latest_start")),
            ("Expected intensity", plan.get("expected_intensity")),
            ("If started at once", plan.get("immediate_intensity")),
            ("Expected saving %", plan.get("expected_savings_pct")),
            ("Planned at", plan.get("planned_at")),
            (
                "Last re-plan",
                plan.get("planned_at")
                if str(plan.get("reason", "")).startswith("re-planned")
                else "none yet",
            ),
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
        windows = chunk_windows or [(plan["start"], plan["end"])]
        html.append(forecast_svg(plan.get("forecast", []), windows, runs))
    return "".join(html)


@dataclass(frozen=True)
class ReceiptRow:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    receipt: dict
    #: the task whose summed receipt includes this one (a chunk of an interruptible job)
    part_of: str | None = None


def total_avoided(receipts: Iterable[tuple[dict, bool]]) -> tuple[float, int]:
    """Grams avoided over (receipt, is_part) pairs, each unit of work once: a summed receipt
    counts, the chunk receipts it is made of do not. Returns (grams, receipts counted)."""
    known = [r["avoided_g"] for r, part in receipts if not part and r.get("avoided_g") is not None]
    return float(sum(known)), len(known)


def render_receipts_page(
    rows: Sequence[ReceiptRow],
    total: tuple[float, int] | None,
    matching: int,
    pager: str = "",
) -> str:
    """One page of receipts (newest first), with the total grams avoided over all matching
    unless ``total`` is None (the page shows the core's totals above the list instead)."""
    if not rows:
        return '<p class="muted">No carbon receipts match.</p>' + pager
    body = []
    for row in rows:
        r = row.receipt
        task = escape(row.task_id) + ("" if row.map_index < 0 else f" [{row.map_index}]")
        note = f' <span class="muted">(in {escape(row.part_of)})</span>' if row.part_of else ""
        cells = (
            escape(row.dag_id),
            escape(row.run_id),
            (
                f'<a href="{escape(ti_href(row.dag_id, row.run_id, row.task_id, row.map_index))}" '
                f'target="_top">{task}</a>{note}'
            ),
            _fmt(r.get("ran_at")),
            _fmt(r.get("avg_intensity_gco2_per_kwh")),
            _fmt(r.get("counterfactual_avg_intensity")),
            _fmt(r.get("estimated_savings_pct"), " %"),
            grams(r.get("avoided_g")),
        )
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(
        f"<th>{h}</th>"
        for h in ("DAG", "Run", "Task", "Ran at", "gCO2eq/kWh", "if at once", "Saving", "Avoided")
    )
    if total is None:
        summary = f"<p>{matching} receipt(s) written in the period, newest first.</p>"
    else:
        avoided, counted = total
        summary = (
            f'<p>Total avoided: <strong id="total-avoided">{grams(avoided)}</strong> CO2eq over '
            f"{counted} unit(s) of work with known energy; {matching} receipt(s) match (a "
            "chunked job counts once, as its summed receipt).</p>"
        )
    return f"{summary}<table><tr>{head}</tr>{''.join(body)}</table>{pager}"


def _signal(signal: Any) -> str:
    return "no intensity data" if signal is None else escape(str(getattr(signal, "value", signal)))


def _kwh_by_source(t: Totals) -> str:
    """Energy by source with each source's receipt count: ``measured 3.1 Wh (2) · …``."""
    parts = [
        f"{name} {energy(kwh)} ({count})"
        for name, kwh, count in (
            ("measured", t.measured_kwh, t.measured),
            ("given", t.given_kwh, t.given),
            ("nominal", t.nominal_kwh, t.nominal),
        )
        if count
    ]
    if t.unknown:
        parts.append(f"unknown ({t.unknown})")
    return " · ".join(parts)


def _totals_row(t: Totals, first: tuple[str, ...]) -> str:
    cells = (
        *first,
        str(t.receipts),
        str(t.with_grams),
        grams(t.emitted_g if t.with_grams else None),
        grams(t.counterfactual_g if t.with_grams else None),
        grams(t.avoided_g if t.with_grams else None),
        _fmt(t.savings_pct, " %"),
        _kwh_by_source(t),
    )
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_totals(report: Report) -> str:
    """The core's totals of the period (:func:`cleanshift_core.report.summarise`): one row per
    DAG, region and signal, the sum per signal (never across signals), and per signal a chart
    of grams avoided per ISO week by DAG."""
    if not report.totals:
        body = '<p class="muted" id="totals">No receipts ran in this period.</p>'
    else:
        numbers = ("Receipts", "with grams", "Emitted", "If at once", "Avoided", "Saving")
        head = "".join(
            f"<th>{h}</th>" for h in ("DAG", "Region", "Signal", *numbers, "Energy by source")
        )
        rows = [
            _totals_row(t, (escape(t.job or ""), escape(t.region or ""), _signal(t.signal)))
            for t in report.totals
        ]
        rows += [
            _totals_row(t, ("<strong>all DAGs</strong>", "", _signal(t.signal)))
            for t in report.overall
        ]
        charts = [
            avoided_weeks_svg(
                [w for w in report.weekly if w.signal == signal],
                f"grams CO2eq avoided per ISO week (UTC) by DAG — {_signal(signal)} signal",
            )
            for signal in report.signals
            if signal is not None
        ]
        body = (
            f'<table id="totals"><tr>{head}</tr>{"".join(rows)}</table>'
            '<p class="muted">Receipts count by when the work ran (ran_at); grams are summed '
            "over the receipts that have them (with grams), energy by its source with how many "
            "receipts had it; each signal (average or marginal) is totalled and charted on its "
            "own, never mixed. A chunked job counts once, as its summed receipt"
            f"{f' ({report.parts} chunk receipt(s) inside sums)' if report.parts else ''}.</p>"
            + "".join(charts)
        )
    if report.skipped:
        listed = "".join(
            f"<li>{escape(s.where)}: {escape(s.reason)}</li>" for s in report.skipped[:20]
        )
        body += (
            f'<p id="skipped">{len(report.skipped)} receipt(s) could not be read and are left '
            f"out of the totals:</p><ul>{listed}</ul>"
        )
    return "<h3>Totals</h3>" + body


def upgraded(receipt: Any) -> Any:
    """A stored receipt as this version writes it: one written before ``energy_source`` gets
    the source the model infers (nominal from ``power_kw``), and the SCI fields. A value the
    model refuses is shown as stored."""
    if not isinstance(receipt, dict):
        return receipt
    try:
        return load_receipt(receipt).model_dump(mode="json")
    except OldReceiptError:
        return receipt


def _xcom_rows(session: Any, *conditions: Any) -> list[XComModel]:
    return list(session.scalars(select(XComModel).where(*conditions)))


def task_page(session: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The tab's body for one task instance, read from its XComs (and, for an interruptible
    job, its chunks' plans)."""
    same_run = (XComModel.dag_id == dag_id, XComModel.run_id == run_id)
    values = {
        row.key: decoded(XComModel.deserialize_value(row))
        for row in _xcom_rows(
            session,
            *same_run,
            XComModel.task_id == task_id,
            XComModel.map_index == map_index,
            XComModel.key.in_(
                (
                    PLAN_XCOM_KEY,
                    RECEIPT_XCOM_KEY,
                    RELEASED_AT_XCOM_KEY,
                    RECEIPT_PARTS_XCOM_KEY,
                    CHUNKS_XCOM_KEY,
                )
            ),
        )
    }
    operator = session.execute(
        select(TaskInstance.operator, TaskInstance.custom_operator_name).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == map_index,
        )
    ).first()
    name = (operator.custom_operator_name or operator.operator) if operator else None
    chunk_plans: list[Any] = []
    if name == "CarbonChunkPlanOperator":  # its return value is the list of chunk plans
        chunk_plans = values.get(CHUNKS_XCOM_KEY) or []
    elif values.get(RECEIPT_PARTS_XCOM_KEY):  # a summed receipt: its chunk tasks' plans
        chunk_plans = [
            decoded(XComModel.deserialize_value(row))
            for row in _xcom_rows(
                session,
                *same_run,
                XComModel.task_id == values[RECEIPT_PARTS_XCOM_KEY],
                XComModel.key == PLAN_XCOM_KEY,
            )
        ]
    windows = sorted((p["start"], p["end"]) for p in chunk_plans if isinstance(p, dict))
    return render_task_page(
        task_id,
        values.get(PLAN_XCOM_KEY),
        upgraded(values.get(RECEIPT_XCOM_KEY)),
        values.get(RELEASED_AT_XCOM_KEY),
        windows,
        name,
    )


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
    return html_page(
        f"Carbon receipt — {dag_id} / {task_id}", task_page(session, dag_id, run_id, task_id, index)
    )


@dataclass(frozen=True)
class Listing:
    """What the receipts page shows for a filter: one page of rows, the total avoided over all
    matching (each unit of work once), how many match, and the core's report of the period."""

    rows: list[ReceiptRow]
    total: tuple[float, int]
    matching: int
    report: Report


def receipts_listing(
    session: Any,
    dag_ids: Iterable[str],
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Listing:
    """The receipts of ``dag_ids``: the list by when each receipt was written (paged in the
    database), the report by when the work ran (``ran_at``, applied by the core's
    :func:`~cleanshift_core.report.summarise`). A receipt is written after its work ran, so
    the values the report reads are bounded by ``since`` only."""
    dags: list[ColumnElement[bool]] = [XComModel.dag_id.in_(list(dag_ids))]
    if since is not None:
        dags.append(XComModel.timestamp >= since)
    where = list(dags)
    if until is not None:
        where.append(XComModel.timestamp < until)
    parts = {
        (r.dag_id, r.run_id, decoded(XComModel.deserialize_value(r))): r.task_id
        for r in _xcom_rows(session, XComModel.key == RECEIPT_PARTS_XCOM_KEY, *dags)
    }
    is_receipt = [XComModel.key == RECEIPT_XCOM_KEY, *where]
    matching = session.scalar(select(func.count()).select_from(XComModel).where(*is_receipt))
    # The totals need every matching receipt; only the columns they need are read, once.
    listed: list[tuple[dict, bool]] = []
    loaded: list[JobReceipt] = []
    skipped: list[Skipped] = []
    for v in session.execute(
        select(
            XComModel.dag_id,
            XComModel.run_id,
            XComModel.task_id,
            XComModel.map_index,
            XComModel.timestamp,
            XComModel.value,
        ).where(XComModel.key == RECEIPT_XCOM_KEY, *dags)
    ):
        value = decoded(XComModel.deserialize_value(v))
        part_of = parts.get((v.dag_id, v.run_id, v.task_id))
        if until is None or v.timestamp < until:
            listed.append((value, part_of is not None))
        try:
            loaded.append(JobReceipt(v.dag_id, load_receipt(value), part_of))
        except OldReceiptError as exc:
            place = f"{v.dag_id} / {v.run_id} / {v.task_id}" + (
                f" [{v.map_index}]" if v.map_index >= 0 else ""
            )
            skipped.append(Skipped(place, str(exc)))
    report = summarise(loaded, since=since, until=until, skipped=skipped)
    page = session.scalars(
        select(XComModel)
        .where(*is_receipt)
        .order_by(XComModel.timestamp.desc(), XComModel.dag_id, XComModel.task_id)
        .offset(offset)
        .limit(limit)
    )
    rows = [
        ReceiptRow(
            r.dag_id,
            r.run_id,
            r.task_id,
            r.map_index,
            decoded(XComModel.deserialize_value(r)),
            parts.get((r.dag_id, r.run_id, r.task_id)),
        )
        for r in page
    ]
    return Listing(rows, total_avoided(listed), matching or 0, report)


def list_receipts(
    session: Any,
    dag_ids: Iterable[str],
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ReceiptRow], tuple[float, int], int]:
    """One page of the receipts of ``dag_ids`` (newest first), the total grams avoided over
    all of them (each unit of work once), and how many match: :func:`receipts_listing`
    without the report."""
    found = receipts_listing(session, dag_ids, since, until, offset, limit)
    return found.rows, found.total, found.matching


PAGE_SIZE = 50

#: The nav entry's icon (a leaf), in the UI's muted foreground colour for each theme.
ICON_PATH = "/icon.svg"
_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="{colour}" '
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
    '<path d="M11 20A7 7 0 0 1 9.8 6.1C15.5 5 17 4.48 19 2c1 2 2 4.18 2 8 0 5.5-4.78 10-10 10Z"/>'
    '<path d="M2 21c0-3 1.85-5.36 5.08-6C9.5 14.52 12 13 13 12"/></svg>'
)


@app.get(ICON_PATH, include_in_schema=False)
def icon(dark: bool = False) -> Response:
    """The nav icon: static and public, like the UI's own assets (an ``<img>`` fetch)."""
    return Response(
        _ICON.format(colour="#d4d4d8" if dark else "#52525b"),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@app.get("/receipts", response_class=HTMLResponse)
def receipts(
    user: GetUserDep,
    session: SessionDep,
    dag_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = Query(0, ge=0),
    limit: int = Query(PAGE_SIZE, ge=1, le=500),
) -> HTMLResponse:
    """Receipts across DAG runs the user may read, filtered by DAG and by period: the core's
    totals and weekly chart of the period above, the receipts below, newest first, a page at a
    time (paged in the database)."""
    allowed = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
    if dag_id:
        allowed = allowed & {dag_id}
    found = receipts_listing(session, allowed, since, until, offset, limit)
    filters = {"dag_id": dag_id, "since": since, "until": until}
    return html_page(
        "Carbon receipts",
        _filter_form(dag_id, since, until)
        + render_totals(found.report)
        + "<h3>Receipts</h3>"
        + render_receipts_page(
            found.rows, None, found.matching, _pager(offset, limit, found.matching, filters)
        ),
    )


def _filter_form(dag_id: str | None, since: datetime | None, until: datetime | None) -> str:
    def field(name: str, label: str, value: object, kind: str = "text") -> str:
        shown = "" if value is None else escape(str(value))
        return f'<label>{label} <input name="{name}" type="{kind}" value="{shown}"></label> '

    return (
        '<form method="get">'
        + field("dag_id", "DAG", dag_id)
        + field("since", "From (UTC, ISO)", since and since.isoformat())
        + field("until", "Until", until and until.isoformat())
        + '<button type="submit">Filter</button></form>'
    )


def _pager(offset: int, limit: int, matching: int, filters: dict[str, Any]) -> str:
    kept = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in filters.items() if v}

    def href(at: int) -> str:
        return escape("?" + urlencode({**kept, "offset": at, "limit": limit}))

    links = []
    if offset > 0:
        links.append(f'<a href="{href(max(offset - limit, 0))}">newer</a>')
    if offset + limit < matching:
        links.append(f'<a href="{href(offset + limit)}">older</a>')
    shown = f"{min(offset + 1, matching)}–{min(offset + limit, matching)} of {matching}"
    return f'<p class="muted">{shown} {" · ".join(links)}</p>'
