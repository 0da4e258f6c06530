"""Prefect under load: many decorated tasks waiting at once, many deployment runs deferred.

(a) ``--tasks N`` (default 1,000) ``@carbon_window`` async tasks wait at once in one flow run,
    against a real Prefect server. Every task shares one provider spec, so the process-wide
    cache must turn N plans and re-plans into one forecast fetch per refresh. Each task's
    ``max_delay`` differs, and the mock grid falls steadily until after the longest one, so
    each task's cleanest window is near its own deadline: the waits spread from seconds to
    about ``--longest`` seconds. Reported: wall time vs the longest and the summed wait,
    lateness of every start vs its planned start (each body compares its own start with
    ``current_plan().start``), the artifacts read back from the server, forecast/history
    fetches, and the RSS of this (the flow's) process.
(b) ``--deferred M`` (default 100) runs of a served deployment each plan, hand their work to a
    continuation scheduled at their window and exit. While the continuations wait, the number
    of flow-run processes under ``serve()`` is sampled (should be 0); each continuation's
    lateness vs its planned start is read back from the server (target: under 10 s).

The script starts its own Prefect server (SQLite, 127.0.0.1, a free port), polls its health
endpoint, and stops it and every process it started at the end. Every loop is bounded in time
and count. Numbers go to ``benchmarks/results/prefect_load.md``.

    .venvs/prefect/bin/python benchmarks/prefect_load.py            # both parts
    .venvs/prefect/bin/python benchmarks/prefect_load.py --part a --tasks 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
#: Mock curve for part (a): one curve hour is 10 real seconds, so the fall from the daily peak
#: (15:00) to the trough (03:00) lasts 120 s: room for waits up to ~110 s on a falling grid.
SPEEDUP_A = 360
#: Grid points of the served deployment's CSV (part b).
POINT_B = timedelta(seconds=5)


# ---------------------------------------------------------------------------------------------
# Process helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``, with its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                try:
                    cmd = (Path("/proc") / str(child) / "cmdline").read_bytes()
                    found[child] = cmd.replace(b"\0", b" ").decode()
                except OSError:
                    found[child] = "?"
                frontier.append(child)
    return found


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGINT, then SIGKILL the whole process group if it does not go."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class PrefectServer:
    """``prefect server start`` on 127.0.0.1 in a temporary home; healthy on entry, gone on exit."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> PrefectServer:
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_API_URL": self.url,
            "PREFECT_UI_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        self.log = (self.home / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited: {(self.home / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prefect server not healthy within 120 s")
            time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)
        self.log.close()


