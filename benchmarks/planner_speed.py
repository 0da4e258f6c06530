"""Planning cost: provider points → validated series → Plan, against the real peers.

What every front door runs: ``IntensitySeries.from_points`` on the provider's points, then
``decide`` → ``Plan`` (JSON-serialised, as it travels). Raced, in this one process and
interleaved round by round so machine load hits every method alike, against

- the seed, cleanshift 0.1.0 from PyPI: ``cleanshift.find_cleanest_window`` (O(n²));
- CATS 1.2.1 from PyPI (``climate-aware-task-scheduler``): ``min(WindowedForecast(...))``,
  O(n·w).

Both are installed as the real packages by ``scripts/bench_env.sh`` into ``.venvs/bench``;
neither is a project dependency. Each peer gets its own point type, built before timing (as
its provider would hand it over). ``--baseline REF`` also times this path on the code of a
git ref (e.g. ``main``), extracted to a temporary directory and run in a subprocess of this
run, for before/after ratios.

Series: a week (2,016 points) and a year (105,120) of 5-minute data, synthetic but grid-like
(a daily cycle plus a seeded random walk); job: 4 hours, any start that fits. The seed cannot
finish a year (about 10¹⁰ comparisons), so it runs on the week only.

    bash scripts/bench_env.sh
    flock /tmp/cleanshift-heavy.lock .venvs/bench/bin/python benchmarks/planner_speed.py --baseline main
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from on_ref import run_on_ref
from timing import race

RESULTS = Path(__file__).resolve().parent / "results"
STEP = timedelta(minutes=5)
DURATION = timedelta(hours=4)
WEEK, YEAR = 2016, 105_120
PLAN_LIMIT_BYTES = 16 * 1024


def synthetic_values(points: int, seed: int = 2020) -> list[float]:
    rng = random.Random(seed)
    walk, out = 0.0, []
    for k in range(points):
        hour = (k * STEP.total_seconds() / 3600.0) % 24
        walk = 0.98 * walk + rng.gauss(0, 6)
        out.append(max(5.0, 300 + 120 * math.sin(2 * math.pi * (hour - 9) / 24) + walk))
    return out


def grid_start() -> datetime:
    """The current 5-minute boundary: the seed plans from its own datetime.now()."""
    now = time.time()
    return datetime.fromtimestamp(now - now % 300, timezone.utc)


def cleanshift_path(
    points: int, start: datetime | None = None
) -> Callable[[], tuple[datetime, int]]:
    """points → from_points → decide → Plan JSON, on whatever cleanshift_core is importable."""
    from cleanshift_core import IntensityPoint, IntensitySeries, JobSpec, SchedulingRules
    from cleanshift_core.policies import decide

    start = start or grid_start()
    raw = [
        IntensityPoint(start + k * STEP, STEP, v) for k, v in enumerate(synthetic_values(points))
    ]
    job = JobSpec(duration=DURATION, earliest_start=start, finish_by=start + points * STEP)
    rules = SchedulingRules()

    def run() -> tuple[datetime, int]:
        series = IntensitySeries.from_points(
            raw, signal="average/lifecycle", provider="synthetic", region="X"
        )
        plan = decide(series, job, rules, start)
        return plan.start, len(plan.model_dump_json())

    return run


def seed_path(points: int) -> Callable[[], datetime]:
    """cleanshift 0.1.0's find_cleanest_window over a provider that hands it the points."""
    from cleanshift import find_cleanest_window
    from cleanshift.providers.base import GridIntensityProvider, IntensityPoint

    start = grid_start()
    forecast = [IntensityPoint(start + k * STEP, v) for k, v in enumerate(synthetic_values(points))]

    class Points(GridIntensityProvider):
        provider_name = "synthetic"
        region = "X"

        async def current(self) -> IntensityPoint:
            return forecast[0]

        async def forecast(self, from_dt: datetime, to_dt: datetime) -> list[IntensityPoint]:
            return forecast

    hours = DURATION.total_seconds() / 3600
    delay = points * STEP.total_seconds() / 3600 - hours
    return lambda: find_cleanest_window(Points(), duration_hours=hours, max_delay_hours=delay)


