"""Totals of many carbon receipts over a period: what ``cleanshift report`` prints, and what the
Airflow receipts page and the Prefect totals artifact show, computed once here.

Readers turn what a deployment stores (an Airflow XCom, a Prefect artifact) into
:class:`JobReceipt` values; this module only adds them up, so the three places that show totals
cannot disagree.

Rules, and why:

* **Grams only where a receipt has them.** A receipt whose energy is unknown (no ``power_kw``,
  a failed measurement) or whose intensity was not covered has no grams: it is *counted*
  (``receipts``, and ``unknown`` when its energy is unknown) but adds nothing to the gram
  totals, and ``with_grams`` says how many receipts the grams are the sum of. Guessing grams
  for it would make the total look more complete than it is.
* **One signal per figure.** Average (lifecycle or direct) and marginal intensities answer
  different questions, and grams computed from them do not add up to anything meaningful. Every
  total and every weekly figure is therefore *grouped* by the receipts' signal kind; the
  overall totals are one row per signal, never one sum across signals.
* **A unit of work once.** An interruptible Airflow job has a receipt per chunk and a summed
  receipt; chunk receipts (``part_of`` set) are counted in :attr:`Report.parts` only, the sum
  is what the totals hold.
* **The period is when the work ran:** a receipt belongs to ``[since, until)`` by its
  ``ran_at``, and to the ISO week (Monday-based, UTC) of that instant.
* **A receipt this version cannot read is skipped, not guessed:** :func:`load_receipt` raises
  :class:`OldReceiptError` with a one-line reason, and readers collect those as :class:`Skipped`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from .errors import ConfigurationError, OldReceiptError
from .measure import EnergySource
from .receipt import CarbonReceipt
from .series import SignalKind

__all__ = [
    "UNKNOWN_REGION",
    "JobReceipt",
    "OldReceiptError",
    "Report",
    "Skipped",
    "Totals",
    "WeekAvoided",
    "load_receipt",
    "summarise",
    "week_start",
]

#: The region of a receipt that names none (no provider answered).
UNKNOWN_REGION = "unknown"


def load_receipt(value: CarbonReceipt | Mapping[str, Any] | str) -> CarbonReceipt:
    """A :class:`CarbonReceipt` from what a deployment stores: the model itself, its JSON dict
    (``model_dump(mode="json")``, as in an XCom) or that dict as JSON text.

    Receipts of cleanshift 0.2 (``energy_measured``) load, as :class:`CarbonReceipt` upgrades
    them; anything older lacks fields the totals need and raises :class:`OldReceiptError`.
    """
    if isinstance(value, CarbonReceipt):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise OldReceiptError("not a receipt: text that is not JSON") from None
    if not isinstance(value, Mapping):
        raise OldReceiptError(f"not a receipt: a {type(value).__name__}, not a JSON object")
    try:
        return CarbonReceipt.model_validate(value)
    except ValidationError as exc:
        missing = sorted(
            str(err["loc"][0]) for err in exc.errors() if err["type"] == "missing" and err["loc"]
        )
        if missing:
            raise OldReceiptError(
                "written by an older cleanshift (no " + ", ".join(missing) + "); "
                "re-run the job with cleanshift 0.3+ to get a receipt the report can total"
            ) from None
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "receipt"
        raise OldReceiptError(f"unreadable receipt: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class JobReceipt:
    """One receipt and the job (Airflow DAG id or Prefect flow name) that wrote it."""

    job: str
    receipt: CarbonReceipt
    #: The summed receipt this one is a chunk of (e.g. its task id); counted once, as the sum.
    part_of: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A stored receipt the report could not read: where it is, and the one-line reason."""

    where: str
    reason: str


@dataclass(frozen=True)
class Totals:
    """The sums of one group of receipts: a (job, region, signal), or all jobs of one signal
    (``job`` and ``region`` None). Grams in gCO2eq, energy in kWh."""

    job: str | None
    region: str | None
    #: The receipts' intensity signal; None for receipts without any intensity data.
    signal: SignalKind | None
    #: Every receipt of the group, with grams or not.
    receipts: int
    #: Receipts that have grams: the gram totals are the sum over these only.
    with_grams: int
    emitted_g: float
    counterfactual_g: float
    avoided_g: float
    measured_kwh: float
    given_kwh: float
    nominal_kwh: float
    #: How many receipts had each energy source (``unknown`` ones add no grams).
    measured: int
    given: int
    nominal: int
    unknown: int

    @property
    def savings_pct(self) -> float | None:
        """Avoided over counterfactual grams (same receipts, same basis), or None without."""
        if not self.counterfactual_g:
            return None
        return self.avoided_g / self.counterfactual_g * 100.0


