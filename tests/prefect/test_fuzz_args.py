"""Hostile decorator arguments: ``@carbon_window`` accepts them or refuses them at decoration
time with cleanshift's typed, one-line error; never a TypeError/OverflowError from inside."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cleanshift_core import CleanshiftError
from cleanshift_prefect import carbon_window
from tests import hostile

scalars = hostile.scalars("cleanshift-grid-intensity/", "cleanshift-grid-intensity/x")
providers = st.one_of(
    hostile.providers(scalars),
    st.lists(st.sampled_from(["mock", "nosuch", {"kind": "mock"}]), max_size=3),
)
finish = hostile.deadlines(scalars)
ARGS = ["duration", *hostile.WINDOW_ARGS, "power_kw", "min_deferral"]


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
