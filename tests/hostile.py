"""Hostile argument values shared by the Airflow and Prefect fuzz tests: every front door must
accept them or refuse them with cleanshift's typed one-line error, so both draw from one list."""

from __future__ import annotations

from datetime import timezone

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

#: Strings that look like durations, policies, provider specs and times, valid or nearly so.
HOSTILE_STRINGS = [
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
]

#: The window arguments both adapters accept by keyword.
WINDOW_ARGS = [
    "max_delay",
    "policy",
    "max_intensity",
    "min_savings_pct",
    "on_provider_error",
    "replan_interval",
]


def scalars(*strings: str) -> SearchStrategy[object]:
    """Any scalar, plus :data:`HOSTILE_STRINGS` and the adapter's own ``strings``."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(),
        st.text(max_size=15),
        st.timedeltas(),
        st.sampled_from([*HOSTILE_STRINGS, *strings]),
    )


def providers(values: SearchStrategy[object]) -> SearchStrategy[object]:
    """A provider argument: a scalar, or a spec dict with known and unknown keys."""
    return st.one_of(
        values,
        st.dictionaries(
            st.sampled_from(["kind", "region", "speedup", "api_key", "path", "colour"]),
            values,
            max_size=3,
        ),
    )


def deadlines(values: SearchStrategy[object]) -> SearchStrategy[object]:
    """A ``finish_by``: naive and aware datetimes, or any scalar."""
    return st.one_of(values, st.datetimes(), st.datetimes(timezones=st.just(timezone.utc)))
