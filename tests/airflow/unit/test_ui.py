"""``cleanshift_airflow.ui``: the receipt tab and receipts page, and the app refusing requests
without credentials."""

from __future__ import annotations

from cleanshift_airflow.ui import (
    ReceiptRow,
    energy,
    grams,
    html_page,
    render_receipts_page,
    render_task_page,
    total_avoided,
)


def _receipt(avoided: float | None) -> dict:
    return {
        "planned_start": "2026-01-01T03:00:00Z",
        "scheduled_at": "2026-01-01T00:00:00Z",
        "ran_at": "2026-01-01T03:00:01Z",
        "finished_at": "2026-01-01T04:00:00Z",
        "delay_seconds": 10801.0,
        "duration_seconds": 3599.0,
        "avg_intensity_gco2_per_kwh": 150.0,
        "counterfactual_avg_intensity": 300.0,
        "estimated_savings_pct": 50.0,
        "avoided_g": avoided,
        "run_intervals": [["2026-01-01T03:00:01Z", "2026-01-01T04:00:00Z"]],
        "provider": "mock",
        "region": "DE",
        "reason": "<b>cleanest</b>",
    }


def test_task_page_renders_the_receipt_and_an_offline_chart():
    plan = {
        "start": "2026-01-01T03:00:00Z",
        "end": "2026-01-01T04:00:00Z",
        "forecast": [
            {
                "start": f"2026-01-01T0{h}:00:00Z",
                "end": f"2026-01-01T0{h + 1}:00:00Z",
                "intensity": v,
            }
            for h, v in enumerate([300, 250, 200, 150, 250])
        ],
    }
    html = render_task_page("t", plan, _receipt(123.4))
    assert "150.0 gCO2eq/kWh" in html and "123.4 g" in html
    assert "<svg" in html and 'class="window"' in html and 'class="run"' in html
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "<b>cleanest</b>" not in html  # escaped
    assert "No cleanshift plan" in render_task_page("t", None, None)
    assert "Basis: the intensity data" in html


def test_energy_and_grams_keep_a_useful_precision():
    assert energy(0.0028) == "2.80 Wh" and energy(0.00004) == "0.0400 Wh"
    assert energy(0.25) == "250 Wh" and energy(2.5) == "2.50 kWh" and energy(0) == "0 Wh"
    assert grams(0.3123) == "0.312 g" and grams(123.4) == "123.4 g" and grams(0.0) == "0.0 g"
    assert "n/a" in energy(None) and "n/a" in grams(None)


def test_task_page_says_plainly_when_a_task_is_not_carbon_aware():
    plain = render_task_page("load", None, None, operator="_PythonDecoratedOperator")
    assert 'id="not-carbon-aware"' in plain and "load (_PythonDecoratedOperator)" in plain
    sensor = render_task_page("w", None, None, operator="CarbonWindowSensor")
    assert "not-carbon-aware" not in sensor and "has not planned yet" in sensor


def test_pages_follow_the_airflow_ui_theme_and_the_os_preference():
    html = bytes(html_page("t", "<p>x</p>").body).decode()
    assert ":root.dark{color-scheme:dark;" in html  # the UI's choice, copied from its <html>
    assert "@media (prefers-color-scheme: dark){:root:not(.light)" in html  # else the OS's
    assert "window.parent.document.documentElement" in html and "MutationObserver" in html
    assert 'localStorage.getItem("theme")' in html  # next-themes' key, for the bare page


def test_task_page_shows_the_plan_a_task_is_still_waiting_for():
    plan = {
        "start": "2026-01-01T03:00:00Z",
        "end": "2026-01-01T04:00:00Z",
        "latest_start": "2026-01-01T05:00:00Z",
        "planned_at": "2026-01-01T00:30:00Z",
        "expected_savings_pct": 40.0,
        "reason": "re-planned at 2026-01-01T00:30:00Z: 12.0% cleaner than ...",
        "forecast": [],
    }
    waiting = render_task_page("w", plan, None)
    assert 'id="waiting"' in waiting and "2026-01-01T03:00:00Z" in waiting
    assert "40.0 %" in waiting and "<th>Last re-plan</th><td>2026-01-01T00:30:00Z" in waiting
    released = render_task_page("w", plan, None, released_at="2026-01-01T03:00:01Z")
    assert 'id="waiting"' not in released


def test_receipts_page_totals_each_unit_of_work_once_and_links_each_task_instance():
    rows = [
        ReceiptRow("d", "r1", "t", -1, _receipt(100.0)),
        ReceiptRow("d", "r2", "t", -1, _receipt(23.5)),
        ReceiptRow("d", "r3", "t", -1, _receipt(None)),
        ReceiptRow("c", "r/1", "train", 2, _receipt(7.0), part_of="chunks_receipt"),
    ]
    total = total_avoided([(r.receipt, r.part_of is not None) for r in rows])
    assert total == (123.5, 2)  # the chunk is inside its summed receipt, counted there
    html = render_receipts_page(rows, total, matching=4)
    assert "123.5 g" in html and "4 receipt(s) match" in html
    assert 'href="/dags/c/runs/r%2F1/tasks/train/mapped/2" target="_top">train [2]</a>' in html
    assert "(in chunks_receipt)" in html


def test_plugin_app_refuses_requests_without_credentials():
    """No token, no cookie: refused before any handler runs (forged tokens: see the e2e test)."""
    from fastapi.testclient import TestClient

    from cleanshift_airflow.ui import app

    client = TestClient(app)
    assert client.get("/receipts").status_code == 401
    assert client.get("/ti/d/r/t/-1").status_code == 401
