"""Carbon receipts: what a job emitted, what running immediately would have emitted.

Honest by construction: the actual run and the counterfactual ("started when it was
scheduled") are both time-weighted over the job's *real* running time, on the *same* series,
and the receipt names that series' basis (measured history beats forecast). Anything short of
full measured coverage, or energy derived from a nominal power, is flagged ``is_estimate``.

Energy has a source (``measured`` by CodeCarbon with its CPU/GPU/RAM split and method,
``given`` by the caller, ``nominal`` from ``power_kw``, or ``unknown`` and why). Grams are the
run's total energy × the time-weighted mean intensity over its running time: power that varies
during the run is treated as its average (no per-interval power profile is kept). The SCI terms
(ISO/IEC 21031) are E = ``energy_kwh``, I = the same time-weighted location-based intensity,
labelled ``average`` or ``marginal`` by the series' signal (never mixed in one figure), and an
optional functional unit R; M (embodied emissions) is left to the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, computed_field, model_validator

from .measure import EnergyReading, EnergySource
from .plan import Plan
from .series import Basis, IntensitySeries, SignalKind


class CarbonReceipt(BaseModel):
    """Emissions record of one job execution (intensities in gCO2eq/kWh, masses in grams).

    The first nine fields are cleanshift 0.1's, with the same names and meaning (but exact
    time-weighted values); the rest say how the numbers were obtained.
    """

    model_config = ConfigDict(frozen=True)

    scheduled_at: AwareDatetime
    ran_at: AwareDatetime
    delay_seconds: float
    duration_seconds: float
    avg_intensity_gco2_per_kwh: float | None
    counterfactual_avg_intensity: float | None
    region: str | None
    provider: str | None

    planned_start: AwareDatetime
    finished_at: AwareDatetime
    run_intervals: list[tuple[AwareDatetime, AwareDatetime]]
    signal: SignalKind | None
    intensity_basis: Basis | None
    counterfactual_basis: Basis | None
    coverage_pct: float
    policy: str
    reason: str
    power_kw: float | None = None
    energy_kwh: float | None = None
    energy_source: EnergySource = EnergySource.UNKNOWN
    #: CodeCarbon's method for measured energy, e.g. ``cpu_load (AMD EPYC)`` or ``intel_rapl``.
    energy_method: str | None = None
    energy_cpu_kwh: float | None = None
    energy_gpu_kwh: float | None = None
    energy_ram_kwh: float | None = None
    #: Why energy is unknown (no power_kw given, or the measurement failed and how).
    energy_note: str | None = None
    #: SCI functional unit R: (name, count), e.g. ("rows", 1e6); user-given.
    sci_functional_unit: tuple[str, float] | None = None
    emitted_g: float | None = None
    counterfactual_g: float | None = None
    avoided_g: float | None = None
    is_estimate: bool
    #: The location chosen by a location-and-time plan (the user's label), if any.
    location: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _upgrade_old_receipt(cls, data: Any) -> Any:
        """Receipts written before ``energy_source`` (``energy_measured: bool``) still load."""
        if isinstance(data, dict) and "energy_source" not in data:
            data = dict(data)
            if data.get("energy_measured"):
                data["energy_source"] = EnergySource.GIVEN
            elif data.get("energy_kwh") is not None and data.get("power_kw") is not None:
                data["energy_source"] = EnergySource.NOMINAL
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def energy_measured(self) -> bool:
        """cleanshift 0.2's flag, kept: the energy was measured or handed in, not nominal."""
        return self.energy_source in (EnergySource.MEASURED, EnergySource.GIVEN)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sci_signal(self) -> SignalKind | None:
        """Label of the SCI term I: ``average`` or ``marginal`` (the series' own signal)."""
        return self.signal if self.avg_intensity_gco2_per_kwh is not None else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sci_g_per_unit(self) -> float | None:
        """SCI without M: (E × I) / R, in grams per functional unit; None without R or grams."""
        if self.sci_functional_unit is None or self.emitted_g is None:
            return None
        return self.emitted_g / self.sci_functional_unit[1]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def estimated_savings_pct(self) -> float | None:
        """Reduction vs running immediately (positive = cleaner than running at once)."""
        if self.avg_intensity_gco2_per_kwh is None or not self.counterfactual_avg_intensity:
            return None
        return (
            (self.counterfactual_avg_intensity - self.avg_intensity_gco2_per_kwh)
            / self.counterfactual_avg_intensity
            * 100.0
        )