def cats_path(points: int) -> Callable[[], datetime]:
    """CATS 1.2.1: the cleanest of its WindowedForecast windows (what ``cats`` itself does)."""
    from cats.forecast import PointEstimate, WindowedForecast

    start = grid_start()
    data = [PointEstimate(v, start + k * STEP) for k, v in enumerate(synthetic_values(points))]
    minutes = int(DURATION.total_seconds() // 60)
    return lambda: min(WindowedForecast(data, minutes, start)).start


def brute_force_start(points: int, start: datetime) -> datetime:
    """The correctness reference on the series that starts at ``start``: every candidate
    start integrated directly, O(n·w)."""
    from reference import brute_force_scan

    from cleanshift_core import IntensityPoint, IntensitySeries
    from cleanshift_core.timeutil import from_epoch, to_epoch

    series = IntensitySeries.from_points(
        [IntensityPoint(start + k * STEP, STEP, v) for k, v in enumerate(synthetic_values(points))],
        signal="average/lifecycle",
        provider="synthetic",
        region="X",
    )
    hi = series.end - DURATION
    best, _ = brute_force_scan(series, to_epoch(start), to_epoch(hi), DURATION.total_seconds())
    return from_epoch(best)


def baseline_ms(ref: str, points: int, rounds: int) -> float:
    """The same cleanshift path timed on the code of ``ref``, in a subprocess of this run."""
    statement = (
        "import planner_speed as b, timing; "
        f"print(timing.race({{'x': b.cleanshift_path({points})}}, {rounds})['x'])"
    )
    return float(run_on_ref(ref, "cleanshift_core", statement))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git ref to time the same path on (e.g. main)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    load = os.getloadavg()[0]

    start = grid_start()  # one start for the raced path and its check, however long the race
    week = cleanshift_path(WEEK, start)
    year = cleanshift_path(YEAR)
    week_ms = race({"cleanshift": week, "seed": seed_path(WEEK), "cats": cats_path(WEEK)}, 15)
    year_ms = race({"cleanshift": year, "cats": cats_path(YEAR)}, 3)
    week_start, week_bytes = week()
    _, year_bytes = year()
    exact = brute_force_start(WEEK, start)
    assert week_start == exact, f"planner picked {week_start}, brute force {exact}"
    row = {
        "points_week": WEEK,
        "points_year": YEAR,
        "week_ms": week_ms,
        "year_ms": year_ms,
        "seed_over_cleanshift_week": week_ms["seed"] / week_ms["cleanshift"],
        "cats_over_cleanshift_week": week_ms["cats"] / week_ms["cleanshift"],
        "cats_over_cleanshift_year": year_ms["cats"] / year_ms["cleanshift"],
        "year_over_week": year_ms["cleanshift"] / week_ms["cleanshift"],
        "plan_json_bytes": {"week": week_bytes, "year": year_bytes},
    }
    if args.baseline:
        row["baseline"] = {
            "ref": args.baseline,
            "week_ms": baseline_ms(args.baseline, WEEK, 15),
            "year_ms": baseline_ms(args.baseline, YEAR, 3),
        }
    goals = [
        ("seed / cleanshift on the week ≥ 100×", row["seed_over_cleanshift_week"] >= 100),
        ("CATS / cleanshift on the week ≥ 20×", row["cats_over_cleanshift_week"] >= 20),
        ("year / week ≤ 55× (linear)", row["year_over_week"] <= 55),
        (
            f"plan JSON ≤ {PLAN_LIMIT_BYTES // 1024} KiB on the week and the year",
            max(week_bytes, year_bytes) <= PLAN_LIMIT_BYTES,
        ),
    ]
    row["goals"] = dict(goals)

    lines = [
        "| series | points | cleanshift: points → Plan | seed `find_cleanest_window` | CATS `min(WindowedForecast)` | seed / cleanshift | CATS / cleanshift | plan JSON |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        (
            f"| week | {WEEK:,} | {week_ms['cleanshift']:.2f} ms | {week_ms['seed']:,.0f} ms | "
            f"{week_ms['cats']:,.1f} ms | {row['seed_over_cleanshift_week']:,.0f}× | "
            f"{row['cats_over_cleanshift_week']:,.0f}× | {week_bytes / 1024:.1f} KiB |"
        ),
        (
            f"| year | {YEAR:,} | {year_ms['cleanshift']:.1f} ms | (not run: O(n²)) | "
            f"{year_ms['cats']:,.0f} ms | — | {row['cats_over_cleanshift_year']:,.0f}× | "
            f"{year_bytes / 1024:.1f} KiB |"
        ),
    ]
    if args.baseline:
        base = row["baseline"]
        lines += [
            "",
            f"| the same path on `{args.baseline}` | week | year |",
            "|---|---:|---:|",
            f"| {args.baseline} | {base['week_ms']:.2f} ms | {base['year_ms']:.0f} ms |",
            f"| this tree | {week_ms['cleanshift']:.2f} ms | {year_ms['cleanshift']:.1f} ms |",
            (
                f"| speed-up | {base['week_ms'] / week_ms['cleanshift']:.1f}× | "
                f"{base['year_ms'] / year_ms['cleanshift']:.1f}× |"
            ),
        ]
    import cats
    import cleanshift

    notes = [
        (
            f"Job of {DURATION}; medians of 15 (week) and 3 (year) interleaved rounds in one process, "
            "per call: a method under 20 ms is called repeatedly in each timed block, as timeit does "
            f"(Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
            f"load average {load:.1f} when it started)."
        ),
        (
            f"Peers are the PyPI packages cleanshift {getattr(cleanshift, '__version__', '0.1.0')} "
            f"({Path(cleanshift.__file__).parent}) and climate-aware-task-scheduler "
            f"({Path(cats.__file__).parent}), installed by scripts/bench_env.sh."
        ),
        "cleanshift's choice on the week equals the brute-force optimum (asserted).",
        f"Year / week for cleanshift: {row['year_over_week']:.1f}×.",
        *(f"Goal {name}: {'met' if met else 'MISSED'}." for name, met in goals),
    ]
    table = "\n".join(lines)
    print(table)
    print("\n".join("- " + n for n in notes))
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "planner_speed.json").write_text(
            json.dumps({"row": row, "notes": notes}, indent=2, default=str) + "\n"
        )
        (RESULTS / "planner_speed.md").write_text(
            table + "\n\n" + "\n".join("- " + n for n in notes) + "\n"
        )


if __name__ == "__main__":
    main()
