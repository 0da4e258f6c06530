"""Deployment mode against a real server, run by ``serve()`` and by a process-pool worker.

A deployment run plans, reschedules *itself* to the window's start and exits; while the window
is ahead no flow-run process exists; the runner starts the same flow run within 10 s of the
planned start, and it does the work and leaves the receipt. Everything that watches runs sees
one flow run and only the real work: a parent's ``run_deployment`` (with its defaults) gets the
work's result, hooks and a COMPLETED automation fire once and after the work, ``retries``
are not used up by the wait, and cancelling the waiting run cancels the work. A continuation
created by cleanshift 0.2.0 (a separate run with the plan in its context) still runs. The same
flow runs under both runners Prefect offers for processes: ``serve()`` (one process that is
the runner) and ``prefect worker start`` on a ``process`` work pool (the production path).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import prefect.runtime
import psutil
import pytest
from prefect import flow, task
from prefect.automations import Automation
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.deployments import run_deployment
from prefect.events.actions import DoNothing
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.states import Cancelling, Scheduled
from prefect.workers.process import ProcessWorker

from cleanshift_core import JobSpec, SchedulingRules, plan_job
from cleanshift_core.providers import FileProvider
from cleanshift_prefect import CONTINUATION_TAG, WAITING_STATE_NAME
from tests.prefect.conftest import artifacts_of, state_names, table_rows

SERVED_FLOW = Path(__file__).with_name("served_flow.py")
POINT = timedelta(seconds=5)


def write_grid(path: Path, cleanest: datetime) -> None:
    """5-second points at 300 gCO2eq/kWh, except 100 for 15 s from ``cleanest``.

    The planner takes the earliest of equally clean windows, so the plan still starts at
    ``cleanest``; the dip is as wide as the tests' start allowance (10 s) plus the 5 s run, so a
    run that starts late on a loaded machine, but within that allowance, still runs on 100."""
    lines = ["time,intensity"]
    t = cleanest - 12 * POINT
    while t < cleanest + 36 * POINT:
        lines.append(f"{t.isoformat()},{100 if cleanest <= t < cleanest + 3 * POINT else 300}")
        t += POINT
    path.write_text("\n".join(lines) + "\n")


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``, with its command line ("?" if it vanished meanwhile)."""
    found: dict[int, str] = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            found[child.pid] = " ".join(child.cmdline())
        except psutil.Error:
            found[child.pid] = "?"
    return found


@dataclass(frozen=True)
class Runner:
    grid: Path  # the served flow's grid CSV
    hooks: Path  # where its hooks record each call, one file per flow run
    pid: int
    deployment: str

    def hook_calls(self, flow_run_id) -> list[str]:
        path = self.hooks / str(flow_run_id)
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(params=["serve", "worker"])
def runner(request, prefect_server, tmp_path):
    """A runner for ``served_flow.py``'s flow, stopped after; yields a :class:`Runner`.

    ``serve``: ``python served_flow.py`` serves deployment ``served-carbon/test``.
    ``worker``: deployment ``served-carbon/worker`` on a fresh ``process`` work pool (entrypoint
    ``served_flow.py:served_carbon``), run by ``prefect worker start``.
    """
    grid, hooks = tmp_path / "grid.csv", tmp_path / "hooks"
    hooks.mkdir()
    write_grid(grid, datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1))
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "CLEANSHIFT_TEST_GRID": str(grid),
        "CLEANSHIFT_TEST_HOOKS": str(hooks),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    if request.param == "serve":
        name, command = "served-carbon/test", [sys.executable, str(SERVED_FLOW)]
    else:
        pool = f"carbon-pool-{uuid.uuid4().hex[:8]}"
        name = "served-carbon/worker"
        asyncio.run(_deploy_to_process_pool(pool, "worker"))
        command = [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
            "--name",
            pool,
        ]
    log = (tmp_path / "runner.log").open("wb")
    proc = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while not _ready(name, request.param):
            assert proc.poll() is None, (tmp_path / "runner.log").read_text()
            assert time.monotonic() < deadline, f"{request.param} was not ready in 90 s"
            time.sleep(0.5)
        yield Runner(grid, hooks, proc.pid, name)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


