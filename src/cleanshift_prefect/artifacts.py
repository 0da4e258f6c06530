"""What a carbon-aware step leaves in Prefect: artifacts under stable keys, and events.

Keys derive from the flow or task name (``Nightly ETL`` → ``nightly-etl-carbon-receipt``);
Prefect accepts only lowercase letters, digits and dashes, and the same key makes a new
version, so each step's receipts line up on the Artifacts page. Nothing here ever sees a
secret: artifacts are built from plans and receipts, which hold none.

Every write holds a slot of :func:`.outbox.write_slot`, so however many steps publish at once,
one flow run has a bounded number of artifact requests in flight.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.events import emit_event

from cleanshift_core import CarbonReceipt, Plan
from cleanshift_core.readers.prefect import REPORT_KEY_SUFFIX, receipt_markdown
from cleanshift_core.timeutil import format_duration

from .chart import forecast_chart
from .outbox import Outbox, write_slot

WINDOW_OPENED_EVENT = "cleanshift.carbon-window.opened"


def slugify(name: str) -> str:
    """``name`` as lowercase letters, digits and dashes (what artifact keys allow)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "cleanshift"


@dataclass(frozen=True)
class ArtifactKeys:
    """The keys one decorated flow or task publishes under."""

    slug: str

    @classmethod
    def for_name(cls, name: str) -> ArtifactKeys:
        return cls(slugify(name))

    @property
    def deferral(self) -> str:
        return f"{self.slug}-carbon-deferral"

    @property
    def progress(self) -> str:
        return f"{self.slug}-carbon-wait"

    @property
    def receipt(self) -> str:
        return f"{self.slug}-carbon-receipt"

    @property
    def report(self) -> str:
        return f"{self.slug}{REPORT_KEY_SUFFIX}"


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "unknown" if value is None else f"{value:,.{digits}f}{unit}"


async def publish_deferral(
    keys: ArtifactKeys,
    name: str,
    plan: Plan,
    where: str,
    windows: Sequence[tuple[datetime, datetime]] | None = None,
) -> None:
    """The "deferred until …" artifact, written the moment the decision is made
    (``windows``: the planned slots when there are several, as for :func:`publish_receipt`)."""
    savings = plan.expected_savings_pct
    markdown = "\n".join(
        [
            f"### {name}: deferred until {_when(plan.start)}",
            "",
            f"- **Where the work went:** {where}",
            (
                f"- **Delay:** {format_duration(plan.delay)} "
                f"(deadline for the start: {_when(plan.latest_start)})"
            ),
            (
                f"- **Expected intensity:** {_num(plan.expected_intensity, ' gCO2eq/kWh')} "
                f"vs {_num(plan.immediate_intensity, ' gCO2eq/kWh')} if run now "
                f"({_num(savings, '%', 1)} cleaner)"
            ),
            f"- **Why:** {plan.reason}",
            (
                f"- **Provider:** {plan.provider or 'none'} · region {plan.region or 'unknown'} "
                f"· policy {plan.policy}"
            ),
            "",
            "```text",
            forecast_chart(plan.forecast, windows or (plan.start, plan.end)),
            "```",
        ]
    )
    async with write_slot():
        await acreate_markdown_artifact(
            key=keys.deferral,
            description=f"{name}: deferred until {_when(plan.start)}",
            markdown=markdown,
        )


class WaitProgress:
    """A progress artifact that fills up while the step waits in-process for its window.

    It moves only when the step is awake anyway (the wait begins, a re-plan moves the window,
    the window opens), never on a timer of its own. Writes go through the step's
    :class:`.outbox.Outbox`, so the step sleeps on without waiting for them, and they coalesce:
    while one write is in flight, newer values only replace the value to write next. A slow
    API therefore sees at most one progress request per waiting step at a time, and the last
    value (100 % when the window opens) is the one that lands.
    """

    def __init__(
        self, outbox: Outbox, keys: ArtifactKeys, name: str, plan: Plan, now: datetime
    ) -> None:
        self.begun = now
        self._outbox = outbox
        self._artifact_id: UUID | None = None
        self._wanted = self._written = 0.0
        description = f"{name}: waiting in-process for the carbon window at {_when(plan.start)}"
        self._writer = outbox.post(self._create(keys.progress, description))

    def update(self, now: datetime, target: datetime) -> None:
        """Show how much of the wait from its beginning to ``target`` is done at ``now``."""
        total = (target - self.begun).total_seconds()
        done = (
            100.0 if total <= 0 else min(100.0, (now - self.begun).total_seconds() / total * 100.0)
        )
        self._wanted = round(done, 1)
        if self._writer.done():
            self._writer = self._outbox.post(self._catch_up())

    async def _create(self, key: str, description: str) -> None:
        async with write_slot():
            self._artifact_id = await acreate_progress_artifact(
                progress=self._written, key=key, description=description
            )
        await self._catch_up()

    async def _catch_up(self) -> None:
        while self._artifact_id is not None and self._written != self._wanted:
            value = self._wanted
            async with write_slot():
                await aupdate_progress_artifact(self._artifact_id, progress=value)
            self._written = value


async def start_wait_progress(keys: ArtifactKeys, name: str, plan: Plan) -> UUID:
    """The progress artifact of a run that waits for its window with no process: 0 % now,
    100 % when the run starts again at the window (:func:`complete_wait_progress`)."""
    async with write_slot():
        return await acreate_progress_artifact(
            progress=0.0,
            key=keys.progress,
            description=f"{name}: waiting without a process for the carbon window at "
            f"{_when(plan.start)}",
        )


