"""The seed, cleanshift 0.1.0 from PyPI, driven by the benchmarks as its users drove it.

The package (``cleanshift==0.1.0``, installed into ``.venvs/bench`` by ``scripts/bench_env.sh``,
never a project dependency) plans from its own ``datetime.now()`` and asks a provider for the
forecast from then to its horizon. :class:`ReplayProvider` answers that question from a
recorded series, shifted so the seed's "now" is the replayed release; its own code then picks
the start. Its providers' ``forecast`` never suspends, so each decision runs the seed's
coroutine to completion in place instead of starting an event loop per decision.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from cleanshift.policies import Policy, find_best_start
from cleanshift.providers.base import GridIntensityProvider, IntensityPoint

from cleanshift_core.job import JobSpec
from cleanshift_core.series import IntensitySeries
from cleanshift_core.timeutil import from_epoch, to_epoch


class ReplayProvider(GridIntensityProvider):
    """Readings of ``series`` from ``release`` on, reported as the seed's provider would: one
    reading per point, stamped with its start (or ``release``, for the point it falls in)."""

    provider_name = "replay"
    region = "replay"

    def __init__(self, series: IntensitySeries, release: datetime) -> None:
        self.series = series
        self.release = release

    async def current(self) -> IntensityPoint:
        value = self.series.value_at(self.release)
        assert value is not None, "the release is outside the recorded series"
        return IntensityPoint(self.release, value)

    async def forecast(self, from_dt: datetime, to_dt: datetime) -> list[IntensityPoint]:
        lo = to_epoch(self.release)
        hi = lo + (to_dt - from_dt).total_seconds()  # the seed's horizon, in replayed time
        out = []
        for s, e, v in zip(self.series.starts, self.series.ends, self.series.values):
            if e <= lo:
                continue
            if s > hi:
                break
            out.append(IntensityPoint(from_epoch(max(s, lo)), v))
        return out


def run_without_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that completes without suspending."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the seed's coroutine suspended; it needs an event loop")


def seed_min_carbon_rule(forecast: IntensitySeries, job: JobSpec, now: datetime) -> datetime:
    """The seed's ``min_carbon`` (its default policy): ``find_best_start`` over the job's
    start window, on ``forecast`` replayed from ``now``."""
    earliest, latest = job.bounds(now)
    provider = ReplayProvider(forecast, earliest)
    hours = (latest - earliest).total_seconds() / 3600.0
    return run_without_loop(find_best_start(provider, hours, Policy.MIN_CARBON))
