"""The ``cleanshift`` command line: schedule, forecast, wait, check, backtest and report.

A thin front door onto the core, like the Airflow and Prefect adapters: flags become a
:class:`~cleanshift_core.providers.ProviderSpec`, a :class:`~cleanshift_core.job.JobSpec` and
:class:`~cleanshift_core.policies.SchedulingRules`, and the core plans, waits and settles.

Exit codes: 0 success; 1 "the grid said no" (``check`` above the limit, a ``now_or_never``
skip); 2 bad input or no usable data, always as one line on stderr, never a traceback; 3
``check`` has no fresh reading to judge (stale, missing, or the provider is down): unknown is
not clean, so a gate fails closed; 130 cancelled with Ctrl-C. ``wait`` passes the command's own
exit code through.

One module per concept: :mod:`.app` (the typer app), :mod:`.options` (each shared option
declared once), one module per command, and :mod:`.render` (text, chart, receipt table).
"""

from __future__ import annotations

import sys

import typer

from ..errors import CleanshiftError, JobSkipped
from . import backtest, check, forecast, report, schedule, wait  # noqa: F401 - each registers its command
from .app import FixedClock, app, stderr_console

__all__ = ["FixedClock", "app", "main", "run"]


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
        stderr_console().print(str(exc), markup=False, soft_wrap=True)
        return 1
    except (CleanshiftError, OSError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        stderr_console().print(f"cleanshift: error: {message}", markup=False, soft_wrap=True)
        return 2
    except click_error as exc:
        message = exc.format_message()  # type: ignore[attr-defined]
        if message:  # empty when typer already printed the help (no arguments given)
            stderr_console().print(f"cleanshift: error: {message}", markup=False, soft_wrap=True)
        return getattr(exc, "exit_code", 2) or 2
    except (KeyboardInterrupt, typer.Abort):
        stderr_console().print("cancelled", markup=False)
        return 130


def main() -> None:
    """Console-script entry point (``cleanshift``)."""
    sys.exit(run())
