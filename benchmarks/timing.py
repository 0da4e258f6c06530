"""The benchmarks' one way of timing: CPU and wall time of a block, and interleaved races.

``planner_speed.py`` races methods in turns, timing blocks of calls as ``timeit`` does;
``replan_load.py`` times whole refreshes of a thousand triggers. Both read the clocks here, so
"CPU" and "wall" mean the same in every results table.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Lap:
    """What one timed block cost: process CPU seconds and wall seconds (filled on exit)."""

    cpu_s: float = 0.0
    wall_s: float = 0.0


@contextmanager
def timed(pause_gc: bool = False) -> Iterator[Lap]:
    """Time the block. ``pause_gc`` collects the garbage made before it first and pauses the
    collector during it (as ``timeit`` does), so one method's garbage is not collected on
    another's clock; leave it off where collection pauses are part of what is measured."""
    if pause_gc:
        gc.collect()
        gc.disable()
    lap = Lap()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        yield lap
    finally:
        lap.wall_s = time.perf_counter() - wall0
        lap.cpu_s = time.process_time() - cpu0
        if pause_gc:
            gc.enable()


def race(
    methods: dict[str, Callable[[], object]], rounds: int, min_block_s: float = 0.2
) -> dict[str, float]:
    """Median wall milliseconds per call of each method, the methods taking turns round by
    round so machine load hits them alike.

    As ``timeit`` does (its ``autorange`` wants 0.2 s blocks), a method faster than
    ``min_block_s`` is called several times in a row per timed block (the count fixed before the
    race, from one calibration call) and the block divided by the count: a single millisecond call timed just after a full collection would
    mostly measure the page faults and cache misses that collection leaves, which a 30 ms peer
    amortises and a 1 ms method cannot. The collector is paused during each block.
    """
    counts = {}
    for name, fn in methods.items():
        with timed(pause_gc=True) as lap:
            fn()
        counts[name] = max(1, math.ceil(min_block_s / max(lap.wall_s, 1e-9)))
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            with timed(pause_gc=True) as lap:
                for _ in range(counts[name]):
                    fn()
            times[name].append(lap.wall_s * 1000.0 / counts[name])
    return {name: statistics.median(ts) for name, ts in times.items()}