async def complete_wait_progress(artifact_id: UUID) -> None:
    async with write_slot():
        await aupdate_progress_artifact(artifact_id, progress=100.0)


def announce_window(name: str, keys: ArtifactKeys, plan: Plan, run_id: UUID | None) -> None:
    """Emit the event automations can trigger on when the chosen window opens."""
    related = (
        [{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"}]
        if run_id
        else []
    )
    emit_event(
        event=WINDOW_OPENED_EVENT,
        resource={
            "prefect.resource.id": f"cleanshift.job.{keys.slug}",
            "prefect.resource.name": name,
        },
        related=related,
        payload={
            "planned_start": plan.start.isoformat(),
            "expected_intensity": plan.expected_intensity,
            "immediate_intensity": plan.immediate_intensity,
            "expected_savings_pct": plan.expected_savings_pct,
            "provider": plan.provider,
            "region": plan.region,
            "policy": plan.policy,
        },
    )


def receipt_rows(receipt: CarbonReceipt) -> list[dict[str, Any]]:
    """The receipt as two-column rows (a table artifact reads best long, not wide)."""
    values: list[tuple[str, Any]] = [
        ("scheduled at", _when(receipt.scheduled_at)),
        ("planned start", _when(receipt.planned_start)),
        ("ran at", _when(receipt.ran_at)),
        ("finished at", _when(receipt.finished_at)),
        ("delay", format_duration(receipt.ran_at - receipt.scheduled_at)),
        *(
            [("runs", "; ".join(f"{_when(a)} → {_when(b)}" for a, b in receipt.run_intervals))]
            if len(receipt.run_intervals) > 1
            else []
        ),
        ("intensity of the run (gCO2eq/kWh)", _num(receipt.avg_intensity_gco2_per_kwh, digits=1)),
        (
            "intensity if run immediately (gCO2eq/kWh)",
            _num(receipt.counterfactual_avg_intensity, digits=1),
        ),
        ("savings", _num(receipt.estimated_savings_pct, "%", 1)),
        ("emitted (g)", _num(receipt.emitted_g, digits=1)),
        ("avoided (g)", _num(receipt.avoided_g, digits=1)),
        # Measured energy of a short task is a few milli- or microwatt-hours: 3 significant digits.
        ("energy (kWh)", "unknown" if receipt.energy_kwh is None else f"{receipt.energy_kwh:.3g}"),
        (
            "energy source",
            " — ".join(
                part
                for part in (
                    receipt.energy_source.value,
                    receipt.energy_method,
                    receipt.energy_note,
                )
                if part
            ),
        ),
        ("basis", receipt.intensity_basis.value if receipt.intensity_basis else "none"),
        ("coverage", f"{receipt.coverage_pct:.0f}%"),
        ("estimate", "yes" if receipt.is_estimate else "no"),
        ("provider", receipt.provider or "none"),
        ("region", receipt.region or "unknown"),
        *([("location", receipt.location)] if receipt.location else []),
        ("policy", receipt.policy),
        ("reason", receipt.reason),
    ]
    return [{"field": k, "value": v} for k, v in values]


async def publish_receipt(
    keys: ArtifactKeys,
    name: str,
    plan: Plan,
    receipt: CarbonReceipt,
    windows: Sequence[tuple[datetime, datetime]] | None = None,
) -> None:
    """The receipt as a table artifact and as a markdown report with the chart, written side
    by side (each in its own write slot). The report ends with the whole receipt as one line
    of JSON, which ``cleanshift report`` reads back (:mod:`cleanshift_core.readers.prefect`).

    ``windows`` are the planned slots when there are several (an interruptible job's chunks);
    by default the plan's one window.
    """
    estimate = "an estimate" if receipt.is_estimate else "measured"
    basis = receipt.intensity_basis.value if receipt.intensity_basis else "no data"
    report = "\n".join(
        [
            f"### {name}: carbon receipt",
            "",
            "| | run | if run immediately |",
            "|---|---|---|",
            f"| start | {_when(receipt.ran_at)} | {_when(receipt.scheduled_at)} |",
            (
                f"| intensity (gCO2eq/kWh) | {_num(receipt.avg_intensity_gco2_per_kwh, digits=1)} "
                f"| {_num(receipt.counterfactual_avg_intensity, digits=1)} |"
            ),
            (
                f"| emissions (g) | {_num(receipt.emitted_g, digits=1)} "
                f"| {_num(receipt.counterfactual_g, digits=1)} |"
            ),
            "",
            (
                f"**Savings:** {_num(receipt.estimated_savings_pct, '%', 1)} "
                f"({estimate}; basis: {basis}, coverage {receipt.coverage_pct:.0f}%). "
                f"**Why this window:** {receipt.reason}"
            ),
            "",
            "```text",
            forecast_chart(plan.forecast, windows or (plan.start, plan.end), receipt.run_intervals),
            "```",
            "",
            # Last, under what users read: the whole receipt, for `cleanshift report`.
            receipt_markdown(receipt),
        ]
    )

    async def table() -> None:
        async with write_slot():
            await acreate_table_artifact(
                key=keys.receipt,
                table=receipt_rows(receipt),
                description=f"{name}: carbon receipt "
                f"({_num(receipt.estimated_savings_pct, '%', 1)} vs running immediately)",
            )

    async def markdown() -> None:
        async with write_slot():
            await acreate_markdown_artifact(
                key=keys.report, description=f"{name}: carbon report", markdown=report
            )

    await asyncio.gather(table(), markdown())
