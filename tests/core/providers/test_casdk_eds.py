"""Carbon Aware SDK WebAPI and Energi Data Service: field-exact bodies, parameters, errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import respx

from cleanshift_core.errors import BadDataError, ConfigurationError, UnknownRegionError
from cleanshift_core.providers import (
    CarbonAwareSDKProvider,
    EnergiDataServiceProvider,
    build_provider,
)
from cleanshift_core.series import Basis, SignalKind

from .conftest import BASE, NOW, sample


def casdk(clock, retry, **kw):
    return CarbonAwareSDKProvider(region="westus", base_url=BASE, clock=clock, retry=retry, **kw)


# ---------------------------------------------------------------- Carbon Aware SDK
async def test_casdk_forecast_uses_location_singular_and_minute_durations(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/emissions/forecasts/current").respond(
            json=sample("casdk_emissions_forecasts_current.json")
        )
        series = await casdk(clock, retry).forecast(NOW, NOW + timedelta(minutes=30))
    params = route.calls.last.request.url.params
    assert params["location"] == "westus" and "locations" not in params
    assert series.values[:2] == (431.8199, 430.0056)
    assert series.ends[0] - series.starts[0] == 300
    assert series.signal is SignalKind.MARGINAL and series.basis is Basis.FORECAST
    assert series.generated_at == datetime(2025, 3, 4, 18, 5, tzinfo=timezone.utc)


async def test_casdk_history_reads_hh_mm_ss_durations(clock, retry):
    body = sample("casdk_emissions_bylocations.json")[:1]
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/emissions/bylocations").respond(json=body)
        start = datetime(2025, 3, 4, 18, 5, tzinfo=timezone.utc)
        series = await casdk(clock, retry).history(start, start + timedelta(minutes=5))
    params = route.calls.last.request.url.params
    assert params["time"] == "2025-03-04T18:05:00Z" and params["toTime"] == "2025-03-04T18:10:00Z"
    assert series.values == (431.82,) and series.basis is Basis.MEASURED
    assert series.ends[0] - series.starts[0] == 300


async def test_casdk_best_average_and_batch(clock, retry):
    batch = sample("casdk_emissions_forecasts_batch.json")
    template = batch[0]["forecastData"][0]
    start = datetime(2025, 3, 3, 14, 0, tzinfo=timezone.utc)
    batch[0]["forecastData"] = [
        {
            **template,
            "timestamp": (start + timedelta(minutes=30 * i)).isoformat(),
            "value": 431.2 - i,
        }
        for i in range(8)
    ]
    with respx.mock(base_url=BASE) as mock:
        mock.get("/emissions/bylocations/best").respond(
            json=sample("casdk_emissions_bylocations_best.json")
        )
        mock.get("/emissions/average-carbon-intensity").respond(
            json=sample("casdk_emissions_average_carbon_intensity.json")
        )
        posted = mock.post("/emissions/forecasts/batch").respond(json=batch)
        provider = casdk(clock, retry)
        best = await provider.best(NOW, NOW + timedelta(hours=4))
        average = await provider.average(start, start + timedelta(hours=4))
        past = await provider.forecast_made_at(
            datetime(2025, 3, 3, 12, 1, tzinfo=timezone.utc), start, start + timedelta(hours=4)
        )
    assert best.value == 431.82 and average == 412.5731
    expected = sample("casdk_emissions_forecasts_batch_request.json")
    sent = json.loads(posted.calls.last.request.content)
    assert [{k: v for k, v in r.items() if k != "windowSize"} for r in expected] == sent
    assert len(past) == 8 and past.generated_at == datetime(2025, 3, 3, 12, 0, tzinfo=timezone.utc)


async def test_casdk_problem_details_become_a_region_error(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/emissions/forecasts/current").respond(
            400,
            json=sample("casdk_error_400.json"),
            headers={"Content-Type": "application/problem+json"},
        )
        with pytest.raises(UnknownRegionError, match="Location 'nowhere' not found"):
            await CarbonAwareSDKProvider(
                region="nowhere", base_url=BASE, clock=clock, retry=retry
            ).forecast(NOW, NOW + timedelta(hours=1))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"region": "westus"}, "needs base_url"),
        ({"base_url": BASE}, "needs region"),
        ({"base_url": BASE, "region": "westus", "signal": "percentile"}, "signal must be"),
    ],
)
def test_casdk_options_are_validated(options, message):
    with pytest.raises(ConfigurationError, match=message):
        build_provider({"kind": "casdk", **options})


# ---------------------------------------------------------------- Energi Data Service
async def test_eds_forecast_sorts_newest_first_records_and_filters_the_area(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/dataset/CO2EmisProg").respond(
            json=sample("energidataservice_co2emisprog.json")
        )
        series = await EnergiDataServiceProvider(
            region="dk1", base_url=BASE, clock=clock, retry=retry
        ).forecast(NOW - timedelta(minutes=7), NOW + timedelta(minutes=8))
    params = route.calls.last.request.url.params
    assert json.loads(params["filter"]) == {"PriceArea": ["DK1"]} and params["timezone"] == "UTC"
    assert series.values == (149.0, 145.0, 142.0)  # 18:00, 18:05, 18:10 UTC
    assert series.starts[0] == datetime(2025, 3, 4, 18, 0, tzinfo=timezone.utc).timestamp()
    assert series.signal is SignalKind.AVERAGE_DIRECT and series.region == "DK1"
    assert series.repairs == ()  # newest-first is the API's order, not a repair


async def test_eds_history_reads_co2emis(clock, retry):
    body = sample("energidataservice_co2emisprog.json")
    body["dataset"] = "CO2Emis"
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/dataset/CO2Emis").respond(json=body)
        start = datetime(2025, 3, 4, 18, 0, tzinfo=timezone.utc)
        series = await EnergiDataServiceProvider(base_url=BASE, clock=clock, retry=retry).history(
            start, start + timedelta(minutes=15)
        )
    assert route.called and series.basis is Basis.MEASURED and len(series) == 3


async def test_eds_ignores_records_of_the_other_area(clock, retry):
    body = sample("energidataservice_co2emisprog.json")
    body["records"][0]["PriceArea"] = "DK2"
    body["records"][0]["CO2Emission"] = 999.0
    with respx.mock(base_url=BASE) as mock:
        mock.get("/dataset/CO2EmisProg").respond(json=body)
        series = await EnergiDataServiceProvider(base_url=BASE, clock=clock, retry=retry).forecast(
            NOW, NOW + timedelta(minutes=3)
        )
    assert 999.0 not in series.values


def test_eds_region_is_validated():
    with pytest.raises(ConfigurationError, match="DK1 or DK2"):
        build_provider("energidataservice:region=DK3")


async def test_eds_empty_records_are_bad_data(clock, retry):
    body = sample("energidataservice_co2emisprog.json")
    body["records"] = []
    with respx.mock(base_url=BASE) as mock:
        mock.get("/dataset/CO2EmisProg").respond(json=body)
        with pytest.raises(BadDataError, match="no forecast for DK1"):
            await EnergiDataServiceProvider(base_url=BASE, clock=clock, retry=retry).forecast(
                NOW, NOW + timedelta(hours=1)
            )
