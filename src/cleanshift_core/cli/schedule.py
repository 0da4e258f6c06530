"""``cleanshift schedule``: the recommended start, cleanshift 0.1's command and output."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from ..policies import OnProviderError, Policy
from ..scheduling import plan_job
from ..timeutil import format_duration
from .app import app, run_closing
from .options import (
    NO_PROVIDER_FLAGS,
    DurationOpt,
    FinishByOpt,
    MaxDelayOpt,
    MaxIntensityOpt,
    MinSavingsOpt,
    NowOpt,
    OnErrorOpt,
    PolicyOpt,
    ProviderFlags,
    clock_from,
    provider_options,
    window_from_flags,
)
from .render import intensity_text


@app.command()
@provider_options
def schedule(
    duration: DurationOpt = "1h",
    max_delay: MaxDelayOpt = "24h",
    finish_by: FinishByOpt = None,
    provider: ProviderFlags = NO_PROVIDER_FLAGS,
    policy: PolicyOpt = Policy.MIN_CARBON,
    max_intensity: MaxIntensityOpt = None,
    min_savings_pct: MinSavingsOpt = 0.0,
    on_provider_error: OnErrorOpt = OnProviderError.RUN_NOW,
    now: NowOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Kept from cleanshift 0.1; schedule only prints.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Plan as JSON.")] = False,
) -> None:
    """Print the recommended start time (cleanshift 0.1's command, same flags and output)."""
    window = window_from_flags(
        duration=duration,
        max_delay=max_delay,
        finish_by=finish_by,
        policy=policy,
        max_intensity=max_intensity,
        min_savings_pct=min_savings_pct,
        on_provider_error=on_provider_error,
    )
    job, rules = window.job, window.rules
    clock = clock_from(now)
    source = provider.build()
    plan = run_closing(plan_job(source, job, rules, clock), source)
    if as_json:
        typer.echo(plan.model_dump_json(indent=2))
        return
    delay = plan.start - clock.now()
    typer.echo(f"Provider : {plan.provider or source.name}")
    typer.echo(f"Region   : {plan.region or source.region}")
    typer.echo(f"Duration : {duration}")
    typer.echo(f"Max delay: {max_delay}")
    typer.echo("")
    typer.echo(f"Recommended start : {plan.start.isoformat()}")
    if delay < timedelta(minutes=1):
        typer.echo("Delay             : now (already in a clean window)")
    else:
        typer.echo(f"Delay             : {format_duration(delay)} from now")
    typer.echo(
        f"Expected intensity: {intensity_text(plan.expected_intensity)} (now: {intensity_text(plan.immediate_intensity)})"
    )
    if plan.expected_savings_pct is not None:
        typer.echo(f"Expected savings  : {plan.expected_savings_pct:.1f}%")
    typer.echo(f"Reason            : {plan.reason}")
