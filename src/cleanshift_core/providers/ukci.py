"""UK Carbon Intensity API (NESO): the zero-signup real provider for Great Britain.

No key. Half-hourly average intensity (direct operational emissions, as NESO computes it),
forecast 48 hours ahead, nationally or for one of NESO's 17 regions, chosen by region id or by
an outward postcode. Regional answers come in two shapes — ``data`` as a list holding one
region object, or ``data`` as the region object itself — and both are read.

NESO publishes measured ("actual") values only nationally; regional history is NESO's own
retrospective estimate, so it keeps ``basis="forecast"`` and receipts say so.
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
from .sanity import RawPoint, Zeros, api_time, chunks, parse_time

#: The API serves at most this much per /intensity/{from}/{to} request.
HISTORY_CHUNK = timedelta(days=14)
_POSTCODE = re.compile(r"[A-Z]{1,2}[0-9][0-9A-Z]?")


class UKCarbonIntensityProvider(HttpProvider):
    """NESO carbon intensity for GB.

    Args:
        region: ``"national"`` (default) or a NESO region id 1–17 (e.g. 13 = London).
        postcode: an outward postcode (``"SW1"``, ``"RG10"``) instead of a region id.
        base_url: API root (tests point it at 127.0.0.1).
        timeout: seconds per request.
        retry: a :class:`RetryPolicy` or a dict of its fields.
        max_current_age: refuse ``current()`` readings that ended longer ago than this
            (default: 3 × the source's resolution, at least 30 minutes).
    """

    kind = "ukci"
    forecast_horizon = timedelta(hours=48)
    default_base_url = "https://api.carbonintensity.org.uk"

    def __init__(
        self,
        region: str | int = "national",
        postcode: str | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_current_age: timedelta | str | float | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            clock=clock,
            max_current_age=max_current_age,
        )
        self.region_id: int | None = None
        self.postcode: str | None = None
        if postcode is not None:
            if str(region).lower() != "national":
                raise ConfigurationError(
                    "ukci takes either region (an id 1-17) or postcode, not both"
                )
            code = str(postcode).strip().upper().split(" ")[0]
            if not _POSTCODE.fullmatch(code):
                raise ConfigurationError(
                    f"ukci postcode {postcode!r} is not an outward postcode; use the first part, e.g. 'SW1' or 'RG10'"
                )
            self.postcode = code
        elif str(region).lower() != "national":
            try:
                self.region_id = int(region)
            except (TypeError, ValueError):
                self.region_id = -1
            if not 1 <= self.region_id <= 17:
                raise ConfigurationError(
                    f"ukci region {region!r} is not 'national' or a NESO region id 1-17 "
                    "(e.g. 13 = London); or pass postcode='SW1'"
                )

    @property
    def region(self) -> str:
        if self.postcode:
            return f"GB-postcode-{self.postcode}"
        return f"GB-{self.region_id}" if self.region_id else "GB"

    @property
    def signal(self) -> SignalKind:
        return SignalKind.AVERAGE_DIRECT

    @property
    def _regional(self) -> bool:
        return self.region_id is not None or self.postcode is not None

    @property
    def _zeros(self) -> Zeros:
        # A wind-and-hydro region (North Scotland) is routinely 0; the whole of GB never is.
        return Zeros.ALLOWED if self._regional else Zeros.MISSING

    def _suffix(self) -> str:
        if self.postcode:
            return f"/postcode/{self.postcode}"
        return f"/regionid/{self.region_id}" if self.region_id else ""

    def _classify(self, response: httpx.Response, detail: str) -> ProviderError | None:
        if response.status_code == 400:
            return UnknownRegionError(
                f"ukci rejected the request for {self.region} (HTTP 400: {detail}); check region "
                "(an id 1-17 or 'national') or postcode (an outward code such as 'SW1')"
            )
        return None

    async def _current(self) -> IntensityPoint:
        path = f"/regional{self._suffix()}" if self._regional else "/intensity"
        async with self._http.session() as http:
            body = await http.get_json(path)
        entries = self._entries(body)
        if not entries:
            raise BadDataError(f"ukci returned no current intensity for {self.region}; try later")
        series = self._series(
            self._raw(entries[-1:], prefer_actual=True),
            basis=Basis.MEASURED,
            what="current intensity",
        )
        return series.points[-1]

    async def _forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        prefix = "/regional/intensity" if self._regional else "/intensity"
        path = f"{prefix}/{api_time(start, minutes=True)}/fw48h{self._suffix()}"
        async with self._http.session() as http:
            body = await http.get_json(path)
        return self._series(
            self._raw(self._entries(body), prefer_actual=False),
            basis=Basis.FORECAST,
            max_age=self.max_forecast_age,
            what="forecast",
            forecast=True,
        )

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Measured national intensity (``actual``); regional: NESO's estimate (basis forecast)."""
        start, end = check_window(start, end)
        prefix = "/regional/intensity" if self._regional else "/intensity"
        entries: list[Mapping[str, Any]] = []
        async with self._http.session() as http:
            for lo, hi in chunks(start, end, HISTORY_CHUNK):
                path = f"{prefix}/{api_time(lo, minutes=True)}/{api_time(hi, minutes=True)}{self._suffix()}"
                entries.extend(self._entries(await http.get_json(path)))
        return self._series(
            self._raw(entries, prefer_actual=not self._regional, actual_only=not self._regional),
            basis=Basis.FORECAST if self._regional else Basis.MEASURED,
            what="history",
        ).between(start, end)

    def _entries(self, body: Any) -> list[Mapping[str, Any]]:
        """The half-hour entries of any response shape (national list, regional list/object)."""
        data = body.get("data") if isinstance(body, Mapping) else None
        if isinstance(data, Mapping):
            data = [data]
        if not isinstance(data, list):
            raise BadDataError(
                f"ukci answer for {self.region} has no 'data' list; the API shape changed?"
            )
        entries: list[Mapping[str, Any]] = []
        for item in data:
            if not isinstance(item, Mapping):
                raise BadDataError(
                    f"ukci answer for {self.region} holds a non-object entry {item!r}"
                )
            if "intensity" in item:
                entries.append(item)
            elif isinstance(item.get("data"), list):
                entries.extend(e for e in item["data"] if isinstance(e, Mapping))
            elif isinstance(item.get("regions"), list):
                entries.extend(self._pick_region(item))
        return entries

    def _pick_region(self, slot: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """One half-hour of the all-regions answer, reduced to our region."""
        for region in slot["regions"]:
            if isinstance(region, Mapping) and region.get("regionid") == self.region_id:
                return [
                    {
                        "from": slot.get("from"),
                        "to": slot.get("to"),
                        "intensity": region.get("intensity"),
                    }
                ]
        return []

    def _raw(
        self, entries: list[Mapping[str, Any]], *, prefer_actual: bool, actual_only: bool = False
    ) -> list[RawPoint]:
        raw = []
        for entry in entries:
            start = parse_time(entry.get("from"), "'from' time", "ukci")
            stop = parse_time(entry.get("to"), "'to' time", "ukci")
            intensity = entry.get("intensity")
            if not isinstance(intensity, Mapping):
                intensity = {}
            value = intensity.get("actual") if prefer_actual else None
            if value is None and not actual_only:
                value = intensity.get("forecast")
            raw.append(RawPoint(start, value, stop - start if stop > start else None))
        return raw