async def _deploy_to_process_pool(pool: str, deployment: str) -> None:
    """What ``prefect deploy`` does for a local project: a process pool and a deployment whose
    pull step sets the working directory to the flow's folder."""
    async with get_client() as client:
        await client.create_work_pool(
            WorkPoolCreate(
                name=pool,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
        flow_id = await client.create_flow_from_name("served-carbon")
        await client.create_deployment(
            flow_id,
            deployment,
            work_pool_name=pool,
            entrypoint=f"{SERVED_FLOW.name}:served_carbon",
            path=str(SERVED_FLOW.parent),
            pull_steps=[
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": str(SERVED_FLOW.parent)
                    }
                }
            ],
        )


def _ready(name: str, kind: str) -> bool:
    """The deployment exists, and for a worker, the worker has polled its pool."""
    if not _deployment_exists(name):
        return False
    if kind == "serve":
        return True

    async def polled() -> bool:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(name)
            workers = await client.read_workers_for_work_pool(deployment.work_pool_name)
        return any(w.last_heartbeat_time is not None for w in workers)

    return asyncio.run(polled())


def _deployment_exists(name: str) -> bool:
    async def check() -> bool:
        async with get_client() as client:
            try:
                await client.read_deployment_by_name(name)
                return True
            except Exception:  # noqa: BLE001 -- a poll: any failure means "not registered yet"
                return False

    return asyncio.run(check())


async def _wait_final(flow_run_id, timeout: float):
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run
            assert time.monotonic() < deadline, (
                f"flow run still {run.state.name if run.state else None}"
            )
            await asyncio.sleep(0.5)


async def _wait_for(flow_run_id, done, timeout: float, what: str):
    """Poll the run until ``done(run)``; returns the run."""
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(flow_run_id)
            if run.state is not None and done(run):
                return run
            assert time.monotonic() < deadline, (
                f"flow run not {what} after {timeout} s: {run.state.name if run.state else None}"
            )
            await asyncio.sleep(0.3)


def _waiting(run) -> bool:
    return run.state.is_scheduled() and run.state.name == WAITING_STATE_NAME


async def _legacy_continuation(runner: Runner, window: datetime):
    """A continuation as cleanshift 0.2.0 created it: a new run of the deployment, Scheduled
    as ``Carbon window`` at the window, tagged, with the plan in its flow-run context."""
    plan = await plan_job(
        FileProvider(runner.grid, region="SERVED"),
        JobSpec.create(duration="5s", max_delay="60s"),
        SchedulingRules(),
    )
    assert plan.start == window
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(runner.deployment)
        return await client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"batch": "legacy", "size": 1},
            context={
                "cleanshift": {
                    "plan": plan.model_dump(mode="json"),
                    "deferred_from": str(uuid.uuid4()),
                }
            },
            state=Scheduled(scheduled_time=plan.start, name=WAITING_STATE_NAME),
            tags=[CONTINUATION_TAG],
        )


def _work_started(run) -> datetime:
    return datetime.fromisoformat(run.state.result()["started"])


