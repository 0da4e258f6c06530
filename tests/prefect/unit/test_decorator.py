"""``@carbon_window`` at decoration time: bad arguments (locations and energy modes too) fail
with fix-it messages, hostile ones are accepted or refused with one typed line, and @flow/@task
compose either way."""

from __future__ import annotations

import inspect
import re
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prefect import Flow, Task, flow, task

from cleanshift_core import CleanshiftError, ConfigurationError
from cleanshift_prefect import ArtifactKeys, carbon_window
from tests import hostile


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration": "soon"}, "is not a duration; use e.g. '2h'"),
        ({"duration": 0}, "duration must be positive"),
        ({"max_delay": "forever"}, "max_delay='forever' is not a duration"),
        ({"finish_by": datetime(2030, 1, 1)}, "is naive; pass a timezone-aware datetime"),
        ({"policy": "greenest"}, "unknown policy 'greenest'; choose one of"),
        ({"policy": "threshold"}, "policy='threshold' needs max_intensity"),
        (
            {"policy": "halt_if_dirty", "max_intensity": 200},
            "use policy='min_carbon' or 'threshold'",
        ),
        ({"min_savings_pct": 150}, "min_savings_pct must be between 0 and 100"),
        ({"on_provider_error": "retry"}, "unknown on_provider_error 'retry'; choose one of"),
        ({"power_kw": -3}, "power_kw must be a positive number of kilowatts"),
        ({"replan_interval": timedelta(0)}, "replan_interval must be positive"),
        ({"min_deferral": timedelta(seconds=-1)}, "min_deferral must be zero or positive"),
        ({"provider": "nosuch"}, "unknown provider 'nosuch'; choose one of"),
        ({"provider": {"kind": "mock", "colour": "green"}}, "does not take option(s) colour"),
        ({"provider": "mock:speedup"}, "has no value; write options as key=value"),
        ({"provider": "cleanshift-grid-intensity/"}, "names no block"),
    ],
)
def test_bad_arguments_fail_when_the_decorator_is_built(kwargs, message):
    with pytest.raises(ConfigurationError) as caught:
        carbon_window(**kwargs)
    assert message in str(caught.value)


def test_bad_targets_fail_when_decorated():
    with pytest.raises(ConfigurationError, match="decorates a function, a @flow or a @task"):
        carbon_window()(42)

    def rows():
        yield 1

    with pytest.raises(ConfigurationError, match="cannot wrap the generator 'rows'"):
        carbon_window()(rows)


def test_decorator_under_flow_keeps_the_signature_and_options():
    @flow(name="nightly-etl", retries=2)
    @carbon_window("mock", duration="2h", max_delay="8h")
    async def nightly(day: str, limit: int = 10) -> int:
        return limit

    assert isinstance(nightly, Flow) and nightly.name == "nightly-etl" and nightly.retries == 2
    assert inspect.iscoroutinefunction(nightly.fn)
    assert list(nightly.parameters.properties) == ["day", "limit"]


def test_decorator_over_flow_and_task_returns_them_with_their_options():
    @task(name="score", retries=3, tags=["gpu"])
    def score(batch: int) -> int:
        return batch

    @flow(name="infer", log_prints=True)
    def infer(n: int) -> int:
        return n

    wrapped_task = carbon_window(duration="30m")(score)
    wrapped_flow = carbon_window(duration="30m")(infer)
    assert isinstance(wrapped_task, Task) and (
        wrapped_task.name,
        wrapped_task.retries,
        wrapped_task.tags,
    ) == (
        "score",
        3,
        {"gpu"},
    )
    assert (
        isinstance(wrapped_flow, Flow) and wrapped_flow.name == "infer" and wrapped_flow.log_prints
    )
    assert wrapped_task.fn is not score.fn and wrapped_task.fn.__wrapped__ is score.fn
    assert list(wrapped_flow.parameters.properties) == ["n"]


def test_bare_decorator_uses_the_defaults():
    @carbon_window
    def job() -> str:
        return "done"

    assert job.__name__ == "job" and job.__wrapped__ is not None


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Nightly ETL (EU)", "nightly-etl-eu"), ("score_batch", "score-batch"), ("__", "cleanshift")],
)
def test_artifact_keys_are_valid_prefect_keys(name, slug):
    keys = ArtifactKeys.for_name(name)
    assert keys.receipt == f"{slug}-carbon-receipt"
    for key in (keys.deferral, keys.progress, keys.receipt, keys.report):
        assert re.fullmatch(r"[a-z0-9-]+", key)


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


def test_locations_are_validated_at_decoration():
    with pytest.raises(ConfigurationError, match="not both"):
        carbon_window("mock", locations={"a": "mock"})
    with pytest.raises(ConfigurationError, match="location 'b'"):
        carbon_window(locations={"a": "mock", "b": "nope:x=1"})
    with pytest.raises(ConfigurationError, match="non-empty mapping"):
        carbon_window(locations={})


def test_bad_energy_mode_fails_at_decoration():
    with pytest.raises(ConfigurationError, match="energy must be 'nominal'"):
        carbon_window("mock", energy="watts")