class RssSampler(threading.Thread):
    """Samples RSS of this process (and optionally others) every ``period`` seconds."""

    def __init__(self, period: float = 0.5, others: dict[str, int] | None = None) -> None:
        super().__init__(daemon=True)
        self.period, self.others = period, others or {}
        self.peak: dict[str, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for name, pid in {"flow process": os.getpid(), **self.others}.items():
                try:
                    current, _ = rss_mib(pid)
                except OSError:
                    continue
                self.peak[name] = max(self.peak.get(name, 0.0), current)
            self._halt.wait(self.period)

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        return self.peak


# ---------------------------------------------------------------------------------------------
# Part (a): N decorated async tasks waiting at once in one flow


def part_a(api_url: str, tasks: int, longest: float, replan: float, write_slots: int) -> dict:
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from cleanshift_core import shared_provider
    from cleanshift_core.providers.base import GridIntensityProvider
    from cleanshift_prefect import carbon_window, current_plan, outbox

    outbox.MAX_CONCURRENT_WRITES = write_slots  # read when the flow's loop makes its semaphore

    class Counting(GridIntensityProvider):
        """Counts the fetches that get past the shared cache to the real provider."""

        def __init__(self, inner: GridIntensityProvider) -> None:
            self.inner, self.kind = inner, inner.kind
            self.forecast_horizon = inner.forecast_horizon
            self.calls = {"forecast": 0, "history": 0, "current": 0}

        region = property(lambda self: self.inner.region)
        signal = property(lambda self: self.inner.signal)

        async def current(self):
            self.calls["current"] += 1
            return await self.inner.current()

        async def forecast(self, start, end):
            self.calls["forecast"] += 1
            return await self.inner.forecast(start, end)

        async def history(self, start, end):
            self.calls["history"] += 1
            return await self.inner.history(start, end)

    @flow(name="load-many-waiting-tasks", timeout_seconds=3 * longest + 600)  # bounds a stall
    async def many(n: int) -> dict:
        began = datetime.now(timezone.utc).replace(microsecond=0)
        trough = began + timedelta(seconds=longest + 20)
        spec = {
            "kind": "mock", "region": "LOAD", "speedup": SPEEDUP_A,
            "anchor": trough.isoformat(), "anchor_hour": 3,
        }
        cached = shared_provider(spec)
        counting = Counting(cached.inner)
        cached.inner = counting  # count what reaches the provider behind the shared cache
        step = 3600 / SPEEDUP_A
        groups = 50  # distinct deadlines, spread evenly up to the longest wait
        decorated = []
        for g in range(groups):
            max_delay = step + (longest - step) * (g + 1) / groups

            @task(name=f"wait-{g:02d}", persist_result=False)
            @carbon_window(spec, duration=f"{step}s", max_delay=f"{max_delay}s",
                           replan_interval=f"{replan}s")
            async def work(i: int) -> tuple[int, str, str]:
                ran = datetime.now(timezone.utc)
                return i, ran.isoformat(), current_plan().start.isoformat()

            decorated.append(work)
        t0 = time.monotonic()
        results = await asyncio.gather(*(decorated[i % groups](i) for i in range(n)))
        wall = time.monotonic() - t0
        returned = datetime.now(timezone.utc)
        waits = [(datetime.fromisoformat(ran) - began).total_seconds() for _, ran, _ in results]
        late = [(datetime.fromisoformat(ran) - datetime.fromisoformat(planned)).total_seconds()
                for _, ran, planned in results]
        last_start = max(datetime.fromisoformat(ran) for _, ran, _ in results)
        return {"wall": wall, "waits": waits, "late": late, "calls": dict(counting.calls),
                "drain": (returned - last_start).total_seconds(),
                "cache_fetches": cached.fetches, "began": began.isoformat(),
                "done": sorted(i for i, _, _ in results) == list(range(n))}

    sampler = RssSampler()
    base_rss, _ = rss_mib()
    sampler.start()
    t0 = time.monotonic()
    state = asyncio.run(many(tasks, return_state=True))
    total = time.monotonic() - t0
    peak = sampler.stop()
    out = state.result()
    flow_run_id = state.state_details.flow_run_id

    async def artifacts() -> dict[str, int]:
        """The flow run's artifacts read back from the server, counted by kind (key suffix)."""
        kinds = {"carbon-deferral": 0, "carbon-wait": 0, "carbon-receipt": 0, "carbon-report": 0}
        offset, progress_at_100 = 0, 0
        async with get_client() as client:
            while offset < 10 * tasks:  # bounded paging
                page = await client.read_artifacts(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                    limit=200, offset=offset,
                )
                if not page:
                    break
                for artifact in page:
                    kind = next((k for k in kinds if (artifact.key or "").endswith(k)), None)
                    if kind is not None:
                        kinds[kind] += 1
                    if kind == "carbon-wait" and artifact.data == 100.0:
                        progress_at_100 += 1
                offset += len(page)
        return {**kinds, "progress at 100%": progress_at_100}

    found = asyncio.run(artifacts())
    late, waits = sorted(out["late"]), out["waits"]
    peak_rss = peak.get("flow process")
    return {
        "tasks": tasks,
        "all returned": out["done"],
        "wall_s": out["wall"],
        "flow_run_total_s": total,
        "last_start_to_all_returned_s": out["drain"],
        "artifact_write_slots": write_slots,
        "longest_wait_s": max(waits),
        "shortest_wait_s": min(waits),
        "sum_of_waits_s": sum(waits),
        "early_starts": sum(1 for x in late if x < 0),
        "p50_late_s": late[len(late) // 2],
        "p99_late_s": late[min(len(late) - 1, int(len(late) * 0.99))],
        "max_late_s": late[-1],
        "late_over_1s": sum(1 for x in late if x > 1),
        "deferral_artifacts": found["carbon-deferral"],
        "progress_artifacts": found["carbon-wait"],
        "progress_artifacts_at_100pct": found["progress at 100%"],
        "receipt_tables": found["carbon-receipt"],
        "receipt_reports": found["carbon-report"],
        "forecast_fetches": out["calls"]["forecast"],
        "history_fetches": out["calls"]["history"],
        "cache_fetches_total": out["cache_fetches"],
        "replan_interval_s": replan,
        "rss_before_mib": base_rss,
        "rss_peak_mib": peak_rss,
        "rss_per_task_kib": (peak_rss - base_rss) * 1024 / tasks if peak_rss else None,
    }


# ---------------------------------------------------------------------------------------------
# Part (b): M deferred deployment runs holding no processes


def write_falling_grid(path: Path, start: datetime, minutes: int) -> None:
    """A grid that falls 1 g every point for ``minutes`` and then rises: every run's cleanest
    window is at its own deadline (its plan time + max_delay), so continuations spread out at
    the rate the originals were planned."""
    lines = ["time,intensity"]
    count = int(minutes * 60 / POINT_B.total_seconds())
    for k in range(count + 120):
        value = 900 - k if k < count else 900 - count + (k - count) * 5
        lines.append(f"{(start + k * POINT_B).isoformat()},{max(value, 50)}")
    path.write_text("\n".join(lines) + "\n")


#: The served deployment, written to a file and run as ``python served.py``: each flow run is a
#: fresh process that imports it (as the project's own deployment test does).
SERVED = """
import os
from datetime import datetime, timezone

from prefect import flow

from cleanshift_prefect import carbon_window


@flow(name="load-deferred", persist_result=True)
@carbon_window(
    {"kind": "file", "path": os.environ["LOAD_GRID"], "region": "LOAD"},
    duration="5s",
    max_delay=os.environ["LOAD_MAX_DELAY"],
    min_deferral="5s",
)
def deferred(i: int) -> dict:
    return {"i": i, "started": datetime.now(timezone.utc).isoformat(), "pid": os.getpid()}


if __name__ == "__main__":
    deferred.serve(name="load", limit=int(os.environ["LOAD_LIMIT"]))
"""


def part_b(api_url: str, runs: int, max_delay: float, limit: int, workdir: Path) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.deployments import run_deployment

    from cleanshift_prefect import CONTINUATION_TAG, DEFERRED_STATE_NAME

    grid = workdir / "grid.csv"
    write_falling_grid(grid, datetime.now(timezone.utc).replace(second=0, microsecond=0), 60)
    env = {
        **os.environ,
        "PREFECT_API_URL": api_url,
        "LOAD_GRID": str(grid),
        "LOAD_MAX_DELAY": f"{max_delay}s",
        "LOAD_LIMIT": str(limit),
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    log = (workdir / "serve.log").open("wb")
    served = workdir / "served.py"
    served.write_text(SERVED)
    serve = subprocess.Popen([sys.executable, str(served)], env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)

    async def deployment_ready() -> bool:
        async with get_client() as client:
            try:
                await client.read_deployment_by_name("load-deferred/load")
                return True
            except Exception:
                return False

    async def read_runs(tag: str | None = None) -> list:
        out, offset = [], 0
        async with get_client() as client:
            while offset < 10 * runs:
                page = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])) if tag else None,
                    limit=200, offset=offset,
                )
                if not page:
                    break
                out += page
                offset += len(page)
        return out

    try:
        deadline = time.monotonic() + 120
        while not asyncio.run(deployment_ready()):
            if serve.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "serve.log").read_text()[-3000:])
            time.sleep(0.5)
        baseline = set(descendants(serve.pid))

        def run_processes() -> int:
            return sum(1 for pid, cmd in descendants(serve.pid).items()
                       if pid not in baseline and "resource_tracker" not in cmd)

        triggered_at = time.monotonic()
        originals = [
            run_deployment("load-deferred/load", parameters={"i": i}, timeout=0, as_subflow=False)
            for i in range(runs)
        ]
        original_ids = {r.id for r in originals}
        samples: list[tuple[float, int, int, int]] = []  # (t, processes, deferred, continuations done)
        deadline = time.monotonic() + max_delay + runs * 10 + 300
        all_done = False
        while time.monotonic() < deadline:
            every = asyncio.run(read_runs())
            mine = [r for r in every if r.id in original_ids]
            conts = [r for r in every if CONTINUATION_TAG in r.tags]
            deferred = sum(1 for r in mine if r.state and r.state.name == DEFERRED_STATE_NAME)
            running_conts = sum(1 for r in conts if r.state and not r.state.is_scheduled())
            done = sum(1 for r in conts if r.state and r.state.is_final())
            samples.append((time.monotonic() - triggered_at, run_processes(), deferred, running_conts))
            if done >= runs and len(conts) >= runs:
                all_done = True
                break
            time.sleep(1.0)

        every = asyncio.run(read_runs())
        mine = [r for r in every if r.id in original_ids]
        conts = [r for r in every if CONTINUATION_TAG in r.tags]
        # The pure waiting phase: every original has deferred, no continuation has left Scheduled.
        waiting = [s for s in samples if s[2] == runs and s[3] == 0]
        late = []
        for c in conts:
            if c.state is not None and c.state.is_completed():
                result = c.state.result()
                planned = datetime.fromisoformat(c.context["cleanshift"]["plan"]["start"])
                late.append((datetime.fromisoformat(result["started"]) - planned).total_seconds())
        planned_starts = sorted(
            datetime.fromisoformat(c.context["cleanshift"]["plan"]["start"]) for c in conts
        )
        return {
            "runs": runs,
            "serve_limit": limit,
            "max_delay_s": max_delay,
            "originals_deferred": sum(1 for r in mine if r.state and r.state.name == DEFERRED_STATE_NAME),
            "continuations": len(conts),
            "continuations_completed": len(late),
            "all_done": all_done,
            "waiting_phase_samples": len(waiting),
            "waiting_phase_s": (waiting[-1][0] - waiting[0][0]) if waiting else 0.0,
            "max_processes_while_all_waiting": max((s[1] for s in waiting), default=None),
            "waiting_samples_with_a_process": sum(1 for s in waiting if s[1] > 0),
            "seconds_into_waiting_of_those_samples": ", ".join(
                f"{s[0] - waiting[0][0]:.0f}" for s in waiting if s[1] > 0
            ) or "none",
            "max_processes_overall": max((s[1] for s in samples), default=None),
            "planned_start_spread_s": (planned_starts[-1] - planned_starts[0]).total_seconds()
            if planned_starts else None,
            "max_late_s": max(late) if late else None,
            "min_late_s": min(late) if late else None,
            "within_10s": sum(1 for x in late if 0 <= x < 10),
        }
    finally:
        stop(serve)
        log.close()


