"""Deployment mode: move the flow's work to a scheduled run at the window's start and exit.

A flow run that came from a deployment (served or on a worker) does not wait in its process:
it creates a *continuation*, a new run of the same deployment with the same parameters, in a
``Scheduled`` state named ``Carbon window`` at the planned start, and ends ``Completed`` with
the state name ``Deferred``. The process and its infrastructure are released; the runner or
worker starts the continuation when the window opens. The continuation finds the plan in its
flow-run ``context`` (set when it was created) and runs the work without planning again.

This is the public client call ``run_deployment`` makes (``create_flow_run_from_deployment``
with a ``Scheduled`` state), plus the ``context`` field to carry the plan, which
``run_deployment`` does not expose. An idempotency key makes a retried deferral reuse the
continuation it already created instead of scheduling the work twice; that is what makes it safe
to keep retrying a busy Prefect API (after the client's own retries) for a while, rather than
failing a run whose only fault is that the server was momentarily overloaded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Scheduled, State
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

from cleanshift_core import Plan

#: Key of cleanshift's entry in a continuation's flow-run context.
CONTEXT_KEY = "cleanshift"
#: Tag on every continuation, so they are easy to filter in the UI and the API.
CONTINUATION_TAG = "cleanshift-continuation"
#: Name of the continuation's Scheduled state (its type stays SCHEDULED).
WAITING_STATE_NAME = "Carbon window"
#: Name of the deferring run's final state (its type is COMPLETED: deferring is not failing).
DEFERRED_STATE_NAME = "Deferred"
#: Longest time a deferral keeps asking a busy API (never more than half the wait).
MAX_DEFERRAL_RETRY = timedelta(minutes=5)
#: Answers that mean "the server is busy or restarting", not "this request is wrong".
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def continuation_plan(flow_run: FlowRun) -> Plan | None:
    """The plan a deferring run left for this run, if it is a continuation."""
    entry = (flow_run.context or {}).get(CONTEXT_KEY)
    if not isinstance(entry, dict) or "plan" not in entry:
        return None
    return Plan.model_validate(entry["plan"])


def deferred_from(flow_run: FlowRun) -> str | None:
    """Id of the run that deferred its work to this one."""
    entry = (flow_run.context or {}).get(CONTEXT_KEY)
    return entry.get("deferred_from") if isinstance(entry, dict) else None


def is_transient(error: BaseException) -> bool:
    """A failure worth asking again: no connection, a timeout, or a busy-server answer."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in TRANSIENT_STATUS
    return isinstance(error, httpx.TransportError)


async def schedule_continuation(
    flow_run: FlowRun, plan: Plan, now: datetime, *, first_wait: float = 1.0
) -> FlowRun:
    """Create the continuation of ``flow_run`` at ``plan.start`` (idempotently).

    Transient API failures are retried with jittered exponential backoff for up to
    :data:`MAX_DEFERRAL_RETRY` or half the time left to the window, whichever is shorter; then
    the last error is raised and the run fails (flow ``retries`` apply as usual).
    """
    if flow_run.deployment_id is None:
        raise ValueError("only a flow run created from a deployment can be deferred")
    budget = min(MAX_DEFERRAL_RETRY, (plan.start - now) / 2).total_seconds()
    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_delay(max(budget, 0.0)),
        wait=wait_random_exponential(multiplier=first_wait, max=30),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await _create_continuation(flow_run, plan)
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


async def _create_continuation(flow_run: FlowRun, plan: Plan) -> FlowRun:
    context: dict[str, Any] = {
        CONTEXT_KEY: {"plan": plan.model_dump(mode="json"), "deferred_from": str(flow_run.id)}
    }
    assert flow_run.deployment_id is not None  # only deployment runs are deferred
    async with get_client() as client:
        return await client.create_flow_run_from_deployment(
            flow_run.deployment_id,
            parameters=flow_run.parameters,
            context=context,
            state=Scheduled(scheduled_time=plan.start, name=WAITING_STATE_NAME),
            name=f"{flow_run.name}-continued",
            tags=sorted({*flow_run.tags, CONTINUATION_TAG}),
            idempotency_key=f"cleanshift-continuation-of-{flow_run.id}",
            work_queue_name=flow_run.work_queue_name,
            job_variables=flow_run.job_variables or None,
        )


def deferred_state(plan: Plan, continuation: FlowRun) -> State:
    """The final state of the run that handed its work over: Completed, named Deferred."""
    return Completed(
        name=DEFERRED_STATE_NAME,
        message=(
            f"Deferred to the carbon window at {plan.start.isoformat()}: the work continues in "
            f"flow run {continuation.name!r} ({continuation.id})"
        ),
        data={
            "deferred_until": plan.start.isoformat(),
            "continuation_flow_run_id": str(continuation.id),
        },
    )
