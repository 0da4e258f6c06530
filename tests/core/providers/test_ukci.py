"""UK Carbon Intensity (NESO): national and regional shapes, history chunks, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
import respx

from cleanshift_core.errors import BadDataError, ConfigurationError, UnknownRegionError
from cleanshift_core.providers import UKCarbonIntensityProvider, build_provider
from cleanshift_core.series import Basis, SignalKind

from .conftest import BASE, NOW, sample


def ukci(clock, retry, **kw):
    return UKCarbonIntensityProvider(base_url=BASE, clock=clock, retry=retry, **kw)


async def test_national_forecast_reads_fw48h(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/intensity/2025-03-04T18:07Z/fw48h").respond(
            json=sample("ukci_intensity_fw48h.json")
        )
        series = await ukci(clock, retry).forecast(NOW, NOW + timedelta(hours=3))
    assert route.called
    assert series.values == (182, 175, 161, 142, 128, 117)  # forecasts, not the one actual
    assert series.basis is Basis.FORECAST and series.signal is SignalKind.AVERAGE_DIRECT
    assert series.provider == "ukci" and series.region == "GB"
    assert series.ends[0] - series.starts[0] == 1800
    assert series.value_at(NOW) == 182  # covers now


async def test_regional_forecast_by_postcode_reads_data_as_object(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/regional/intensity/2025-03-04T18:07Z/fw48h/postcode/SW1").respond(
            json=sample("ukci_regional_intensity_fw48h_postcode.json")
        )
        series = await ukci(clock, retry, postcode="sw1 1aa").forecast(
            NOW, NOW + timedelta(hours=1)
        )
    assert route.called
    assert series.values == (214, 205) and series.region == "GB-postcode-SW1"


async def test_regional_forecast_by_region_id_reads_data_as_list(clock, retry):
    body = sample("ukci_regional_intensity_fw48h_postcode.json")
    body["data"] = [body["data"]]  # the other documented shape
    with respx.mock(base_url=BASE) as mock:
        mock.get("/regional/intensity/2025-03-04T18:07Z/fw48h/regionid/13").respond(json=body)
        series = await ukci(clock, retry, region=13).forecast(NOW, NOW + timedelta(hours=1))
    assert series.values == (214, 205) and series.region == "GB-13"


async def test_current_prefers_the_measured_actual(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/intensity").respond(json=sample("ukci_intensity.json"))
        point = await ukci(clock, retry).current()
    assert point.value == 176 and point.duration == timedelta(minutes=30)


async def test_regional_current_list_shape(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        mock.get("/regional/postcode/SW1").respond(json=sample("ukci_regional_postcode.json"))
        point = await ukci(clock, retry, postcode="SW1").current()
    assert point.value == 214


async def test_zero_is_routine_in_north_scotland(clock, retry):
    """Region 1 (wind and hydro) is often 0 gCO2/kWh: a regional zero is data, not a fault."""
    with respx.mock(base_url=BASE) as mock:
        mock.get("/regional/regionid/1").respond(json=sample("ukci_regional.json"))
        point = await ukci(clock, retry, region="1").current()
    assert point.value == 0


async def test_national_zeros_are_refused(clock, retry):
    body = sample("ukci_intensity_fw48h.json")
    for entry in body["data"]:
        entry["intensity"]["forecast"] = 0
    with respx.mock(base_url=BASE) as mock:
        mock.get(url__regex=r"/intensity/.*/fw48h$").respond(json=body)
        with pytest.raises(BadDataError, match="only zero"):
            await ukci(clock, retry).forecast(NOW, NOW + timedelta(hours=3))


async def test_history_uses_actuals_in_14_day_chunks(clock, retry):
    start = NOW - timedelta(days=20)
    with respx.mock(base_url=BASE) as mock:
        route = mock.get(url__regex=r"/intensity/[^/]+/[^/]+$").respond(
            json=sample("ukci_intensity_from_to.json")
        )
        await ukci(clock, retry).history(start, NOW)
        paths = [call.request.url.path for call in route.calls]
    assert len(paths) == 2
    first_to, second_from = paths[0].split("/")[3], paths[1].split("/")[2]
    assert first_to == second_from  # contiguous chunks


async def test_history_values_are_measured(clock, retry):
    sample_start = NOW.replace(day=3, hour=0, minute=0)
    with respx.mock(base_url=BASE) as mock:
        mock.get("/intensity/2025-03-03T00:00Z/2025-03-03T01:00Z").respond(
            json=sample("ukci_intensity_from_to.json")
        )
        series = await ukci(clock, retry).history(sample_start, sample_start + timedelta(hours=1))
    assert series.values == (118, 115) and series.basis is Basis.MEASURED


async def test_regional_history_is_labelled_as_an_estimate(clock, retry):
    body = sample("ukci_regional_intensity_fw48h_postcode.json")
    with respx.mock(base_url=BASE) as mock:
        mock.get(url__regex=r"/regional/intensity/[^/]+/[^/]+/regionid/13$").respond(json=body)
        series = await ukci(clock, retry, region=13).history(
            NOW.replace(minute=0), NOW.replace(minute=0) + timedelta(hours=1)
        )
    assert series.basis is Basis.FORECAST


async def test_400_body_becomes_a_region_error_with_the_apis_words(clock, retry):
    with respx.mock(base_url=BASE) as mock:
        route = mock.get(url__regex=r"/intensity/.*").respond(
            400, json=sample("ukci_error_400.json")
        )
        with pytest.raises(UnknownRegionError, match="valid ISO 8601 datetime"):
            await ukci(clock, retry).forecast(NOW, NOW + timedelta(hours=1))
    assert route.call_count == 1


@pytest.mark.parametrize(
    "options, message",
    [
        ({"region": 18}, "region id 1-17"),
        ({"region": "London"}, "region id 1-17"),
        ({"postcode": "not a postcode"}, "outward postcode"),
        ({"region": 13, "postcode": "SW1"}, "not both"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_options_are_validated_at_construction(options, message):
    with pytest.raises(ConfigurationError, match=message):
        build_provider({"kind": "ukci", **options})
