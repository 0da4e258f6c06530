"""Prefect under load: many ``@carbon_window`` async tasks waiting at once in one flow run.

``--tasks N`` (default 1,000) decorated async tasks wait at once in one flow run, against a
real Prefect server. Every task shares one provider spec, so the process-wide cache must turn
N plans and re-plans into one forecast fetch per refresh. Each task's ``max_delay`` differs,
and the mock grid falls steadily until after the longest one, so each task's cleanest window
is near its own deadline: the waits spread from seconds to about ``--longest`` seconds.
Reported: wall time vs the longest and the summed wait, lateness of every start vs its planned
start (each body compares its own start with ``current_plan().start``), the artifacts read
back from the server, forecast/history fetches, and the RSS of this (the flow's) process.

Deferred deployment runs (many runs holding no process while they wait) are measured by
``prefect_deferred_runs.py``.

The script starts its own Prefect server (SQLite, 127.0.0.1, a free port; see
``prefect_stack.py``), polls its health endpoint, and stops it and every process it started at
the end. Every loop is bounded in time and count. Numbers go to
``benchmarks/results/prefect_load.md`` (and ``.json``).

    flock /tmp/bench.lock .venvs/prefect/bin/python benchmarks/prefect_load.py
    .venvs/prefect/bin/python benchmarks/prefect_load.py --tasks 200 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prefect_stack import prefect_stack, rss_mib

RESULTS = Path(__file__).resolve().parent / "results"
#: Mock curve: one curve hour is 10 real seconds, so the fall from the daily peak
#: (15:00) to the trough (03:00) lasts 120 s: room for waits up to ~110 s on a falling grid.
SPEEDUP = 360


# ---------------------------------------------------------------------------------------------
# Measuring


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
# N decorated async tasks waiting at once in one flow


def measure(tasks: int, longest: float, replan: float, write_slots: int) -> dict:
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
            "kind": "mock",
            "region": "LOAD",
            "speedup": SPEEDUP,
            "anchor": trough.isoformat(),
            "anchor_hour": 3,
        }
        cached = shared_provider(spec)
        counting = Counting(cached.inner)
        cached.inner = counting  # count what reaches the provider behind the shared cache
        step = 3600 / SPEEDUP
        groups = 50  # distinct deadlines, spread evenly up to the longest wait
        decorated = []
        for g in range(groups):
            max_delay = step + (longest - step) * (g + 1) / groups

            @task(name=f"wait-{g:02d}", persist_result=False)
            @carbon_window(
                spec, duration=f"{step}s", max_delay=f"{max_delay}s", replan_interval=f"{replan}s"
            )
            async def work(i: int) -> tuple[int, str, str]:
                ran = datetime.now(timezone.utc)
                return i, ran.isoformat(), current_plan().start.isoformat()

            decorated.append(work)
        t0 = time.monotonic()
        results = await asyncio.gather(*(decorated[i % groups](i) for i in range(n)))
        wall = time.monotonic() - t0
        returned = datetime.now(timezone.utc)
        waits = [(datetime.fromisoformat(ran) - began).total_seconds() for _, ran, _ in results]
        late = [
            (datetime.fromisoformat(ran) - datetime.fromisoformat(planned)).total_seconds()
            for _, ran, planned in results
        ]
        last_start = max(datetime.fromisoformat(ran) for _, ran, _ in results)
        return {
            "wall": wall,
            "waits": waits,
            "late": late,
            "calls": dict(counting.calls),
            "drain": (returned - last_start).total_seconds(),
            "cache_fetches": cached.fetches,
            "began": began.isoformat(),
            "done": sorted(i for i, _, _ in results) == list(range(n)),
        }

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
                    limit=200,
                    offset=offset,
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


def write_results(a: dict, note: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    lines = [
        "# Prefect under load",
        "",
        (
            f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
            f"on {os.cpu_count()} cores, Prefect server (SQLite) on 127.0.0.1 started by the script."
        ),
        "",
        note,
        "",
        "## (a) decorated async tasks waiting at once in one flow",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    for key, value in a.items():
        if value is None:
            continue
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {shown} |")
    lines.append("")
    path = RESULTS / "prefect_load.md"
    path.write_text("\n".join(lines))
    (RESULTS / "prefect_load.json").write_text(json.dumps({"a": a}, indent=2))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--longest", type=float, default=90.0, help="longest wait, s")
    parser.add_argument("--replan", type=float, default=30.0, help="re-plan interval, s")
    parser.add_argument(
        "--write-slots", type=int, default=4, help="artifact writes in flight per flow run (outbox)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only (trial runs)")
    args = parser.parse_args()
    with prefect_stack("cleanshift-prefect-load-") as (server, _):
        server_before, _ = rss_mib(server.proc.pid)
        a = measure(args.tasks, args.longest, args.replan, args.write_slots)
        a["server_rss_after_mib"] = rss_mib(server.proc.pid)[0]
        a["server_rss_before_mib"] = server_before
        print(json.dumps(a, indent=2), flush=True)
    if not args.no_write:
        note = " ".join(sys.argv[1:]) or "defaults"
        print("wrote", write_results(a, f"Arguments: `{note}`."))


if __name__ == "__main__":
    main()
