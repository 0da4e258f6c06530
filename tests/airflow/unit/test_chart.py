"""``cleanshift_airflow.chart``: the inline SVG of a plan's forecast, windows and runs."""

from __future__ import annotations

from cleanshift_airflow.chart import WIDTH, forecast_svg


def test_the_chart_bands_every_chunk_and_keeps_the_last_time_label_inside():
    forecast = [
        {"start": f"2026-01-01T0{h}:00:00Z", "end": f"2026-01-01T0{h + 1}:00:00Z", "intensity": v}
        for h, v in enumerate([300, 100, 300, 100])
    ]
    chunks = [("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z")]
    chunks.append(("2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z"))
    svg = forecast_svg(forecast, chunks)
    assert svg.count('class="window"') == 2
    last = svg.rsplit(">04:00:00<", 1)[0].rsplit("<text ", 1)[1]
    x = float(last.split('x="')[1].split('"')[0])
    assert 'text-anchor="end"' in last and x <= WIDTH  # ends at x, so never past the edge
    assert "No forecast" in forecast_svg([], chunks)