def build_receipt(
    plan: Plan,
    run_intervals: Sequence[tuple[datetime, datetime]],
    candidates: Sequence[IntensitySeries | None],
    *,
    power_kw: float | None = None,
    energy_kwh: float | None = None,
    energy: EnergyReading | None = None,
    sci_functional_unit: tuple[str, float] | None = None,
) -> CarbonReceipt:
    """Settle the receipt of a job that ran over ``run_intervals`` (one, or several if paused).

    ``candidates`` are series in order of preference, typically measured history then the
    plan's forecast; the first that covers both the run and the counterfactual wins, else the
    one covering most. A measured ``energy`` reading takes precedence over a given
    ``energy_kwh``, which takes precedence over ``power_kw`` (nominal). A failed measurement
    falls back to ``power_kw`` if given, else leaves energy ``unknown`` with its note.
    """
    if not run_intervals:
        raise ValueError("a receipt needs at least one run interval")
    ran_at = run_intervals[0][0]
    finished_at = run_intervals[-1][1]
    run_seconds = sum((b - a).total_seconds() for a, b in run_intervals)
    scheduled_at = plan.earliest_start
    counterfactual = [(scheduled_at, scheduled_at + timedelta(seconds=run_seconds))]

    best: tuple[float, IntensitySeries, float | None, float | None] | None = None
    for series in candidates:
        if series is None or not len(series):
            continue
        actual_mean, actual_cov = series.mean_over(run_intervals)
        cf_mean, cf_cov = series.mean_over(counterfactual)
        coverage = min(actual_cov, cf_cov)
        if best is None or coverage > best[0]:
            best = (coverage, series, actual_mean, cf_mean)
        if coverage >= 1.0 - 1e-12:
            break

    coverage, series, actual_mean, cf_mean = best or (0.0, None, None, None)
    if coverage == 0.0:
        actual_mean = cf_mean = None
    reading = _energy(energy, energy_kwh, power_kw, run_seconds)
    energy_kwh = reading.kwh
    emitted = counterfactual_g = avoided = None
    if energy_kwh is not None and actual_mean is not None and cf_mean is not None:
        emitted = energy_kwh * actual_mean
        counterfactual_g = energy_kwh * cf_mean
        avoided = counterfactual_g - emitted
    basis = series.basis if series is not None and coverage > 0 else None
    return CarbonReceipt(
        scheduled_at=scheduled_at,
        ran_at=ran_at,
        delay_seconds=(ran_at - scheduled_at).total_seconds(),
        duration_seconds=run_seconds,
        avg_intensity_gco2_per_kwh=actual_mean,
        counterfactual_avg_intensity=cf_mean,
        region=(series.region if series is not None else plan.region),
        provider=(series.provider if series is not None else plan.provider),
        planned_start=plan.start,
        finished_at=finished_at,
        run_intervals=list(run_intervals),
        signal=series.signal if series is not None else plan.signal,
        intensity_basis=basis,
        counterfactual_basis=basis,
        coverage_pct=coverage * 100.0,
        policy=plan.policy,
        reason=plan.reason,
        power_kw=power_kw,
        energy_kwh=energy_kwh,
        energy_source=reading.source,
        energy_method=reading.method,
        energy_cpu_kwh=reading.cpu_kwh,
        energy_gpu_kwh=reading.gpu_kwh,
        energy_ram_kwh=reading.ram_kwh,
        energy_note=reading.note,
        sci_functional_unit=sci_functional_unit,
        emitted_g=emitted,
        counterfactual_g=counterfactual_g,
        avoided_g=avoided,
        is_estimate=basis is not Basis.MEASURED
        or coverage < 1.0 - 1e-12
        or reading.source is EnergySource.NOMINAL,
        location=plan.location,
    )


def _energy(
    measured: EnergyReading | None,
    energy_kwh: float | None,
    power_kw: float | None,
    run_seconds: float,
) -> EnergyReading:
    if measured is not None and measured.source is EnergySource.MEASURED:
        return measured
    if energy_kwh is not None:
        return EnergyReading(EnergySource.GIVEN, kwh=energy_kwh)
    note = measured.note if measured is not None else None
    if power_kw is not None:
        return EnergyReading(EnergySource.NOMINAL, kwh=power_kw * run_seconds / 3600.0, note=note)
    return EnergyReading(EnergySource.UNKNOWN, note=note or "no power_kw or measured energy")
