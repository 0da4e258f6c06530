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
continuation it already created instead of scheduling the work twice.
"""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Scheduled, State

from cleanshift_core import Plan

#: Key of cleanshift's entry in a continuation's flow-run context.
CONTEXT_KEY = "cleanshift"
#: Tag on every continuation, so they are easy to filter in the UI and the API.
CONTINUATION_TAG = "cleanshift-continuation"
#: Name of the continuation's Scheduled state (its type stays SCHEDULED).
WAITING_STATE_NAME = "Carbon window"
#: Name of the deferring run's final state (its type is COMPLETED: deferring is not failing).
DEFERRED_STATE_NAME = "Deferred"


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


async def schedule_continuation(flow_run: FlowRun, plan: Plan) -> FlowRun:
    """Create the continuation of ``flow_run`` at ``plan.start`` (idempotently)."""
    if flow_run.deployment_id is None:
        raise ValueError("only a flow run created from a deployment can be deferred")
    context: dict[str, Any] = {
        CONTEXT_KEY: {"plan": plan.model_dump(mode="json"), "deferred_from": str(flow_run.id)}
    }
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
