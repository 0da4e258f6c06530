"""A thousand waiting triggers re-planning on one cached 5-minute, 72-hour forecast.

The real ``CarbonWindowTrigger.run()`` of cleanshift_airflow, 1,000 of them in one event loop
as a triggerer runs them, all on one provider reference, so they share the real process-wide
cache (``shared_provider``) of the real ``file`` provider reading a 5-minute CSV that reaches
74 hours ahead. Jobs of 1-4 hours with deadlines so that each plans on up to 72 hours
(864 points). Each trigger plans in the triggerer (no plan handed in), then re-plans every
``replan_interval``.

The triggers' injected clock and sleep (their test hooks) let the benchmark hold them all
parked and release them together: one *refresh* is "the cached forecast expires, every
trigger wakes and re-plans on the fresh one". The cache's entries are dropped before each
refresh (what its 5-minute TTL does in production), so each refresh costs one real fetch,
and every trigger's re-plan after it is timed:

- CPU: ``time.process_time()`` of the whole refresh (all 1,000 re-plans and the fetch);
- the longest any single callback held the event loop, from a probe on asyncio's
  ``Handle._run`` (what the loop's own slow-callback check times in debug mode), split into
  the callback's own work and the full garbage collections that ran inside it (timed through
  ``gc.callbacks``): a full collection walks the whole heap, most of it Airflow's;
- the same measurement once more in a fresh process whose import-time heap is frozen
  (``gc.freeze()``, a host's choice), to show what the collections cost without that heap.

``--baseline REF`` runs the same measurement on the code of a git ref (e.g. ``main``) in a
subprocess of this run, for before/after ratios.

    flock /tmp/cleanshift-heavy.lock .venvs/airflow/bin/python benchmarks/replan_load.py --baseline main
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from on_ref import last_line, run_on_ref
from timing import Lap, timed

RESULTS = Path(__file__).resolve().parent / "results"
STEP = 300
HORIZON = timedelta(hours=72)
REPLAN_INTERVAL = 60.0
CPU_LIMIT_S, HOLD_LIMIT_MS = 1.0, 50.0
WAIT_LIMIT_S = 120.0  # a round that takes longer has a trigger stuck: fail, do not hang


class HeldClock:
    """The triggers' clock: starts at the real now, moved only by the benchmark."""

    def __init__(self) -> None:
        self.current = datetime.now(timezone.utc)

    def now(self) -> datetime:
        return self.current


class Gate:
    """The triggers' sleep: park until the benchmark opens the next refresh."""

    def __init__(self, triggers: int) -> None:
        self.triggers = triggers
        self.parked = 0
        self.open = asyncio.Event()
        self.all_parked = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        gate = self.open
        self.parked += 1
        if self.parked == self.triggers:
            self.all_parked.set()
        await gate.wait()

    async def release(self) -> None:
        """Wake every trigger and return when all are parked again."""
        self.parked = 0
        self.all_parked.clear()
        gate, self.open = self.open, asyncio.Event()
        gate.set()
        await self.all_parked.wait()


