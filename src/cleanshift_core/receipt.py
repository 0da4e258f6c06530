"""Carbon receipts: what a job emitted, what running immediately would have emitted.

Honest by construction: the actual run and the counterfactual ("started when it was
scheduled") are both time-weighted over the job's *real* running time, on the *same* series,
and the receipt names that series' basis (measured history beats forecast). Anything short of
full measured coverage, or energy derived from a nominal power, is flagged ``is_estimate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, computed_field

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
    energy_measured: bool = False
    emitted_g: float | None = None
    counterfactual_g: float | None = None
    avoided_g: float | None = None
    is_estimate: bool
    #: The location chosen by a location-and-time plan (the user's label), if any.
    location: str | None = None

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
) -> CarbonReceipt:
    """Settle the receipt of a job that ran over ``run_intervals`` (one, or several if paused).

    ``candidates`` are series in order of preference, typically measured history then the
    plan's forecast; the first that covers both the run and the counterfactual wins, else the
    one covering most. ``energy_kwh`` (measured) takes precedence over ``power_kw`` (nominal).
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
    energy_measured = energy_kwh is not None
    if energy_kwh is None and power_kw is not None:
        energy_kwh = power_kw * run_seconds / 3600.0
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
        energy_measured=energy_measured,
        emitted_g=emitted,
        counterfactual_g=counterfactual_g,
        avoided_g=avoided,
        is_estimate=basis is not Basis.MEASURED
        or coverage < 1.0 - 1e-12
        or (energy_kwh is not None and not energy_measured),
        location=plan.location,
    )
