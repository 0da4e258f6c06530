"""WattTime API v3: marginal (MOER) or average (AOER) emissions at 5-minute resolution.

Login is HTTP basic auth on ``/login`` and returns a bearer token valid for 30 minutes. The
token is shared by every coroutine using this provider: one login at a time (a per-event-loop
lock, so concurrent callers wait for the same login instead of stampeding), renewed
:data:`TOKEN_REFRESH_BEFORE` ahead of expiry and again whenever the API answers 401/403 to it.
A refused login is an HTML 403 page, not JSON; it becomes an :class:`AuthenticationError`
asking for the username and password.

Values are lbs CO2/MWh and leave this module as gCO2/kWh (× 0.45359237). ``/v3/signal-index``
is a 0–100 percentile: it is only ever returned by :meth:`WattTimeProvider.signal_index`, and a
percentile arriving where an intensity is expected is refused.
"""

from __future__ import annotations

import asyncio
import math
import weakref
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

#: lbs/MWh → g/kWh: 453.59237 g per lb, 1000 kWh per MWh.
LBS_PER_MWH_TO_G_PER_KWH = 0.45359237
TOKEN_LIFETIME = timedelta(minutes=30)
TOKEN_REFRESH_BEFORE = timedelta(minutes=5)
#: /v3/historical serves at most this much per request.
HISTORICAL_CHUNK = timedelta(days=30)
MAX_HORIZON_HOURS = 72
FIVE_MINUTES = timedelta(minutes=5)
_SIGNALS = {"co2_moer": SignalKind.MARGINAL, "co2_aoer": SignalKind.AVERAGE_DIRECT}