class LoopProbe:
    """The longest single callback the event loop ran (via asyncio's ``Handle._run``), the
    longest once the cyclic garbage collector's time inside it is taken out, and every full
    (generation 2) collection's pause (via ``gc.callbacks``)."""

    def __init__(self) -> None:
        self.longest = self.longest_own = 0.0
        self.full_collections: list[float] = []
        self._collecting = self._collector_start = 0.0
        gc.callbacks.append(self._on_collection)
        original = asyncio.events.Handle._run

        def timed(handle: asyncio.events.Handle) -> None:
            collected_before, t0 = self._collecting, time.perf_counter()
            original(handle)
            took = time.perf_counter() - t0
            self.longest = max(self.longest, took)
            self.longest_own = max(self.longest_own, took - (self._collecting - collected_before))

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    def _on_collection(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._collector_start = time.perf_counter()
            return
        took = time.perf_counter() - self._collector_start
        self._collecting += took
        if info["generation"] == 2:
            self.full_collections.append(took)

    def reset(self) -> None:
        self.longest = self.longest_own = 0.0
        self.full_collections = []


def write_forecast(path: Path, start: datetime) -> int:
    """A 5-minute CSV from an hour before ``start`` to 74 hours after it."""
    first = int(start.timestamp()) // STEP * STEP - 3600
    lines = ["Time,Carbon Intensity"]
    for k, t in enumerate(range(first, first + 75 * 3600, STEP)):
        value = 250 + 120 * ((k * 7919) % 97) / 97 + 80 * (1 if (t // 3600) % 24 < 7 else 0)
        stamp = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{stamp},{value:.1f}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


async def measure(triggers: int, refreshes: int, freeze_imports: bool = False) -> dict:
    """``freeze_imports``: move everything imported so far (the triggerer's own heap) out of
    the collector's sight with ``gc.freeze()``, to see what the triggers alone cost it."""
    import airflow.jobs.triggerer_job_runner  # noqa: F401 - a triggerer's import-time heap

    from cleanshift_airflow.triggers import CarbonWindowTrigger
    from cleanshift_core import shared_provider

    gc.collect()
    imported_objects = len(gc.get_objects())
    if freeze_imports:
        gc.freeze()
    probe = LoopProbe()
    clock, gate = HeldClock(), Gate(triggers)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "forecast.csv"
        points = write_forecast(csv, clock.now())
        ref = {"kind": "file", "path": str(csv)}
        cache = shared_provider(ref)
        runs = []
        for i in range(triggers):
            duration = 3600.0 * (1 + i % 4)
            trigger = CarbonWindowTrigger(
                provider=ref,
                duration=duration,
                max_delay=HORIZON.total_seconds() - duration - STEP * (i % 97),
                replan_interval=REPLAN_INTERVAL,
                clock=clock,
                sleep=gate.sleep,
            )
            runs.append(trigger.run())

        async def drain(events: object) -> None:
            async for _ in events:  # type: ignore[attr-defined]
                raise RuntimeError("a trigger fired during the benchmark")

        rows = []
        probe.reset()
        with timed() as lap:
            tasks = [asyncio.ensure_future(drain(r)) for r in runs]
            await asyncio.wait_for(gate.all_parked.wait(), WAIT_LIMIT_S)
        rows.append(_row("first plan", lap, probe, cache.fetches))
        for k in range(refreshes):
            clock.current += timedelta(seconds=REPLAN_INTERVAL)
            cache._results.clear()  # what the 5-minute TTL does: the next ask fetches again
            fetches = cache.fetches
            probe.reset()
            with timed() as lap:
                await asyncio.wait_for(gate.release(), WAIT_LIMIT_S)
            rows.append(_row(f"refresh {k + 1}", lap, probe, cache.fetches - fetches))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        gc.collect()
        heap = {
            "imports": imported_objects,
            "with_triggers": len(gc.get_objects()) + gc.get_freeze_count(),
        }
    return {"triggers": triggers, "points": points, "rows": rows, "heap": heap}


def _row(label: str, lap: Lap, probe: LoopProbe, fetches: int) -> dict:
    return {
        "round": label,
        "cpu_s": lap.cpu_s,
        "wall_s": lap.wall_s,
        "longest_callback_ms": probe.longest * 1000.0,
        "longest_own_ms": probe.longest_own * 1000.0,
        "full_collections_ms": [t * 1000.0 for t in probe.full_collections],
        "fetches": fetches,
    }


def baseline(ref: str, triggers: int, refreshes: int) -> dict:
    """The same measurement on the code of ``ref``, in a subprocess of this run."""
    statement = (
        "import asyncio, json, replan_load as b; b.quiet(); "
        f"print(json.dumps(asyncio.run(b.measure({triggers}, {refreshes}))))"
    )
    return json.loads(run_on_ref(ref, "cleanshift_airflow", statement))


def frozen(triggers: int, refreshes: int) -> dict:
    """This tree measured with the triggerer's import-time heap frozen, in a fresh subprocess
    (a freeze cannot be undone for the rest of a process)."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
        "import asyncio, json, replan_load as b; b.quiet(); "
        f"print(json.dumps(asyncio.run(b.measure({triggers}, {refreshes}, freeze_imports=True))))"
    )
    return json.loads(last_line(code))


def quiet() -> None:
    logging.disable(logging.WARNING)  # one INFO line per trigger is the triggerer's business


def summary(result: dict) -> dict:
    refreshes = [r for r in result["rows"] if r["round"].startswith("refresh")]
    pauses = [t for r in refreshes for t in r["full_collections_ms"]]
    return {
        "median_refresh_cpu_s": statistics.median(r["cpu_s"] for r in refreshes),
        "max_refresh_cpu_s": max(r["cpu_s"] for r in refreshes),
        "longest_callback_ms": max(r["longest_callback_ms"] for r in refreshes),
        "longest_own_ms": max(r["longest_own_ms"] for r in refreshes),
        "full_collections": len(pauses),
        "longest_full_collection_ms": max(pauses, default=0.0),
    }


def _collections(row: dict) -> str:
    pauses = row["full_collections_ms"]
    return ", ".join(f"{t:.0f} ms" for t in pauses) if pauses else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--refreshes", type=int, default=8)
    parser.add_argument("--baseline", help="git ref to measure the same way (e.g. main)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    quiet()
    load = os.getloadavg()[0]
    result = asyncio.run(measure(args.triggers, args.refreshes))
    result["summary"] = summary(result)
    result["frozen"] = frozen(args.triggers, args.refreshes)
    result["frozen"]["summary"] = summary(result["frozen"])
    if args.baseline:
        before = baseline(args.baseline, args.triggers, args.refreshes)
        before["summary"] = summary(before)
        result["baseline"] = {"ref": args.baseline, **before}

    header = (
        "| code | round | CPU | wall | longest callback | without the collector's pauses "
        "| full collections | fetches |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|"]
    runs = [("this tree", result), ("this tree, imports frozen", result["frozen"])] + (
        [(args.baseline, result["baseline"])] if args.baseline else []
    )
    for name, run in runs:
        for r in run["rows"]:
            lines.append(
                f"| {name} | {r['round']} | {r['cpu_s']:.2f} s | {r['wall_s']:.2f} s | "
                f"{r['longest_callback_ms']:.1f} ms | {r['longest_own_ms']:.1f} ms | "
                f"{_collections(r)} | {r['fetches']} |"
            )
    now, cold = result["summary"], result["frozen"]["summary"]
    goals = [
        (f"CPU per refresh ≤ {CPU_LIMIT_S:g} s", now["max_refresh_cpu_s"] <= CPU_LIMIT_S),
        (
            f"no callback's own work (collector pauses aside) holds the loop > {HOLD_LIMIT_MS:g} ms",
            now["longest_own_ms"] <= HOLD_LIMIT_MS,
        ),
        (
            f"no callback, collector pauses included, holds the loop > {HOLD_LIMIT_MS:g} ms",
            now["longest_callback_ms"] <= HOLD_LIMIT_MS,
        ),
    ]
    result["goals"] = dict(goals)
    heap = result["heap"]
    notes = [
        (
            f"{args.triggers:,} CarbonWindowTrigger.run() in one event loop on one shared cache of "
            f"the file provider ({result['points']:,} points at 5 minutes); jobs of 1-4 h planning on "
            f"up to {HORIZON}; {args.refreshes} refreshes (Python {platform.python_version()}, "
            f"{os.cpu_count()} cores, load average {load:.1f} when it started)."
        ),
        (
            f"This tree: median CPU per refresh {now['median_refresh_cpu_s']:.2f} s (max "
            f"{now['max_refresh_cpu_s']:.2f} s); longest callback {now['longest_callback_ms']:.1f} ms, "
            f"without the collector's pauses at most {now['longest_own_ms']:.1f} ms; "
            f"{now['full_collections']} full collections in {args.refreshes} refreshes, the longest "
            f"{now['longest_full_collection_ms']:.0f} ms."
        ),
        (
            f"The heap a full collection walks: {heap['imports']:,} tracked objects after the "
            f"triggerer's imports (Airflow's own), {heap['with_triggers']:,} with the triggers "
            f"waiting ({(heap['with_triggers'] - heap['imports']) / args.triggers:.0f} per trigger)."
        ),
        (
            f"With that import-time heap frozen (gc.freeze(), as Airflow's DAG processor and local "
            f"executor do for theirs; a fresh process): longest callback "
            f"{cold['longest_callback_ms']:.1f} ms, full collections "
            f"{cold['full_collections']}, the longest {cold['longest_full_collection_ms']:.0f} ms."
        ),
    ]
    if args.baseline:
        before = result["baseline"]["summary"]
        notes.append(
            f"{args.baseline}: median CPU per refresh {before['median_refresh_cpu_s']:.2f} s, "
            f"longest callback {before['longest_callback_ms']:.1f} ms (own work "
            f"{before['longest_own_ms']:.1f} ms); ratio "
            f"{before['median_refresh_cpu_s'] / now['median_refresh_cpu_s']:.1f}× CPU."
        )
    notes += [f"Goal {name}: {'met' if met else 'MISSED'}." for name, met in goals]
    table = "\n".join(lines)
    print(table)
    print("\n".join("- " + n for n in notes))
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "replan_load.json").write_text(
            json.dumps({**result, "notes": notes}, indent=2) + "\n"
        )
        (RESULTS / "replan_load.md").write_text(
            table + "\n\n" + "\n".join("- " + n for n in notes) + "\n"
        )


if __name__ == "__main__":
    main()
