"""Hostile decorator arguments: ``@carbon_window`` accepts them or refuses them at decoration
time with cleanshift's typed, one-line error; never a TypeError/OverflowError from inside."""

from __future__ import annotations

from datetime import timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from cleanshift_core import CleanshiftError
from cleanshift_prefect import carbon_window

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.text(max_size=15),
    st.timedeltas(),
    st.sampled_from(
        [
            "2h",
            "0s",
            "-5m",
            "1e400",
            "nan",
            "PT1H",
            "01:00:00",
            "min_carbon",
            "threshold",
            "run_now",
            "fail",
            "mock",
            "mock:speedup=0",
            "cleanshift-grid-intensity/",
            "cleanshift-grid-intensity/x",
        ]
    ),
)
providers = st.one_of(
    scalars,
    st.dictionaries(
        st.sampled_from(["kind", "region", "speedup", "api_key", "path", "colour"]),
        scalars,
        max_size=3,
    ),
    st.lists(st.sampled_from(["mock", "nosuch", {"kind": "mock"}]), max_size=3),
)
finish = st.one_of(
    st.none(), st.datetimes(), st.datetimes(timezones=st.just(timezone.utc)), scalars
)
ARGS = [
    "duration",
    "max_delay",
    "policy",
    "max_intensity",
    "min_savings_pct",
    "on_provider_error",
    "power_kw",
    "replan_interval",
    "min_deferral",
]


@settings(max_examples=60, deadline=None)
@given(providers, finish, st.dictionaries(st.sampled_from(ARGS), scalars, max_size=5))
def test_decorator_arguments_accept_or_refuse_cleanly(provider, finish_by, kwargs):
    try:
        decorate = carbon_window(provider, finish_by=finish_by, **kwargs)
    except CleanshiftError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
        return

    async def job() -> None: ...

    assert callable(decorate(job))


def test_a_far_deadline_is_refused_at_decoration_not_at_run_time():
    try:
        carbon_window(duration="1h", max_delay=timedelta(days=10**6))
    except CleanshiftError as exc:
        assert "max_delay" in str(exc)
    else:
        raise AssertionError("a million-day max_delay was accepted")
