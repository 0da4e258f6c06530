"""``cleanshift report``: the receipts of an Airflow deployment or a Prefect server over a
period, totalled per DAG/flow, region and signal, as a table, CSV or JSON, and a PNG chart.

Reading is :mod:`cleanshift_core.readers`, adding up is :mod:`cleanshift_core.report`; this
module only turns flags into a reader and a report into text. Everything goes to stdout except
messages, which go to stderr. Exit 2, with one line on stderr, when the server cannot be
reached, refuses the credentials, holds no receipts of the period, or holds receipts this
version cannot read (the totals of the others are still printed: they are incomplete, and the
exit code says so).
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import json
import re
from collections import Counter
from dataclasses import asdict
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ConfigurationError
from ..readers import AirflowReader, PrefectReader, Receipts
from ..report import Report, Totals, summarise
from ..series import SignalKind
from ..timeutil import parse_duration
from .app import app, stderr_console

PLOT_INSTALL_HINT = "--chart needs matplotlib: pip install 'cleanshift-suite[plot]'"
#: The default period: the last 30 days.
DEFAULT_SINCE = "30d"


class Format(str, Enum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def when(text: str, flag: str, now: datetime) -> datetime:
    """``--since``/``--until``: an ISO time with an offset, ``now``, or a duration ago (``30d``)."""
    text = text.strip()
    if text.lower() == "now":
        return now
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", text):
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(
                f"{flag} {text!r} is not an ISO time; e.g. 2026-11-01T00:00Z"
            ) from None
        if value.tzinfo is None:
            if len(text) == 10:  # a bare date: its midnight, UTC
                return value.replace(tzinfo=timezone.utc)
            raise ConfigurationError(f"{flag} {text!r} has no UTC offset; add one, e.g. {text}Z")
        return value.astimezone(timezone.utc)
    try:
        return now - parse_duration(text, flag)
    except ConfigurationError:
        raise ConfigurationError(
            f"{flag} {text!r} is neither an ISO time (2026-11-01T00:00Z), a date (2026-11-01), "
            "'now', nor a duration ago (30d, 12h)"
        ) from None


def reader_from_flags(
    airflow: str | None,
    prefect: str | None,
    username: str | None,
    password: str | None,
    token: str | None,
    api_key: str | None,
) -> AirflowReader | PrefectReader:
    """The reader of the one deployment named; the other's credentials (perhaps set in the
    environment for another run) are not used."""
    if (airflow is None) == (prefect is None):
        raise ConfigurationError("give one of --airflow URL or --prefect URL")
    if airflow is not None:
        return AirflowReader(airflow, username=username, password=password, token=token)
    assert prefect is not None
    return PrefectReader(prefect, api_key=api_key)


def _signal(signal: SignalKind | None) -> str:
    return "no data" if signal is None else signal.value


def _row(t: Totals) -> dict[str, Any]:
    row = asdict(t)
    row["job"] = t.job if t.job is not None else "(all)"
    row["region"] = t.region if t.region is not None else "(all)"
    row["signal"] = _signal(t.signal)
    row["savings_pct"] = t.savings_pct
    return row


def as_json(report: Report) -> str:
    return json.dumps(
        {
            "since": report.since.isoformat() if report.since else None,
            "until": report.until.isoformat() if report.until else None,
            "totals": [_row(t) for t in report.totals],
            "overall": [_row(t) for t in report.overall],
            "weekly": [
                {
                    "job": w.job,
                    "signal": _signal(w.signal),
                    "iso_week": w.iso_week,
                    "week_start": w.week_start.isoformat(),
                    "avoided_g": w.avoided_g,
                    "with_grams": w.with_grams,
                }
                for w in report.weekly
            ],
            "chunk_receipts_in_sums": report.parts,
            "skipped": [asdict(s) for s in report.skipped],
        },
        indent=2,
    )


def as_csv(report: Report) -> str:
    """One row per (job, region, signal), then one per signal over all (job ``(all)``)."""
    rows = [_row(t) for t in (*report.totals, *report.overall)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["job"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _g(value: float) -> str:
    return f"{value:,.1f}"


def _kwh(value: float) -> str:
    return "0" if value == 0 else f"{value:.3g}"


def as_table(report: Report, console: Console) -> None:
    span = (
        f"{report.since:%Y-%m-%d %H:%M} → {report.until:%Y-%m-%d %H:%M} UTC"
        if report.since and report.until
        else "all time"
    )
    for overall in report.overall:
        table = Table(
            title=f"Carbon receipts, {span}, {_signal(overall.signal)} intensity",
            caption="grams are gCO2eq over the receipts with grams (energy and intensity "
            "known); energy sources: measured / given / nominal / unknown",
        )
        table.add_column("DAG / flow", no_wrap=True)  # a name is looked up whole
        table.add_column("region", no_wrap=True)
        for name in ("receipts", "with grams"):
            table.add_column(name, justify="right")
        for name in ("emitted g", "if at once g", "avoided g", "saving", "kWh", "sources"):
            table.add_column(name, justify="right")
        rows = [t for t in report.totals if t.signal == overall.signal]
        for t in (*rows, overall):
            saving = "n/a" if t.savings_pct is None else f"{t.savings_pct:.1f}%"
            # No receipt with grams: "—", not a 0.0 that reads like a measured nothing.
            grams = [
                _g(g) if t.with_grams else "—"
                for g in (t.emitted_g, t.counterfactual_g, t.avoided_g)
            ]
            table.add_row(
                t.job or "all",
                t.region or "",
                str(t.receipts),
                str(t.with_grams),
                *grams,
                saving,
                _kwh(t.measured_kwh + t.given_kwh + t.nominal_kwh),
                f"{t.measured}/{t.given}/{t.nominal}/{t.unknown}",
                end_section=t is rows[-1] if rows else False,
            )
        console.print(table)


def chart(report: Report, path: Path) -> None:
    """Avoided grams per ISO week, a line per DAG/flow; one panel per signal, so average and
    marginal grams never share an axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    signals = [s for s in report.signals if any(w.signal == s for w in report.weekly)]
    if not signals:
        raise ConfigurationError("no receipt of the period has grams, so there is nothing to chart")
    fig, axes = plt.subplots(
        len(signals), 1, figsize=(9, 3.6 * len(signals)), squeeze=False, constrained_layout=True
    )
    for ax, signal in zip(axes[:, 0], signals, strict=True):
        weeks = [w for w in report.weekly if w.signal == signal]
        # Weeks as evenly spaced categories, labelled 2026-W49: the chart's unit is the week.
        axis = sorted({w.week_start for w in weeks})
        at = {monday: i for i, monday in enumerate(axis)}
        for job in sorted({w.job for w in weeks}):
            points = [w for w in weeks if w.job == job]
            ax.plot(
                [at[w.week_start] for w in points],
                [w.avoided_g for w in points],
                marker="o",
                label=job,
            )
        labels = {w.week_start: w.iso_week for w in weeks}
        ax.set_xticks(range(len(axis)), [labels[m] for m in axis], rotation=30)
        ax.set_xlim(-0.5, len(axis) - 0.5)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_title(f"Avoided per ISO week ({_signal(signal)} intensity)")
        ax.set_ylabel("gCO2eq avoided")
        ax.legend(fontsize="small")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _problems(receipts: Receipts, report: Report) -> str | None:
    """The one line that makes the exit code 2, if any."""
    if report.skipped:
        reasons = Counter(s.reason for s in report.skipped)
        reason = reasons.most_common(1)[0][0]
        more = f" (and {len(reasons) - 1} other reason(s))" if len(reasons) > 1 else ""
        return (
            f"skipped {len(report.skipped)} receipt(s) the totals do not include: {reason}{more}; "
            f"first at {report.skipped[0].where}"
        )
    if not report.receipts:
        read = len(receipts.found)
        return (
            "no receipts in the period"
            + (f" ({read} read, all outside it or chunks of a summed receipt)" if read else "")
            + "; widen --since/--until"
        )
    return None


