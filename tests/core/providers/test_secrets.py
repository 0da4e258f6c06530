"""Canary: plant secrets, drive every success and failure path, grep everything produced.

Everything a user or operator could ever see is collected — log records of every logger at
DEBUG (cleanshift, httpx, httpcore), exception messages, reprs and full tracebacks including
chained causes, provider and spec reprs, series metadata, and the JSON of plans made on top
of the failures — and none of it may contain a planted secret, even when an API echoes one.
"""

from __future__ import annotations

import logging
import traceback
from datetime import timedelta

import httpx
import pytest
import respx

from cleanshift_core.job import JobSpec
from cleanshift_core.policies import SchedulingRules
from cleanshift_core.providers import ProviderSpec, build_provider
from cleanshift_core.scheduling import plan_job

from .conftest import BASE, NOW, sample

API_KEY = "CANARY-em-key-7f3a9"
PASSWORD = "CANARY-wt-pass-c41d"
TOKEN = "CANARY-wt-bearer-b6e2"

EM_SPEC = f"electricitymaps:api_key={API_KEY},region=DE,base_url={BASE}"
WT_SPEC = {
    "kind": "watttime",
    "username": "ada",
    "password": PASSWORD,
    "region": "CAISO_NORTH",
    "base_url": BASE,
}

FAULTS = {
    "ok": None,
    "echoed_401": httpx.Response(401, json={"error": f"Invalid auth-token {API_KEY} {TOKEN}"}),
    "html_403": httpx.Response(403, text=sample("watttime_error_login_403.html")),
    "scope_403": httpx.Response(403, json=sample("watttime_error_invalid_scope_403.json")),
    "429": httpx.Response(
        429, headers={"Retry-After": "1"}, json={"message": f"slow down {PASSWORD}"}
    ),
    "500": httpx.Response(500, text=f"trace: key={API_KEY} token={TOKEN}"),
    "timeout": httpx.ReadTimeout("timed out"),
    "refused": httpx.ConnectError("Connection refused"),
    "malformed": httpx.Response(200, text=f"<html>{API_KEY}{TOKEN}</html>"),
    "empty": httpx.Response(
        200, json={"data": [], "forecast": [], "meta": {"units": "lbs_co2_per_mwh"}}
    ),
}


def fault_response(name: str, ok_body):
    fault = FAULTS[name]
    if fault is None:
        return httpx.Response(200, json=ok_body)
    if isinstance(fault, Exception):
        raise fault
    return fault


def collect(seen: list[str], value) -> None:
    if isinstance(value, BaseException):
        seen.append(str(value))
        seen.append(repr(value))
        seen.append("".join(traceback.format_exception(type(value), value, value.__traceback__)))
    else:
        seen.append(repr(value))
        seen.append(str(value))


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("which", ["electricitymaps", "watttime", "watttime-login", "fallback"])
async def test_no_secret_escapes(fault, which, clock, retry, caplog):
    seen: list[str] = []
    specs = {
        "electricitymaps": EM_SPEC,
        "watttime": WT_SPEC,
        "watttime-login": WT_SPEC,
        "fallback": {"kind": "fallback", "sources": [WT_SPEC, WT_SPEC]},
    }
    spec = ProviderSpec.parse(specs[which])
    collect(seen, spec)
    seen.append(str(spec.public_options()))
    provider = build_provider(spec)
    for source in getattr(provider, "sources", [provider]):
        source._http.retry = retry  # instant retries on the fake clock
        source.clock = source._http.clock = clock
    login_fault = which == "watttime-login"
    with caplog.at_level(logging.DEBUG), respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.get("/login").mock(
            side_effect=lambda request: (
                fault_response(fault, {"token": TOKEN})
                if login_fault
                else httpx.Response(200, json={"token": TOKEN})
            )
        )
        bodies = {
            "/v3/carbon-intensity/forecast": sample("electricitymaps_forecast.json"),
            "/v3/carbon-intensity/latest": sample("electricitymaps_latest.json"),
            "/v3/zones": sample("electricitymaps_zones.json"),
            "/v3/forecast": sample("watttime_forecast.json"),
            "/v3/historical": sample("watttime_historical.json"),
        }
        for path, body in bodies.items():
            mock.get(path).mock(
                side_effect=lambda request, body=body: (
                    httpx.Response(200, json=body) if login_fault else fault_response(fault, body)
                )
            )
        for call in (
            lambda: provider.forecast(NOW, NOW + timedelta(hours=1)),
            provider.current,
            lambda: provider.history(NOW - timedelta(hours=2), NOW),
        ):
            try:
                collect(seen, await call())
            except Exception as exc:  # noqa: BLE001 - every failure is inspected
                collect(seen, exc)
        plan = await plan_job(
            provider, JobSpec.create(duration="30m", max_delay="1h"), SchedulingRules(), clock=clock
        )
        seen.append(plan.model_dump_json())
    collect(seen, provider)
    seen.append(repr(vars(provider)))
    seen.append(caplog.text)
    seen.extend(record.getMessage() for record in caplog.records)
    blob = "\n".join(seen)
    # A provider can only scrub what it holds: the EM key, the WattTime password, and the
    # token once a login has handed it over (a failing login never received one).
    planted = {"electricitymaps": (API_KEY,), "watttime-login": (PASSWORD,)}.get(
        which, (PASSWORD, TOKEN)
    )
    for canary in planted:
        assert canary not in blob, f"{canary} leaked ({which}, {fault})"
    assert len(blob) > 200  # the paths really produced output to search
