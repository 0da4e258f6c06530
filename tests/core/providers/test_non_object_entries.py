"""An entry of an API's list that is not a JSON object is bad data, named in the error, and
never retried: the one rule every HTTP provider applies (``sanity.objects``; UK CI its own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cleanshift_core.errors import BadDataError

from .test_fault_matrix import CASES, Case, forecast

#: Per provider: where its forecast answer keeps the list of entries.
ENTRIES: dict[str, Callable[[Any], list]] = {
    "ukci": lambda body: body["data"],
    "electricitymaps": lambda body: body["forecast"],
    "watttime": lambda body: body["data"],
    "casdk": lambda body: body[0]["forecastData"],
    "energidataservice": lambda body: body["records"],
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_a_non_object_entry_is_bad_data_named_in_the_error(case: Case, clock, retry):
    body = case.ok()
    ENTRIES[case.name](body)[1] = 4711
    exc, route = await forecast(case, clock, retry, httpx.Response(200, json=body))
    assert isinstance(exc, BadDataError), exc
    assert "non-object" in str(exc) and "4711" in str(exc) and case.name in str(exc)
    assert route.call_count == 1