def test_a_waiting_deployment_run_stays_one_flow_run_and_holds_no_process(runner):
    baseline = descendants(runner.pid)
    # Three runs start, leave their processes (one is cancelled) before sampling begins: on
    # two shared cores a worker needs ~25 s for that.
    window = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=50)
    write_grid(runner.grid, window)
    triggered = run_deployment(
        runner.deployment, parameters={"batch": "b-7", "size": 3}, timeout=0, as_subflow=False
    )
    doomed = run_deployment(
        runner.deployment, parameters={"batch": "cancel-me"}, timeout=0, as_subflow=False
    )
    legacy = asyncio.run(_legacy_continuation(runner, window))

    waiting = asyncio.run(_wait_for(triggered.id, _waiting, 30, "waiting"))
    assert waiting.state.state_details.scheduled_time == window
    assert waiting.state.message.startswith(
        f"Waiting for the carbon window at {window.isoformat()}"
    )
    assert "expected 100 vs 300 gCO2eq/kWh now, 66.7% less" in waiting.state.message
    artifacts = asyncio.run(artifacts_of(triggered.id))
    assert "rescheduled for" in artifacts["served-carbon-carbon-deferral"].data
    assert artifacts["served-carbon-carbon-wait"].data == 0.0

    asyncio.run(_wait_for(doomed.id, _waiting, 30, "waiting"))

    async def cancel():
        async with get_client() as client:
            return await client.set_flow_run_state(doomed.id, Cancelling())

    # The waiting run names no process, so the server cancels it at once: no runner or worker
    # has to notice (a worker would not: it cancels only runs that never started).
    answer = asyncio.run(cancel())
    assert answer.state is not None and answer.state.is_cancelled(), answer
    cancelled = asyncio.run(_wait_final(doomed.id, timeout=5))
    assert cancelled.state.is_cancelled(), cancelled.state

    # The window is ahead: no flow-run process exists under the serve()/worker process. (The
    # run's process exits just after reporting its new state; the runner may start it again up
    # to its 10 s prefetch before the window, so look until then.)
    def run_processes() -> dict[int, str]:
        return {
            pid: cmd
            for pid, cmd in descendants(runner.pid).items()
            if pid not in baseline
            and "multiprocessing.resource_tracker" not in cmd  # serve()'s helper
        }

    deadline = time.monotonic() + 10
    while run_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    samples = 0
    while datetime.now(timezone.utc) < window - timedelta(seconds=12):
        assert not run_processes(), run_processes()
        samples += 1
        time.sleep(0.5)
    assert samples >= 3, f"deferred too late to observe the wait: {run_processes()}"

    finished = asyncio.run(_wait_final(triggered.id, timeout=60))
    assert finished.state.is_completed(), finished.state
    result = finished.state.result()
    started = datetime.fromisoformat(result["started"])
    assert window <= started < window + timedelta(seconds=10), (window, started)
    print(
        f"work started {(started - window).total_seconds():.2f} s after the planned start; "
        f"{samples} process samples while waiting found none"
    )
    assert (result["batch"], result["size"]) == ("b-7", 3)
    assert result["run_count"] == finished.run_count == 1  # the wait is not an attempt
    # The work ran in a new process below the runner: the kind the absence check looks for.
    assert runner.pid in result["ancestors"] and result["ancestors"][0] not in baseline

    history = asyncio.run(state_names(triggered.id))
    assert history.count("Completed") == 1 and history[-1] == "Completed", history
    assert history.index(WAITING_STATE_NAME) < len(history) - 3, history  # Pending, Running
    artifacts = asyncio.run(artifacts_of(triggered.id))
    assert artifacts["served-carbon-carbon-wait"].data == 100.0
    rows = table_rows(artifacts["served-carbon-carbon-receipt"])
    assert rows["intensity of the run (gCO2eq/kWh)"] == "100.0"
    assert rows["intensity if run immediately (gCO2eq/kWh)"] == "300.0"
    assert "served-carbon-carbon-report" in artifacts
    [hook] = runner.hook_calls(triggered.id)
    assert hook.startswith("COMPLETED ") and datetime.fromisoformat(hook.split()[1]) > started

    async def runs_of_deployment():
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(runner.deployment)
            return await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            )

    assert sorted(r.parameters["batch"] for r in asyncio.run(runs_of_deployment())) == [
        "b-7",
        "cancel-me",
        "legacy",
    ]  # no run was created besides the ones triggered
    doomed_history = asyncio.run(state_names(doomed.id))
    after_wait = doomed_history[doomed_history.index(WAITING_STATE_NAME) + 1 :]
    assert after_wait[-1] == "Cancelled" and "Running" not in after_wait, doomed_history
    assert runner.hook_calls(doomed.id) == []

    continued = asyncio.run(_wait_final(legacy.id, timeout=30))
    assert continued.state.is_completed(), continued.state
    assert window <= _work_started(continued) < window + timedelta(seconds=10)
    assert asyncio.run(state_names(legacy.id)).count(WAITING_STATE_NAME) == 1  # no new wait
    rows = table_rows(asyncio.run(artifacts_of(legacy.id))["served-carbon-carbon-receipt"])
    assert rows["intensity of the run (gCO2eq/kWh)"] == "100.0"


@task
def next_step() -> str:
    return datetime.now(timezone.utc).isoformat()


