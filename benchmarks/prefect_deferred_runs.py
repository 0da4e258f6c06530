"""Prefect: deployment runs waiting for their carbon window are one flow run each, and hold no
process while they wait.

``--jobs K`` deployments of the same code (default 20), each with its own ``max_delay``
(``--first-deadline`` + k * ``--deadline-step`` seconds), get ``--runs N`` runs (default 20:
one per job). The file grid falls steadily, so each run's cleanest window is at its own
deadline: the windows spread over some minutes, as a real batch of jobs with different
deadlines would. Each run plans, stores its plan on itself, moves *itself* to ``Scheduled``
named ``Carbon window`` at its window, and its process exits; the worker starts the same run
again when the window opens (the one-run design of ``cleanshift_prefect.deferral``).

The runs are executed by a process work pool and ``prefect worker start`` (the production path;
``serve()`` is covered by ``tests/prefect/test_deployment.py``). Every ``--sample`` seconds the
script lists the processes below the worker (psutil), attributes each to its flow run by the
``PREFECT__FLOW_RUN_ID`` the worker puts in its environment, and then reads every run's state
from the server. Reported:

- flow runs per job on the server (the claim: exactly one; no continuation runs) and each
  run's ``run_count`` at the end (the wait must not count as an attempt);
- how many runs waited in ``Carbon window``, and how long the worker took to get them all
  there (each run start is two fresh processes that import Prefect on this machine);
- over the whole run, flow-run processes of a run whose state, read after the process
  sample, was ``Carbon window``: the process that deferred may still be exiting for a moment,
  so the latest such sighting after the run entered the wait is reported per run (the claim:
  a few seconds, then none until the worker starts the run again), and how many processes
  (python ones among them) existed below the worker while every run was waiting;
- where a run's time goes: planning and leaving (first ``Running`` → ``Carbon window``), the
  restart at the window (``Pending`` → ``Running``: a new process that imports Prefect) and
  cleanshift picking its plan up (``Running`` → the work's first line);
- each run's lateness: when its work started vs the planned start (the ``Carbon window``
  state's scheduled time), and how long before its window it went ``Pending`` again (the
  worker starts a scheduled run's process up to ``--prefetch`` seconds early, so that start-up
  is paid before the window; cleanshift then waits in-process for the start).

Flow runs log at WARNING (``PREFECT_LOGGING_LEVEL``), so the server is not also ingesting INFO
logs from every process.

The script starts its own Prefect server (SQLite, 127.0.0.1, a free port; see
``prefect_stack.py``), polls its health endpoint, and stops the worker, the server and every
process below them at the end. Every loop is bounded in time and count. Results:
``benchmarks/results/prefect_deferred_runs.md`` (and ``.json``).

    flock /tmp/cleanshift-heavy.lock .venvs/prefect/bin/python benchmarks/prefect_deferred_runs.py
    .venvs/prefect/bin/python benchmarks/prefect_deferred_runs.py --runs 4 --jobs 4 --no-write
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
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
from prefect_stack import descendants, prefect_stack, rss_mib, stop

from cleanshift_prefect import CONTINUATION_TAG, WAITING_STATE_NAME

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


def aware(value) -> datetime:
    """A plain aware datetime (the client's datetime types are not always one)."""
    stamp = datetime.fromisoformat(value.isoformat())
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=timezone.utc)


def waiting(state) -> bool:
    """A run in cleanshift's wait: ``Scheduled`` named ``Carbon window``."""
    return state is not None and state.is_scheduled() and state.name == WAITING_STATE_NAME


@dataclass
class Sample:
    t: float  # seconds since the runs were triggered
    processes: int  # processes below the worker (not counting its idle baseline)
    python: int  # of them, python processes
    waiting: int = 0  # runs in Carbon window
    before: int = 0  # runs not yet in their wait (Scheduled, Pending, first Running)
    resumed: int = 0  # runs back from their wait, Pending/Running
    finished: int = 0  # runs in a final state
    waiting_with_process: list[str] = field(default_factory=list)
    #: when the processes were listed (before the states were read)
    wall: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


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


