"""Energi Data Service (Energinet, Denmark): no key, 5-minute intensity for DK1 and DK2.

``CO2EmisProg`` is Energinet's forecast (today and, after the afternoon update, tomorrow);
``CO2Emis`` is the measured value. Both are gCO2/kWh of consumed electricity (direct
emissions), newest first, with naive ``Minutes5UTC`` timestamps that are UTC.

The API reads ``start``/``end`` in Danish local time unless told otherwise; cleanshift asks
for UTC and also widens the request by two hours each side and keeps only the requested span
by ``Minutes5UTC``, so a daylight-saving misreading can never shift the data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..errors import BadDataError, ConfigurationError
from ..series import Basis, IntensityPoint, IntensitySeries, SignalKind
from ..timeutil import SYSTEM_CLOCK, Clock
from .http_provider import HttpProvider, check_window
from .retry import RetryPolicy
from .sanity import RawPoint, chunks, objects, parse_time

AREAS = ("DK1", "DK2")
FIVE_MINUTES = timedelta(minutes=5)
_MARGIN = timedelta(hours=2)
#: One request covers at most this much history (≈ 9 000 rows).
HISTORY_CHUNK = timedelta(days=31)


class EnergiDataServiceProvider(HttpProvider):
    """Danish grid intensity from Energi Data Service.

    Args:
        region: ``"DK1"`` (West Denmark) or ``"DK2"`` (East Denmark).
        base_url, timeout, retry: see :class:`~.http_provider.HttpProvider`.
        max_current_age: refuse ``current()`` readings that ended longer ago than this
            (default: 3 × the source's resolution, at least 30 minutes).
    """

    kind = "energidataservice"
    forecast_horizon = timedelta(hours=36)
    default_base_url = "https://api.energidataservice.dk"

    def __init__(
        self,
        region: str = "DK1",
        base_url: str | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_current_age: timedelta | str | float | None = None,
    ) -> None:
        area = str(region).upper()
        if area not in AREAS:
            raise ConfigurationError(f"energidataservice region must be DK1 or DK2, got {region!r}")
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            clock=clock,
            max_current_age=max_current_age,
        )
        self._region = area

    @property
    def region(self) -> str:
        return self._region

    @property
    def signal(self) -> SignalKind:
        return SignalKind.AVERAGE_DIRECT

    async def _current(self) -> IntensityPoint:
        now = self.clock.now()
        series = await self._dataset(
            "CO2Emis", now - timedelta(hours=1), now, Basis.MEASURED, "latest intensity"
        )
        return series.points[-1]

    async def _forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        return await self._dataset("CO2EmisProg", start, end, Basis.FORECAST, "forecast")

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        start, end = check_window(start, end)
        return (await self._dataset("CO2Emis", start, end, Basis.MEASURED, "history")).between(
            start, end
        )

    async def _dataset(
        self, name: str, start: datetime, end: datetime, basis: Basis, what: str
    ) -> IntensitySeries:
        records: list[Any] = []
        async with self._http.session() as http:
            for lo, hi in chunks(start, end, HISTORY_CHUNK):
                body = await http.get_json(
                    f"/dataset/{name}",
                    params={
                        "start": (lo - _MARGIN).strftime("%Y-%m-%dT%H:%M"),
                        "end": (hi + _MARGIN).strftime("%Y-%m-%dT%H:%M"),
                        "timezone": "UTC",
                        "filter": json.dumps({"PriceArea": [self._region]}),
                        "sort": "Minutes5UTC ASC",
                        "limit": 0,
                    },
                )
                if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
                    raise BadDataError(
                        f"energidataservice {name} answer has no 'records' list; check base_url"
                    )
                records.extend(body["records"])
        raw = []
        for record in objects(records, self.kind, "record"):
            if record.get("PriceArea") not in (None, self._region):
                continue
            stamp = parse_time(record.get("Minutes5UTC"), "Minutes5UTC", self.kind)
            if start - FIVE_MINUTES < stamp < end:
                raw.append(RawPoint(stamp, record.get("CO2Emission"), FIVE_MINUTES))
        raw.sort(key=lambda p: p.start)  # newest first is this API's default order, not a fault
        return self._series(
            raw,
            basis=basis,
            resolution=FIVE_MINUTES,
            max_age=self.max_forecast_age,
            what=what,
            forecast=basis is Basis.FORECAST,
        )
