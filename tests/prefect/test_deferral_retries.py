"""Creating a continuation against a busy Prefect API: transient failures (a 503 from a locked
SQLite server, a dropped connection) are asked again until the continuation exists, within a
budget that leaves the window time to be met; a request the API refuses as wrong is not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import httpx
import pytest
from prefect.client.schemas.objects import FlowRun

from cleanshift_core import JobSpec, SchedulingRules, plan_job
from cleanshift_core.cli import FixedClock
from cleanshift_core.providers import MockProvider
from cleanshift_prefect import deferral

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def answer(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/api/deployments/x/create_flow_run")
    response = httpx.Response(status, request=request)
    return httpx.HTTPStatusError(f"{status}", request=request, response=response)


@pytest.fixture
async def plan_in(request):
    """A plan whose window opens ``request.param`` seconds after NOW."""
    job = JobSpec(duration=timedelta(minutes=30), max_delay=timedelta(hours=12))
    plan = await plan_job(MockProvider(), job, SchedulingRules(), FixedClock(NOW))
    return plan.model_copy(update={"start": NOW + timedelta(seconds=request.param)})


def scripted(monkeypatch, outcomes):
    calls = []

    async def create(flow_run, plan):
        calls.append(plan.start)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(deferral, "_create_continuation", create)
    return calls


def a_deployment_run() -> FlowRun:
    return FlowRun(id=uuid4(), name="busy-day", flow_id=uuid4(), deployment_id=uuid4())


@pytest.mark.parametrize("plan_in", [3600], indirect=True)
async def test_a_busy_api_is_asked_again_until_the_continuation_exists(monkeypatch, plan_in):
    created = a_deployment_run()
    calls = scripted(
        monkeypatch, [answer(503), httpx.ConnectError("refused"), answer(429), created]
    )
    got = await deferral.schedule_continuation(a_deployment_run(), plan_in, NOW, first_wait=0.01)
    assert got is created and len(calls) == 4


@pytest.mark.parametrize("plan_in", [3600], indirect=True)
async def test_a_request_refused_as_wrong_is_not_retried(monkeypatch, plan_in):
    calls = scripted(monkeypatch, [answer(422), a_deployment_run()])
    with pytest.raises(httpx.HTTPStatusError):
        await deferral.schedule_continuation(a_deployment_run(), plan_in, NOW, first_wait=0.01)
    assert len(calls) == 1


@pytest.mark.parametrize("plan_in", [0.4], indirect=True)
async def test_retries_stop_within_half_the_time_left_to_the_window(monkeypatch, plan_in):
    calls = scripted(monkeypatch, [answer(503)] * 1000)
    started = datetime.now(timezone.utc)
    with pytest.raises(httpx.HTTPStatusError):
        await deferral.schedule_continuation(a_deployment_run(), plan_in, NOW, first_wait=0.01)
    assert (datetime.now(timezone.utc) - started).total_seconds() < 5  # budget 0.2 s + one wait
    assert 1 <= len(calls) < 1000
