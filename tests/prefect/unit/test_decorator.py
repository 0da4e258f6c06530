"""Decoration time: bad arguments fail with fix-it messages; @flow/@task compose either way."""

from __future__ import annotations

import inspect
import re
from datetime import datetime, timedelta

import pytest
from prefect import Flow, Task, flow, task

from cleanshift_core import ConfigurationError
from cleanshift_prefect import ArtifactKeys, carbon_window


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
