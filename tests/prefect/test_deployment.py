"""Deployment mode against a real server, run by ``serve()`` and by a process-pool worker.

A deployment run plans, hands its work to a run scheduled at the window's start and exits;
while the window is still ahead no process exists for either run; the continuation starts
within 10 s of the planned start, with the original parameters, and leaves the receipt. The
same flow runs under both runners Prefect offers for processes: ``serve()`` (one process that
is the runner) and ``prefect worker start`` on a ``process`` work pool (the production path).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.deployments import run_deployment
from prefect.workers.process import ProcessWorker

from cleanshift_prefect import CONTINUATION_TAG, DEFERRED_STATE_NAME, WAITING_STATE_NAME

from .conftest import artifacts_of, state_names, table_rows

SERVED_FLOW = Path(__file__).with_name("served_flow.py")
POINT = timedelta(seconds=5)


def write_grid(path: Path, cleanest: datetime) -> None:
    """5-second points at 300 gCO2eq/kWh, except 100 for the one starting at ``cleanest``."""
    lines = ["time,intensity"]
    t = cleanest - 12 * POINT
    while t < cleanest + 36 * POINT:
        lines.append(f"{t.isoformat()},{100 if t == cleanest else 300}")
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


@pytest.fixture(params=["serve", "worker"])
def runner(request, prefect_server, tmp_path):
    """A runner for ``served_flow.py``'s flow, stopped after; yields (grid, its pid, deployment).

    ``serve``: ``python served_flow.py`` serves deployment ``served-carbon/test``.
    ``worker``: deployment ``served-carbon/worker`` on a fresh ``process`` work pool (entrypoint
    ``served_flow.py:served_carbon``), run by ``prefect worker start``.
    """
    grid = tmp_path / "grid.csv"
    write_grid(grid, datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1))
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "CLEANSHIFT_TEST_GRID": str(grid),
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
        yield grid, proc.pid, name
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


def test_deployment_run_defers_frees_its_process_and_continues_in_the_window(runner):
    grid, runner_pid, name = runner
    baseline = descendants(runner_pid)
    window = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=35)
    write_grid(grid, window)
    original = run_deployment(
        name, parameters={"batch": "b-7", "size": 3}, timeout=0, as_subflow=False
    )

    original = asyncio.run(_wait_final(original.id, timeout=30))
    assert original.state.is_completed() and original.state.name == DEFERRED_STATE_NAME, (
        original.state
    )
    assert "continues in flow run" in original.state.message

    async def find_continuation():
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[CONTINUATION_TAG]))
            )
        return [
            r
            for r in runs
            if r.context.get("cleanshift", {}).get("deferred_from") == str(original.id)
        ]

    [continuation] = asyncio.run(find_continuation())
    assert continuation.state.is_scheduled() and continuation.state.name == WAITING_STATE_NAME
    assert continuation.state.state_details.scheduled_time == window
    assert continuation.parameters == {"batch": "b-7", "size": 3}

    # The window is ahead: no flow-run process exists under the serve()/worker process. (The
    # original run's process exits just after reporting its final state; the runner may start
    # the continuation's up to its 10 s prefetch before the window, so look until then.)
    def run_processes() -> dict[int, str]:
        return {
            pid: cmd
            for pid, cmd in descendants(runner_pid).items()
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

    finished = asyncio.run(_wait_final(continuation.id, timeout=60))
    assert finished.state.is_completed(), finished.state
    result = finished.state.result()
    started = datetime.fromisoformat(result["started"])
    assert window <= started < window + timedelta(seconds=10), (window, started)
    print(
        f"work started {(started - window).total_seconds():.2f} s after the planned start; "
        f"{samples} process samples while waiting found none"
    )
    assert (result["batch"], result["size"]) == ("b-7", 3)
    # The work ran in a new process below the runner: the kind the absence check looks for.
    assert runner_pid in result["ancestors"] and result["ancestors"][0] not in baseline

    assert asyncio.run(state_names(original.id))[-2:] == ["Running", DEFERRED_STATE_NAME]
    history = asyncio.run(state_names(continuation.id))
    assert history[0] == WAITING_STATE_NAME and history[-1] == "Completed", history

    assert "served-carbon-carbon-deferral" in asyncio.run(artifacts_of(original.id))
    continued = asyncio.run(artifacts_of(continuation.id))
    assert {"served-carbon-carbon-receipt", "served-carbon-carbon-report"} <= set(continued)
    rows = table_rows(continued["served-carbon-carbon-receipt"])
    assert rows["intensity of the run (gCO2eq/kWh)"] == "100.0"
    assert rows["intensity if run immediately (gCO2eq/kWh)"] == "300.0"