def per_run(run, states: list, triggered: datetime, seen_with_process: list[datetime]) -> dict:
    """One run's path through its wait, from its state history, its result, and the samples
    that found a process of it while it was in ``Carbon window``."""
    wait = next((s for s in states if waiting(s)), None)
    planned = aware(wait.state_details.scheduled_time) if wait is not None else None
    before = [s for s in states if wait is None or s.timestamp < wait.timestamp]
    after = [s for s in states if wait is not None and s.timestamp > wait.timestamp]
    pending = next((aware(s.timestamp) for s in after if s.is_pending()), None)
    first_running = next((aware(s.timestamp) for s in before if s.is_running()), None)
    running = next((aware(s.timestamp) for s in after if s.is_running()), None)
    started = None
    if run.state is not None and run.state.is_completed():
        started = aware(datetime.fromisoformat(run.state.result()["started"]))
    entered = aware(wait.timestamp) if wait is not None else None
    return {
        "flow": run.name,
        "deployment_id": str(run.deployment_id),
        "states": " → ".join(s.name for s in states),
        "run_count": run.run_count,
        "final": run.state.name if run.state is not None else None,
        "waited_at_s": (aware(wait.timestamp) - triggered).total_seconds() if wait else None,
        "planned": planned.isoformat() if planned else None,
        "late_s": (started - planned).total_seconds() if started and planned else None,
        "pending_before_window_s": (planned - pending).total_seconds()
        if planned and pending
        else None,
        # Where the time goes: planning and leaving (first Running -> Carbon window), the
        # restart (Pending at the window -> Running: a new process that imports Prefect), and
        # cleanshift picking its plan up (Running -> the work's first line).
        "plan_and_leave_s": (entered - first_running).total_seconds()
        if entered and first_running
        else None,
        "restart_s": (running - pending).total_seconds() if running and pending else None,
        "running_to_work_s": (started - running).total_seconds() if started and running else None,
        # The process that deferred, still exiting: the latest sample that saw it, s after the
        # run entered Carbon window (None: never seen).
        "process_seen_in_wait_until_s": max(
            (t - entered).total_seconds() for t in seen_with_process
        )
        if entered and seen_with_process
        else None,
    }


