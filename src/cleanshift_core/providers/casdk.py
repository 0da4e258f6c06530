"""Green Software Foundation Carbon Aware SDK WebAPI as a provider, for teams that run it.

The SDK already speaks gCO2/kWh (it converts WattTime's lbs/MWh itself), so values pass
through unchanged; its data source decides the signal, so ``signal`` says which one it is
(WattTime behind the SDK → ``marginal``, the default; Electricity Maps → ``average/lifecycle``).

Traps handled here: the WebAPI reads ``location=`` (the docs say ``locations=``), forecast
durations are minutes while emissions durations are ``"hh:mm:ss"``, ``optimalDataPoints`` is
an array, and errors are RFC 7807 problem details (``title``/``detail``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from ..errors import BadDataError, ConfigurationError, ProviderError, UnknownRegionError
from ..series import Basis, IntensityPoint, IntensitySeries, SignalKind
from ..timeutil import SYSTEM_CLOCK, Clock
from .http_provider import HttpProvider, check_window
from .retry import RetryPolicy
from .sanity import RawPoint, Zeros, api_time, objects, parse_time


class CarbonAwareSDKProvider(HttpProvider):
    """A Carbon Aware SDK WebAPI deployment.

    Args:
        base_url: where the WebAPI runs, e.g. ``http://localhost:8080`` (required).
        region: an SDK location such as ``"westus"`` or ``"eastus"``.
        signal: what the SDK's data source reports (``marginal``, ``average/lifecycle``,
            ``average/direct``).
        timeout, retry: see :class:`~.http_provider.HttpProvider`.
        max_current_age: refuse ``current()`` readings that ended longer ago than this
            (default: 3 × the source's resolution, at least 30 minutes).
    """

    kind = "casdk"
    forecast_horizon = timedelta(hours=24)

    def __init__(
        self,
        region: str | None = None,
        base_url: str | None = None,
        signal: SignalKind | str = SignalKind.MARGINAL,
        timeout: float = 30.0,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_current_age: timedelta | str | float | None = None,
    ) -> None:
        if not base_url:
            raise ConfigurationError(
                "casdk needs base_url: where your Carbon Aware SDK WebAPI runs, e.g. 'http://localhost:8080'"
            )
        if not region:
            raise ConfigurationError("casdk needs region: an SDK location such as 'westus'")
        try:
            self._signal = SignalKind(signal)
        except ValueError:
            raise ConfigurationError(
                f"casdk signal must be one of {', '.join(k.value for k in SignalKind)}, got {signal!r}"
            ) from None
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            clock=clock,
            max_current_age=max_current_age,
        )
        self._region = str(region)

    @property
    def region(self) -> str:
        return self._region

    @property
    def signal(self) -> SignalKind:
        return self._signal

    @property
    def _zeros(self) -> Zeros:
        return Zeros.SUSPECT_RUNS if self._signal is SignalKind.MARGINAL else Zeros.MISSING

    def _classify(self, response: httpx.Response, detail: str) -> ProviderError | None:
        if response.status_code in (400, 404) and "location" in detail.lower():
            return UnknownRegionError(
                f"casdk does not know location {self.region!r} ({detail}); use a location configured "
                "in the SDK's location data (e.g. 'westus')"
            )
        return None

    async def _current(self) -> IntensityPoint:
        now = self.clock.now()
        series = await self._emissions(
            "/emissions/bylocations", now - timedelta(hours=1), now, "latest intensity"
        )
        return series.points[-1]

    async def _forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        async with self._http.session() as http:
            body = await http.get_json(
                "/emissions/forecasts/current", params={"location": self.region}
            )
        return self._forecast_series(body)

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Measured emissions from /emissions/bylocations."""
        start, end = check_window(start, end)
        return (await self._emissions("/emissions/bylocations", start, end, "history")).between(
            start, end
        )

    async def best(self, start: datetime, end: datetime) -> IntensityPoint:
        """The SDK's own pick of the lowest-emission point in ``[start, end)`` (bylocations/best)."""
        start, end = check_window(start, end)
        series = await self._emissions("/emissions/bylocations/best", start, end, "best point")
        return min(series.points, key=lambda p: p.value)

    async def average(self, start: datetime, end: datetime) -> float:
        """The SDK's average intensity over ``[start, end)`` (average-carbon-intensity)."""
        start, end = check_window(start, end)
        async with self._http.session() as http:
            body = await http.get_json(
                "/emissions/average-carbon-intensity",
                params={
                    "location": self.region,
                    "startTime": api_time(start),
                    "endTime": api_time(end),
                },
            )
        value = body.get("carbonIntensity") if isinstance(body, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise BadDataError(f"casdk average intensity for {self.region} is unusable: {value!r}")
        return float(value)

    async def forecast_made_at(
        self, requested_at: datetime, start: datetime, end: datetime
    ) -> IntensitySeries:
        """The forecast as it stood at ``requested_at`` (forecasts/batch): for backtests."""
        start, end = check_window(start, end)
        request = [
            {
                "requestedAt": api_time(requested_at),
                "location": self.region,
                "dataStartAt": api_time(start),
                "dataEndAt": api_time(end),
            }
        ]
        async with self._http.session() as http:
            body = await http.request_json("POST", "/emissions/forecasts/batch", json_body=request)
        return self._forecast_series(body, now=requested_at)

    async def _emissions(
        self, path: str, start: datetime, end: datetime, what: str
    ) -> IntensitySeries:
        async with self._http.session() as http:
            body = await http.get_json(
                path,
                params={"location": self.region, "time": api_time(start), "toTime": api_time(end)},
            )
        if not isinstance(body, list):
            raise BadDataError(f"casdk {path} did not answer with a list; check base_url")
        raw = []
        for row in self._of_one_location(body, path):
            raw.append(
                RawPoint(
                    parse_time(row.get("time"), "time", self.kind),
                    row.get("rating"),
                    _duration(row.get("duration")),
                )
            )
        return self._series(
            raw,
            basis=Basis.MEASURED,
            what=what,
        )

    def _of_one_location(self, rows: list[Any], path: str) -> list[Mapping[str, Any]]:
        """The rows of one location. The SDK labels rows with its data source's own region
        (WattTime's balancing authority, not ``westus``), so one label is taken as ours; rows of
        several locations are narrowed to ours, never merged into one series."""
        rows = objects(rows, self.kind, "emissions point")
        names = list(dict.fromkeys(str(r.get("location")) for r in rows if r.get("location")))
        if len(names) <= 1:
            return rows
        ours = [r for r in rows if r.get("location") == self.region]
        if not ours:
            raise BadDataError(
                f"casdk {path} answered for {', '.join(names)} but not for {self.region!r}; check "
                "region against the SDK's location names"
            )
        return ours

    def _forecast_series(self, body: Any, now: datetime | None = None) -> IntensitySeries:
        if not isinstance(body, list) or not body or not isinstance(body[0], Mapping):
            raise BadDataError(
                f"casdk returned no forecast for {self.region}; check the SDK's forecast data source"
            )
        forecast = body[0]
        rows = forecast.get("forecastData")
        if not isinstance(rows, list):
            raise BadDataError("casdk forecast has no 'forecastData' list; check base_url")
        raw = []
        for row in objects(rows, self.kind, "forecast point"):
            raw.append(
                RawPoint(
                    parse_time(row.get("timestamp"), "timestamp", self.kind),
                    row.get("value"),
                    _duration(row.get("duration")),
                )
            )
        generated = forecast.get("generatedAt")
        return self._series(
            raw,
            basis=Basis.FORECAST,
            now=now,
            max_age=self.max_forecast_age,
            generated_at=parse_time(generated, "generatedAt", self.kind) if generated else None,
            what="forecast",
            forecast=True,
        )


def _duration(value: Any) -> timedelta | None:
    """Forecast durations are minutes; emissions durations are ``[d.]hh:mm:ss``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(minutes=value) if value > 0 else None
    if isinstance(value, str):
        match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d\d):(\d\d(?:\.\d+)?)", value.strip())
        if match:
            days, hours, minutes, seconds = match.groups()
            length = timedelta(
                days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds)
            )
            return length if length > timedelta(0) else None
    if value is None:
        return None
    raise BadDataError(f"casdk sent an unreadable duration {value!r}")
