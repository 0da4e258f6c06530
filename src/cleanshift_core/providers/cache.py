"""A caching, request-coalescing wrapper: a thousand waiting tasks cost one fetch per refresh.

Forecast requests that start at or after the current refresh bucket are all served from one
canonical fetch, ``[bucket, bucket + ttl + horizon)``, sliced locally; so triggers with different
deadlines still share it. Concurrent identical fetches in one event loop await the same task.
Failures are shared with the waiters of that fetch but never cached.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

from ..series import IntensityPoint, IntensitySeries, SignalKind
from ..timeutil import SYSTEM_CLOCK, Clock, from_epoch, to_epoch
from .base import GridIntensityProvider

DEFAULT_TTL = timedelta(minutes=5)


class CachedProvider(GridIntensityProvider):
    """Wraps ``inner``; results live for ``ttl`` (the provider's refresh interval)."""

    def __init__(
        self,
        inner: GridIntensityProvider,
        ttl: timedelta = DEFAULT_TTL,
        clock: Clock = SYSTEM_CLOCK,
    ):
        if ttl <= timedelta(0):
            raise ValueError(f"cache ttl must be positive, got {ttl}")
        self.inner = inner
        self.ttl = ttl
        self.clock = clock
        self.kind = inner.kind
        self.forecast_horizon = inner.forecast_horizon
        self._results: dict[Hashable, tuple[float, Any]] = {}
        self._inflight: dict[tuple[int, Hashable], asyncio.Task[Any]] = {}
        #: Fetches that actually reached the inner provider (for tests and load reports).
        self.fetches = 0

    @property
    def region(self) -> str:
        return self.inner.region

    @property
    def signal(self) -> SignalKind:
        return self.inner.signal

    @property
    def name(self) -> str:
        return self.inner.name

    async def current(self) -> IntensityPoint:
        return await self._once(("current", self._bucket()), self.inner.current)

    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        bucket = self._bucket()
        if to_epoch(start) < bucket:
            return await self._once(
                ("forecast", start, end), lambda: self.inner.forecast(start, end)
            )
        head = from_epoch(bucket)
        # ttl + horizon: a caller late in the bucket still sees a full horizon ahead of it.
        tail = head + self.ttl + self.forecast_horizon
        series = await self._once(("forecast", bucket), lambda: self.inner.forecast(head, tail))
        return series.between(start, end)

    async def history(self, start: datetime, end: datetime) -> IntensitySeries:
        return await self._once(("history", start, end), lambda: self.inner.history(start, end))

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _bucket(self) -> float:
        step = self.ttl.total_seconds()
        return math.floor(to_epoch(self.clock.now()) / step) * step

    async def _once(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> Any:
        now = to_epoch(self.clock.now())
        cached = self._results.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        loop_key = (id(asyncio.get_running_loop()), key)
        task = self._inflight.get(loop_key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key, fetch))
            self._inflight[loop_key] = task
            task.add_done_callback(lambda _: self._inflight.pop(loop_key, None))
        return await asyncio.shield(task)

    async def _fetch(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> Any:
        self.fetches += 1
        result = await fetch()
        self._expire_old()
        self._results[key] = (to_epoch(self.clock.now()) + self.ttl.total_seconds(), result)
        return result

    def _expire_old(self) -> None:
        now = to_epoch(self.clock.now())
        for key in [k for k, (expiry, _) in self._results.items() if expiry <= now]:
            del self._results[key]

    def __repr__(self) -> str:
        return f"CachedProvider({self.inner!r}, ttl={self.ttl})"
