"""Electricity Maps (API v3): average intensity for ~350 zones, by zone or by coordinates.

The ``auth-token`` header carries the key. ``emissionFactorType`` picks lifecycle (default)
or direct factors, and the signal recorded in plans and receipts follows it. Intensities may
be ``null`` (dropped and bridged, see :func:`~.sanity.build_series`).

The free tier has no forecast endpoint. When the forecast is refused, cleanshift asks
``/v3/zones`` what the token may access; if the forecast is not in the plan it says so
plainly — and with ``history_forecast=True`` plans on a persistence forecast instead: the last
24 measured hours, moved one day ahead (provider ``electricitymaps/history-forecast`` so plans
and receipts show it was not a real forecast).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from ..errors import (
    AuthenticationError,
    BadDataError,
    ConfigurationError,
    ProviderError,
    UnknownRegionError,
)
from ..series import Basis, IntensityPoint, IntensitySeries, SignalKind
from ..timeutil import SYSTEM_CLOCK, Clock
from .http_provider import HttpProvider, as_secret, check_window
from .retry import RetryPolicy
from .sanity import RawPoint, Zeros, api_time, chunks, objects, parse_time
from .transport import Session

#: Longest range one /past-range request may ask for.
PAST_RANGE_CHUNK = timedelta(days=10)
FORECAST_ACCESS = "carbon-intensity/forecast"
HOUR = timedelta(hours=1)


class ElectricityMapsProvider(HttpProvider):
    """Electricity Maps carbon intensity.

    Args:
        api_key: the API token (sent as the ``auth-token`` header; never logged).
        region: an Electricity Maps zone such as ``"DE"`` or ``"US-CAL-CISO"``...
        lat, lon: ...or coordinates, which the API maps to a zone.
        emission_factor_type: ``"lifecycle"`` (default) or ``"direct"``.
        history_forecast: without forecast access, plan on the last day's measurements
            moved a day ahead instead of failing.
        base_url, timeout, retry: see :class:`~.http_provider.HttpProvider`.
        max_current_age: refuse ``current()`` readings that ended longer ago than this
            (default: 3 × the source's resolution, at least 30 minutes).
    """

    kind = "electricitymaps"
    forecast_horizon = timedelta(hours=24)
    default_base_url = "https://api.electricitymap.org"

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        region: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        emission_factor_type: str = "lifecycle",
        history_forecast: bool = False,
        base_url: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_current_age: timedelta | str | float | None = None,
    ) -> None:
        self._api_key = as_secret(api_key, "electricitymaps api_key")
        if not self._api_key or not self._api_key.get_secret_value():
            raise ConfigurationError(
                "electricitymaps needs api_key (an Electricity Maps API token; the free tier works "
                "for current and history)"
            )
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            clock=clock,
            max_current_age=max_current_age,
            credentials_hint="api_key (Electricity Maps token)",
            secrets=[self._api_key],
        )
        if (region is None) == (lat is None or lon is None):
            raise ConfigurationError(
                "electricitymaps needs exactly one of region (a zone such as 'DE') or lat and lon"
            )
        self.coordinates: tuple[float, float] | None = None
        if lat is not None and lon is not None:
            try:
                lat_f, lon_f = float(lat), float(lon)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"electricitymaps lat/lon must be numbers, got {lat!r}, {lon!r}"
                ) from None
            if not (
                math.isfinite(lat_f)
                and math.isfinite(lon_f)
                and -90 <= lat_f <= 90
                and -180 <= lon_f <= 180
            ):
                raise ConfigurationError(
                    f"electricitymaps lat={lat} lon={lon} are not valid coordinates"
                )
            self.coordinates = (lat_f, lon_f)
        if emission_factor_type not in ("lifecycle", "direct"):
            raise ConfigurationError(
                f"electricitymaps emission_factor_type must be 'lifecycle' or 'direct', got {emission_factor_type!r}"
            )
        self.emission_factor_type = emission_factor_type
        self.history_forecast = bool(history_forecast)
        self._zone = str(region) if region is not None else None

    @property
    def region(self) -> str:
        if self._zone:
            return self._zone
        assert self.coordinates is not None
        return f"{self.coordinates[0]:g},{self.coordinates[1]:g}"

    @property
    def signal(self) -> SignalKind:
        return (
            SignalKind.AVERAGE_DIRECT
            if self.emission_factor_type == "direct"
            else SignalKind.AVERAGE_LIFECYCLE
        )

    @property
    def _zeros(self) -> Zeros:
        # Lifecycle factors are never zero (even hydro and wind carry some); direct can be.
        return Zeros.SUSPECT_RUNS if self.emission_factor_type == "direct" else Zeros.MISSING

    def _headers(self) -> dict[str, str]:
        assert self._api_key is not None
        return {"auth-token": self._api_key.get_secret_value()}

    def _params(self, **extra: str) -> dict[str, str]:
        where = (
            {"zone": self._zone}
            if self._zone and not self.coordinates
            else {"lat": f"{self.coordinates[0]}", "lon": f"{self.coordinates[1]}"}  # type: ignore[index]
        )
        return {**where, "emissionFactorType": self.emission_factor_type, **extra}

    def _classify(self, response: httpx.Response, detail: str) -> ProviderError | None:
        if response.status_code in (401, 403) and "invalid auth-token" in detail.lower():
            return AuthenticationError(
                f"electricitymaps rejected the api_key (HTTP {response.status_code}: {detail}); "
                "check the token in your Electricity Maps account"
            )
        if response.status_code in (400, 404) and "zone" in detail.lower():
            return UnknownRegionError(
                f"electricitymaps does not know {self.region} (HTTP {response.status_code}: {detail}); "
                "use a zone key from https://api.electricitymap.org/v3/zones, e.g. 'DE'"
            )
        return None

    def _learn_zone(self, body: Any) -> None:
        if self.coordinates and isinstance(body, Mapping) and isinstance(body.get("zone"), str):
            self._zone = body["zone"]

    async def _current(self) -> IntensityPoint:
        async with self._http.session() as http:
            body = await http.get_json(
                "/v3/carbon-intensity/latest", params=self._params(), headers=self._headers()
            )
        if not isinstance(body, Mapping):
            raise BadDataError(
                "electricitymaps /latest did not answer with an object; check base_url"
            )
        self._learn_zone(body)
        series = self._series(
            [
                RawPoint(
                    parse_time(body.get("datetime"), "datetime", self.kind),
                    body.get("carbonIntensity"),
                    HOUR,
                )
            ],
            basis=Basis.MEASURED,
            what="latest intensity",
        )
        return series.points[0]

    async def _forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        async with self._http.session() as http:
            try:
                body = await http.get_json(
                    "/v3/carbon-intensity/forecast", params=self._params(), headers=self._headers()
                )
            except AuthenticationError:
                if not await self._lacks_forecast_access(http):
                    raise
                if not self.history_forecast:
                    raise AuthenticationError(
                        f"electricitymaps: your token's plan has no forecast access for {self.region} "
                        "(the free tier has none); upgrade the plan, set history_forecast=true to plan "
                        "on yesterday's measured intensity, or use a fallback source"
                    ) from None
                return await self._persistence_forecast(http)
        if not isinstance(body, Mapping) or not isinstance(body.get("forecast"), list):
            raise BadDataError(
                "electricitymaps /forecast answer has no 'forecast' list; check base_url"
            )
        self._learn_zone(body)
        updated = body.get("updatedAt")
        return self._series(
            self._raw(body["forecast"]),
            basis=Basis.FORECAST,
            resolution=HOUR,
            max_age=self.max_forecast_age,
            generated_at=parse_time(updated, "updatedAt", self.kind) if updated else None,
            what="forecast",
            forecast=True,
        )

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Measured hourly intensity from /past-range, in 10-day requests."""
        start, end = check_window(start, end)
        rows: list[Any] = []
        async with self._http.session() as http:
            for lo, hi in chunks(start, end, PAST_RANGE_CHUNK):
                body = await http.get_json(
                    "/v3/carbon-intensity/past-range",
                    params=self._params(start=api_time(lo), end=api_time(hi)),
                    headers=self._headers(),
                )
                self._learn_zone(body)
                if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
                    raise BadDataError(
                        "electricitymaps /past-range answer has no 'data' list; check base_url"
                    )
                rows.extend(body["data"])
        return self._series(
            self._raw(rows),
            basis=Basis.MEASURED,
            resolution=HOUR,
            what="history",
        ).between(start, end)

    async def _lacks_forecast_access(self, http: Session) -> bool:
        """True when the token is good but its plan may not read the forecast.

        ``/v3/zones`` answers with the token's ``access`` list per zone on current plans; many
        recorded answers (older plans, coordinate lookups) carry no such list. Then a token that
        ``/latest`` accepts proves the refusal was about the forecast, not the credentials.
        """
        try:
            zones = await http.get_json("/v3/zones", headers=self._headers())
        except ProviderError:
            zones = None
        zone = zones.get(self._zone) if isinstance(zones, Mapping) and self._zone else None
        access = zone.get("access") if isinstance(zone, Mapping) else None
        if isinstance(access, list):
            return FORECAST_ACCESS not in access
        try:
            self._learn_zone(
                await http.get_json(
                    "/v3/carbon-intensity/latest", params=self._params(), headers=self._headers()
                )
            )
        except ProviderError:
            return False
        return True

    async def _persistence_forecast(self, http: Session) -> IntensitySeries:
        """Yesterday's measured 24 hours, one day later: a baseline forecast, labelled as such."""
        body = await http.get_json(
            "/v3/carbon-intensity/history", params=self._params(), headers=self._headers()
        )
        if not isinstance(body, Mapping) or not isinstance(body.get("history"), list):
            raise BadDataError(
                "electricitymaps /history answer has no 'history' list; check base_url"
            )
        now = self.clock.now()
        shifted = [
            RawPoint(p.start + timedelta(days=1), p.value, p.duration)
            for p in self._raw(body["history"])
        ]
        return self._series(
            shifted,
            provider=f"{self.name}/history-forecast",
            basis=Basis.FORECAST,
            generated_at=now,
            now=now,
            resolution=HOUR,
            what="history-based forecast",
            forecast=True,
        )

    def _raw(self, rows: list[Any]) -> list[RawPoint]:
        raw = []
        for row in objects(rows, self.kind, "data point"):
            raw.append(
                RawPoint(
                    parse_time(row.get("datetime"), "datetime", self.kind),
                    row.get("carbonIntensity"),
                )
            )
        return raw
