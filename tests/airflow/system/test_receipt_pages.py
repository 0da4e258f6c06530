"""The receipt tab's energy rows and the receipts page's totals and chart on a real Airflow
(api-server, scheduler, triggerer, dag-processor on 127.0.0.1), with receipts written by a real
run: CodeCarbon measured, another task's kWh given through XCom, and unknown energy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from cleanshift_airflow.ui import energy, grams
from cleanshift_core import CarbonReceipt
from cleanshift_core.report import JobReceipt, summarise
from tests.airflow.stack import Api, Stack, running_stack

HERE = Path(__file__).parent.parent / "unit"  # measured_energy_dag.py lives beside its unit test
DAG_ID = "measured_energy"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(
        {"measured_energy_dag.py": (HERE / "measured_energy_dag.py").read_text()}
    ) as s:
        yield s


@pytest.fixture(scope="module")
def run(stack: Stack) -> tuple[Api, str]:
    api = Api(stack)
    run_id = api.trigger(DAG_ID)
    assert api.wait_finished(DAG_ID, run_id) == "success", stack.logs()
    return api, run_id


def cell(html: str, label: str) -> str:
    found = re.search(rf"<tr><th>{re.escape(label)}</th><td>(.*?)</td></tr>", html)
    assert found, f"no {label!r} row in {html[:2000]}"
    return found[1]


def test_tab_shows_each_energy_source_at_a_useful_precision(run):
    api, run_id = run
    shown = {}
    for task_id in ("score", "receipt", "empty"):
        page = api.http.get(f"/cleanshift/ti/{DAG_ID}/{run_id}/{task_id}/-1")
        assert page.status_code == 200
        receipt = api.xcom(DAG_ID, run_id, task_id, "cleanshift_receipt")
        shown[task_id] = (page.text, receipt)

    html, measured = shown["score"]
    assert measured["energy_source"] == "measured" and 0 < measured["energy_kwh"] < 0.01
    assert cell(html, "Energy") == energy(measured["energy_kwh"]) and " Wh" in cell(html, "Energy")
    source = cell(html, "Energy source")
    assert '<span id="energy-source">measured</span>' in source
    assert f"CodeCarbon, {measured['energy_method']}" in source  # RAPL or the TDP model here
    assert f"CPU {energy(measured['energy_cpu_kwh'])}" in source and "RAM " in source
    assert cell(html, "R (functional unit)") == "1000 rows"
    assert cell(html, "SCI without M, (E × I) / R").startswith(grams(measured["sci_g_per_unit"]))

    html, given = shown["receipt"]
    assert '<span id="energy-source">given</span>' in cell(html, "Energy source")
    assert cell(html, "Emitted") == grams(given["emitted_g"])

    html, unknown = shown["empty"]
    source = cell(html, "Energy source")
    assert '<span id="energy-source">unknown</span>' in source and "why: " in source
    assert "rendered empty" in unknown["energy_note"] and "rendered empty" in source


def test_receipts_page_shows_the_core_totals_and_chart_of_its_filter(run):
    api, run_id = run
    receipts = [
        api.xcom(DAG_ID, run_id, task_id, "cleanshift_receipt")
        for task_id in ("score", "receipt", "empty")
    ]
    expected = summarise([JobReceipt(DAG_ID, CarbonReceipt.model_validate(r)) for r in receipts])
    page = api.http.get("/cleanshift/receipts", params={"dag_id": DAG_ID})
    assert page.status_code == 200
    table = page.text.split('<table id="totals">')[1].split("</table>")[0]
    (totals,) = expected.totals
    row = re.search(
        rf"<tr><td>{DAG_ID}</td><td>{re.escape(totals.region or '')}</td>(.*?)</tr>", table
    )
    assert row, table
    cells = re.findall(r"<td>(.*?)</td>", row[1])
    assert cells[1:6] == [
        str(totals.receipts),
        str(totals.with_grams),
        grams(totals.emitted_g),
        grams(totals.counterfactual_g),
        grams(totals.avoided_g),
    ]
    assert totals.receipts == 3 and totals.with_grams == 2  # the unknown one adds no grams
    assert f"measured {energy(totals.measured_kwh)} (1)" in cells[-1]
    assert f"given {energy(totals.given_kwh)} (1)" in cells[-1] and "unknown (1)" in cells[-1]
    # The weekly chart: inline SVG in the page's colour, no script or remote asset of its own.
    svg = page.text.split('class="avoided-weeks">')[1].split("</svg>")[0]
    assert svg.count('<rect class="bar"') == 1 and 'fill="currentColor"' in svg
    assert "http" not in svg and "#" not in svg  # no fixed colour: it follows the theme
    assert "<script src" not in page.text and run_id in page.text

    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    later = api.http.get("/cleanshift/receipts", params={"dag_id": DAG_ID, "since": tomorrow})
    assert "No receipts ran in this period." in later.text and "avoided-weeks" not in later.text


def test_tab_and_page_follow_the_theme_class_the_airflow_ui_sets(stack, run):
    api, run_id = run
    for path in (f"/cleanshift/ti/{DAG_ID}/{run_id}/score/-1", "/cleanshift/receipts"):
        html = api.http.get(path).text
        assert ":root.dark{color-scheme:dark;" in html and "background:var(--bg)" in html
        assert 'host.classList.contains("dark")' in html and 'localStorage.getItem("theme")' in html
    # What the pages rely on, in this Airflow's own UI bundle: next-themes keeps the theme as a
    # class on <html> under localStorage "theme", and plugin views are same-origin iframes.
    index = httpx.get(f"{stack.url}/", timeout=10, follow_redirects=True).text
    bundle = re.search(r'src="\.?/?([^"]*static/assets/index-[^"]+\.js)"', index)
    assert bundle, index[:1000]
    code = httpx.get(f"{stack.url}/{bundle[1]}", timeout=30).text
    assert re.search(r"attribute:[`\"']class[`\"']", code)
    assert re.search(r"storageKey:\w+=[`\"']theme[`\"']", code)
    assert "allow-scripts allow-same-origin" in code
