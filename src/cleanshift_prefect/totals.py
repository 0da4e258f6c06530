"""The carbon totals of a period as a markdown artifact: the Prefect side of ``cleanshift report``.

:func:`publish_carbon_report` is a Prefect task a flow calls (a scheduled "weekly carbon
report" flow, or the last step of a pipeline): it reads the receipts on the Prefect server the
flow talks to (``PREFECT_API_URL``, and ``PREFECT_API_KEY`` on Prefect Cloud) with the core's
:class:`~cleanshift_core.readers.PrefectReader`, totals them with
:func:`~cleanshift_core.report.summarise` — the same figures as ``cleanshift report`` and the
Airflow receipts page — and writes them, with a text chart of grams avoided per ISO week by
flow, under one key (:data:`TOTALS_KEY` by default), so each publication is a new version of
the same artifact on the Artifacts page. The key does not end in ``-carbon-report``, so the
totals are never read back as a receipt.
"""

from __future__ import annotations

import math
from datetime import datetime

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.settings import get_current_settings
from prefect.utilities.asyncutils import run_coro_as_sync

from cleanshift_core import ConfigurationError
from cleanshift_core.readers import PrefectReader
from cleanshift_core.report import Report, Totals, summarise
from cleanshift_core.series import SignalKind

from .artifacts import slugify
from .chart import avoided_weeks_chart

TOTALS_KEY = "cleanshift-carbon-totals"


def _num(value: float | None) -> str:
    """Three significant figures, no exponent, thousands separated: 0.000312, 4.20, 12,346."""
    if value is None:
        return "–"
    if value == 0 or not math.isfinite(value):
        return f"{value:.1f}"
    return f"{value:,.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"


def _signal(signal: SignalKind | None) -> str:
    return "no intensity data" if signal is None else signal.value


def _energy(t: Totals) -> str:
    parts = [
        f"{name} {_num(kwh)} kWh ({count})"
        for name, kwh, count in (
            ("measured", t.measured_kwh, t.measured),
            ("given", t.given_kwh, t.given),
            ("nominal", t.nominal_kwh, t.nominal),
        )
        if count
    ]
    return " · ".join(parts + ([f"unknown ({t.unknown})"] if t.unknown else []))


def _row(t: Totals, flow: str, region: str) -> str:
    grams = [t.emitted_g, t.counterfactual_g, t.avoided_g] if t.with_grams else [None] * 3
    saving = "–" if t.savings_pct is None else f"{t.savings_pct:.1f}%"
    cells = [flow, region, _signal(t.signal), str(t.receipts), str(t.with_grams)]
    cells += [_num(g) for g in grams] + [saving, _energy(t)]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _period(report: Report) -> str:
    def day(value: datetime | None, open_end: str) -> str:
        return open_end if value is None else value.strftime("%Y-%m-%d %H:%M UTC")

    return f"{day(report.since, 'the first receipt')} → {day(report.until, 'now')}"


def totals_markdown(report: Report) -> str:
    """The report as markdown: one row per flow, region and signal, the sum per signal (never
    across signals), then per signal a text chart of grams avoided per ISO week by flow."""
    lines = [f"### Carbon totals: {_period(report)}", ""]
    if not report.totals:
        lines.append("No receipts of work that ran in this period.")
    else:
        lines += [
            (
                "| flow | region | signal | receipts | with grams | emitted (g) "
                "| if run immediately (g) | avoided (g) | saving | energy by source (receipts) |"
            ),
            "|---|---|---|---|---|---|---|---|---|---|",
            *(_row(t, t.job or "", t.region or "") for t in report.totals),
            *(_row(t, "**all flows**", "") for t in report.overall),
            "",
            (
                "Receipts count by when the work ran; grams are summed over the receipts that "
                "have them (*with grams*); each signal (average or marginal) is totalled and "
                "charted on its own, never mixed."
            ),
        ]
        for signal in report.signals:
            if signal is None:
                continue
            weekly = [w for w in report.weekly if w.signal == signal]
            lines += [
                "",
                f"**Grams CO2eq avoided per ISO week by flow — {signal.value} signal**",
                "",
                "```text",
                avoided_weeks_chart(weekly),
                "```",
            ]
    if report.skipped:
        lines += ["", f"{len(report.skipped)} receipt(s) could not be read and are left out:"]
        lines += [f"- {s.where}: {s.reason}" for s in report.skipped[:20]]
    return "\n".join(lines)


@task(name="publish-carbon-report")
def publish_carbon_report(
    since: datetime | None = None,
    until: datetime | None = None,
    key: str = TOTALS_KEY,
) -> Report:
    """Total the receipts of work that ran in ``[since, until)`` (UTC-aware; either bound may
    be open) on this Prefect server, publish them as a markdown artifact under ``key``, and
    return the :class:`~cleanshift_core.report.Report`.

    A sync task, so a sync or an async flow calls it the same way:
    ``publish_carbon_report(since, until)``. Fails before any request when the bounds are
    naive or out of order, when ``key`` is not a valid artifact key, or when no
    ``PREFECT_API_URL`` is set (the receipts of an ephemeral, in-process server die with it).
    """
    if key != slugify(key):
        raise ConfigurationError(
            f"key must be lowercase letters, digits and dashes (a Prefect artifact key), "
            f"e.g. {slugify(key)!r}, got {key!r}"
        )
    summarise((), since=since, until=until)  # the bounds' checks, before any request
    settings = get_current_settings()
    if not settings.api.url:
        raise ConfigurationError(
            "publish_carbon_report reads the receipts from a Prefect server: set "
            "PREFECT_API_URL (e.g. http://127.0.0.1:4200/api, from `prefect server start`)"
        )
    reader = PrefectReader(settings.api.url, api_key=settings.api.key)
    found = run_coro_as_sync(reader.read(since, until))
    assert found is not None  # run_coro_as_sync waits for the result
    report = summarise(found.found, since=since, until=until, skipped=found.skipped)
    create_markdown_artifact(
        key=key,
        markdown=totals_markdown(report),
        description=f"cleanshift carbon totals: {_period(report)}",
    )
    return report