@dataclass(frozen=True)
class WeekAvoided:
    """Grams avoided by one job in one ISO week, on one signal (a point of the chart)."""

    job: str
    signal: SignalKind | None
    #: The Monday (UTC) the ISO week begins.
    week_start: date
    avoided_g: float
    #: Receipts of the week with grams (the ones ``avoided_g`` sums).
    with_grams: int

    @property
    def iso_week(self) -> str:
        """``2026-W49``."""
        year, week, _ = self.week_start.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Report:
    """Totals of the receipts of a period, grouped so that no figure mixes signals."""

    since: datetime | None
    until: datetime | None
    #: One row per (job, region, signal), sorted by job, region, signal.
    totals: tuple[Totals, ...]
    #: One row per signal, over all jobs and regions.
    overall: tuple[Totals, ...]
    #: Avoided grams per (job, signal, ISO week), sorted by signal, job, week.
    weekly: tuple[WeekAvoided, ...]
    #: Receipts that could not be read, with why.
    skipped: tuple[Skipped, ...]
    #: Chunk receipts left out because their summed receipt is counted.
    parts: int

    @property
    def receipts(self) -> int:
        """Receipts counted in the totals."""
        return sum(t.receipts for t in self.overall)

    @property
    def signals(self) -> tuple[SignalKind | None, ...]:
        """The signals present, each its own figure."""
        return tuple(t.signal for t in self.overall)


def _signal_order(signal: SignalKind | None) -> str:
    return "~" if signal is None else signal.value  # receipts without data last


class _Sum:
    """A running :class:`Totals` (mutable while adding, frozen when done)."""

    def __init__(self) -> None:
        self.receipts = self.with_grams = 0
        self.grams = [0.0, 0.0, 0.0]
        self.kwh: dict[EnergySource, float] = defaultdict(float)
        self.count: dict[EnergySource, int] = defaultdict(int)

    def add(self, receipt: CarbonReceipt) -> None:
        self.receipts += 1
        self.count[receipt.energy_source] += 1
        if receipt.energy_kwh is not None:
            self.kwh[receipt.energy_source] += receipt.energy_kwh
        grams = (receipt.emitted_g, receipt.counterfactual_g, receipt.avoided_g)
        if all(g is not None for g in grams):
            self.with_grams += 1
            self.grams = [t + float(g or 0.0) for t, g in zip(self.grams, grams, strict=True)]

    def frozen(self, job: str | None, region: str | None, signal: SignalKind | None) -> Totals:
        return Totals(
            job=job,
            region=region,
            signal=signal,
            receipts=self.receipts,
            with_grams=self.with_grams,
            emitted_g=self.grams[0],
            counterfactual_g=self.grams[1],
            avoided_g=self.grams[2],
            measured_kwh=self.kwh[EnergySource.MEASURED],
            given_kwh=self.kwh[EnergySource.GIVEN],
            nominal_kwh=self.kwh[EnergySource.NOMINAL],
            measured=self.count[EnergySource.MEASURED],
            given=self.count[EnergySource.GIVEN],
            nominal=self.count[EnergySource.NOMINAL],
            unknown=self.count[EnergySource.UNKNOWN],
        )


def week_start(instant: datetime) -> date:
    """The Monday (UTC) of the ISO week an aware ``instant`` falls in."""
    day = instant.astimezone(timezone.utc).date()
    return day - timedelta(days=day.weekday())


def summarise(
    receipts: Iterable[JobReceipt],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    skipped: Iterable[Skipped] = (),
) -> Report:
    """Total ``receipts`` that ran in ``[since, until)`` (either bound may be open).

    Readers may over-fetch (an Airflow DAG run or a Prefect artifact dated near the bounds):
    this is where the period is applied exactly, by each receipt's ``ran_at``.
    """
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound.tzinfo is None:
            raise ConfigurationError(f"{name} must be timezone-aware (UTC), got {bound!r}")
    if since is not None and until is not None and since >= until:
        raise ConfigurationError(f"since ({since.isoformat()}) must be before until")
    groups: dict[tuple[str, str, SignalKind | None], _Sum] = defaultdict(_Sum)
    overall: dict[SignalKind | None, _Sum] = defaultdict(_Sum)
    weeks: dict[tuple[SignalKind | None, str, date], list[float]] = defaultdict(list)
    parts = 0
    for item in receipts:
        r = item.receipt
        if (since is not None and r.ran_at < since) or (until is not None and r.ran_at >= until):
            continue
        if item.part_of is not None:
            parts += 1
            continue
        groups[(item.job, r.region or UNKNOWN_REGION, r.signal)].add(r)
        overall[r.signal].add(r)
        if r.avoided_g is not None and r.emitted_g is not None and r.counterfactual_g is not None:
            weeks[(r.signal, item.job, week_start(r.ran_at))].append(r.avoided_g)
    return Report(
        since=since,
        until=until,
        totals=tuple(
            s.frozen(job, region, signal)
            for (job, region, signal), s in sorted(
                groups.items(), key=lambda kv: (kv[0][0], kv[0][1], _signal_order(kv[0][2]))
            )
        ),
        overall=tuple(
            s.frozen(None, None, signal)
            for signal, s in sorted(overall.items(), key=lambda kv: _signal_order(kv[0]))
        ),
        weekly=tuple(
            WeekAvoided(job, signal, monday, sum(grams), len(grams))
            for (signal, job, monday), grams in sorted(
                weeks.items(), key=lambda kv: (_signal_order(kv[0][0]), kv[0][1], kv[0][2])
            )
        ),
        skipped=tuple(skipped),
        parts=parts,
    )