# ---------------------------------------------------------------------------------------------


def write_results(a: dict | None, b: dict | None, note: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    lines = ["# Prefect under load", "", f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
             f"on {os.cpu_count()} cores, Prefect server (SQLite) on 127.0.0.1 started by the script.",
             "", note, ""]
    for title, data in (("(a) decorated async tasks waiting at once in one flow", a),
                        ("(b) deferred deployment runs", b)):
        if data is None:
            continue
        lines += [f"## {title}", "", "| measure | value |", "|---|---|"]
        for key, value in data.items():
            if value is None:
                continue
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            lines.append(f"| {key} | {shown} |")
        lines.append("")
    path = RESULTS / "prefect_load.md"
    path.write_text("\n".join(lines))
    (RESULTS / "prefect_load.json").write_text(json.dumps({"a": a, "b": b}, indent=2))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--longest", type=float, default=90.0, help="longest wait in part a, s")
    parser.add_argument("--replan", type=float, default=30.0, help="re-plan interval in part a, s")
    parser.add_argument("--write-slots", type=int, default=4,
                        help="part a: artifact writes in flight per flow run (outbox)")
    parser.add_argument("--deferred", type=int, default=100)
    parser.add_argument("--max-delay", type=float, default=240.0, help="part b max_delay, s")
    parser.add_argument("--limit", type=int, default=4, help="serve() concurrent runs, part b")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cleanshift-prefect-load-"))
    (work / "home").mkdir()
    with PrefectServer(work / "home") as server:
        os.environ.update({
            "PREFECT_API_URL": server.url,
            "PREFECT_HOME": str(work / "home"),
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(work / "storage"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        })
        a = b = None
        if args.part in ("a", "both"):
            server_before, _ = rss_mib(server.proc.pid)
            a = part_a(server.url, args.tasks, args.longest, args.replan, args.write_slots)
            a["server_rss_after_mib"] = rss_mib(server.proc.pid)[0]
            a["server_rss_before_mib"] = server_before
            print(json.dumps(a, indent=2), flush=True)
        if args.part in ("b", "both"):
            b = part_b(server.url, args.deferred, args.max_delay, args.limit, work)
            print(json.dumps(b, indent=2), flush=True)
    note = " ".join(sys.argv[1:]) or "defaults"
    print("wrote", write_results(a, b, f"Arguments: `{note}`."))


if __name__ == "__main__":
    main()
