"""The base of every HTTP provider: its options, its transport, and a forecast that covers now.

A provider module (Electricity Maps, WattTime, UK CI, ...) subclasses :class:`HttpProvider` and
writes only what its API says: the paths, the fields, the error words. The options every one of
them takes (``base_url``, ``timeout``, ``retry``, ``max_current_age``, secrets) are checked
here once, the requests go through one :class:`~.transport.Transport`, the answers through
:func:`~.sanity.build_series`, and every ``current()`` through the one staleness rule
(:func:`~.sanity.check_current`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from ..errors import ConfigurationError, ProviderError, StaleDataError
from ..series import Basis, IntensityPoint, IntensitySeries
from ..timeutil import SYSTEM_CLOCK, Clock, ensure_utc
from .base import GridIntensityProvider
from .retry import RetryPolicy
from .sanity import RawPoint, Zeros, build_series, check_current, check_max_current_age
from .transport import Transport

log = logging.getLogger(__name__)


class HttpProvider(GridIntensityProvider):
    """Common ground of the HTTP providers: options, transport, and a forecast that covers now.

    Subclasses implement :meth:`_current` and :meth:`_forecast`. If the API's forecast starts after the requested
    start and after now (Electricity Maps' first forecast hour is the next one, WattTime's
    starts at its last 5-minute run), the latest measured point is prepended, stretched up
    to the forecast's start (at most :attr:`max_now_gap`), so the immediate-start window
    always has a value and a plan can compare "wait" against "run now".
    """

    default_base_url: str = ""
    #: Forecasts generated longer ago than this are refused as stale.
    max_forecast_age: timedelta = timedelta(hours=6)
    #: The latest measurement may be held at most this long to reach the forecast's start.
    max_now_gap: timedelta = timedelta(hours=2)

    def __init__(
        self,
        *,
        base_url: str | None,
        timeout: float,
        retry: RetryPolicy | Mapping[str, Any] | None,
        clock: Clock,
        credentials_hint: str = "credentials",
        secrets: Sequence[SecretStr | None] = (),
        max_current_age: timedelta | str | float | None = None,
    ) -> None:
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self.max_current_age = check_max_current_age(max_current_age, self.kind)
        self._http = Transport(
            self.kind,
            base_url or self.default_base_url,
            timeout=timeout,
            retry=RetryPolicy.coerce(retry),
            clock=self.clock,
            credentials_hint=credentials_hint,
            secrets=secrets,
            classify=self._classify,
        )

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def _zeros(self) -> Zeros:
        """How zero intensities are read; overridden where the grid can really be at zero."""
        return Zeros.MISSING

    def _series(
        self,
        raw: Sequence[RawPoint],
        *,
        basis: Basis,
        now: datetime | None = None,
        provider: str | None = None,
        **checks: Any,
    ) -> IntensitySeries:
        """:func:`build_series` with this provider's name, region, signal, zero rule and clock."""
        return build_series(
            raw,
            provider=provider or self.name,
            region=self.region,
            signal=self.signal,
            basis=basis,
            now=now or self.clock.now(),
            zeros=self._zeros,
            **checks,
        )

    def _classify(self, response: httpx.Response, detail: str) -> ProviderError | None:
        """Provider-specific error mapping; None means the generic one."""
        return None

    async def current(self) -> IntensityPoint:
        """The latest reading, refused as stale by :func:`check_current`."""
        point = await self._current()
        return check_current(
            point,
            provider=self.name,
            region=self.region,
            now=self.clock.now(),
            max_age=self.max_current_age,
        )

    async def _current(self) -> IntensityPoint:
        raise NotImplementedError

    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        start, end = check_window(start, end)
        series = await self._forecast(start, end)
        return await self._cover_now(series, start)

    async def _forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        raise NotImplementedError

    async def _cover_now(self, series: IntensitySeries, start: datetime) -> IntensitySeries:
        now = self.clock.now()
        first = series.start
        if first is None or not (start < first and now < first):
            return series
        try:
            latest = await self.current()
        except StaleDataError as exc:
            log.info(
                "%s forecast starts at %s; not bridged to now: %s",
                self.name,
                first.isoformat(),
                exc,
            )
            return series
        if latest.start > now or latest.start >= first or first - latest.end > self.max_now_gap:
            log.info(
                "%s forecast starts at %s and no recent measurement can cover now",
                self.name,
                first.isoformat(),
            )
            return series
        bridge = IntensityPoint(latest.start, first - latest.start, latest.value)
        merged = IntensitySeries.from_points(
            [bridge, *series.points],
            signal=series.signal,
            provider=series.provider,
            region=series.region,
            basis=series.basis,
            generated_at=series.generated_at,
        )
        note = (
            f"prepended the latest measured value ({latest.value:g} at {latest.start.isoformat()}) "
            f"up to the forecast's first point at {first.isoformat()} so the forecast covers now"
        )
        return replace(merged, repairs=(*series.repairs, note))


def check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Public-argument check of forecast()/history(): aware UTC, end after start."""
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    if end <= start:
        raise ConfigurationError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    return start, end


def as_secret(value: str | SecretStr | None, name: str) -> SecretStr | None:
    """Store a secret option as ``SecretStr`` (spec options already are; direct callers may not be)."""
    if value is None or isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    raise ConfigurationError(f"{name} must be a string, got {type(value).__name__}")
