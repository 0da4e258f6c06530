"""The ``cleanshift`` command line: schedule, forecast, wait, check and backtest.

A thin front door onto the core, like the Airflow and Prefect adapters: flags become a
:class:`~cleanshift_core.providers.ProviderSpec`, a :class:`~cleanshift_core.job.JobSpec` and
:class:`~cleanshift_core.policies.SchedulingRules`, and the core plans, waits and settles.

Exit codes: 0 success; 1 "the grid said no" (``check`` above the limit, a ``now_or_never``
skip); 2 bad input or no usable data, always as one line on stderr, never a traceback; 130
cancelled with Ctrl-C. ``wait`` passes the command's own exit code through.

Built on typer (type-hinted click: parsing, help and ``--`` handling for free), rich (tables and
the waiting progress display) and plotext (a terminal chart with no GUI backend).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import signal
import sys
from collections.abc import Awaitable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from .backtest import ForecastModel, JobPattern, backtest, policy_rule, run_immediately
from .errors import CleanshiftError, ConfigurationError, JobSkipped
from .halting import HaltController, require_posix
from .job import JobSpec
from .plan import Plan
from .policies import OnProviderError, Policy, SchedulingRules
from .providers import ProviderSpec, build_provider, provider_kinds, read_series_file
from .providers.base import GridIntensityProvider
from .receipt import CarbonReceipt
from .scheduling import plan_job, settle_receipt, wait_for_window
from .timeutil import SYSTEM_CLOCK, Clock, format_duration, parse_duration

T = TypeVar("T")

#: Provider names cleanshift 0.1 used, mapped to today's registry names.
PROVIDER_ALIASES = {"electricitymap": "electricitymaps"}
#: How often the waiting display refreshes (the wait itself ends exactly on time).
_TICK_SECONDS = 0.25

app = typer.Typer(
    name="cleanshift",
    help="Run deferrable work in the cleanest grid window, and keep an honest carbon receipt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class FixedClock:
    """The clock behind ``--now``: plan as of a given instant (past files, reproducible runs)."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


# ---------------------------------------------------------------------------- shared options
_PROVIDERS_HELP = (
    f"Intensity source: one of {', '.join(provider_kinds())} (checked when the command runs, "
    "so providers registered later work too); 'electricitymap' is accepted for electricitymaps."
)
ProviderOpt = Annotated[str, typer.Option("--provider", help=_PROVIDERS_HELP)]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="Grid region, e.g. DE, GB, CAISO_NORTH.")
]
_SECRET_ENV_HELP = "or env CLEANSHIFT_<PROVIDER>_<OPTION>, e.g. CLEANSHIFT_ELECTRICITYMAPS_API_KEY"
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", help=f"API key (Electricity Maps); {_SECRET_ENV_HELP}."),
]
ZoneOpt = Annotated[
    str | None, typer.Option("--zone", help="Zone; overrides --region (Electricity Maps).")
]
UsernameOpt = Annotated[str | None, typer.Option("--username", help="Username (WattTime).")]
PasswordOpt = Annotated[
    str | None,
    typer.Option("--password", help="Password (WattTime); or env CLEANSHIFT_WATTTIME_PASSWORD."),
]
PathOpt = Annotated[
    Path | None, typer.Option("--path", help="CSV or JSON series for --provider file.")
]
ReplayOpt = Annotated[
    bool, typer.Option("--replay", help="Map the file onto the present, as a live forecast.")
]
OptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        help="Any other provider option as KEY=VALUE (repeatable), e.g. -o emission_factor_type=direct.",
    ),
]
SpeedupOpt = Annotated[
    float | None,
    typer.Option("--speedup", help="Time compression for a replayed file or the mock (demos)."),
]
DurationOpt = Annotated[
    str, typer.Option("--duration", help="How long the job runs, e.g. 2h, 30m, 1h30m.")
]
MaxDelayOpt = Annotated[
    str, typer.Option("--max-delay", help="Latest start, relative to now, e.g. 24h.")
]
FinishByOpt = Annotated[
    str | None,
    typer.Option(
        "--finish-by", help="Latest finish, ISO time with offset, e.g. 2026-01-02T06:00Z."
    ),
]
PolicyOpt = Annotated[Policy, typer.Option("--policy", help="How to pick the start.")]
MaxIntensityOpt = Annotated[
    float | None,
    typer.Option("--max-intensity", help="Limit in gCO2eq/kWh for threshold-type policies."),
]
MinSavingsOpt = Annotated[
    float, typer.Option("--min-savings-pct", help="Do not wait for a smaller gain (%).")
]
OnErrorOpt = Annotated[
    OnProviderError,
    typer.Option("--on-provider-error", help="What to do when no provider can answer."),
]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="Plan as of this ISO instant instead of the clock (past files)."),
]


