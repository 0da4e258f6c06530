"""``cleanshift check``: a gate for cron, CI and init containers (exit 0 clean, 1 dirty, 3 unknown)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated

import typer

from ..errors import (
    BadDataError,
    BadSeriesError,
    ConfigurationError,
    ProviderUnavailableError,
    RateLimitedError,
)
from ..providers.base import GridIntensityProvider
from ..timeutil import Clock, format_duration, parse_duration
from .app import FixedClock, app, run_closing, stderr_console
from .options import (
    NO_PROVIDER_FLAGS,
    NowOpt,
    ProviderFlags,
    clock_from,
    provider_options,
)

#: ``check``'s exit code when no fresh reading can be had: a gate must fail closed.
EXIT_UNKNOWN = 3


@app.command()
@provider_options
def check(
    max_intensity: Annotated[
        float, typer.Option("--max-intensity", help="Pass at or under this gCO2eq/kWh.")
    ],
    duration: Annotated[
        str | None,
        typer.Option("--duration", help="Judge the window of this length starting now."),
    ] = None,
    provider: ProviderFlags = NO_PROVIDER_FLAGS,
    now: NowOpt = None,
) -> None:
    """Exit 0 if the grid is at or under --max-intensity now, 1 if above, 3 if unknown (cron, CI, init containers)."""
    if not (math.isfinite(max_intensity) and max_intensity > 0):
        raise ConfigurationError(
            f"--max-intensity must be a positive number, got {max_intensity:g}"
        )
    span = parse_duration(duration, "--duration") if duration else None
    clock = clock_from(now)
    source = provider.build()
    try:
        value, what = run_closing(_intensity_now(source, clock, span), source)
    except (BadDataError, BadSeriesError, ProviderUnavailableError, RateLimitedError) as exc:
        stderr_console().print(
            f"cleanshift: unknown: {exc} (exit {EXIT_UNKNOWN}: unknown is not clean)",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_UNKNOWN) from None
    ok = value <= max_intensity
    verdict = "clean" if ok else "dirty"
    sign = "≤" if ok else ">"
    where = f"{source.name} {source.region}"
    typer.echo(f"{verdict}: {what} {value:.0f} gCO2eq/kWh {sign} {max_intensity:g} ({where})")
    raise typer.Exit(0 if ok else 1)


async def _intensity_now(
    source: GridIntensityProvider, clock: Clock, span: timedelta | None
) -> tuple[float, str]:
    """The current reading, or the time-weighted mean of the window starting now."""
    now = clock.now()
    if span is None and isinstance(clock, FixedClock):
        span = timedelta(seconds=1)
    if span is None:
        return (await source.current()).value, "current intensity"
    series = await source.forecast(now, now + span)
    mean, covered = series.mean_over([(now, now + span)])
    if mean is None or covered < 1.0 - 1e-9:
        raise BadSeriesError(
            f"{source.name} has no data for all of {now.isoformat()} + {format_duration(span)}; "
            "shorten --duration or use another provider"
        )
    label = (
        "intensity at"
        if span == timedelta(seconds=1)
        else f"mean of the next {format_duration(span)} from"
    )
    return mean, f"{label} {now.isoformat(timespec='minutes')}:"
