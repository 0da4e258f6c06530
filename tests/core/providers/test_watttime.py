"""WattTime v3: login and token life, unit conversion, scopes, region lookup, signal index."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
import respx

from cleanshift_core.errors import (
    AuthenticationError,
    BadDataError,
    ConfigurationError,
    UnknownRegionError,
)
from cleanshift_core.providers import WattTimeProvider, build_provider
from cleanshift_core.series import Basis, SignalKind

from .conftest import BASE, NOW, sample

LB = 0.45359237


def wt(clock, retry, **kw):
    kw.setdefault("region", "CAISO_NORTH")
    return WattTimeProvider(
        username="ada", password="wt-pass", base_url=BASE, clock=clock, retry=retry, **kw
    )


def login(mock, token: str | None = None):
    body = sample("watttime_login.json")
    if token:
        body["token"] = token
    return mock.get("/login").respond(json=body)


async def test_forecast_logs_in_converts_lbs_per_mwh_and_keeps_generated_at(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        auth = login(mock)
        route = mock.get("/v3/forecast").respond(json=sample("watttime_forecast.json"))
        series = await wt(clock, retry).forecast(NOW, NOW + timedelta(hours=1))
    assert auth.calls.last.request.headers["Authorization"].startswith("Basic ")
    token = sample("watttime_login.json")["token"]
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {token}"
    assert (
        request.url.params["region"] == "CAISO_NORTH"
        and request.url.params["signal_type"] == "co2_moer"
    )
    assert series.values[0] == pytest.approx(952.0 * LB)  # 431.82 g/kWh, not 952
    assert series.signal is SignalKind.MARGINAL and series.basis is Basis.FORECAST
    assert (
        series.generated_at is not None
        and series.generated_at.isoformat() == "2025-03-04T18:05:00+00:00"
    )
    assert series.ends[0] - series.starts[0] == 300


async def test_token_is_reused_then_refreshed_before_expiry(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        auth = login(mock)
        mock.get("/v3/forecast").respond(json=sample("watttime_forecast.json"))
        provider = wt(clock, retry)
        await provider.forecast(NOW, NOW + timedelta(hours=1))
        clock.current += timedelta(minutes=20)
        body = sample("watttime_forecast.json")
        body["meta"]["generated_at"] = "2025-03-04T18:25:00+00:00"
        mock.get("/v3/forecast").respond(json=body)
        await provider.forecast(clock.now(), clock.now() + timedelta(minutes=30))
        assert auth.call_count == 1
        clock.current += timedelta(minutes=6)  # 26 min after login: inside the refresh margin
        body["meta"]["generated_at"] = "2025-03-04T18:30:00+00:00"
        await provider.forecast(clock.now(), clock.now() + timedelta(minutes=5))
    assert auth.call_count == 2 and provider.logins == 2


async def test_401_on_data_renews_the_token_once(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/login").mock(
            side_effect=[
                httpx.Response(200, json={"token": "first"}),
                httpx.Response(200, json={"token": "second"}),
            ]
        )
        data = mock.get("/v3/forecast").mock(
            side_effect=[
                httpx.Response(401, json={"error": "token expired"}),
                httpx.Response(200, json=sample("watttime_forecast.json")),
            ]
        )
        provider = wt(clock, retry)
        await provider.forecast(NOW, NOW + timedelta(hours=1))
    assert [c.request.headers["Authorization"] for c in data.calls] == [
        "Bearer first",
        "Bearer second",
    ]
    assert provider.logins == 2


async def test_concurrent_callers_share_one_login(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        auth = login(mock)
        mock.get("/v3/forecast").respond(json=sample("watttime_forecast.json"))
        provider = wt(clock, retry)
        results = await asyncio.gather(
            *(provider.forecast(NOW, NOW + timedelta(hours=1)) for _ in range(25))
        )
    assert len(results) == 25 and auth.call_count == 1


async def test_login_refused_with_an_html_page(clock, retry):
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.get("/login").respond(
            403, text=sample("watttime_error_login_403.html"), headers={"Content-Type": "text/html"}
        )
        data = mock.get("/v3/forecast")
        with pytest.raises(
            AuthenticationError, match=r"refused the login for user 'ada'.*username and password"
        ):
            await wt(clock, retry).forecast(NOW, NOW + timedelta(hours=1))
    assert not data.called


async def test_region_outside_the_plan_is_an_access_error(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        auth = login(mock)
        mock.get("/v3/forecast").respond(403, json=sample("watttime_error_invalid_scope_403.json"))
        with pytest.raises(
            UnknownRegionError, match=r"no access to co2_moer for PJM_DC.*CAISO_NORTH"
        ):
            await wt(clock, retry, region="PJM_DC").forecast(NOW, NOW + timedelta(hours=1))
    assert auth.call_count == 1  # an access error is not a stale token


async def test_region_from_coordinates(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        login(mock)
        loc = mock.get("/v3/region-from-loc").respond(json=sample("watttime_region_from_loc.json"))
        data = mock.get("/v3/forecast").respond(json=sample("watttime_forecast.json"))
        provider = wt(clock, retry, region=None, lat=38.5, lon=-121.5)
        await provider.forecast(NOW, NOW + timedelta(hours=1))
        await provider.forecast(NOW, NOW + timedelta(hours=1))
    assert loc.call_count == 1 and loc.calls.last.request.url.params["latitude"] == "38.5"
    assert data.calls.last.request.url.params["region"] == "CAISO_NORTH"
    assert provider.region == "CAISO_NORTH"


async def test_coordinates_without_coverage(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        login(mock)
        mock.get("/v3/region-from-loc").respond(
            404, json=sample("watttime_region_from_loc_error_no_coverage.json")
        )
        with pytest.raises(UnknownRegionError, match="No coverage available"):
            await wt(clock, retry, region=None, lat=0, lon=0).forecast(
                NOW, NOW + timedelta(hours=1)
            )


async def test_history_in_30_day_chunks_and_converted(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        login(mock)
        route = mock.get("/v3/historical").respond(json=sample("watttime_historical.json"))
        start = NOW.replace(hour=16, minute=5)
        series = await wt(clock, retry).history(start, start + timedelta(minutes=30))
        assert series.values == pytest.approx([v * LB for v in (952, 948, 951, 957, 966, 971)])
        assert series.basis is Basis.MEASURED
        await wt(clock, retry).history(NOW - timedelta(days=45), NOW)
    assert route.call_count == 3  # one, then two 30-day chunks


async def test_average_signal_type_reads_hourly_aoer(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        login(mock)
        mock.get("/v3/historical").respond(json=sample("watttime_historical_aoer_imputed.json"))
        start = NOW.replace(day=3, hour=14, minute=0)
        series = await wt(clock, retry, region="CAISO", signal_type="co2_aoer").history(
            start, start + timedelta(hours=2)
        )
    assert series.signal is SignalKind.AVERAGE_DIRECT
    assert series.values == pytest.approx([512.4 * LB, 498.9 * LB])
    assert series.ends[0] - series.starts[0] == 3600


async def test_signal_index_is_a_percentile_and_never_an_intensity(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        login(mock)
        mock.get("/v3/signal-index").respond(json=sample("watttime_signal_index.json"))
        provider = wt(clock, retry)
        assert await provider.signal_index() == 78.0
        # A percentile served where intensities are expected is refused, never planned on.
        mock.get("/v3/forecast").respond(json=sample("watttime_signal_index.json"))
        with pytest.raises(BadDataError, match="percentile is a signal index"):
            await provider.forecast(NOW, NOW + timedelta(hours=1))


async def test_forecast_is_prefixed_with_the_latest_measurement_when_it_starts_later(clock, retry):
    clock.current = NOW.replace(minute=4)  # the 18:05 forecast run has not started yet
    with respx.mock(base_url=BASE) as mock:
        login(mock)
        mock.get("/v3/forecast").respond(json=sample("watttime_forecast.json"))
        hist = sample("watttime_historical.json")
        hist["data"] = [{"point_time": "2025-03-04T18:00:00+00:00", "value": 1000.0}]
        mock.get("/v3/historical").respond(json=hist)
        series = await wt(clock, retry).forecast(clock.now(), clock.now() + timedelta(hours=1))
    assert series.value_at(clock.now()) == pytest.approx(1000.0 * LB)


async def test_an_outage_serving_zeros_is_refused(clock, retry):
    body = sample("watttime_forecast.json")
    body["data"] = [
        {"point_time": (NOW.replace(minute=5) + timedelta(minutes=5 * i)).isoformat(), "value": 0.0}
        for i in range(288)
    ]
    with respx.mock(base_url=BASE) as mock:
        login(mock)
        mock.get("/v3/forecast").respond(json=body)
        with pytest.raises(BadDataError, match="outage"):
            await wt(clock, retry).forecast(NOW, NOW + timedelta(hours=24))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"region": "CAISO_NORTH"}, "username and password"),
        ({"username": "u", "password": "p"}, "exactly one of region"),
        (
            {"username": "u", "password": "p", "region": "X", "signal_type": "health_damage"},
            "signal_type",
        ),
    ],
)
def test_options_are_validated_at_construction(options, message):
    with pytest.raises(ConfigurationError, match=message):
        build_provider({"kind": "watttime", **options})
