"""``cleanshift forecast``: the forecast as a table and a terminal chart, the window marked."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..policies import OnProviderError, Policy
from ..scheduling import plan_job
from .app import app, run_closing
from .options import (
    NO_PROVIDER_FLAGS,
    DurationOpt,
    FinishByOpt,
    MaxDelayOpt,
    MaxIntensityOpt,
    MinSavingsOpt,
    NowOpt,
    PolicyOpt,
    ProviderFlags,
    clock_from,
    provider_options,
    window_from_flags,
)
from .render import forecast_chart, intensity_text


@app.command()
@provider_options
def forecast(
    duration: DurationOpt = "1h",
    max_delay: MaxDelayOpt = "24h",
    finish_by: FinishByOpt = None,
    provider: ProviderFlags = NO_PROVIDER_FLAGS,
    policy: PolicyOpt = Policy.MIN_CARBON,
    max_intensity: MaxIntensityOpt = None,
    min_savings_pct: MinSavingsOpt = 0.0,
    now: NowOpt = None,
    chart: Annotated[
        bool, typer.Option("--chart/--no-chart", help="Draw the terminal chart.")
    ] = True,
    width: Annotated[int, typer.Option("--width", min=40, help="Chart width in characters.")] = 100,
    height: Annotated[int, typer.Option("--height", min=10, help="Chart height in lines.")] = 20,
) -> None:
    """Show the forecast as a table and a terminal chart, with the chosen window marked."""
    window = window_from_flags(
        duration=duration,
        max_delay=max_delay,
        finish_by=finish_by,
        policy=policy,
        max_intensity=max_intensity,
        min_savings_pct=min_savings_pct,
        on_provider_error=OnProviderError.FAIL,
    )
    job, rules = window.job, window.rules
    clock = clock_from(now)
    source = provider.build()
    plan = run_closing(plan_job(source, job, rules, clock), source)
    console = Console(highlight=False)
    table = Table(
        title=f"{plan.provider} {plan.region} forecast ({plan.signal.value if plan.signal else ''})"
    )
    table.add_column("start (UTC)")
    table.add_column("end (UTC)")
    table.add_column("gCO2eq/kWh", justify="right")
    table.add_column("")
    for point in plan.forecast:
        inside = point.start < plan.end and point.end > plan.start
        table.add_row(
            point.start.isoformat(timespec="minutes"),
            point.end.isoformat(timespec="minutes"),
            f"{point.intensity:.0f}",
            "◀ window" if inside else "",
            style="bold green" if inside else None,
        )
    console.print(table)
    if chart:
        console.print(
            Text.from_ansi(forecast_chart(plan, width, height, color=console.is_terminal))
        )
    console.print(
        f"Chosen window: {plan.start.isoformat()} → {plan.end.isoformat()}, "
        f"{intensity_text(plan.expected_intensity)} (now: {intensity_text(plan.immediate_intensity)}). {plan.reason}"
    )
