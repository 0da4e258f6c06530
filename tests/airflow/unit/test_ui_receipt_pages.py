"""The receipt tab's energy and SCI rows and the receipts page's totals and weekly chart,
rendered from receipts the core settles (the same pages on a real stack:
system/test_receipt_pages.py)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest

from cleanshift_airflow.chart import avoided_weeks_svg
from cleanshift_airflow.ui import energy, grams, render_task_page, render_totals, upgraded
from cleanshift_core import (
    CarbonReceipt,
    IntensityPoint,
    IntensitySeries,
    JobSpec,
    SchedulingRules,
    SignalKind,
    build_receipt,
    decide,
)
from cleanshift_core.measure import EnergyReading, EnergySource
from cleanshift_core.report import JobReceipt, Skipped, WeekAvoided, summarise

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)  # a Monday: ISO week 2026-W10
CURVE = [400, 400, 100, 100, 300, 300]


def receipt(
    start_h: float = 2,
    *,
    day: int = 0,
    power_kw: float | None = 2.0,
    energy: EnergyReading | None = None,
    signal: SignalKind = SignalKind.AVERAGE_LIFECYCLE,
    unit: tuple[str, float] | None = None,
) -> CarbonReceipt:
    """A receipt settled by the core over a real run of one hour, ``day`` days after T0."""
    base = T0 + timedelta(days=day)
    series = IntensitySeries.from_points(
        [
            IntensityPoint(base + timedelta(hours=i), timedelta(hours=1), v)
            for i, v in enumerate(CURVE)
        ],
        signal=signal,
        provider="test",
        region="TEST",
        basis="measured",
    )
    plan = decide(series, JobSpec.create("1h", "4h"), SchedulingRules(), base)
    ran = base + timedelta(hours=start_h)
    return build_receipt(
        plan,
        [(ran, ran + timedelta(hours=1))],
        [series],
        power_kw=power_kw,
        energy=energy,
        sci_functional_unit=unit,
    )


def tab(r: CarbonReceipt) -> str:
    return render_task_page("t", None, upgraded(r.model_dump(mode="json")))


def cell(html: str, label: str) -> str:
    found = re.search(rf"<tr><th>{re.escape(label)}</th><td>(.*?)</td></tr>", html)
    assert found, f"no {label!r} row"
    return found[1]


MEASURED = EnergyReading(
    EnergySource.MEASURED,
    kwh=0.0004,
    cpu_kwh=0.0003,
    gpu_kwh=0.0,
    ram_kwh=0.0001,
    method="cpu_load (AMD EPYC 7B13)",
)


def test_tab_names_a_measured_source_its_method_and_split_at_a_useful_precision():
    r = receipt(power_kw=None, energy=MEASURED, unit=("rows", 1000))
    html = tab(r)
    assert cell(html, "Energy") == "0.400 Wh"  # a 0.0004 kWh job, not "0.0 kWh"
    source = cell(html, "Energy source")
    assert '<span id="energy-source">measured</span>' in source
    assert "CodeCarbon, cpu_load (AMD EPYC 7B13)" in source
    assert "CPU 0.300 Wh · GPU 0 Wh · RAM 0.100 Wh" in source
    # SCI: E, I with its signal, R, and (E × I) / R — 0.0004 kWh × 100 g/kWh / 1000 rows.
    assert cell(html, "E (energy)") == energy(r.energy_kwh)
    assert cell(html, "I (location-based intensity)") == "100.0 gCO2eq/kWh (average/lifecycle)"
    assert cell(html, "R (functional unit)") == "1000 rows"
    assert r.sci_g_per_unit == 0.0004 * 100 / 1000
    assert cell(html, "SCI without M, (E × I) / R") == f"{grams(r.sci_g_per_unit)} CO2eq per rows"
    assert "M (embodied emissions of the hardware) is left to you" in html


def test_tab_says_nominal_power_and_why_energy_is_unknown():
    nominal = tab(receipt(power_kw=2.0))
    assert cell(nominal, "Energy") == "2.00 kWh"
    assert "2.0 kW nominal × running time" in cell(nominal, "Energy source")
    assert "not given (sci_functional_unit)" in cell(nominal, "R (functional unit)")
    failed = EnergyReading(EnergySource.UNKNOWN, note="CodeCarbon could not start: <boom>")
    unknown = tab(receipt(power_kw=None, energy=failed))
    source = cell(unknown, "Energy source")
    assert '<span id="energy-source">unknown</span>' in source
    assert "why: CodeCarbon could not start: &lt;boom&gt;" in source  # escaped
    assert cell(unknown, "Emitted") == grams(None)


def test_tab_shows_an_older_receipt_with_the_source_the_model_infers():
    stored = receipt(power_kw=2.0).model_dump(mode="json")
    for newer in ("energy_source", "energy_method", "energy_note", "sci_signal"):
        stored.pop(newer)
    assert '<span id="energy-source">nominal</span>' in tab(CarbonReceipt.model_validate(stored))
    assert upgraded({"not": "a receipt"}) == {"not": "a receipt"}  # shown as stored


def test_totals_per_dag_and_region_and_one_chart_per_signal():
    average = [receipt(), receipt(day=7), receipt(power_kw=None)]
    marginal = [receipt(signal=SignalKind.MARGINAL)]
    report = summarise(
        [JobReceipt("etl", r) for r in average]
        + [JobReceipt("ml", receipt(start_h=0))]
        + [JobReceipt("etl", r) for r in marginal],
        skipped=[Skipped("old / run / t", "written by an older cleanshift (no ran_at)")],
    )
    html = render_totals(report)
    table = html.split('<table id="totals">')[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    etl = [r for r in rows if r.startswith("<td>etl</td><td>TEST</td><td>average/lifecycle")]
    # 2 kW for 1 h at 100 against 400 g/kWh, twice: 400 g emitted, 1600 at once, 1200 avoided;
    # the third receipt has no energy: counted, no grams.
    assert etl == [
        (
            "<td>etl</td><td>TEST</td><td>average/lifecycle</td><td>3</td><td>2</td>"
            f"<td>{grams(400.0)}</td><td>{grams(1600.0)}</td><td>{grams(1200.0)}</td>"
            f"<td>75.0 %</td><td>nominal {energy(4.0)} (2) · unknown (1)</td>"
        )
    ]
    overall = [r for r in rows if "all DAGs" in r]
    assert len(overall) == 2  # one per signal, never one sum across them
    assert html.count('class="avoided-weeks"') == 2
    assert "average/lifecycle signal" in html and "marginal signal" in html
    assert 'id="skipped"' in html and "written by an older cleanshift (no ran_at)" in html
    assert "<script" not in html


def test_weekly_chart_draws_a_bar_per_dag_and_week_and_negative_weeks_below_zero():
    report = summarise(
        [
            JobReceipt("etl", receipt()),  # W10: avoids 600 g
            JobReceipt("etl", receipt(day=7)),  # W11
            JobReceipt("ml", receipt(start_h=4)),  # W10: 300 g/kWh against 400: avoids 200 g
            JobReceipt("ml", receipt(day=7, start_h=4, power_kw=None)),  # no grams: no bar
        ]
    )
    svg = avoided_weeks_svg(report.weekly, "avoided")
    bars = re.findall(
        r'<rect class="bar" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"', svg
    )
    assert len(bars) == 3 and ">2026-W10<" in svg and ">2026-W11<" in svg
    assert "<title>ml, 2026-W10: 200 g avoided (1 receipt(s))</title>" in svg
    zero = float(re.search(r'<line x1="\d+" x2="\d+" y1="([\d.]+)"', svg)[1])
    heights = sorted(float(h) for _, h in bars)
    assert heights[0] * 3 == pytest.approx(heights[1], rel=1e-3)  # 200 g against 600 g
    assert all(abs(float(y) + float(h) - zero) < 0.2 for y, h in bars)  # all stand on zero
    assert "No receipts with grams" in avoided_weeks_svg([], "avoided")


def test_a_week_dirtier_than_running_at_once_hangs_below_the_zero_line():
    weekly = [
        WeekAvoided("etl", SignalKind.MARGINAL, date(2026, 3, 2), 50.0, 1),
        WeekAvoided("etl", SignalKind.MARGINAL, date(2026, 3, 9), -25.0, 1),
    ]
    svg = avoided_weeks_svg(weekly, "avoided")
    (up_y, up_h), (down_y, down_h) = [
        (float(y), float(h))
        for y, h in re.findall(
            r'<rect class="bar" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"', svg
        )
    ]
    zero = float(re.search(r'<line x1="\d+" x2="\d+" y1="([\d.]+)"', svg)[1])
    assert up_y + up_h == pytest.approx(zero, abs=0.2) and down_y == pytest.approx(zero, abs=0.2)
    assert up_h == pytest.approx(2 * down_h, rel=1e-3)
