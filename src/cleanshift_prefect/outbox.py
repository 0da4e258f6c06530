"""Artifact writes that never hold up a wake-up: posted in the background, bounded, awaited last.

With a thousand tasks waiting in one flow, the Prefect API (SQLite above all) answers artifact
writes far more slowly than the tasks want to wake. A task that awaited each write before it
went back to sleep woke late by the write's latency, and with thousands of writes queued the
server stopped making progress. So a decorated call *posts* its writes to its :class:`Outbox`:
each starts at once as an asyncio task (which copies the Prefect run context, so the artifact
still lands on the right task and flow run), at most :data:`MAX_CONCURRENT_WRITES` per event
loop talk to the API at a time (the rest queue in the order they were posted), and the call
awaits all of its writes (:meth:`Outbox.flush`) before it returns: none is lost, and a write
that fails still fails the run, as it did when every write was awaited in line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

T = TypeVar("T")

#: Artifact requests one event loop (one flow run's tasks) may have in flight at once. The
#: SQLite server serialises writes anyway; more in flight only lengthens each one's latency.
MAX_CONCURRENT_WRITES = 4

_slots: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()


@asynccontextmanager
async def write_slot() -> AsyncIterator[None]:
    """Hold one of this event loop's :data:`MAX_CONCURRENT_WRITES` slots for one API write.

    One semaphore per loop: a semaphore binds to the loop that first waits on it, and sync
    callables run their steps in loops of their own.
    """
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_WRITES)
    async with slot:
        yield


class Outbox:
    """The artifact writes one decorated call has started and not yet seen finish."""

    def __init__(self) -> None:
        self._pending: list[asyncio.Task[Any]] = []

    def post(self, write: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start ``write`` now, in the background; :meth:`flush` awaits it."""
        task = asyncio.ensure_future(write)
        self._pending.append(task)
        return task

    async def flush(self) -> None:
        """Wait for every posted write (including any posted meanwhile), then re-raise the
        first failure: the others still get their chance to land."""
        failures: list[BaseException] = []
        while self._pending:
            pending, self._pending = self._pending, []
            results = await asyncio.gather(*pending, return_exceptions=True)
            failures += [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
