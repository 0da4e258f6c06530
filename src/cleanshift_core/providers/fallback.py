"""A priority chain of providers: the first source that answers with usable data wins.

``{"kind": "fallback", "sources": [spec, spec, ...]}`` (or just a list of specs) tries each
source in order. A source that fails with a provider error or unusable data is logged and the
next one is asked; the series returned names the source that answered
(``provider="fallback→ukci"``), so plans and receipts record which one it was.

All sources must report the same signal kind: a marginal forecast and an average history (or
lifecycle and direct factors) are different quantities, and a receipt that compared them
would be wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from ..errors import BadSeriesError, ConfigurationError, ProviderError, ProviderUnavailableError
from ..series import IntensityPoint, IntensitySeries, SignalKind
from .base import GridIntensityProvider
from .spec import build_provider

log = logging.getLogger(__name__)
T = TypeVar("T")


class FallbackProvider(GridIntensityProvider):
    """Ask ``sources`` in priority order.

    Args:
        sources: provider specs (dicts, spec strings, :class:`ProviderSpec`) or providers,
            first choice first; at least one.
    """

    kind = "fallback"

    def __init__(self, sources: Sequence[Any]) -> None:
        if isinstance(sources, (str, Mapping)) or not isinstance(sources, Sequence) or not sources:
            raise ConfigurationError(
                "fallback needs sources: a non-empty list of provider specs in priority order, "
                "e.g. [{'kind': 'electricitymaps', ...}, {'kind': 'ukci'}]"
            )
        self.sources: list[GridIntensityProvider] = [build_provider(s) for s in sources]
        signals = {p.signal for p in self.sources}
        if len(signals) > 1:
            listed = ", ".join(f"{p.name}={p.signal.value}" for p in self.sources)
            raise ConfigurationError(
                f"fallback sources report different signals ({listed}); chain sources of one kind "
                "(e.g. electricitymaps with emission_factor_type='direct' before ukci)"
            )
        self.forecast_horizon = self.sources[0].forecast_horizon
        #: Name of the source that answered last (for logs and status pages).
        self.last_source: str | None = None

    @property
    def region(self) -> str:
        return self.sources[0].region

    @property
    def signal(self) -> SignalKind:
        return self.sources[0].signal

    async def current(self) -> IntensityPoint:
        return await self._first("current", lambda p: p.current())

    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        return await self._first_series("forecast", lambda p: p.forecast(start, end))

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        return await self._first_series("history", lambda p: p.history(start, end))

    async def aclose(self) -> None:
        for source in self.sources:
            await source.aclose()

    async def _first_series(
        self, what: str, call: Callable[[GridIntensityProvider], Awaitable[IntensitySeries]]
    ) -> IntensitySeries:
        series = await self._first(what, call)
        return replace(series, provider=f"fallback→{series.provider}")

    async def _first(self, what: str, call: Callable[[GridIntensityProvider], Awaitable[T]]) -> T:
        failures: list[str] = []
        for rank, source in enumerate(self.sources, start=1):
            try:
                result = await call(source)
            except (ProviderError, BadSeriesError, NotImplementedError) as exc:
                failures.append(f"{source.name}: {type(exc).__name__}: {exc}")
                if rank < len(self.sources):
                    log.warning(
                        "%s %s failed (%s); trying %s",
                        source.name,
                        what,
                        exc,
                        self.sources[rank].name,
                    )
                continue
            if rank > 1:
                log.warning(
                    "%s answered by fallback source %d/%d (%s)",
                    what,
                    rank,
                    len(self.sources),
                    source.name,
                )
            self.last_source = source.name
            return result
        raise ProviderUnavailableError(
            f"every fallback source failed for {what}: "
            + "; ".join(failures)
            + " — fix the first source or add another"
        )

    def __repr__(self) -> str:
        return f"FallbackProvider(sources={self.sources!r})"
