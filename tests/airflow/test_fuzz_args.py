"""Hostile CarbonWindowSensor arguments: accepted, or refused when the DAG file is parsed with
cleanshift's typed one-line error; never a TypeError/OverflowError from inside."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cleanshift_airflow.sensors import CarbonWindowSensor
from cleanshift_core import CleanshiftError
from tests import hostile

scalars = hostile.scalars(
    "{{ ds }}", "2026-03-29T01:30:00+01:00", "not a date", "cleanshift_default"
)
providers = hostile.providers(scalars)
finish = hostile.deadlines(scalars)
ARGS = hostile.WINDOW_ARGS


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