class WattTimeProvider(HttpProvider):
    """WattTime emissions for one balancing-authority region.

    Args:
        username, password: the WattTime account (password never logged).
        region: a WattTime region such as ``"CAISO_NORTH"``...
        lat, lon: ...or coordinates, resolved once with ``/v3/region-from-loc``.
        signal_type: ``"co2_moer"`` (marginal, default) or ``"co2_aoer"`` (average).
        base_url, timeout, retry: see :class:`~.http_provider.HttpProvider`.
        max_current_age: refuse ``current()`` readings that ended longer ago than this
            (default: 3 × the source's resolution, at least 30 minutes).
    """

    kind = "watttime"
    forecast_horizon = timedelta(hours=24)
    default_base_url = "https://api.watttime.org"
    max_forecast_age = timedelta(hours=1)

    @property
    def _zeros(self) -> Zeros:
        """A marginal rate can really be zero (curtailment); only long zero runs are outages."""
        return Zeros.SUSPECT_RUNS

    def __init__(
        self,
        username: str | None = None,
        password: str | SecretStr | None = None,
        region: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        signal_type: str = "co2_moer",
        base_url: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_current_age: timedelta | str | float | None = None,
    ) -> None:
        self._password = as_secret(password, "watttime password")
        if not username or not self._password or not self._password.get_secret_value():
            raise ConfigurationError(
                "watttime needs username and password (a free account at https://watttime.org covers CAISO_NORTH)"
            )
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            clock=clock,
            max_current_age=max_current_age,
            credentials_hint="username and password",
            secrets=[self._password],
        )
        if (region is None) == (lat is None or lon is None):
            raise ConfigurationError(
                "watttime needs exactly one of region (e.g. 'CAISO_NORTH') or lat and lon"
            )
        if signal_type not in _SIGNALS:
            raise ConfigurationError(
                f"watttime signal_type must be one of {', '.join(_SIGNALS)}, got {signal_type!r}"
            )
        self.username = str(username)
        self.signal_type = signal_type
        self.coordinates: tuple[float, float] | None = None
        if lat is not None and lon is not None:
            try:
                self.coordinates = (float(lat), float(lon))
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"watttime lat/lon must be numbers, got {lat!r}, {lon!r}"
                ) from None
            if not all(math.isfinite(c) for c in self.coordinates):
                raise ConfigurationError(f"watttime lat/lon must be finite, got {lat!r}, {lon!r}")
        self._region = str(region) if region is not None else None
        self._token: SecretStr | None = None
        self._token_expires = self.clock.now()
        self._login_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        #: Logins performed (visible to tests and load reports).
        self.logins = 0

    @property
    def region(self) -> str:
        if self._region:
            return self._region
        assert self.coordinates is not None
        return f"{self.coordinates[0]:g},{self.coordinates[1]:g}"

    @property
    def signal(self) -> SignalKind:
        return _SIGNALS[self.signal_type]

    def _classify(self, response: httpx.Response, detail: str) -> ProviderError | None:
        path = response.request.url.path
        status = response.status_code
        if path.endswith("/login") and status in (401, 403):
            return AuthenticationError(
                f"watttime refused the login for user {self.username!r} (HTTP {status}); check "
                "username and password"
            )
        if status == 403 and "scope" in detail.lower():
            return UnknownRegionError(
                f"watttime: your plan has no access to {self.signal_type} for {self.region} ({detail}); "
                "pick a region your plan covers (GET /v3/my-access lists them; free accounts: CAISO_NORTH)"
            )
        if path.endswith("/region-from-loc") and status in (400, 404):
            return UnknownRegionError(
                f"watttime has no {self.signal_type} coverage at lat/lon {self.region} ({detail}); "
                "pass a region instead"
            )
        if status in (400, 404) and "region" in detail.lower():
            return UnknownRegionError(
                f"watttime does not know region {self.region!r} ({detail}); check region"
            )
        return None

    # ------------------------------------------------------------------ auth
    def _token_fresh(self, rejected: SecretStr | None) -> bool:
        return (
            self._token is not None
            and self._token is not rejected
            and self.clock.now() < self._token_expires - TOKEN_REFRESH_BEFORE
        )

    async def _bearer(self, http: Session, rejected: SecretStr | None = None) -> SecretStr:
        """A valid token; logs in at most once per expiry however many coroutines ask."""
        if self._token_fresh(rejected):
            return self._token  # type: ignore[return-value]
        loop = asyncio.get_running_loop()
        lock = self._login_locks.get(loop)
        if lock is None:
            lock = self._login_locks[loop] = asyncio.Lock()
        async with lock:
            if self._token_fresh(rejected):
                return self._token  # type: ignore[return-value]
            assert self._password is not None
            body = await http.get_json(
                "/login", auth=(self.username, self._password.get_secret_value())
            )
            token = body.get("token") if isinstance(body, Mapping) else None
            if not isinstance(token, str) or not token:
                raise BadDataError("watttime /login answered without a token; check base_url")
            self.logins += 1
            self._token = SecretStr(token)
            self._token_expires = self.clock.now() + TOKEN_LIFETIME
            self._http.set_secret("token", self._token)
            return self._token

    async def _get(self, http: Session, path: str, params: Mapping[str, Any]) -> Any:
        """GET with the bearer token; a 401/403 renews the token once and tries again."""
        token = await self._bearer(http)
        try:
            return await http.get_json(path, params=params, headers=_authorization(token))
        except AuthenticationError:
            token = await self._bearer(http, rejected=token)
            return await http.get_json(path, params=params, headers=_authorization(token))

    async def _region_id(self, http: Session) -> str:
        if self._region is None:
            assert self.coordinates is not None
            body = await self._get(
                http,
                "/v3/region-from-loc",
                {
                    "latitude": self.coordinates[0],
                    "longitude": self.coordinates[1],
                    "signal_type": self.signal_type,
                },
            )
            region = body.get("region") if isinstance(body, Mapping) else None
            if not isinstance(region, str) or not region:
                raise UnknownRegionError(
                    f"watttime found no region at {self.region}; pass region instead"
                )
            self._region = region
        return self._region

    # ------------------------------------------------------------------ data
    async def _current(self) -> IntensityPoint:
        now = self.clock.now()
        async with self._http.session() as http:
            series = await self._historical(
                http, now - timedelta(hours=1), now, what="latest intensity"
            )
        return series.points[-1]

    async def _forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        now = self.clock.now()
        hours = math.ceil((end - max(start, now)).total_seconds() / 3600)
        async with self._http.session() as http:
            region = await self._region_id(http)
            body = await self._get(
                http,
                "/v3/forecast",
                {
                    "region": region,
                    "signal_type": self.signal_type,
                    "horizon_hours": min(MAX_HORIZON_HOURS, max(1, hours)),
                },
            )
        meta = _meta(body)
        generated = meta.get("generated_at")
        return self._series(
            self._raw(body, meta),
            basis=Basis.FORECAST,
            now=now,
            generated_at=parse_time(generated, "generated_at", self.kind) if generated else None,
            resolution=_period(meta),
            max_age=self.max_forecast_age,
            what="forecast",
            forecast=True,
        )

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Measured emissions from /v3/historical, in 30-day requests."""
        start, end = check_window(start, end)
        async with self._http.session() as http:
            return (await self._historical(http, start, end, what="history")).between(start, end)

    async def _historical(
        self, http: Session, start: datetime, end: datetime, what: str
    ) -> IntensitySeries:
        region = await self._region_id(http)
        raw: list[RawPoint] = []
        meta: Mapping[str, Any] = {}
        for lo, hi in chunks(start, end, HISTORICAL_CHUNK):
            body = await self._get(
                http,
                "/v3/historical",
                {
                    "region": region,
                    "signal_type": self.signal_type,
                    "start": api_time(lo),
                    "end": api_time(hi),
                },
            )
            meta = _meta(body)
            raw.extend(self._raw(body, meta))
        return self._series(
            raw,
            basis=Basis.MEASURED,
            resolution=_period(meta),
            what=what,
        )

    async def signal_index(self) -> float:
        """The current 0–100 percentile of this region's emissions (100 = dirtiest).

        A relative index for "is now a good time", never an intensity: it is returned as a
        bare number and cannot enter a series, a plan or a receipt.
        """
        async with self._http.session() as http:
            region = await self._region_id(http)
            body = await self._get(
                http, "/v3/signal-index", {"region": region, "signal_type": self.signal_type}
            )
        data = body.get("data") if isinstance(body, Mapping) else None
        value = (
            data[-1].get("value")
            if isinstance(data, list) and data and isinstance(data[-1], Mapping)
            else None
        )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise BadDataError(
                f"watttime signal-index for {self.region} is not a 0-100 percentile: {value!r}"
            )
        return float(value)

    def _raw(self, body: Any, meta: Mapping[str, Any]) -> list[RawPoint]:
        units = meta.get("units")
        if units != "lbs_co2_per_mwh":
            raise BadDataError(
                f"watttime sent {units!r} where lbs_co2_per_mwh intensities were expected"
                + (
                    " (a percentile is a signal index, never an intensity)"
                    if units == "percentile"
                    else ""
                )
                + "; check base_url and signal_type"
            )
        data = body.get("data")
        if not isinstance(data, list):
            raise BadDataError("watttime answer has no 'data' list; check base_url")
        raw = []
        for row in objects(data, self.kind, "data point"):
            value = row.get("value")
            grams = (
                value * LBS_PER_MWH_TO_G_PER_KWH
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                else None
            )
            raw.append(
                RawPoint(
                    parse_time(row.get("point_time"), "point_time", self.kind), grams, _period(meta)
                )
            )
        return raw


def _authorization(token: SecretStr) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.get_secret_value()}"}


def _meta(body: Any) -> Mapping[str, Any]:
    meta = body.get("meta") if isinstance(body, Mapping) else None
    if not isinstance(meta, Mapping):
        raise BadDataError("watttime answer has no 'meta' object (units unknown); check base_url")
    return meta


def _period(meta: Mapping[str, Any]) -> timedelta:
    seconds = meta.get("data_point_period_seconds")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
        return timedelta(seconds=seconds)
    return FIVE_MINUTES
