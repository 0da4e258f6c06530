"""Rescheduling a run to its window against a busy Prefect API: transient failures (a 503 from a
locked SQLite server, a dropped connection) are asked again until the run is rescheduled,
within a budget that leaves the window time to be met; a request the API refuses as wrong is
not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import httpx
import pytest
from prefect.states import Scheduled

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

    async def reschedule_once(flow_run_id, wait, message):
        calls.append(wait.plan.start)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(deferral, "_reschedule", reschedule_once)
    return calls


async def reschedule(plan):
    wait = deferral.PendingWait(plan)
    return await deferral.reschedule(uuid4(), wait, "waiting", NOW, first_wait=0.01)


@pytest.mark.parametrize("plan_in", [3600], indirect=True)
async def test_a_busy_api_is_asked_again_until_the_run_is_rescheduled(monkeypatch, plan_in):
    state = Scheduled(scheduled_time=plan_in.start)
    calls = scripted(monkeypatch, [answer(503), httpx.ConnectError("refused"), answer(429), state])
    assert await reschedule(plan_in) is state and len(calls) == 4


@pytest.mark.parametrize("plan_in", [3600], indirect=True)
async def test_a_request_refused_as_wrong_is_not_retried(monkeypatch, plan_in):
    calls = scripted(monkeypatch, [answer(422), Scheduled()])
    with pytest.raises(httpx.HTTPStatusError):
        await reschedule(plan_in)
    assert len(calls) == 1


@pytest.mark.parametrize("plan_in", [0.4], indirect=True)
async def test_retries_stop_within_half_the_time_left_to_the_window(monkeypatch, plan_in):
    calls = scripted(monkeypatch, [answer(503)] * 1000)
    started = datetime.now(timezone.utc)
    with pytest.raises(httpx.HTTPStatusError):
        await reschedule(plan_in)
    assert (datetime.now(timezone.utc) - started).total_seconds() < 5  # budget 0.2 s + one wait
    assert 1 <= len(calls) < 1000
