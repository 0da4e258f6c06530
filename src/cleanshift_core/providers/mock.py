"""MockProvider: cleanshift 0.1's deterministic daily curve, no account needed.

Intensity follows ``base + amplitude · sin(2π(h − 9)/24)`` of the UTC hour h: peak at 15:00,
trough at 03:00, a fair caricature of a solar-heavy grid. ``speedup`` compresses the day so a
demo's wait is real but short ("time-compressed replay": real timestamps, points seconds apart).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from ..errors import ConfigurationError
from ..series import Basis, IntensityPoint, IntensitySeries, SignalKind
from ..timeutil import EPOCH, SYSTEM_CLOCK, Clock, ensure_utc, from_epoch, parse_duration, to_epoch
from .base import GridIntensityProvider

#: Shortest real length of one curve point, and most points one call may build: a typo in
#: speedup or resolution must fail with a message, not build billions of points.
MIN_POINT_SECONDS = 0.1
MAX_POINTS = 500_000


class MockProvider(GridIntensityProvider):
    """Synthetic sinusoidal intensity.

    Args:
        region: label recorded in receipts.
        base_intensity: midpoint of the curve, gCO2eq/kWh.
        amplitude: half the peak-to-trough range, gCO2eq/kWh (must be ≤ base).
        resolution: length of one point in curve time (default 1 hour).
        speedup: how many times faster than real time the curve's day passes.
        anchor: the real instant at which curve time is ``anchor_hour`` (default: the epoch,
            so with speedup 1 the curve follows the real UTC clock).
        anchor_hour: UTC hour of day the curve shows at ``anchor`` (with ``anchor`` only).
    """

    kind = "mock"

    def __init__(
        self,
        region: str = "MOCK",
        base_intensity: float = 300.0,
        amplitude: float = 150.0,
        resolution: timedelta | str = timedelta(hours=1),
        speedup: float = 1.0,
        anchor: datetime | str | None = None,
        anchor_hour: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        base_intensity, amplitude = (
            _number(base_intensity, "base_intensity"),
            _number(amplitude, "amplitude"),
        )
        if not (0 <= amplitude <= base_intensity):
            raise ConfigurationError(
                f"mock amplitude={amplitude} must be between 0 and base_intensity={base_intensity} "
                "(intensity cannot go negative)"
            )
        speedup = _number(speedup, "speedup")
        if speedup <= 0:
            raise ConfigurationError(f"mock speedup must be positive, got {speedup}")
        if anchor_hour is not None and anchor is None:
            raise ConfigurationError("mock anchor_hour needs anchor (the real time it applies at)")
        self._region = str(region)
        self.base_intensity = base_intensity
        self.amplitude = amplitude
        self.resolution = parse_duration(resolution, "resolution")
        if self.resolution <= timedelta(0):
            raise ConfigurationError(f"mock resolution must be positive, got {resolution!r}")
        self.speedup = speedup
        if self.resolution.total_seconds() / speedup < MIN_POINT_SECONDS:
            raise ConfigurationError(
                f"mock resolution/speedup gives points of {self.resolution.total_seconds() / speedup:g} s; "
                f"keep them at least {MIN_POINT_SECONDS:g} s (lower speedup or raise resolution)"
            )
        if anchor_hour is not None:
            anchor_hour = _number(anchor_hour, "anchor_hour")
        if isinstance(anchor, str):
            try:
                anchor = datetime.fromisoformat(anchor)
            except ValueError:
                raise ConfigurationError(
                    f"mock anchor={anchor!r} is not an ISO time; e.g. '2026-03-02T03:00:00+00:00'"
                ) from None
        self.anchor = ensure_utc(anchor, "anchor") if anchor is not None else EPOCH
        if anchor_hour is None:
            self._curve_at_anchor = to_epoch(self.anchor)
        else:
            day = self.anchor.replace(hour=0, minute=0, second=0, microsecond=0)
            self._curve_at_anchor = to_epoch(day) + float(anchor_hour) * 3600.0
        self.clock = clock
        # Forecast two curve-days ahead, like a typical day-ahead-plus provider.
        self.forecast_horizon = timedelta(days=2) / self.speedup

    @property
    def region(self) -> str:
        return self._region

    @property
    def signal(self) -> SignalKind:
        return SignalKind.AVERAGE_LIFECYCLE

    def intensity_at(self, when: datetime) -> float:
        """The curve's value at a real instant (exact, not step-sampled)."""
        hour = (self._curve_time(to_epoch(when)) % 86400.0) / 3600.0
        return self.base_intensity + self.amplitude * math.sin(2 * math.pi * (hour - 9) / 24)

    def _curve_time(self, real: float) -> float:
        return self._curve_at_anchor + (real - to_epoch(self.anchor)) * self.speedup

    async def current(self) -> IntensityPoint:
        now = self.clock.now()
        step = self.resolution.total_seconds() / self.speedup
        start = self._point_start(to_epoch(now), step)
        return IntensityPoint(
            from_epoch(start), timedelta(seconds=step), self.intensity_at(from_epoch(start))
        )

    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        return self._series(start, end, Basis.FORECAST)

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        return self._series(start, end, Basis.MEASURED)

    def _point_start(self, t: float, step: float) -> float:
        anchor = to_epoch(self.anchor)
        return anchor + math.floor((t - anchor) / step) * step

    def _series(self, start: datetime, end: datetime, basis: Basis) -> IntensitySeries:
        step = self.resolution.total_seconds() / self.speedup
        first = self._point_start(to_epoch(start), step)
        count = max(0, math.ceil((to_epoch(end) - first) / step))
        if count > MAX_POINTS:
            raise ConfigurationError(
                f"mock asked for {count:,} points ({start.isoformat()} to {end.isoformat()}); "
                f"ask for a shorter range or use a coarser resolution (at most {MAX_POINTS:,})"
            )
        points = [
            IntensityPoint(from_epoch(t), timedelta(seconds=step), self.intensity_at(from_epoch(t)))
            for t in (first + k * step for k in range(count))
        ]
        return IntensitySeries.from_points(
            points,
            signal=self.signal,
            provider=self.name,
            region=self.region,
            basis=basis,
            generated_at=self.clock.now(),
        )


def _number(value: object, name: str) -> float:
    """A finite number option (spec strings and JSON may carry anything)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise ConfigurationError(f"mock {name} must be a finite number, got {value!r}")
    return number
