"""The fault matrix: every provider × timeout, refused, 429, 500, malformed JSON, empty, zeros.

Each cell ends in the documented behaviour (docs/providers.md, "Resilience"):

============== ======================================= ================================
fault          behaviour                               retried?
============== ======================================= ================================
timeout        ProviderUnavailableError                yes, ``attempts`` times
refused        ProviderUnavailableError                yes
429            waits ≥ Retry-After, then succeeds      yes
500            ProviderUnavailableError                yes
malformed JSON BadDataError                            no
empty data     BadDataError                            no
zeros          BadDataError ("only zero" / "outage")   no
============== ======================================= ================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from cleanshift_core.errors import BadDataError, ProviderUnavailableError
from cleanshift_core.providers import (
    CarbonAwareSDKProvider,
    ElectricityMapsProvider,
    EnergiDataServiceProvider,
    UKCarbonIntensityProvider,
    WattTimeProvider,
)

from .conftest import BASE, NOW, sample


def _zeroed(body: Any, rows: Callable[[Any], list], key: str) -> Any:
    for row in rows(body):
        row[key] = 0
    return body


def _watttime_zeros() -> Any:
    body = sample("watttime_forecast.json")
    body["data"] = [
        {"point_time": (NOW + timedelta(minutes=5 * i)).isoformat(), "value": 0.0}
        for i in range(12 * 8)
    ]
    return body


def _casdk_zeros() -> Any:
    body = sample("casdk_emissions_forecasts_current.json")
    template = body[0]["forecastData"][0]
    body[0]["forecastData"] = [
        {**template, "timestamp": (NOW + timedelta(minutes=5 * i)).isoformat(), "value": 0}
        for i in range(12 * 8)
    ]
    return body


def _ukci_zeros() -> Any:
    body = sample("ukci_intensity_fw48h.json")
    for entry in body["data"]:
        entry["intensity"]["forecast"] = 0
    return body


@dataclass
class Case:
    name: str
    make: Callable[..., Any]
    path: str
    ok: Callable[[], Any]
    empty: Callable[[], Any]
    zeros: Callable[[], Any]
    setup: Callable[[respx.MockRouter], None] = lambda mock: None


def _watttime_login(mock: respx.MockRouter) -> None:
    mock.get("/login").respond(json=sample("watttime_login.json"))


CASES = [
    Case(
        "ukci",
        UKCarbonIntensityProvider,
        r"/intensity/[^/]+/fw48h$",
        lambda: sample("ukci_intensity_fw48h.json"),
        lambda: {"data": []},
        _ukci_zeros,
    ),
    Case(
        "electricitymaps",
        lambda **kw: ElectricityMapsProvider(api_key="k", region="DE", **kw),
        r"/v3/carbon-intensity/forecast$",
        lambda: sample("electricitymaps_forecast.json"),
        lambda: {**sample("electricitymaps_forecast.json"), "forecast": []},
        lambda: _zeroed(
            sample("electricitymaps_forecast.json"), lambda b: b["forecast"], "carbonIntensity"
        ),
    ),
    Case(
        "watttime",
        lambda **kw: WattTimeProvider(username="u", password="p", region="CAISO_NORTH", **kw),
        r"/v3/forecast$",
        lambda: sample("watttime_forecast.json"),
        lambda: {**sample("watttime_forecast.json"), "data": []},
        _watttime_zeros,
        _watttime_login,
    ),
    Case(
        "casdk",
        lambda **kw: CarbonAwareSDKProvider(region="westus", **kw),
        r"/emissions/forecasts/current$",
        lambda: sample("casdk_emissions_forecasts_current.json"),
        list,
        _casdk_zeros,
    ),
    Case(
        "energidataservice",
        lambda **kw: EnergiDataServiceProvider(region="DK1", **kw),
        r"/dataset/CO2EmisProg$",
        lambda: sample("energidataservice_co2emisprog.json"),
        lambda: {**sample("energidataservice_co2emisprog.json"), "records": []},
        lambda: _zeroed(
            sample("energidataservice_co2emisprog.json"), lambda b: b["records"], "CO2Emission"
        ),
    ),
]


@pytest.fixture(params=CASES, ids=lambda c: c.name)
def case(request) -> Case:
    return request.param


def provider(case: Case, clock, retry):
    return case.make(base_url=BASE, clock=clock, retry=retry)


async def forecast(case: Case, clock, retry, *responses: Any):
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        case.setup(mock)
        route = mock.get(path__regex=case.path).mock(side_effect=list(responses))
        try:
            return await provider(case, clock, retry).forecast(
                NOW, NOW + timedelta(minutes=30)
            ), route
        except Exception as exc:  # noqa: BLE001 - returned for the test to judge
            return exc, route


async def test_ok(case, clock, retry):
    series, route = await forecast(case, clock, retry, httpx.Response(200, json=case.ok()))
    assert not isinstance(series, Exception), series
    assert series.value_at(NOW) is not None and route.call_count == 1


async def test_timeout_is_retried_then_unavailable(case, clock, retry):
    exc, route = await forecast(case, clock, retry, *[httpx.ReadTimeout("slow")] * 3)
    assert isinstance(exc, ProviderUnavailableError) and "did not answer" in str(exc)
    assert route.call_count == retry.attempts


async def test_connection_refused_is_retried_then_unavailable(case, clock, retry):
    exc, route = await forecast(case, clock, retry, *[httpx.ConnectError("Connection refused")] * 3)
    assert isinstance(exc, ProviderUnavailableError) and "cannot reach" in str(exc)
    assert route.call_count == retry.attempts


async def test_429_waits_for_retry_after_then_succeeds(case, clock, retry):
    series, route = await forecast(
        case,
        clock,
        retry,
        httpx.Response(429, headers={"Retry-After": "5"}),
        httpx.Response(200, json=case.ok()),
    )
    assert not isinstance(series, Exception), series
    assert route.call_count == 2 and clock.sleeps[0] >= 5


async def test_500_is_retried_then_unavailable(case, clock, retry):
    exc, route = await forecast(
        case, clock, retry, *[httpx.Response(500, text="Internal Server Error")] * 3
    )
    assert isinstance(exc, ProviderUnavailableError) and "HTTP 500" in str(exc)
    assert route.call_count == retry.attempts


async def test_malformed_json_is_bad_data_without_retry(case, clock, retry):
    exc, route = await forecast(case, clock, retry, httpx.Response(200, text='{"data": [{"from": '))
    assert isinstance(exc, BadDataError) and route.call_count == 1


async def test_empty_data_is_bad_data(case, clock, retry):
    exc, _route = await forecast(case, clock, retry, httpx.Response(200, json=case.empty()))
    assert isinstance(exc, BadDataError) and "no forecast" in str(exc)


async def test_zeros_are_bad_data(case, clock, retry):
    exc, _route = await forecast(case, clock, retry, httpx.Response(200, json=case.zeros()))
    assert isinstance(exc, BadDataError)
    assert "only zero" in str(exc) or "outage" in str(exc)
