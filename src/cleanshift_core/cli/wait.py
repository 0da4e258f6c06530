"""``cleanshift wait -- CMD``: wait for the window with a progress display, run the command,
print its receipt, and pass its exit code through (130 on Ctrl-C, the command stopped)."""

from __future__ import annotations

import asyncio
import math
import shutil
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import ConfigurationError
from ..halting import HaltController, require_posix
from ..job import JobSpec
from ..plan import Plan
from ..policies import OnProviderError, Policy, SchedulingRules
from ..providers.base import GridIntensityProvider
from ..receipt import CarbonReceipt
from ..request import EnergyRequest
from ..scheduling import plan_job, settle_receipt, wait_for_window
from ..timeutil import SYSTEM_CLOCK, Clock, parse_duration
from .app import app, run_closing, stderr_console
from .options import (
    NO_PROVIDER_FLAGS,
    DurationOpt,
    FinishByOpt,
    MaxDelayOpt,
    MaxIntensityOpt,
    MinSavingsOpt,
    OnErrorOpt,
    PolicyOpt,
    ProviderFlags,
    provider_options,
    window_from_flags,
)
from .render import intensity_text, print_receipt

#: How often the waiting display refreshes (the wait itself ends exactly on time).
TICK_SECONDS = 0.25


@app.command(context_settings={"allow_interspersed_args": False})
@provider_options
def wait(
    command: Annotated[
        list[str], typer.Argument(help="The command to run, after --.", show_default=False)
    ],
    duration: DurationOpt = "1h",
    max_delay: MaxDelayOpt = "6h",
    finish_by: FinishByOpt = None,
    provider: ProviderFlags = NO_PROVIDER_FLAGS,
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
    energy = EnergyRequest(power_kw=power_kw)
    if not (math.isfinite(poll_interval) and poll_interval > 0):
        raise ConfigurationError(
            f"--poll-interval must be a positive number of seconds, got {poll_interval:g}"
        )
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
    if rules.policy is Policy.HALT_IF_DIRTY:
        require_posix()
    replan = parse_duration(replan_every, "--replan-every") if replan_every else None
    source = provider.build()
    try:
        code, receipt = run_closing(
            _wait_and_run(
                source, job, rules, command, energy.power_kw, poll_interval, replan, SYSTEM_CLOCK
            ),
            source,
        )
    except KeyboardInterrupt:
        stderr_console().print("cancelled: the command did not run to completion", markup=False)
        raise typer.Exit(130) from None
    print_receipt(receipt, code)
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
    err = stderr_console()
    plan = await plan_job(source, job, rules, clock)
    err.print(
        f"Plan: start {plan.start.isoformat()} ({intensity_text(plan.expected_intensity)}, now "
        f"{intensity_text(plan.immediate_intensity)}); {plan.reason}",
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
                await asyncio.sleep(min(left, TICK_SECONDS))
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
