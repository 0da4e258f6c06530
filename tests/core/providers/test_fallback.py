"""The fallback chain: priority order, the answering source recorded, signal consistency."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
import respx

from cleanshift_core.errors import ConfigurationError, ProviderUnavailableError
from cleanshift_core.job import JobSpec
from cleanshift_core.policies import SchedulingRules
from cleanshift_core.providers import FallbackProvider, MockProvider, ProviderSpec, build_provider
from cleanshift_core.scheduling import plan_job

from .conftest import BASE, NOW, sample

EDS = "http://eds.test"


def chain(clock, retry):
    """UK CI first, Energi Data Service second: both average/direct."""
    return FallbackProvider(
        sources=[
            {"kind": "ukci", "base_url": BASE, "clock": clock, "retry": retry},
            {"kind": "energidataservice", "base_url": EDS, "clock": clock, "retry": retry},
        ]
    )


async def test_first_source_answers(clock, retry):
    with respx.mock() as mock:
        mock.get(url__regex=rf"{BASE}/intensity/.*/fw48h").respond(
            json=sample("ukci_intensity_fw48h.json")
        )
        provider = chain(clock, retry)
        series = await provider.forecast(NOW, NOW + timedelta(hours=2))
    assert series.provider == "fallback→ukci" and provider.last_source == "ukci"


async def test_second_source_answers_when_the_first_fails_and_the_plan_records_it(
    clock, retry, caplog
):
    with respx.mock() as mock:
        mock.get(url__regex=rf"{BASE}/.*").respond(503)
        mock.get(url__regex=rf"{EDS}/dataset/CO2EmisProg.*").respond(
            json=sample("energidataservice_co2emisprog.json")
        )
        provider = chain(clock, retry)
        with caplog.at_level(logging.WARNING):
            plan = await plan_job(
                provider,
                JobSpec.create(duration="5m", max_delay="5m"),
                SchedulingRules(),
                clock=clock,
            )
    assert plan.provider == "fallback→energidataservice"
    assert provider.last_source == "energidataservice"
    assert "trying energidataservice" in caplog.text


async def test_every_source_failing_names_each_failure(clock, retry):
    with respx.mock() as mock:
        mock.get(url__regex=rf"{BASE}/.*").mock(side_effect=httpx.ConnectError("refused"))
        mock.get(url__regex=rf"{EDS}/.*").respond(json={"records": []})
        with pytest.raises(ProviderUnavailableError) as info:
            await chain(clock, retry).forecast(NOW, NOW + timedelta(hours=1))
    text = str(info.value)
    assert "ukci: ProviderUnavailableError" in text and "energidataservice: BadDataError" in text


async def test_history_falls_back_too(clock, retry):
    body = sample("energidataservice_co2emisprog.json")
    with respx.mock() as mock:
        mock.get(url__regex=rf"{BASE}/.*").respond(400, json=sample("ukci_error_400.json"))
        mock.get(url__regex=rf"{EDS}/dataset/CO2Emis\?.*").respond(json=body)
        series = await chain(clock, retry).history(NOW.replace(minute=0), NOW.replace(minute=15))
    assert series.provider == "fallback→energidataservice"


def test_a_list_spec_builds_a_chain_and_masks_nested_secrets():
    spec = ProviderSpec.parse(
        {
            "kind": "fallback",
            "sources": [
                "electricitymaps:api_key=nested-canary,region=DE,emission_factor_type=direct",
                {"kind": "ukci", "region": 13},
            ],
        }
    )
    assert "nested-canary" not in repr(spec) and "nested-canary" not in str(spec.public_options())
    provider = build_provider(spec)
    assert [s.kind for s in provider.sources] == ["electricitymaps", "ukci"]
    other = ProviderSpec.parse(
        {"kind": "fallback", "sources": ["electricitymaps:api_key=other,region=DE"]}
    )
    assert spec.fingerprint() != other.fingerprint()
    assert isinstance(build_provider(["ukci", "energidataservice"]), FallbackProvider)


def test_sources_of_different_signals_are_refused():
    with pytest.raises(ConfigurationError, match="different signals"):
        build_provider(["electricitymaps:api_key=k,region=DE", "ukci"])
    with pytest.raises(ConfigurationError, match="non-empty list"):
        FallbackProvider(sources=[])


def test_a_ready_provider_can_be_a_source():
    mock = MockProvider(region="X")
    assert FallbackProvider(sources=[mock]).sources == [mock]