@flow
def parent_pipeline(deployment: str) -> dict:
    """How a Prefect user chains deployments: ``run_deployment`` with its defaults (waits for
    the run, links it as a subflow), then the next step uses the child's result."""
    child = run_deployment(deployment, parameters={"batch": "p-1"})
    return {
        "id": prefect.runtime.flow_run.id,
        "child_id": str(child.id),
        "child": child.state.result(),
        "next_step": next_step(),
    }


async def _completed_automation(deployment_name: str) -> UUID:
    """An automation on the state *type* COMPLETED of this deployment's flow runs."""
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(deployment_name)
    automation = await Automation(
        name=f"completed-{uuid.uuid4().hex[:8]}",
        trigger=EventTrigger(
            expect={"prefect.flow-run.*"},
            match={"prefect.resource.id": "prefect.flow-run.*", "prefect.state-type": "COMPLETED"},
            match_related={"prefect.resource.id": f"prefect.deployment.{deployment.id}"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[DoNothing()],
    ).acreate()
    assert automation.id is not None
    return automation.id


async def _firings(automation_id: UUID, expected: int, timeout: float) -> list[dict]:
    """The automation's firings (their triggering events), once ``expected`` have arrived."""
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            page = await client.read_events(
                EventFilter(
                    event=EventNameFilter(name=["prefect.automation.triggered"]),
                    resource=EventResourceFilter(id=[f"prefect.automation.{automation_id}"]),
                ),
                limit=50,  # the API's maximum
            )
            if len(page.events) >= expected:
                return [e.payload["triggering_event"] for e in page.events]
            assert time.monotonic() < deadline, f"{len(page.events)} of {expected} firings"
            await asyncio.sleep(0.5)


def test_a_parent_hooks_automations_and_retries_see_only_the_real_work(runner):
    window = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=40)
    write_grid(runner.grid, window)
    automation_id = asyncio.run(_completed_automation(runner.deployment))
    # Fails on its first attempt, after the window: one retry (retries=1) must be left.
    retried = run_deployment(
        runner.deployment,
        parameters={"batch": "r-1", "fail_attempts": 1},
        timeout=0,
        as_subflow=False,
    )

    got = parent_pipeline(runner.deployment)

    started = datetime.fromisoformat(got["child"]["started"])
    assert window <= started < window + timedelta(seconds=10), (window, started)
    assert got["child"]["batch"] == "p-1" and got["child"]["run_count"] == 1
    assert datetime.fromisoformat(got["next_step"]) > started  # downstream ran after the work

    async def read_run(flow_run_id):
        async with get_client() as client:
            run = await client.read_flow_run(flow_run_id)
            parent_task = await client.read_task_run(run.parent_task_run_id)
        return run, parent_task

    child, parent_task = asyncio.run(read_run(got["child_id"]))
    assert str(parent_task.flow_run_id) == got["id"]  # the child sits under the parent
    child_history = asyncio.run(state_names(child.id))
    assert WAITING_STATE_NAME in child_history and child_history.count("Completed") == 1
    [hook] = runner.hook_calls(child.id)
    assert hook.startswith("COMPLETED ") and datetime.fromisoformat(hook.split()[1]) > started

    finished = asyncio.run(_wait_final(retried.id, timeout=60))
    assert finished.state.is_completed(), finished.state
    assert finished.state.result()["run_count"] == finished.run_count == 2
    history = asyncio.run(state_names(retried.id))
    assert history.index(WAITING_STATE_NAME) < history.index("AwaitingRetry"), history
    assert history.count("Completed") == 1 and "Failed" not in history, history
    [hook] = runner.hook_calls(retried.id)  # on_failure never fired, on_completion once
    assert hook.startswith("COMPLETED ")

    firings = asyncio.run(_firings(automation_id, 2, timeout=30))
    by_run = {f["resource"]["prefect.resource.id"]: f for f in firings}
    assert len(firings) == 2 and set(by_run) == {
        f"prefect.flow-run.{child.id}",
        f"prefect.flow-run.{retried.id}",
    }, firings
    assert datetime.fromisoformat(by_run[f"prefect.flow-run.{child.id}"]["occurred"]) > started
