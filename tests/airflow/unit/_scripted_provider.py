"""A provider whose answers a test scripts, registered as kind ``scripted``.

Specs carry only a script name (``{"kind": "scripted", "script": "<name>"}``), so the trigger
resolves it exactly as it resolves a real provider, through ``shared_provider``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cleanshift_core import GridIntensityProvider, IntensityPoint, IntensitySeries, SignalKind
from cleanshift_core.providers import register_provider
from cleanshift_core.series import Basis

T0 = datetime(2025, 1, 6, 0, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.t = now
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += timedelta(seconds=seconds)


@dataclass
class Script:
    """``values(now)`` gives hourly intensities from ``T0`` as the forecast reads at ``now``."""

    values: Callable[[datetime], list[float]]
    clock: FakeClock
    error: Exception | None = None
    calls: list[datetime] = field(default_factory=list)


SCRIPTS: dict[str, Script] = {}


class ScriptedProvider(GridIntensityProvider):
    kind = "scripted"

    def __init__(self, script: str, api_key: str | None = None) -> None:
        self.script = SCRIPTS[script]

    @property
    def region(self) -> str:
        return "TEST"

    @property
    def signal(self) -> SignalKind:
        return SignalKind.AVERAGE_LIFECYCLE

    def _series(self, basis: Basis) -> IntensitySeries:
        now = self.script.clock.now()
        self.script.calls.append(now)
        if self.script.error is not None:
            raise self.script.error
        values = self.script.values(now)
        return IntensitySeries.from_points(
            [IntensityPoint(T0 + k * HOUR, HOUR, v) for k, v in enumerate(values)],
            signal=self.signal,
            provider="scripted",
            region="TEST",
            basis=basis,
            generated_at=now,
        )

    async def current(self) -> IntensityPoint:
        return self._series(Basis.FORECAST).points[0]

    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        return self._series(Basis.FORECAST).between(start, end)

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        return self._series(Basis.MEASURED).between(start, end)


register_provider("scripted", ScriptedProvider)
