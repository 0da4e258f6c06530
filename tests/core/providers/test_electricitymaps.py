"""Electricity Maps v3: auth header, zone or coordinates, factor type, nulls, free tier."""

from __future__ import annotations

from datetime import timedelta

import pytest
import respx

from cleanshift_core.errors import AuthenticationError, ConfigurationError, UnknownRegionError
from cleanshift_core.providers import ElectricityMapsProvider, build_provider
from cleanshift_core.series import Basis, SignalKind

from .conftest import BASE, NOW, sample

KEY = "em-test-token"


def em(clock, retry, **kw):
    kw.setdefault("region", "DE")
    return ElectricityMapsProvider(api_key=KEY, base_url=BASE, clock=clock, retry=retry, **kw)


def history_body(hours: int = 24):
    """The /history shape for the last ``hours`` hours before NOW."""
    body = sample("electricitymaps_history.json")
    row = body["history"][0]
    start = NOW.replace(minute=0) - timedelta(hours=hours - 1)
    body["history"] = [
        {
            **row,
            "datetime": (start + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "carbonIntensity": 400 + i,
        }
        for i in range(hours)
    ]
    return body


async def test_forecast_sends_token_zone_and_factor_type(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v3/carbon-intensity/forecast").respond(
            json=sample("electricitymaps_forecast.json")
        )
        series = await em(clock, retry).forecast(NOW, NOW + timedelta(hours=6))
    request = route.calls.last.request
    assert request.headers["auth-token"] == KEY
    assert (
        request.url.params["zone"] == "DE"
        and request.url.params["emissionFactorType"] == "lifecycle"
    )
    assert series.values == (312, 318, 325, 331, 322, 304)
    assert series.signal is SignalKind.AVERAGE_LIFECYCLE and series.basis is Basis.FORECAST
    assert series.generated_at is not None and series.generated_at.isoformat().startswith(
        "2025-03-04T17:52:11"
    )
    assert series.ends[-1] - series.starts[-1] == 3600


async def test_coordinates_and_direct_factors(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/v3/carbon-intensity/forecast").respond(
            json=sample("electricitymaps_forecast.json")
        )
        provider = em(clock, retry, region=None, lat=52.52, lon=13.4, emission_factor_type="direct")
        assert provider.region == "52.52,13.4"
        series = await provider.forecast(NOW, NOW + timedelta(hours=6))
    params = route.calls.last.request.url.params
    assert params["lat"] == "52.52" and params["lon"] == "13.4" and "zone" not in params
    assert params["emissionFactorType"] == "direct"
    assert series.signal is SignalKind.AVERAGE_DIRECT
    assert provider.region == "DE"  # learned from the answer


async def test_null_intensities_are_bridged(clock, retry):
    body = sample("electricitymaps_forecast.json")
    body["forecast"][2]["carbonIntensity"] = None
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v3/carbon-intensity/forecast").respond(json=body)
        series = await em(clock, retry).forecast(NOW, NOW + timedelta(hours=6))
    assert series.values == (312, 318, 331, 322, 304)
    assert any("dropped 1" in r for r in series.repairs)


async def test_forecast_starting_later_is_prefixed_with_the_latest_measurement(clock, retry):
    body = sample("electricitymaps_forecast.json")
    body["forecast"] = body["forecast"][1:]  # first forecast hour is 19:00, now is 18:07
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v3/carbon-intensity/forecast").respond(json=body)
        mock.get("/v3/carbon-intensity/latest").respond(json=sample("electricitymaps_latest.json"))
        series = await em(clock, retry).forecast(NOW, NOW + timedelta(hours=4))
    assert series.value_at(NOW) == 302  # the latest measured value stands in for now
    assert series.values[:2] == (302, 318)
    assert any("prepended the latest measured value" in r for r in series.repairs)


async def test_invalid_token_is_an_authentication_error(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v3/carbon-intensity/latest").respond(
            401, json=sample("electricitymaps_error_invalid_token_401.json")
        )
        with pytest.raises(AuthenticationError, match=r"rejected the api_key.*Invalid auth-token"):
            await em(clock, retry).current()


async def test_free_tier_without_forecast_says_so(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v3/carbon-intensity/forecast").respond(403, json={"error": "Forbidden"})
        zones = mock.get("/v3/zones").respond(json=sample("electricitymaps_zones.json"))
        with pytest.raises(
            AuthenticationError, match=r"no forecast access for DE.*history_forecast=true"
        ):
            await em(clock, retry).forecast(NOW, NOW + timedelta(hours=6))
    assert zones.calls.last.request.headers["auth-token"] == KEY


async def test_free_tier_can_plan_on_a_history_based_forecast(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v3/carbon-intensity/forecast").respond(403, json={"error": "Forbidden"})
        mock.get("/v3/zones").respond(json=sample("electricitymaps_zones.json"))
        mock.get("/v3/carbon-intensity/history").respond(json=history_body())
        mock.get("/v3/carbon-intensity/latest").respond(json=sample("electricitymaps_latest.json"))
        series = await em(clock, retry, history_forecast=True).forecast(
            NOW, NOW + timedelta(hours=12)
        )
    assert series.provider == "electricitymaps/history-forecast"
    assert series.basis is Basis.FORECAST
    # History runs from yesterday 19:00 (400) to 18:00 today (423); moved a day ahead it
    # starts at 19:00 today, so the latest measurement (302) covers now.
    assert series.value_at(NOW) == 302
    assert series.value_at(NOW + timedelta(hours=5)) == 404
    assert series.value_at(NOW + timedelta(hours=23)) == 422


async def test_forecast_refusal_with_forecast_access_stays_an_auth_error(clock, retry):
    zones = sample("electricitymaps_zones.json")
    zones["DE"]["access"].append("carbon-intensity/forecast")
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v3/carbon-intensity/forecast").respond(
            401, json=sample("electricitymaps_error_invalid_token_401.json")
        )
        mock.get("/v3/zones").respond(json=zones)
        with pytest.raises(AuthenticationError, match="Invalid auth-token"):
            await em(clock, retry, history_forecast=True).forecast(NOW, NOW + timedelta(hours=6))


async def test_current_and_history(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v3/carbon-intensity/latest").respond(json=sample("electricitymaps_latest.json"))
        past = mock.get("/v3/carbon-intensity/past-range").respond(
            json=sample("electricitymaps_past_range.json")
        )
        provider = em(clock, retry)
        point = await provider.current()
        start = NOW.replace(day=20, month=2, hour=0, minute=0)
        series = await provider.history(start, start + timedelta(hours=6))
    assert point.value == 302 and point.duration == timedelta(hours=1)
    assert series.values == (369, 365, 361, 358, 362, 386) and series.basis is Basis.MEASURED
    assert past.calls.last.request.url.params["start"] == "2025-02-20T00:00:00Z"


async def test_long_history_is_fetched_in_10_day_ranges(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        past = mock.get("/v3/carbon-intensity/past-range").respond(
            json=sample("electricitymaps_past_range.json")
        )
        start = NOW.replace(day=10, month=2, hour=0, minute=0)
        await em(clock, retry).history(start, start + timedelta(days=15))
    assert past.call_count == 2
    assert past.calls[0].request.url.params["end"] == past.calls[1].request.url.params["start"]


async def test_unknown_zone(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/v3/carbon-intensity/latest").respond(
            404, json={"error": "Zone 'XX' does not exist"}
        )
        with pytest.raises(UnknownRegionError, match="zone key"):
            await em(clock, retry, region="XX").current()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"region": "DE"}, "needs api_key"),
        ({"api_key": "k"}, "exactly one of region"),
        ({"api_key": "k", "region": "DE", "lat": 1, "lon": 2}, "exactly one of region"),
        ({"api_key": "k", "lat": 91, "lon": 2}, "not valid coordinates"),
        ({"api_key": "k", "region": "DE", "emission_factor_type": "marginal"}, "lifecycle"),
        ({"api_key": "k", "region": "DE", "base_url": "api.example"}, "base_url"),
    ],
)
def test_options_are_validated_at_construction(options, message):
    with pytest.raises(ConfigurationError, match=message):
        build_provider({"kind": "electricitymaps", **options})
