"""``Providers``: the one provider-or-locations choice every adapter plans through."""

from __future__ import annotations

import pytest

from cleanshift_core import (
    WINDOW_DEFAULTS,
    ConfigurationError,
    MockProvider,
    Providers,
    SchedulingRules,
    WindowRequest,
)

from .conftest import T0, FakeClock


def test_one_provider_or_locations_in_the_users_order():
    one = Providers.of("conn")
    assert one.provider == "conn" and one.locations is None
    located = Providers.of("ignored", {"b": "conn_b", "a": "conn_a"})
    assert located.locations == {"b": "conn_b", "a": "conn_a"}
    assert located.provider == "conn_b"  # the first listed: the fallback when none answers


def test_checked_uses_the_adapters_reference_check_and_names_the_location():
    def reference(value):
        if value == "bad":
            raise ConfigurationError("unknown provider 'bad'")
        return value.upper()

    assert Providers.checked("x", None, reference).by_label == {None: "X"}
    assert Providers.checked(None, {"a": "x"}, reference).by_label == {"a": "X"}
    with pytest.raises(ConfigurationError, match="location 'b': unknown provider 'bad'"):
        Providers.checked(None, {"a": "x", "b": "bad"}, reference)
    with pytest.raises(ConfigurationError, match="not both"):
        Providers.checked("x", {"a": "x"}, reference)
    with pytest.raises(ConfigurationError, match="non-empty mapping"):
        Providers.checked(None, {}, reference)
    with pytest.raises(ConfigurationError, match="labels must be non-empty strings"):
        Providers.checked(None, {" ": "x"}, reference)


async def test_plans_and_answers_for_the_chosen_location():
    clock = FakeClock(T0)
    refs = Providers.of(None, {"dirty": 500, "clean": 200})
    job = WindowRequest.create(duration="1h", max_delay="6h").job

    async def resolve(base: int) -> MockProvider:
        return MockProvider(base_intensity=base, amplitude=50, clock=clock)

    resolved = await refs.amap(resolve)
    plan = await resolved.plan(job, SchedulingRules(), clock)
    assert plan.location == "clean"
    assert refs.for_plan(plan) == 200  # waits, re-plans and receipts ask this one

    single = Providers.of(300).map(lambda base: MockProvider(base_intensity=base, clock=clock))
    plan = await single.plan(job, SchedulingRules(), clock)
    assert plan.location is None and single.for_plan(plan) is single.provider


def test_plain_kwargs_fill_the_left_out_arguments_with_the_defaults():
    filled = WindowRequest.plain_kwargs({"provider": "p", "duration": 60.0})
    assert filled["policy"] == WINDOW_DEFAULTS.policy == "min_carbon"
    assert filled["on_provider_error"] == WINDOW_DEFAULTS.on_provider_error
    assert WindowRequest.from_kwargs(filled) == WindowRequest.create(provider="p", duration="1m")