def _provider(
    kind: str,
    region: str | None,
    api_key: str | None,
    zone: str | None,
    username: str | None,
    password: str | None,
    path: Path | None,
    replay: bool,
    speedup: float | None,
    extra: list[str] | None = None,
) -> GridIntensityProvider:
    """The flags as a ProviderSpec, built by the same registry Airflow and Prefect use.

    Only flags the user gave become options, so each provider's own validation speaks; the
    secrets become ``SecretStr`` inside the spec and are never printed. Credentials may come
    from ``CLEANSHIFT_<PROVIDER>_<OPTION>`` instead (they stay out of ``ps``); the provider
    name in the variable keeps one provider's key from reaching another.
    """
    name = PROVIDER_ALIASES.get(kind, kind)
    kinds = provider_kinds()
    if name not in kinds:
        raise ConfigurationError(
            f"unknown provider {_echoable(kind)}; choose one of {', '.join(kinds)}"
        )
    if name == "file" and path is None:
        raise ConfigurationError(
            "--provider file needs --path FILE (a CSV or JSON intensity series)"
        )
    options: dict[str, Any] = {}
    if zone or region:
        options["region"] = zone or region
    for key, value in (("api_key", api_key), ("username", username), ("password", password)):
        if value is None:
            value = os.environ.get(f"CLEANSHIFT_{name.upper()}_{key.upper()}")
        if value is not None:
            options[key] = value
    if path is not None:
        options["path"] = str(path)
    if replay:
        options["replay"] = True
    if speedup is not None:
        options["speedup"] = speedup
    for item in extra or []:
        if "=" not in item:
            raise ConfigurationError(
                f"--option {_echoable(item)} needs the form KEY=VALUE, e.g. -o lat=52.5"
            )
        options.update(ProviderSpec.parse(f"{name}:{item}").options)
    return build_provider(ProviderSpec(name, options))


def _echoable(text: str) -> str:
    """``text`` quoted if it looks like a name; anything else may hold a pasted secret (a JSON
    spec with an api_key, ``key:value``), so it is described, not echoed."""
    if re.fullmatch(r"[\w.-]{1,64}", text):
        return repr(text)
    return f"(a {len(text)}-character value that is not a provider name; it is not shown)"


def _job(duration: str, max_delay: str | None, finish_by: str | None) -> JobSpec:
    return JobSpec.create(
        duration=duration,
        max_delay=max_delay,
        finish_by=_instant(finish_by, "--finish-by") if finish_by else None,
    )


def _rules(
    policy: Policy, max_intensity: float | None, min_savings_pct: float, on_error: OnProviderError
) -> SchedulingRules:
    return SchedulingRules(
        policy=policy,
        max_intensity=max_intensity,
        min_savings_pct=min_savings_pct,
        on_provider_error=on_error,
    )


def _instant(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"{flag} {text!r} is not an ISO time; e.g. 2026-01-02T06:00Z"
        ) from None
    if value.tzinfo is None:
        raise ConfigurationError(
            f"{flag} {text!r} has no UTC offset; add one, e.g. {text}Z or {text}+01:00"
        )
    return value.astimezone(timezone.utc)


def _clock(now: str | None) -> Clock:
    return FixedClock(_instant(now, "--now")) if now else SYSTEM_CLOCK


def _run(coro: Awaitable[T], provider: GridIntensityProvider) -> T:
    async def main() -> T:
        try:
            return await coro
        finally:
            await provider.aclose()

    return asyncio.run(main())


