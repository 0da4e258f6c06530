"""The shared resilience layer: retries, Retry-After, deadlines, typed errors, data sanity."""

from __future__ import annotations

import logging
import math
import socket
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx
from pydantic import SecretStr

from cleanshift_core.errors import (
    AuthenticationError,
    BadDataError,
    ConfigurationError,
    ProviderUnavailableError,
    RateLimitedError,
    StaleDataError,
    UnknownRegionError,
)
from cleanshift_core.providers import RetryPolicy, provider_deadline
from cleanshift_core.providers.deadline import current_deadline
from cleanshift_core.providers.retry import parse_retry_after
from cleanshift_core.providers.sanity import RawPoint, Zeros, build_series, parse_time
from cleanshift_core.providers.transport import Transport
from cleanshift_core.series import Basis, SignalKind

from .conftest import BASE, NOW, Clock


def transport(clock: Clock, retry: RetryPolicy, **kw) -> Transport:
    return Transport("testapi", BASE, timeout=5.0, retry=retry, clock=clock, **kw)


async def get(t: Transport, path: str = "/x"):
    async with t.session() as http:
        return await http.get_json(path)


# ---------------------------------------------------------------- retries
async def test_5xx_is_retried_with_growing_backoff_then_succeeds(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/x").mock(
            side_effect=[
                httpx.Response(503),
                httpx.Response(502),
                httpx.Response(200, json={"ok": 1}),
            ]
        )
        assert await get(transport(clock, retry)) == {"ok": 1}
    assert route.call_count == 3
    assert len(clock.sleeps) == 2
    assert 1.0 <= clock.sleeps[0] <= 1.1 and 2.0 <= clock.sleeps[1] <= 2.1


async def test_persistent_500_ends_in_unavailable_after_all_attempts(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/x").respond(500, text="boom")
        with pytest.raises(ProviderUnavailableError, match=r"HTTP 500.*gave up after 3 attempts"):
            await get(transport(clock, retry))
    assert route.call_count == 3


async def test_retry_after_seconds_is_honoured_as_minimum_wait(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/x").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "7"}),
                httpx.Response(200, json=[]),
            ]
        )
        assert await get(transport(clock, retry)) == []
    assert clock.sleeps and clock.sleeps[0] >= 7.0


async def test_retry_after_http_date_is_honoured(clock, retry):
    when = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    with respx.mock(base_url=BASE) as mock:
        mock.get("/x").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": when}),
                httpx.Response(200, json=[]),
            ]
        )
        await get(transport(clock, retry))
    assert 11.0 <= clock.sleeps[0] <= 13.0


async def test_retry_after_beyond_policy_raises_at_once_with_the_hint(clock):
    policy = RetryPolicy(attempts=5, max_retry_after=60, sleep=clock.sleep)
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/x").respond(429, headers={"Retry-After": "3600"})
        with pytest.raises(RateLimitedError) as info:
            await get(transport(clock, policy))
    assert route.call_count == 1 and clock.sleeps == []
    assert info.value.retry_after == 3600 and "3600s" in str(info.value)


async def test_no_retry_sleeps_past_the_callers_deadline(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/x").respond(429, headers={"Retry-After": "30"})
        with provider_deadline(NOW + timedelta(seconds=20)), pytest.raises(RateLimitedError):
            await get(transport(clock, retry))
    assert route.call_count == 1 and clock.sleeps == []
    assert clock.now() <= NOW + timedelta(seconds=20)


async def test_budget_caps_total_waiting(clock):
    policy = RetryPolicy(attempts=10, initial_backoff=4, jitter=0, budget=10, sleep=clock.sleep)
    with respx.mock(base_url=BASE) as mock:
        mock.get("/x").respond(503)
        with pytest.raises(ProviderUnavailableError):
            await get(transport(clock, policy))
    assert clock.sleeps == [4.0]  # the next wait (8 s) would end past the 10 s budget
    assert clock.now() - NOW <= timedelta(seconds=10)


async def test_nested_deadline_only_tightens():
    outer = NOW + timedelta(seconds=10)
    with provider_deadline(outer), provider_deadline(NOW + timedelta(seconds=99)):
        assert current_deadline() == outer


@pytest.mark.parametrize(
    "status, error",
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, UnknownRegionError),
        (400, UnknownRegionError),
    ],
)
async def test_client_errors_are_typed_and_not_retried(clock, retry, status, error):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/x").respond(status, json={"error": "nope"})
        with pytest.raises(error, match="nope"):
            await get(transport(clock, retry))
    assert route.call_count == 1


