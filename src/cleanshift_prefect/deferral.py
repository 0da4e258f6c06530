"""Deployment mode: the flow run waits for its window as itself, with no process.

A flow run from a deployment (served or on a worker) whose window is ahead stores its plan on
itself (a flow-run input under :data:`PLAN_KEY`), proposes ``Scheduled`` at the window's start
for itself, named ``Carbon window`` with a message that says why, and leaves its process by
raising Prefect's ``Pause`` signal (what ``suspend_flow_run`` raises after its own state
change; the engine then exits cleanly and leaves the state alone). The runner or worker starts
the *same* flow run when the window opens; the flow function runs from the top, finds the plan
and runs the work. So there is one flow run from trigger to result: ``run_deployment``, the
run graph under a parent, ``on_completion``/``on_failure`` hooks, automations and
``state.result()`` see only the real work.

Why ``Scheduled`` and not ``Suspended``: Prefect refuses to suspend a run started from a
parent flow ("Cannot suspend subflows"), and a suspended run wakes only when something calls
``resume_flow_run``. ``RUNNING → SCHEDULED`` is allowed by the orchestration rules of Prefect
3.8 and 3.9 (``core_policy.py`` has no rule against it; Prefect's own SIGTERM reschedule
proposes ``AwaitingRetry`` the same way).

Why the ``resuming`` flag: the server counts every ``Running`` state as an attempt, and flow
``retries`` are measured against that count. Before it leaves, the run sets the flag of its
run policy that Prefect sets for a resumed pause, so the ``Running`` at the window is not
counted: the wait never uses up a retry. (The server clears the flag on that ``Running``.)

Runs deferred by cleanshift 0.2.0 are separate *continuation* runs (tagged
:data:`CONTINUATION_TAG`) with the plan in their flow-run ``context``; :func:`pending_plan`
still finds it there, so they run their work after an upgrade.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import OrchestrationResult, SetStateStatus
from prefect.states import Scheduled, State
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

from cleanshift_core import Plan

#: Key of the flow-run input that holds the plan of a run waiting for its window.
PLAN_KEY = "cleanshift-plan"
#: Key of cleanshift's entry in the flow-run context of a 0.2.0 continuation.
CONTEXT_KEY = "cleanshift"
#: Tag of the continuation runs cleanshift 0.2.0 created (only read, for the upgrade path).
CONTINUATION_TAG = "cleanshift-continuation"
#: Name of the Scheduled state a run waits in (its type stays SCHEDULED).
WAITING_STATE_NAME = "Carbon window"
#: Longest time a deferral keeps asking a busy API (never more than half the wait).
MAX_DEFERRAL_RETRY = timedelta(minutes=5)
#: Answers that mean "the server is busy or restarting", not "this request is wrong".
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class PendingWait:
    """What a run that waited left for itself: the plan, and its progress artifact."""

    plan: Plan
    progress_artifact_id: UUID | None = None
    #: Which run deferred the work, for a 0.2.0 continuation.
    deferred_from: str | None = None


def is_transient(error: BaseException) -> bool:
    """A failure worth asking again: no connection, a timeout, or a busy-server answer."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in TRANSIENT_STATUS
    return isinstance(error, httpx.TransportError)


async def pending_plan(flow_run: FlowRun) -> PendingWait | None:
    """The plan this run (or, in 0.2.0, the run that deferred to it) left, if any."""
    entry = (flow_run.context or {}).get(CONTEXT_KEY)
    if isinstance(entry, dict) and "plan" in entry:
        return PendingWait(
            Plan.model_validate(entry["plan"]), deferred_from=entry.get("deferred_from")
        )
    if flow_run.deployment_id is None:
        return None  # only a deployment run leaves its process to wait
    async with get_client() as client:
        try:
            stored = json.loads(await client.read_flow_run_input(flow_run.id, PLAN_KEY))
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:
                return None
            raise
    progress = stored.get("progress_artifact_id")
    return PendingWait(Plan.model_validate(stored["plan"]), UUID(progress) if progress else None)


async def forget_plan(flow_run_id: UUID) -> None:
    """The window has opened: drop the stored plan, so a retry of the work plans again."""
    async with get_client() as client:
        try:
            await client.delete_flow_run_input(flow_run_id, PLAN_KEY)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 404:
                raise


async def reschedule(
    flow_run_id: UUID,
    wait: PendingWait,
    message: str,
    now: datetime,
    *,
    first_wait: float = 1.0,
) -> State | None:
    """Store ``wait`` on the run and move the run to ``Scheduled`` at the window's start.

    Returns the new state, or ``None`` if the server refused it (e.g. for a run being
    cancelled). Transient API failures are retried with jittered exponential backoff for up
    to :data:`MAX_DEFERRAL_RETRY` or half the time left to the window, whichever is shorter;
    then the last error is raised and the run fails (flow ``retries`` apply as usual). Every
    step is idempotent, so a retry after a lost answer is safe.
    """
    budget = min(MAX_DEFERRAL_RETRY, (wait.plan.start - now) / 2).total_seconds()
    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_delay(max(budget, 0.0)),
        wait=wait_random_exponential(multiplier=first_wait, max=30),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await _reschedule(flow_run_id, wait, message)
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


async def _reschedule(flow_run_id: UUID, wait: PendingWait, message: str) -> State | None:
    stored: dict[str, Any] = {
        "plan": wait.plan.model_dump(mode="json"),
        "progress_artifact_id": str(wait.progress_artifact_id)
        if wait.progress_artifact_id
        else None,
    }
    await forget_plan(flow_run_id)  # one from an earlier attempt, or a lost answer
    async with get_client() as client:
        await client.create_flow_run_input(flow_run_id, PLAN_KEY, json.dumps(stored))
        await not_an_attempt(client, flow_run_id)
        await release_infrastructure(client, flow_run_id)
        result: OrchestrationResult[None] = await client.set_flow_run_state(
            flow_run_id,
            Scheduled(scheduled_time=wait.plan.start, name=WAITING_STATE_NAME, message=message),
        )
    return result.state if result.status is SetStateStatus.ACCEPT else None


async def release_infrastructure(client: PrefectClient, flow_run_id: UUID) -> None:
    """Record that the waiting run has no process (its process exits now), so it can be
    cancelled at once.

    The server turns ``Cancelling`` of a ``Scheduled`` run into ``Cancelled`` when the run names
    no infrastructure (``BypassCancellingFlowRunsWithNoInfra``). A worker cancels only runs that
    never started; so a waiting run that still named its exited process would stay
    ``Cancelling`` until the worker started it again at the window. ``update_flow_run`` drops a
    ``None`` pid, hence the PATCH of its route; the runner or worker sets a new pid when it
    starts the run at the window. It comes before the state change, so the state change stays
    the last step and a retry after a failed PATCH repeats only idempotent ones. (Neither
    runner needs the pid of a running run: ``serve()`` keeps its own map of processes, and a
    worker never cancels a run that has started.)
    """
    response = await client.request(
        "PATCH",
        "/flow_runs/{id}",
        path_params={"id": flow_run_id},
        json={"infrastructure_pid": None},
    )
    response.raise_for_status()


async def not_an_attempt(client: PrefectClient, flow_run_id: UUID) -> None:
    """Make the run's next ``Running`` state not count as an attempt (see the module docs)."""
    run = await client.read_flow_run(flow_run_id)
    policy = run.empirical_policy.model_copy(update={"resuming": True})
    await client.update_flow_run(flow_run_id, empirical_policy=policy)
