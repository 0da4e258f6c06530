"""``cleanshift backtest``: replay a daily job over a measured series, against the optimum."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..backtest import ForecastModel, JobPattern, backtest, policy_rule, run_immediately
from ..errors import ConfigurationError
from ..policies import OnProviderError, Policy
from ..providers import read_series_file
from ..timeutil import format_duration
from .app import app
from .options import DurationOpt, MaxIntensityOpt, MinSavingsOpt, PolicyOpt, window_from_flags


@app.command(name="backtest")
def backtest_command(
    file: Annotated[
        Path,
        typer.Argument(help="Measured series: CSV 'Time,Carbon Intensity' (naive = UTC) or JSON."),
    ],
    release: Annotated[
        str, typer.Option("--release", help="Daily release time, HH:MM UTC.")
    ] = "01:00",
    duration: DurationOpt = "1h",
    max_delay: Annotated[
        str, typer.Option("--max-delay", "--window", help="How long after release it may start.")
    ] = "8h",
    policy: PolicyOpt = Policy.MIN_CARBON,
    max_intensity: MaxIntensityOpt = None,
    min_savings_pct: MinSavingsOpt = 0.0,
    noise: Annotated[
        float,
        typer.Option("--noise", help="Forecast error as a fraction of mean intensity (0.05 = 5%)."),
    ] = 0.0,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Noise draws to average over.")] = 10,
    repair: Annotated[
        bool, typer.Option("--repair", help="Repair unsorted/duplicate/short-gapped files.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Replay a daily job over a historical series: savings vs running at once and vs the optimum."""
    if policy in (Policy.HALT_IF_DIRTY, Policy.NOW_OR_NEVER):
        raise ConfigurationError(
            f"backtest compares start times; policy {policy.value!r} pauses or skips jobs, which it "
            "does not model. Use min_carbon or threshold"
        )
    pattern = JobPattern.create(release, duration, max_delay)
    rules = window_from_flags(
        duration=duration,
        max_delay=max_delay,
        finish_by=None,
        policy=policy,
        max_intensity=max_intensity,
        min_savings_pct=min_savings_pct,
        on_provider_error=OnProviderError.FAIL,
    ).rules
    truth = read_series_file(file, region=file.stem, repair=repair)
    models = (
        [ForecastModel()] if noise == 0 else [ForecastModel(noise, seed) for seed in range(seeds)]
    )
    runs = [backtest(truth, pattern, policy_rule(rules), model) for model in models]
    baseline = backtest(truth, pattern, run_immediately)
    saved = sum(r.saved_pct for r in runs) / len(runs)
    captured = [r.captured for r in runs]
    known = [c for c in captured if c is not None]
    captured_mean = sum(known) / len(known) if len(known) == len(captured) else None
    first = runs[0]
    summary = {
        "file": str(file),
        "jobs": first.jobs,
        "release_utc": release,
        "duration_hours": pattern.duration.total_seconds() / 3600,
        "max_delay_hours": pattern.max_delay.total_seconds() / 3600,
        "policy": policy.value,
        "forecast_noise": noise,
        "seeds": len(runs),
        "mean_intensity_immediate": baseline.mean_actual,
        "mean_intensity_policy": sum(r.mean_actual for r in runs) / len(runs),
        "mean_intensity_optimal": first.mean_optimal,
        "saved_pct": saved,
        "optimal_saved_pct": first.optimal_saved_pct,
        "captured_of_optimum": captured_mean,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    forecast_label = (
        "perfect forecast"
        if noise == 0
        else f"forecast noise {noise:.0%}, mean of {len(runs)} seeds"
    )
    table = Table(
        title=f"{file.name}: {first.jobs} jobs released daily at {release} UTC, "
        f"{format_duration(pattern.duration)} long, may start within {format_duration(pattern.max_delay)}",
        caption=f"{policy.value} decided on a {forecast_label}; every job charged the measured intensity",
    )
    table.add_column("strategy")
    table.add_column("mean gCO2eq/kWh", justify="right")
    table.add_column("saved vs immediate", justify="right")
    table.add_column("of the optimum", justify="right")
    table.add_row("run at release", f"{baseline.mean_actual:.1f}", "0.0%", "0%")
    table.add_row(
        policy.value,
        f"{summary['mean_intensity_policy']:.1f}",
        f"{saved:.1f}%",
        "n/a" if captured_mean is None else f"{captured_mean:.0%}",
    )
    table.add_row(
        "perfect foresight", f"{first.mean_optimal:.1f}", f"{first.optimal_saved_pct:.1f}%", "100%"
    )
    Console(highlight=False).print(table)
