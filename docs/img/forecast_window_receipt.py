"""Draw the README's picture: a forecast, the window cleanshift chose, and the run's receipt.

    .venvs/prefect/bin/python docs/img/forecast_window_receipt.py   # any venv with the plot extra

The data is the embedded mock grid (no network, no key) planned and settled by the same core
calls every front door makes: ``decide`` on the forecast, ``build_receipt`` on the measured
history of a run in the chosen window. "Now" is fixed so the picture is reproducible.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import matplotlib.dates as mdates
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

from cleanshift_core import JobSpec, MockProvider, SchedulingRules, build_receipt, decide

OUT = Path(__file__).with_name("forecast-window-receipt.png")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
DURATION = timedelta(hours=2)
MAX_DELAY = timedelta(hours=18)
POWER_KW = 3.5


async def _plan_and_settle():
    provider = MockProvider(region="DEMO", resolution="30m")
    forecast = await provider.forecast(NOW, NOW + MAX_DELAY + DURATION)
    plan = decide(forecast, JobSpec.create(DURATION, max_delay=MAX_DELAY), SchedulingRules(), NOW)
    run = (plan.start, plan.start + DURATION)
    history = await provider.history(NOW, NOW + MAX_DELAY + DURATION)
    return plan, build_receipt(plan, [run], [history, forecast], power_kw=POWER_KW)


def main() -> None:
    plan, receipt = asyncio.run(_plan_and_settle())
    fig = Figure(figsize=(10, 4.2), dpi=120)
    ax = fig.subplots()
    starts = [p.start for p in plan.forecast] + [plan.forecast[-1].end]
    values = [p.intensity for p in plan.forecast] + [plan.forecast[-1].intensity]
    ax.step(starts, values, where="post", color="#555", label="forecast")
    end = plan.start + DURATION
    ax.axvspan(plan.start, end, color="#2e9e4f", alpha=0.25, label="chosen 2 h window")
    ax.axvspan(NOW, NOW + DURATION, color="#c0392b", alpha=0.12, label="running at once")
    ax.axvline(plan.latest_start, color="#888", ls="--", lw=1, label="latest start")
    ax.set_ylabel("gCO2eq/kWh")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=timezone.utc))
    ax.set_xlabel("UTC (mock grid)")
    ax.set_ylim(0, max(values) * 1.15)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_title("cleanshift: the cleanest window before the deadline, and its receipt")
    lines = [
        "carbon receipt",
        f"ran        {receipt.ran_at:%H:%M}–{receipt.finished_at:%H:%M} UTC",
        f"delay      {receipt.delay_seconds / 3600:.1f} h",
        f"intensity  {receipt.avg_intensity_gco2_per_kwh:.0f} gCO2eq/kWh",
        f"at once    {receipt.counterfactual_avg_intensity:.0f} gCO2eq/kWh",
        f"saved      {receipt.estimated_savings_pct:.1f} %",
        f"emitted    {receipt.emitted_g / 1000:.2f} kg ({POWER_KW} kW)",
        f"avoided    {receipt.avoided_g / 1000:.2f} kg",
        f"basis      {receipt.intensity_basis.value}",
    ]
    ax.text(
        0.985,
        0.96,
        "\n".join(lines),
        transform=ax.transAxes,
        ha="right",
        multialignment="left",
        va="top",
        family="monospace",
        fontsize=8,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#bbb"},
    )
    fig.tight_layout()
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
