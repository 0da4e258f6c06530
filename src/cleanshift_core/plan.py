"""The Plan: the decision, with enough context to audit it, in a JSON-safe model.

It travels through Airflow trigger kwargs and XCom and Prefect parameters, so it holds only
plain values and round-trips through ``model_dump_json`` / ``model_validate_json``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, computed_field

from .series import Basis, IntensityPoint, IntensitySeries, SignalKind


class Interval(BaseModel):
    """A span with one intensity: a forecast point or a candidate window's mean."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    intensity: float


class LocationOption(BaseModel):
    """One candidate location of a location-and-time decision: its best window, or why it had none."""

    model_config = ConfigDict(frozen=True)

    location: str
    provider: str | None = None
    region: str | None = None
    start: AwareDatetime | None = None
    expected_intensity: float | None = None
    immediate_intensity: float | None = None
    error: str | None = None


class Plan(BaseModel):
    """When to start a job, why, and what the alternatives were."""

    model_config = ConfigDict(frozen=True)

    planned_at: AwareDatetime
    earliest_start: AwareDatetime
    latest_start: AwareDatetime
    duration_seconds: float
    start: AwareDatetime
    expected_intensity: float | None = None
    immediate_intensity: float | None = None
    policy: str
    reason: str
    alternatives: list[Interval] = []
    provider: str | None = None
    region: str | None = None
    signal: SignalKind | None = None
    basis: Basis | None = None
    forecast_generated_at: AwareDatetime | None = None
    forecast: list[Interval] = []
    location: str | None = None
    location_options: list[LocationOption] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_seconds)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expected_savings_pct(self) -> float | None:
        """Expected saving vs starting at ``earliest_start``, on the same forecast."""
        if self.expected_intensity is None or not self.immediate_intensity:
            return None
        return (
            (self.immediate_intensity - self.expected_intensity) / self.immediate_intensity * 100.0
        )

    @property
    def delay(self) -> timedelta:
        return self.start - self.earliest_start

    def forecast_series(self) -> IntensitySeries | None:
        """The forecast the plan was made on, as a series (for receipts and charts)."""
        if not self.forecast or self.signal is None:
            return None
        return IntensitySeries.from_points(
            (IntensityPoint(p.start, p.end - p.start, p.intensity) for p in self.forecast),
            signal=self.signal,
            provider=self.provider or "unknown",
            region=self.region or "unknown",
            basis=self.basis or Basis.FORECAST,
            generated_at=self.forecast_generated_at,
        )