def _g(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f} gCO2eq/kWh"


def _err() -> Console:
    return Console(stderr=True, highlight=False)


# ---------------------------------------------------------------------------- schedule
@app.command()
def schedule(
    duration: DurationOpt = "1h",
    max_delay: MaxDelayOpt = "24h",
    finish_by: FinishByOpt = None,
    region: RegionOpt = None,
    provider: ProviderOpt = "mock",
    api_key: ApiKeyOpt = None,
    zone: ZoneOpt = None,
    username: UsernameOpt = None,
    password: PasswordOpt = None,
    path: PathOpt = None,
    replay: ReplayOpt = False,
    speedup: SpeedupOpt = None,
    option: OptionOpt = None,
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
    job = _job(duration, max_delay, finish_by)
    rules = _rules(policy, max_intensity, min_savings_pct, on_provider_error)
    clock = _clock(now)
    source = _provider(
        provider, region, api_key, zone, username, password, path, replay, speedup, option
    )
    plan = _run(plan_job(source, job, rules, clock), source)
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
        f"Expected intensity: {_g(plan.expected_intensity)} (now: {_g(plan.immediate_intensity)})"
    )
    if plan.expected_savings_pct is not None:
        typer.echo(f"Expected savings  : {plan.expected_savings_pct:.1f}%")
    typer.echo(f"Reason            : {plan.reason}")