def measure(args: argparse.Namespace, workdir: Path) -> dict:
    from prefect.deployments import run_deployment

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
        mine = [  # one at a time: concurrent creation got 503s from the SQLite server
            run_deployment(names[i % args.jobs], parameters={"i": i}, timeout=0, as_subflow=False)
            for i in range(args.runs)
        ]
        trigger_s = time.monotonic() - t0
        ids = {str(r.id) for r in mine}
        seen_waiting: set[str] = set()
        samples: list[Sample] = []
        worker_rss_peak = worker_rss_before
        bound = time.monotonic() + args.timeout
        all_done = False
        while time.monotonic() < bound and len(samples) < 10 * args.timeout:
            procs = processes()
            attributed = Counter(flow_run_of(pid) for pid in procs)
            runs = asyncio.run(read_runs(10 * args.runs))  # read after the processes
            sample = Sample(
                t=time.monotonic() - t0,
                processes=len(procs),
                python=sum(1 for cmd in procs.values() if "python" in cmd.split(" ")[0]),
            )
            for r in runs:
                run_id = str(r.id)
                if waiting(r.state):
                    seen_waiting.add(run_id)
                    sample.waiting += 1
                    if attributed[run_id]:
                        sample.waiting_with_process.append(run_id)
                elif r.state is not None and r.state.is_final():
                    sample.finished += 1
                elif run_id in seen_waiting:
                    sample.resumed += 1
                else:
                    sample.before += 1
            samples.append(sample)
            worker_rss_peak = max(worker_rss_peak, rss_mib(worker.pid)[0])
            if sample.finished >= args.runs:
                all_done = True
                break
            time.sleep(args.sample)

        runs = asyncio.run(read_runs(10 * args.runs))
        states = asyncio.run(history([r.id for r in runs]))
        seen: dict[str, list[datetime]] = {}
        for s in samples:
            for run_id in s.waiting_with_process:
                seen.setdefault(run_id, []).append(s.wall)
        rows = [per_run(r, states[str(r.id)], triggered, seen.get(str(r.id), [])) for r in runs]

        def stats(key: str) -> str | None:
            values = sorted(row[key] for row in rows if row[key] is not None)
            if not values:
                return None
            return f"{values[0]:.1f} / {statistics.median(values):.1f} / {values[-1]:.1f}"

        late = [row["late_s"] for row in rows if row["late_s"] is not None]
        held = [
            row["pending_before_window_s"]
            for row in rows
            if row["pending_before_window_s"] is not None
        ]
        waited = sorted(row["waited_at_s"] for row in rows if row["waited_at_s"] is not None)
        planned = sorted(datetime.fromisoformat(row["planned"]) for row in rows if row["planned"])
        per_job = Counter(row["deployment_id"] for row in rows)
        full = [s for s in samples if s.waiting == args.runs]  # every run in its wait
        return {
            "worker_limit": args.limit,
            "runs": args.runs,
            "jobs": args.jobs,
            "max_delays_s": f"{args.first_deadline:.0f}-{args.first_deadline + (args.jobs - 1) * args.deadline_step:.0f}",
            "poll_s": args.poll,
            "worker_prefetch_s": args.prefetch,
            "sample_period_s": args.sample,
            "triggering_s": trigger_s,
            "flow_runs_on_server": len(runs),
            "flow_runs_per_job": dict(sorted(Counter(per_job.values()).items())),
            "runs_not_triggered_by_the_script": sum(1 for r in runs if str(r.id) not in ids),
            "continuation_runs": sum(1 for r in runs if CONTINUATION_TAG in (r.tags or [])),
            "runs_that_waited": len(waited),
            "state_paths": dict(Counter(row["states"] for row in rows)),
            "final_states": dict(Counter(row["final"] for row in rows)),
            "max_run_count": max((row["run_count"] for row in rows), default=None),
            "first_waiting_after_s": waited[0] if waited else None,
            "all_waiting_after_s": waited[-1] if len(waited) == args.runs else None,
            "max_waiting_at_once": max((s.waiting for s in samples), default=0),
            "all_waiting_phase_s": (full[-1].t - full[0].t) if full else 0.0,
            "all_waiting_samples": len(full),
            "all_waiting_max_processes": max((s.processes for s in full), default=None),
            "all_waiting_max_python_processes": max((s.python for s in full), default=None),
            "samples": len(samples),
            "samples_with_waiting_runs": sum(1 for s in samples if s.waiting),
            "waiting_runs_seen_with_a_process": len(
                {r for s in samples for r in s.waiting_with_process}
            ),
            "waiting_run_samples_with_a_process": sum(len(s.waiting_with_process) for s in samples),
            "waiting_run_samples_without": sum(
                s.waiting - len(s.waiting_with_process) for s in samples
            ),
            "process_seen_in_wait_until_s_min_p50_max": stats("process_seen_in_wait_until_s"),
            "max_processes_overall": max((s.processes for s in samples), default=None),
            "planned_start_spread_s": (planned[-1] - planned[0]).total_seconds()
            if planned
            else None,
            "runs_completed": len(late),
            "all_done": all_done,
            "late_min_s": min(late) if late else None,
            "late_p50_s": statistics.median(late) if late else None,
            "late_p90_s": sorted(late)[int(0.9 * (len(late) - 1))] if late else None,
            "late_max_s": max(late) if late else None,
            "late_within_10s": sum(1 for x in late if 0 <= x < 10),
            "early_starts": sum(1 for x in late if x < 0),
            "plan_and_leave_s_min_p50_max": stats("plan_and_leave_s"),
            "restart_s_min_p50_max": stats("restart_s"),
            "running_to_work_s_min_p50_max": stats("running_to_work_s"),
            "process_before_window_p50_s": statistics.median(held) if held else None,
            "process_before_window_max_s": max(held) if held else None,
            "worker_rss_before_mib": worker_rss_before,
            "worker_rss_peak_mib": worker_rss_peak,
            "wall_s": time.monotonic() - t0,
            "triggered_at": triggered.isoformat(timespec="seconds"),
            "run_rows": rows,
            "timeline": [
                {
                    "t": round(s.t, 1),
                    "processes": s.processes,
                    "python": s.python,
                    "before": s.before,
                    "waiting": s.waiting,
                    "resumed": s.resumed,
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
        "# Prefect: deployment runs waiting for their carbon window as one flow run, with no process",
        "",
        (
            f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
            "Prefect server (SQLite) on 127.0.0.1 and a `process` worker started by the script."
        ),
        "",
        note,
        "",
        "| measure | value |",
        "|---|---|",
    ]
    for key, value in result.items():
        if value is None or key in ("timeline", "run_rows"):
            continue
        lines.append(f"| {key} | {f'{value:.2f}' if isinstance(value, float) else value} |")
    step = max(1, len(result["timeline"]) // 20)
    lines += [
        "",
        f"Timeline (every {step}th sample; the JSON has all):",
        "",
        "| t (s) | processes below the worker (python) | runs before their wait | in Carbon window | back from it | finished |",
        "|---|---|---|---|---|---|",
    ]
    for s in result["timeline"][::step] + result["timeline"][-1:]:
        lines.append(
            f"| {s['t']:.0f} | {s['processes']} ({s['python']}) | {s['before']} | {s['waiting']} "
            f"| {s['resumed']} | {s['finished']} |"
        )
    path = RESULTS / "prefect_deferred_runs.md"
    path.write_text("\n".join(lines) + "\n")
    (RESULTS / "prefect_deferred_runs.json").write_text(json.dumps(result, indent=1, default=str))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--limit", type=int, default=8, help="concurrent flow runs of the worker")
    parser.add_argument("--jobs", type=int, default=20, help="deployments with different max_delay")
    parser.add_argument("--first-deadline", type=float, default=240.0, help="shortest max_delay, s")
    parser.add_argument(
        "--deadline-step", type=float, default=10.0, help="max_delay step between jobs, s"
    )
    parser.add_argument("--poll", type=float, default=2.0, help="worker poll interval, s")
    parser.add_argument(
        "--timeout", type=float, default=1200.0, help="bound on the sampling loop, s"
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
            {k: v for k, v in result.items() if k not in ("timeline", "run_rows")},
            indent=2,
            default=str,
        )
    )
    if not args.no_write:
        print(
            "wrote", write_results(result, f"Arguments: `{' '.join(sys.argv[1:]) or 'defaults'}`.")
        )


if __name__ == "__main__":
    main()
