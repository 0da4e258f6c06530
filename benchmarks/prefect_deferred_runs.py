"""Prefect: many deferred deployment runs hold no flow-run process while they wait.

``--runs N`` (default 100) deployment runs are started at once. Each plans its carbon window,
hands its work to a *continuation* (a run of the same deployment scheduled at the window) and
exits ``Completed``/``Deferred``. The runs belong to ``--jobs K`` different jobs (deployments
of the same code with different ``max_delay``: ``--first-deadline`` + k * ``--deadline-step``
seconds), and the file grid falls steadily, so each run's cleanest window is at its own
deadline. That spreads the windows over some minutes, as a real batch of jobs with different
deadlines would, instead of asking one machine to start 100 processes in the same second.

The runs are executed by a process work pool and ``prefect worker start`` (the production path;
``serve()`` is covered by ``tests/prefect/test_deployment.py``). Every ``--sample`` seconds the
script samples the processes below the worker and then reads every run's state from the
server. A flow-run process is attributed to its run by the ``PREFECT__FLOW_RUN_ID`` the worker
puts in its environment. Reported:

- how long the worker took to defer all N originals, from the server's state timestamps (its
  rate of flow runs on this machine: each is two processes that import Prefect, the worker's
  workspace supervisor and the engine);
- the originals that did not defer (e.g. the server refused to create the continuation), by
  name, state and message: such a run has no continuation, so it ends the wait like a
  finished one;
- the samples in which every original had deferred and every continuation was still waiting,
  and how many flow-run processes existed in them (the claim: none);
- over the whole run, processes that belonged to a run whose state, read after the process
  sample, was still Scheduled (a waiting run holding a process: should never happen);
- each continuation's lateness: when its work started vs its planned start (target < 10 s),
  and how long before its window it went Pending (the worker starts a scheduled run's process
  up to ``--prefetch`` seconds early, so that start-up is paid before the window; the engine
  then waits for the scheduled time).

Flow runs log at WARNING (``PREFECT_LOGGING_LEVEL``), so the server is not also ingesting INFO
logs from 200 processes.

The script starts its own Prefect server (SQLite, 127.0.0.1, a free port; see
``prefect_stack.py``), polls its health endpoint, and stops the worker, the server and every
process below them at the end. Every loop is bounded in time and count. Results:
``benchmarks/results/prefect_deferred_runs.md`` (and ``.json``).

    flock /tmp/bench.lock .venvs/prefect/bin/python benchmarks/prefect_deferred_runs.py
    .venvs/prefect/bin/python benchmarks/prefect_deferred_runs.py --runs 10 --first-deadline 90
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
from prefect_stack import descendants, prefect_stack, rss_mib, stop

RESULTS = Path(__file__).resolve().parent / "results"
#: Grid points of the jobs' CSV: one value every 5 s, falling 1 g per point.
POINT = timedelta(seconds=5)
POOL = "load-pool"
DEPLOYMENT = "load"

#: The jobs, written to ``jobs.py`` in the work directory. Each flow-run process imports it.
JOBS = '''
"""K jobs of one code base, each with its own deadline (max_delay)."""
import os
from datetime import datetime, timezone

from prefect import flow

from cleanshift_prefect import carbon_window

GRID = {"kind": "file", "path": os.environ["LOAD_GRID"], "region": "LOAD"}
FIRST, STEP = float(os.environ["LOAD_FIRST_DEADLINE"]), float(os.environ["LOAD_DEADLINE_STEP"])


def job(k: int):
    @flow(name=f"load-job-{k:02d}", persist_result=True)
    @carbon_window(GRID, duration="5s", max_delay=f"{FIRST + k * STEP}s", min_deferral="5s")
    def run(i: int) -> dict:
        return {"i": i, "started": datetime.now(timezone.utc).isoformat(), "pid": os.getpid()}

    return run


for _k in range(int(os.environ["LOAD_JOBS"])):
    globals()[f"job_{_k:02d}"] = job(_k)
'''


# ---------------------------------------------------------------------------------------------
# Processes


def flow_run_of(pid: int) -> str | None:
    """The ``PREFECT__FLOW_RUN_ID`` a process was started with, if any."""
    try:
        return psutil.Process(pid).environ().get("PREFECT__FLOW_RUN_ID")
    except psutil.Error:
        return None


# ---------------------------------------------------------------------------------------------
# The run


def write_falling_grid(path: Path, start: datetime, minutes: int) -> None:
    """Falls 1 g every point for ``minutes``, then rises: each run's cleanest window is at its
    own deadline (its plan time + its job's max_delay)."""
    lines = ["time,intensity"]
    count = int(minutes * 60 / POINT.total_seconds())
    for k in range(count + 120):
        value = 900 - k if k < count else 900 - count + (k - count) * 5
        lines.append(f"{(start + k * POINT).isoformat()},{max(value, 50)}")
    path.write_text("\n".join(lines) + "\n")


@dataclass
class Sample:
    t: float  # seconds since the runs were triggered
    processes: int  # flow-run processes below the worker
    attributed: dict[str, int] = field(default_factory=dict)  # flow-run id -> processes
    deferred: int = 0  # originals Completed/Deferred
    not_deferred: int = 0  # originals final but not Deferred: no continuation to wait for
    waiting: int = 0  # continuations still Scheduled
    active: int = 0  # continuations Pending/Running
    finished: int = 0  # continuations in a final state
    waiting_with_process: list[str] = field(default_factory=list)


def start_worker(workdir: Path, env: dict, limit: int, jobs: int) -> subprocess.Popen:
    """The process work pool, the K jobs deployed to it, and ``prefect worker start``."""
    log = (workdir / "worker.log").open("wb")
    subprocess.run(
        [sys.executable, "-m", "prefect", "work-pool", "create", POOL, "--type", "process"],
        env=env,
        check=True,
        stdout=log,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    from prefect import Flow

    for k in range(jobs):
        Flow.from_source(str(workdir), f"jobs.py:job_{k:02d}").deploy(
            DEPLOYMENT,
            work_pool_name=POOL,
            build=False,
            push=False,
            print_next_steps=False,
            ignore_warnings=True,
        )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            POOL,
            "--type",
            "process",
            "--limit",
            str(limit),
            "--name",
            "load-worker",
        ],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def read_runs(limit_total: int) -> list:
    from prefect.client.orchestration import get_client

    out, offset = [], 0
    async with get_client() as client:
        while offset < limit_total:
            page = await client.read_flow_runs(limit=200, offset=offset)
            if not page:
                break
            out += page
            offset += len(page)
    return out


async def history(run_ids: list) -> dict[str, list]:
    """Every run's state history, oldest first."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return {
            str(i): sorted(await client.read_flow_run_states(i), key=lambda s: s.timestamp)
            for i in run_ids
        }


async def deployments_ready(names: list[str]) -> bool:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        try:
            for name in names:
                await client.read_deployment_by_name(name)
            return True
        except Exception:  # noqa: BLE001 -- a poll: any failure means "not registered yet"
            return False


def measure(args: argparse.Namespace, workdir: Path) -> dict:
    from prefect.deployments import run_deployment

    from cleanshift_prefect import CONTINUATION_TAG, DEFERRED_STATE_NAME

    grid = workdir / "grid.csv"
    write_falling_grid(grid, datetime.now(timezone.utc).replace(second=0, microsecond=0), 90)
    (workdir / "jobs.py").write_text(JOBS)
    job_env = {
        "LOAD_GRID": str(grid),
        "LOAD_JOBS": str(args.jobs),
        "LOAD_FIRST_DEADLINE": str(args.first_deadline),
        "LOAD_DEADLINE_STEP": str(args.deadline_step),
    }
    os.environ.update(job_env)  # the worker path imports jobs.py here to deploy it
    env = {
        **os.environ,
        "PREFECT_WORKER_QUERY_SECONDS": str(args.poll),
        "PREFECT_WORKER_PREFETCH_SECONDS": str(args.prefetch),
        "PYTHONPATH": os.pathsep.join([str(workdir), *(p for p in sys.path if p)]),
    }
    names = [f"load-job-{k:02d}/{DEPLOYMENT}" for k in range(args.jobs)]
    worker = start_worker(workdir, env, args.limit, args.jobs)
    try:
        deadline = time.monotonic() + 180
        while not asyncio.run(deployments_ready(names)):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "worker.log").read_text()[-3000:])
            time.sleep(0.5)
        time.sleep(args.poll + 1)  # the worker's first poll: let it settle before the baseline
        baseline = set(descendants(worker.pid))
        worker_rss_before = rss_mib(worker.pid)[0]

        def processes() -> dict[int, str]:
            return {
                pid: cmd
                for pid, cmd in descendants(worker.pid).items()
                if pid not in baseline and "resource_tracker" not in cmd
            }

        t0 = time.monotonic()
        triggered = datetime.now(timezone.utc)
        originals = [  # one at a time: concurrent creation got 503s from the SQLite server
            run_deployment(names[i % args.jobs], parameters={"i": i}, timeout=0, as_subflow=False)
            for i in range(args.runs)
        ]
        trigger_s = time.monotonic() - t0
        original_ids = {str(r.id) for r in originals}
        samples: list[Sample] = []
        worker_rss_peak = worker_rss_before
        bound = time.monotonic() + args.timeout
        all_done = False
        while time.monotonic() < bound and len(samples) < 10 * args.timeout:
            procs = processes()
            attributed: dict[str, int] = {}
            for pid in procs:
                run_id = flow_run_of(pid)
                if run_id is not None:
                    attributed[run_id] = attributed.get(run_id, 0) + 1
            runs = asyncio.run(read_runs(10 * args.runs))  # read after the processes
            now = time.monotonic() - t0
            by_id = {str(r.id): r for r in runs}
            sample = Sample(t=now, processes=len(procs), attributed=attributed)
            for run_id in original_ids:
                r = by_id.get(run_id)
                if r is not None and r.state is not None and r.state.name == DEFERRED_STATE_NAME:
                    sample.deferred += 1
                elif r is not None and r.state is not None and r.state.is_final():
                    sample.not_deferred += 1
            conts = [r for r in runs if CONTINUATION_TAG in r.tags and r.state is not None]
            for r in conts:
                if r.state.is_scheduled():
                    sample.waiting += 1
                    if str(r.id) in attributed:
                        sample.waiting_with_process.append(str(r.id))
                elif r.state.is_final():
                    sample.finished += 1
                else:
                    sample.active += 1
            samples.append(sample)
            worker_rss_peak = max(worker_rss_peak, rss_mib(worker.pid)[0])
            # Done when no original is left to defer and every continuation has finished; an
            # original that failed instead of deferring has no continuation to wait for.
            if (
                sample.deferred + sample.not_deferred >= args.runs
                and sample.finished >= sample.deferred
            ):
                all_done = True
                break
            time.sleep(args.sample)

        runs = asyncio.run(read_runs(10 * args.runs))
        conts = [r for r in runs if CONTINUATION_TAG in r.tags]
        mine = [r for r in runs if str(r.id) in original_ids]
        states = asyncio.run(history([r.id for r in conts]))
        rows = []  # per continuation: run name, planned start, lateness, Pending how early
        for c in conts:
            planned_at = datetime.fromisoformat(c.context["cleanshift"]["plan"]["start"])
            pending = next((s.timestamp for s in states[str(c.id)] if s.is_pending()), None)
            rows.append(
                {
                    "flow": c.name,
                    "planned": planned_at.isoformat(),
                    "late_s": (
                        datetime.fromisoformat(c.state.result()["started"]) - planned_at
                    ).total_seconds()
                    if c.state is not None and c.state.is_completed()
                    else None,
                    "pending_before_window_s": (planned_at - pending).total_seconds()
                    if pending
                    else None,
                }
            )
        late = [row["late_s"] for row in rows if row["late_s"] is not None]
        held = [
            row["pending_before_window_s"]
            for row in rows
            if row["pending_before_window_s"] is not None
        ]
        planned = sorted(datetime.fromisoformat(row["planned"]) for row in rows)
        # Trigger -> Deferred per original, from the server's state timestamps.
        deferral_times = sorted(
            (r.state.timestamp - triggered).total_seconds()
            for r in mine
            if r.state is not None and r.state.name == DEFERRED_STATE_NAME
        )
        startup = [
            (r.start_time - r.expected_start_time).total_seconds()
            for r in mine
            if r.start_time is not None and r.expected_start_time is not None
        ]
        # Every original has deferred (or failed) and every continuation is still waiting.
        full = [
            s
            for s in samples
            if s.deferred + s.not_deferred == args.runs and s.waiting == s.deferred
        ]
        return {
            "worker_limit": args.limit,
            "runs": args.runs,
            "jobs": args.jobs,
            "max_delays_s": f"{args.first_deadline:.0f}-{args.first_deadline + (args.jobs - 1) * args.deadline_step:.0f}",
            "poll_s": args.poll,
            "worker_prefetch_s": args.prefetch,
            "sample_period_s": args.sample,
            "triggering_s": trigger_s,
            "originals_deferred": sum(
                1 for r in mine if r.state and r.state.name == DEFERRED_STATE_NAME
            ),
            "originals_not_deferred": "; ".join(
                f"{r.name}: {r.state.name}: {(r.state.message or '')[:200]}"
                if r.state
                else f"{r.name}: no state"
                for r in mine
                if not (r.state and r.state.name == DEFERRED_STATE_NAME)
            )
            or "none",
            "first_deferred_after_s": deferral_times[0] if deferral_times else None,
            "all_deferred_after_s": deferral_times[-1]
            if len(deferral_times) == args.runs
            else None,
            "originals_per_minute": 60
            * (len(deferral_times) - 1)
            / (deferral_times[-1] - deferral_times[0])
            if len(deferral_times) > 1
            else None,
            "original_trigger_to_running_p50_s": statistics.median(startup) if startup else None,
            "original_trigger_to_running_max_s": max(startup) if startup else None,
            "continuations": len(conts),
            "max_waiting_at_once": max((s.waiting for s in samples), default=0),
            "all_waiting_phase_s": (full[-1].t - full[0].t) if full else 0.0,
            "all_waiting_samples": len(full),
            "all_waiting_max_processes": max((s.processes for s in full), default=None),
            "all_waiting_samples_with_a_process": sum(1 for s in full if s.processes),
            "all_waiting_process_seconds_into_phase": ", ".join(
                f"{s.t - full[0].t:.0f}" for s in full if s.processes
            )
            or "none",
            "samples": len(samples),
            "samples_with_waiting_runs": sum(1 for s in samples if s.waiting),
            "waiting_runs_seen_with_a_process": len(
                {r for s in samples for r in s.waiting_with_process}
            ),
            "max_processes_overall": max((s.processes for s in samples), default=None),
            "planned_start_spread_s": (planned[-1] - planned[0]).total_seconds()
            if planned
            else None,
            "continuations_completed": len(late),
            "all_done": all_done,
            "late_min_s": min(late) if late else None,
            "late_p50_s": statistics.median(late) if late else None,
            "late_p90_s": sorted(late)[int(0.9 * (len(late) - 1))] if late else None,
            "late_max_s": max(late) if late else None,
            "late_within_10s": sum(1 for x in late if 0 <= x < 10),
            "early_starts": sum(1 for x in late if x < 0),
            "process_before_window_p50_s": statistics.median(held) if held else None,
            "process_before_window_max_s": max(held) if held else None,
            "worker_rss_before_mib": worker_rss_before,
            "worker_rss_peak_mib": worker_rss_peak,
            "wall_s": time.monotonic() - t0,
            "triggered_at": triggered.isoformat(timespec="seconds"),
            "continuation_rows": rows,
            "timeline": [
                {
                    "t": round(s.t, 1),
                    "processes": s.processes,
                    "deferred": s.deferred,
                    "not_deferred": s.not_deferred,
                    "waiting": s.waiting,
                    "active": s.active,
                    "finished": s.finished,
                }
                for s in samples
            ],
        }
    finally:
        leftovers = descendants(worker.pid)
        stop(worker)
        for pid in leftovers:  # flow-run processes that left the worker's session, if any
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def write_results(result: dict, note: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    lines = [
        "# Prefect: deferred deployment runs holding no process while they wait",
        "",
        (
            f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
            "Prefect server (SQLite) on 127.0.0.1 started by the script."
        ),
        "",
        note,
        "",
        "| measure | value |",
        "|---|---|",
    ]
    for key, value in result.items():
        if value is None or key in ("timeline", "continuation_rows"):
            continue
        lines.append(f"| {key} | {f'{value:.2f}' if isinstance(value, float) else value} |")
    lines += [
        "",
        "Timeline (every 30th sample; the JSON has all):",
        "",
        "| t (s) | flow-run processes | originals deferred | continuations waiting | running | finished |",
        "|---|---|---|---|---|---|",
    ]
    for s in result["timeline"][::30] + result["timeline"][-1:]:
        lines.append(
            f"| {s['t']:.0f} | {s['processes']} | {s['deferred']} | {s['waiting']} | {s['active']} | {s['finished']} |"
        )
    path = RESULTS / "prefect_deferred_runs.md"
    path.write_text("\n".join(lines) + "\n")
    (RESULTS / "prefect_deferred_runs.json").write_text(json.dumps(result, indent=1))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--limit", type=int, default=8, help="concurrent flow runs of the worker")
    parser.add_argument("--jobs", type=int, default=10, help="deployments with different max_delay")
    parser.add_argument("--first-deadline", type=float, default=600.0, help="shortest max_delay, s")
    parser.add_argument(
        "--deadline-step", type=float, default=20.0, help="max_delay step between jobs, s"
    )
    parser.add_argument("--poll", type=float, default=2.0, help="worker poll interval, s")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="bound on the sampling loop, s"
    )
    parser.add_argument(
        "--prefetch",
        type=float,
        default=10.0,
        help="how early the worker may start a scheduled run's process, s (Prefect's default: 10)",
    )
    parser.add_argument("--sample", type=float, default=2.0, help="sampling period, s")
    parser.add_argument("--no-write", action="store_true", help="print only (trial runs)")
    args = parser.parse_args()
    with prefect_stack("cleanshift-prefect-deferred-") as (_, work):
        result = measure(args, work)
    print(
        json.dumps(
            {k: v for k, v in result.items() if k not in ("timeline", "continuation_rows")},
            indent=2,
        )
    )
    if not args.no_write:
        print(
            "wrote", write_results(result, f"Arguments: `{' '.join(sys.argv[1:]) or 'defaults'}`.")
        )


if __name__ == "__main__":
    main()
