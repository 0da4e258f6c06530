"""How the commands show plans and receipts: text lines, a terminal chart, the receipt table.

The chart is plotext (a terminal chart with no GUI backend); tables are rich.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rich.table import Table

from ..plan import Plan
from ..receipt import CarbonReceipt
from ..timeutil import format_duration
from .app import stderr_console


def intensity_text(value: float | None) -> str:
    """An intensity as the commands print it."""
    return "unknown" if value is None else f"{value:.0f} gCO2eq/kWh"


def forecast_chart(plan: Plan, width: int, height: int, color: bool) -> str:
    """A step chart of the forecast in hours from the earliest start, the window drawn solid.

    Works with plotext 5 (module-level API) and plotext 6 (figure and signal objects).
    """
    import plotext as plt

    origin = plan.earliest_start

    def hours(t: datetime) -> float:
        return (t - origin).total_seconds() / 3600.0

    lo, hi = hours(plan.start), hours(plan.end)
    xs: list[float] = []
    ys: list[float] = []
    wx: list[float] = []
    wy: list[float] = []
    for point in plan.forecast:
        a, b = hours(point.start), hours(point.end)
        xs += [a, b]
        ys += [point.intensity, point.intensity]
        if a < hi and b > lo:  # the part of this point inside the window, clipped to it
            wx += [max(a, lo), min(b, hi)]
            wy += [point.intensity, point.intensity]
    title = f"{plan.provider} {plan.region}: gCO2eq/kWh"
    if hasattr(plt, "clear_figure"):  # plotext 5
        plt.clear_figure()
        plt.plotsize(width, height)
        if not color:
            plt.theme("clear")
        plt.plot(xs, ys, label="forecast", marker="braille")
        if wx:
            plt.plot(wx, wy, label="chosen window", marker="█", color="green")
        plt.vertical_line(lo, color="green")
        plt.vertical_line(hi, color="green")
        plt.title(title)
        plt.xlabel("hours from now")
        return plt.build()
    fig = plt.figure  # plotext 6
    fig.clear()
    fig.plot_size(width, height)
    fig.theme("default" if color else "colorless")
    fig.draw(fig.signal(xs, ys).lines().label("forecast"))
    if wx:
        fig.draw(fig.signal(wx, wy, marker="█").lines().label("chosen window"))
    fig.line(lo, orientation="vertical")
    fig.line(hi, orientation="vertical")
    fig.title(title)
    fig.label("hours from now", axis="x")
    return str(fig.build())


def print_receipt(receipt: CarbonReceipt, code: int) -> None:
    basis = receipt.intensity_basis.value if receipt.intensity_basis else "no data"
    table = Table(
        title="carbon receipt" + (" (estimate)" if receipt.is_estimate else ""), show_header=False
    )
    table.add_column("field")
    table.add_column("value")
    rows = [
        ("scheduled at", receipt.scheduled_at.isoformat()),
        ("ran", f"{receipt.ran_at.isoformat()} → {receipt.finished_at.isoformat()}"),
        ("delay", format_duration(timedelta(seconds=receipt.delay_seconds))),
        ("ran for", format_duration(timedelta(seconds=receipt.duration_seconds))),
        (
            "paused",
            f"{len(receipt.run_intervals) - 1} time(s)" if len(receipt.run_intervals) > 1 else "no",
        ),
        (
            "intensity",
            f"{intensity_text(receipt.avg_intensity_gco2_per_kwh)} ({basis})",
        ),
        ("if run at once", intensity_text(receipt.counterfactual_avg_intensity)),
        (
            "saved",
            "unknown"
            if receipt.estimated_savings_pct is None
            else f"{receipt.estimated_savings_pct:.1f}%",
        ),
    ]
    if receipt.emitted_g is not None:
        rows += [
            ("emitted", f"{receipt.emitted_g:.1f} g"),
            ("avoided", f"{receipt.avoided_g:.1f} g"),
        ]
    rows += [("provider", f"{receipt.provider} {receipt.region}"), ("exit code", str(code))]
    for name, value in rows:
        table.add_row(name, value)
    stderr_console().print(table)
