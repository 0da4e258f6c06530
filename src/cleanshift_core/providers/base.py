"""The provider interface every intensity source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta

from ..series import IntensityPoint, IntensitySeries, SignalKind


class GridIntensityProvider(ABC):
    """An async source of grid carbon intensity for one region.

    Implementations convert units at this boundary (everything leaving a provider is
    gCO2eq/kWh, UTC, validated), so nothing downstream ever sees lbs/MWh or a percentile.
    """

    #: Registry name used in provider specs ("mock", "file", "electricitymaps", ...).
    kind: str = ""
    #: How far ahead :meth:`forecast` can see; the shared cache fetches this much at once.
    forecast_horizon: timedelta = timedelta(hours=24)

    @property
    @abstractmethod
    def region(self) -> str:
        """Grid region or zone identifier, as the provider names it."""

    @property
    @abstractmethod
    def signal(self) -> SignalKind:
        """What the intensities mean (average lifecycle/direct, or marginal)."""

    @property
    def name(self) -> str:
        """Name recorded in plans and receipts."""
        return self.kind

    @abstractmethod
    async def current(self) -> IntensityPoint:
        """The intensity in force now (or the latest reading)."""

    @abstractmethod
    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        """Forecast covering as much of ``[start, end)`` as the provider can see."""

    @abstractmethod
    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Measured intensity over ``[start, end)`` (basis ``measured``)."""

    async def aclose(self) -> None:
        """Release network resources; a no-op for providers that hold none."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(region={self.region!r})"