@app.command(name="report")
def report_command(
    airflow: Annotated[
        str | None,
        typer.Option(
            "--airflow", help="Airflow 3 api-server URL, e.g. http://localhost:8080.", metavar="URL"
        ),
    ] = None,
    prefect: Annotated[
        str | None,
        typer.Option(
            "--prefect",
            help="Prefect API URL (as PREFECT_API_URL), e.g. http://127.0.0.1:4200/api.",
            metavar="URL",
        ),
    ] = None,
    username: Annotated[
        str | None,
        typer.Option("--username", envvar="CLEANSHIFT_AIRFLOW_USERNAME", help="Airflow user."),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password", envvar="CLEANSHIFT_AIRFLOW_PASSWORD", help="Airflow user's password."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", envvar="CLEANSHIFT_AIRFLOW_TOKEN", help="Airflow JWT, instead of a password."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="CLEANSHIFT_PREFECT_API_KEY", help="Prefect Cloud API key."
        ),
    ] = None,
    since: Annotated[
        str,
        typer.Option(
            "--since", help="Start of the period: ISO time, date, or a duration ago (30d, 12h)."
        ),
    ] = DEFAULT_SINCE,
    until: Annotated[
        str, typer.Option("--until", help="End of the period (exclusive); same forms, or now.")
    ] = "now",
    output: Annotated[
        Format, typer.Option("--format", help="table (default), csv or json, on stdout.")
    ] = Format.TABLE,
    chart_path: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            help="Also write a PNG of avoided per week by DAG/flow (needs the plot extra).",
        ),
    ] = None,
) -> int:
    """Total the carbon receipts of an Airflow deployment or a Prefect server over a period."""
    reader = reader_from_flags(airflow, prefect, username, password, token, api_key)
    if chart_path is not None and importlib.util.find_spec("matplotlib") is None:
        raise ConfigurationError(PLOT_INSTALL_HINT)
    now = datetime.now(timezone.utc)
    start, end = when(since, "--since", now), when(until, "--until", now)
    if start >= end:
        raise ConfigurationError(f"--since ({start:%Y-%m-%dT%H:%MZ}) must be before --until")
    receipts = asyncio.run(reader.read(start, end))
    report = summarise(receipts.found, since=start, until=end, skipped=receipts.skipped)
    problem = _problems(receipts, report)
    if report.receipts:
        if output is Format.JSON:
            typer.echo(as_json(report))
        elif output is Format.CSV:
            typer.echo(as_csv(report), nl=False)
        else:
            as_table(report, Console(highlight=False))
        if chart_path is not None:
            chart(report, chart_path)
            stderr_console().print(f"chart written to {chart_path}", markup=False)
    if problem is not None:
        stderr_console().print(f"cleanshift: error: {problem}", markup=False, soft_wrap=True)
        return 2
    return 0