async def test_malformed_json_is_bad_data_and_not_retried(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/x").respond(200, text='{"data": [')
        with pytest.raises(BadDataError, match="not with JSON"):
            await get(transport(clock, retry))
    assert route.call_count == 1


async def test_timeouts_are_retried_then_unavailable(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/x").mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(ProviderUnavailableError, match="did not answer"):
            await get(transport(clock, retry))
    assert route.call_count == 3


async def test_connection_refused_over_real_socket(clock, retry):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    t = Transport("testapi", f"http://127.0.0.1:{port}", timeout=2.0, retry=retry, clock=clock)
    with pytest.raises(ProviderUnavailableError, match="cannot reach"):
        await get(t)
    assert len(clock.sleeps) == 2


async def test_secret_echoed_by_an_api_is_scrubbed(clock, retry, caplog):
    canary = SecretStr("canary-5ecret-XYZ")
    t = transport(clock, retry, secrets=[canary])
    with respx.mock(base_url=BASE) as mock:
        mock.get("/x").mock(
            side_effect=[httpx.Response(503, json={"error": "bad token canary-5ecret-XYZ"})] * 3
        )
        with caplog.at_level(logging.DEBUG), pytest.raises(ProviderUnavailableError) as info:
            await get(t)
    assert "canary-5ecret-XYZ" not in str(info.value) and "**********" in str(info.value)
    assert "canary-5ecret-XYZ" not in caplog.text


def test_retry_policy_validation_and_coercion():
    assert RetryPolicy.coerce({"attempts": 2}).attempts == 2
    with pytest.raises(ConfigurationError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ConfigurationError, match="unknown retry option"):
        RetryPolicy.coerce({"tries": 2})
    with pytest.raises(ConfigurationError, match="base_url"):
        Transport("x", "ftp://nope", timeout=1, retry=RetryPolicy(), clock=Clock())
    with pytest.raises(ConfigurationError, match="timeout"):
        Transport("x", BASE, timeout=0, retry=RetryPolicy(), clock=Clock())


def test_retry_after_parsing():
    assert parse_retry_after("5", NOW) == 5
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(format_datetime(NOW - timedelta(seconds=5), usegmt=True), NOW) == 0


def test_parse_time_reads_every_api_format():
    assert parse_time("2025-03-04T18:00Z", "t", "x") == parse_time(
        "2025-03-04T18:00:00.000Z", "t", "x"
    )
    assert parse_time("2025-03-04T18:06:12.5125+00:00", "t", "x").microsecond == 512500
    assert parse_time("2025-03-04T18:10:00", "t", "x").tzinfo is not None
    with pytest.raises(BadDataError):
        parse_time("yesterday", "t", "x")


# ---------------------------------------------------------------- data sanity
HOUR_START = NOW.replace(minute=0)


def points(values, minutes=30, start=HOUR_START):
    return [RawPoint(start + timedelta(minutes=minutes * i), v) for i, v in enumerate(values)]


def series(raw, **kw):
    args = {
        "provider": "p",
        "region": "R",
        "signal": SignalKind.AVERAGE_DIRECT,
        "basis": Basis.FORECAST,
        "now": NOW,
    }
    args.update(kw)
    return build_series(raw, **args)


def test_null_and_nan_are_dropped_bridged_and_logged_once(caplog):
    with caplog.at_level(logging.WARNING):
        s = series(points([200, None, 180, math.nan, 170, 160]))
    assert s.values == (200, 180, 170, 160)
    assert s.covers(NOW.replace(minute=0), NOW.replace(minute=0) + timedelta(hours=3))
    assert s.value_at(NOW.replace(minute=0) + timedelta(minutes=45)) == 200  # held across the hole
    assert len([r for r in caplog.records if "repaired" in r.getMessage()]) == 1
    assert any("dropped 2 unusable" in r for r in s.repairs)


def test_zero_on_an_average_grid_is_missing():
    s = series(points([200, 0, 190, 185]))
    assert 0 not in s.values


def test_long_gap_is_refused():
    with pytest.raises(BadDataError, match="gap"):
        series(points([200, None, None, None, 190, 185]))


def test_all_zero_answer_is_refused():
    with pytest.raises(BadDataError, match="only zero"):
        series(points([0, 0, 0]))


def test_long_zero_run_is_an_outage_where_zero_is_possible():
    outage = points([0.0] * 24, minutes=30)  # twelve hours of 0.0
    with pytest.raises(BadDataError, match="outage"):
        series(outage, signal=SignalKind.MARGINAL, zeros=Zeros.SUSPECT_RUNS)
    short = points([300, 0, 0, 310], minutes=30)  # an hour of curtailment is real
    assert series(short, signal=SignalKind.MARGINAL, zeros=Zeros.SUSPECT_RUNS).values == (
        300,
        0,
        0,
        310,
    )


def test_wrong_units_are_refused():
    """2 100 looks like lbs/MWh of a coal plant, not gCO2/kWh of any grid."""
    with pytest.raises(BadDataError, match="units look wrong"):
        series(points([950, 2100, 980]))


def test_unsorted_and_duplicate_points_are_repaired_explicitly():
    raw = points([200, 190, 180])
    raw = [raw[2], raw[0], raw[1], RawPoint(raw[1].start, 195)]
    s = series(raw)
    assert s.values == (200, 195, 180)
    assert any("sorted" in r for r in s.repairs) and any("duplicate" in r for r in s.repairs)


def test_empty_answer_is_bad_data():
    with pytest.raises(BadDataError, match="no forecast"):
        series([], what="forecast")


def test_stale_forecasts_are_refused():
    with pytest.raises(StaleDataError, match="stalled"):
        series(
            points([200, 190]),
            generated_at=NOW - timedelta(hours=8),
            max_age=timedelta(hours=6),
            forecast=True,
        )
    with pytest.raises(StaleDataError, match="before now"):
        series(points([200, 190], start=NOW - timedelta(hours=5)), forecast=True)
    assert (
        len(
            series(
                points([200, 190]),
                generated_at=NOW - timedelta(hours=1),
                max_age=timedelta(hours=6),
                forecast=True,
            )
        )
        == 2
    )


def test_a_past_window_is_never_stale_outside_a_forecast_request():
    """NESO's regional history carries basis forecast; lying in the past is what history does."""
    past = series(points([200, 190], start=NOW - timedelta(days=400)))
    assert past.values == (200, 190) and past.basis is Basis.FORECAST