# ---------------------------------------------------------------------------- forecast
@app.command()
def forecast(
    duration: DurationOpt = "1h",
    max_delay: MaxDelayOpt = "24h",
    finish_by: FinishByOpt = None,
    region: RegionOpt = None,
    provider: ProviderOpt = "mock",
    api_key: ApiKeyOpt = None,
    zone: ZoneOpt = None,
    username: UsernameOpt = None,
    password: PasswordOpt = None,
    path: PathOpt = None,
    replay: ReplayOpt = False,
    speedup: SpeedupOpt = None,
    option: OptionOpt = None,
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
    job = _job(duration, max_delay, finish_by)
    rules = _rules(policy, max_intensity, min_savings_pct, OnProviderError.FAIL)
    clock = _clock(now)
    source = _provider(
        provider, region, api_key, zone, username, password, path, replay, speedup, option
    )
    plan = _run(plan_job(source, job, rules, clock), source)
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
        console.print(Text.from_ansi(_chart(plan, width, height, color=console.is_terminal)))
    console.print(
        f"Chosen window: {plan.start.isoformat()} → {plan.end.isoformat()}, "
        f"{_g(plan.expected_intensity)} (now: {_g(plan.immediate_intensity)}). {plan.reason}"
    )


def _chart(plan: Plan, width: int, height: int, color: bool) -> str:
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


# ---------------------------------------------------------------------------- check
@app.command()
def check(
    max_intensity: Annotated[
        float, typer.Option("--max-intensity", help="Pass at or under this gCO2eq/kWh.")
    ],
    duration: Annotated[
        str | None,
        typer.Option("--duration", help="Judge the window of this length starting now."),
    ] = None,
    region: RegionOpt = None,
    provider: ProviderOpt = "mock",
    api_key: ApiKeyOpt = None,
    zone: ZoneOpt = None,
    username: UsernameOpt = None,
    password: PasswordOpt = None,
    path: PathOpt = None,
    replay: ReplayOpt = False,
    speedup: SpeedupOpt = None,
    option: OptionOpt = None,
    now: NowOpt = None,
) -> None:
    """Exit 0 if the grid is at or under --max-intensity now, 1 if above (cron, CI, init containers)."""
    if not (math.isfinite(max_intensity) and max_intensity > 0):
        raise ConfigurationError(
            f"--max-intensity must be a positive number, got {max_intensity:g}"
        )
    span = parse_duration(duration, "--duration") if duration else None
    clock = _clock(now)
    source = _provider(
        provider, region, api_key, zone, username, password, path, replay, speedup, option
    )
    value, what = _run(_intensity_now(source, clock, span), source)
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
        raise ConfigurationError(
            f"{source.name} has no data for all of {now.isoformat()} + {format_duration(span)}; "
            "shorten --duration or use another provider"
        )
    label = (
        "intensity at"
        if span == timedelta(seconds=1)
        else f"mean of the next {format_duration(span)} from"
    )
    return mean, f"{label} {now.isoformat(timespec='minutes')}:"


# ---------------------------------------------------------------------------- wait
@app.command(context_settings={"allow_interspersed_args": False})
def wait(
    command: Annotated[
        list[str], typer.Argument(help="The command to run, after --.", show_default=False)
    ],
    duration: DurationOpt = "1h",
    max_delay: MaxDelayOpt = "6h",
    finish_by: FinishByOpt = None,
    region: RegionOpt = None,
    provider: ProviderOpt = "mock",
    api_key: ApiKeyOpt = None,
    zone: ZoneOpt = None,
    username: UsernameOpt = None,
    password: PasswordOpt = None,
    path: PathOpt = None,
    replay: ReplayOpt = False,
    speedup: SpeedupOpt = None,
    option: OptionOpt = None,
    policy: PolicyOpt = Policy.MIN_CARBON,
    max_intensity: MaxIntensityOpt = None,
    min_savings_pct: MinSavingsOpt = 0.0,
    on_provider_error: OnErrorOpt = OnProviderError.RUN_NOW,
    power_kw: Annotated[
        float | None, typer.Option("--power-kw", help="Average draw, for grams.")
    ] = None,
    poll_interval: Annotated[
        float,
        typer.Option("--poll-interval", help="Seconds between intensity checks for halt_if_dirty."),
    ] = 300.0,
    replan_every: Annotated[
        str | None,
        typer.Option("--replan-every", help="Re-read the forecast this often while waiting."),
    ] = None,
    receipt_path: Annotated[
        Path | None, typer.Option("--receipt", help="Also write the receipt as JSON.")
    ] = None,
) -> None:
    """Wait for the cleanest window, run COMMAND, print the receipt; exits with COMMAND's code.

    Example: cleanshift wait --duration 2h --max-delay 8h -- ./nightly.sh --full
    """
    if not command:
        raise ConfigurationError("wait needs a command after --, e.g. cleanshift wait -- ./job.sh")
    if shutil.which(command[0]) is None:
        # Found out now, not after waiting hours for the window.
        raise ConfigurationError(f"cannot run {command[0]!r}: not found or not executable")
    if power_kw is not None and not (math.isfinite(power_kw) and power_kw > 0):
        raise ConfigurationError(
            f"--power-kw must be a positive number of kilowatts, got {power_kw:g}"
        )
    if not (math.isfinite(poll_interval) and poll_interval > 0):
        raise ConfigurationError(
            f"--poll-interval must be a positive number of seconds, got {poll_interval:g}"
        )
    job = _job(duration, max_delay, finish_by)
    rules = _rules(policy, max_intensity, min_savings_pct, on_provider_error)
    if rules.policy is Policy.HALT_IF_DIRTY:
        require_posix()
    replan = parse_duration(replan_every, "--replan-every") if replan_every else None
    source = _provider(
        provider, region, api_key, zone, username, password, path, replay, speedup, option
    )
    try:
        code, receipt = _run(
            _wait_and_run(
                source, job, rules, command, power_kw, poll_interval, replan, SYSTEM_CLOCK
            ),
            source,
        )
    except KeyboardInterrupt:
        _err().print("cancelled: the command did not run to completion", markup=False)
        raise typer.Exit(130) from None
    _print_receipt(receipt, code)
    if receipt_path is not None:
        receipt_path.write_text(receipt.model_dump_json(indent=2) + "\n")
    raise typer.Exit(code)


async def _wait_and_run(
    source: GridIntensityProvider,
    job: JobSpec,
    rules: SchedulingRules,
    command: list[str],
    power_kw: float | None,
    poll_interval: float,
    replan: timedelta | None,
    clock: Clock,
) -> tuple[int, CarbonReceipt]:
    err = _err()
    plan = await plan_job(source, job, rules, clock)
    err.print(
        f"Plan: start {plan.start.isoformat()} ({_g(plan.expected_intensity)}, now "
        f"{_g(plan.immediate_intensity)}); {plan.reason}",
        soft_wrap=True,
        markup=False,
    )
    if plan.start > clock.now():
        err.print(f"Waiting until {plan.start.isoformat()} (Ctrl-C cancels)", soft_wrap=True)
        sys.stderr.flush()
        plan = await _wait_with_progress(source, plan, rules, replan, clock, err)
    err.print(f"Running: {' '.join(command)}", soft_wrap=True, markup=False)
    try:
        proc = await asyncio.create_subprocess_exec(*command)
    except OSError as exc:
        raise ConfigurationError(f"cannot run {command[0]!r}: {exc.strerror}") from None
    started = clock.now()
    try:
        if rules.policy is Policy.HALT_IF_DIRTY:
            assert rules.max_intensity is not None  # halt_if_dirty requires it (SchedulingRules)
            controller = HaltController(proc.pid, source, rules.max_intensity, poll_interval, clock)
            intervals = await controller.supervise(lambda: proc.returncode is None)
            code = await proc.wait()
        else:
            code = await proc.wait()
            intervals = [(started, clock.now())]
    except BaseException:
        # Cancelled (Ctrl-C) or failed while the command runs: do not leave it behind.
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.shield(proc.wait())
        raise
    receipt = await settle_receipt(source, plan, intervals, power_kw=power_kw)
    return (128 - code if code < 0 else code), receipt


async def _wait_with_progress(
    source: GridIntensityProvider,
    plan: Plan,
    rules: SchedulingRules,
    replan: timedelta | None,
    clock: Clock,
    err: Console,
) -> Plan:
    total = max((plan.start - clock.now()).total_seconds(), 1e-6)
    target = [plan.start]
    with Progress(
        TextColumn("[green]waiting for the clean window"),
        BarColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("wait", total=total)

        async def ticking_sleep(seconds: float) -> None:
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds
            while (left := end - loop.time()) > 0:
                await asyncio.sleep(min(left, _TICK_SECONDS))
                remaining = max((target[0] - clock.now()).total_seconds(), 0.0)
                progress.update(task, completed=max(total - remaining, 0.0))

        def moved(new: Plan) -> None:
            target[0] = new.start
            err.print(f"Window moved to {new.start.isoformat()}: {new.reason}")

        return await wait_for_window(
            source,
            plan,
            rules,
            replan_interval=replan,
            clock=clock,
            sleep=ticking_sleep,
            on_replan=moved,
        )


def _print_receipt(receipt: CarbonReceipt, code: int) -> None:
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
            f"{_g(receipt.avg_intensity_gco2_per_kwh)} ({basis})",
        ),
        ("if run at once", _g(receipt.counterfactual_avg_intensity)),
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
    _err().print(table)


# ---------------------------------------------------------------------------- backtest
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
    rules = _rules(policy, max_intensity, min_savings_pct, OnProviderError.FAIL)
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


# ---------------------------------------------------------------------------- entry point
def _click_exception_type() -> type[Exception]:
    """click's ClickException, whether typer uses click or (typer ≥ 0.25) its vendored copy."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; bad input becomes one line on stderr."""
    click_error = _click_exception_type()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="cleanshift", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except JobSkipped as exc:
        _err().print(str(exc), markup=False, soft_wrap=True)
        return 1
    except (CleanshiftError, OSError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _err().print(f"cleanshift: error: {message}", markup=False, soft_wrap=True)
        return 2
    except click_error as exc:
        message = exc.format_message()  # type: ignore[attr-defined]
        if message:  # empty when typer already printed the help (no arguments given)
            _err().print(f"cleanshift: error: {message}", markup=False, soft_wrap=True)
        return getattr(exc, "exit_code", 2) or 2
    except (KeyboardInterrupt, typer.Abort):
        _err().print("cancelled", markup=False)
        return 130


def main() -> None:
    """Console-script entry point (``cleanshift``)."""
    sys.exit(run())


if __name__ == "__main__":
    main()
