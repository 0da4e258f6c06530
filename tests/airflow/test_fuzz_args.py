"""Hostile CarbonWindowSensor arguments: accepted, or refused when the DAG file is parsed with
cleanshift's typed one-line error; never a TypeError/OverflowError from inside."""

from __future__ import annotations

from datetime import timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from cleanshift_airflow.sensors import CarbonWindowSensor
from cleanshift_core import CleanshiftError

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
            "{{ ds }}",
            "2026-03-29T01:30:00+01:00",
            "not a date",
            "cleanshift_default",
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
)
finish = st.one_of(scalars, st.datetimes(), st.datetimes(timezones=st.just(timezone.utc)))
ARGS = [
    "max_delay",
    "policy",
    "max_intensity",
    "min_savings_pct",
    "on_provider_error",
    "replan_interval",
]


@settings(max_examples=80, deadline=None)
@given(providers, scalars, finish, st.dictionaries(st.sampled_from(ARGS), scalars, max_size=4))
def test_sensor_arguments_accept_or_refuse_cleanly(provider, duration, finish_by, kwargs):
    try:
        sensor = CarbonWindowSensor(
            task_id="window", provider=provider, duration=duration, finish_by=finish_by, **kwargs
        )
    except CleanshiftError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
        return
    assert sensor.window is not None
