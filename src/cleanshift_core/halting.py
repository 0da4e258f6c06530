"""``halt_if_dirty``: run a job now, freeze it while the grid is dirty, thaw it when clean.

The job always runs in a *child* process that is paused with SIGSTOP and resumed with
SIGCONT; the caller is never stopped (a stopped caller could not resume itself). The
controller records the intervals the job actually ran, which is what its receipt integrates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .errors import CleanshiftError, ConfigurationError, ProviderError
from .providers.base import GridIntensityProvider
from .timeutil import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

#: How often the child's liveness is checked between intensity polls.
_LIVENESS_POLL_SECONDS = 0.05


def require_posix() -> None:
    if sys.platform == "win32" or not hasattr(signal, "SIGSTOP"):
        raise ConfigurationError("policy='halt_if_dirty' needs SIGSTOP/SIGCONT (Linux or macOS)")


class HaltController:
    """Pauses and resumes process ``pid`` around ``max_intensity``, polling every ``poll_interval``."""

    def __init__(
        self,
        pid: int,
        provider: GridIntensityProvider,
        max_intensity: float,
        poll_interval: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.pid = pid
        self.provider = provider
        self.max_intensity = max_intensity
        self.poll_interval = poll_interval
        self.clock = clock
        self.paused = False
        self.run_intervals: list[tuple[datetime, datetime]] = []
        self._running_since: datetime | None = None

    async def supervise(self, is_alive: Callable[[], bool]) -> list[tuple[datetime, datetime]]:
        """Control the process until it exits; return the intervals it ran."""
        self._running_since = self.clock.now()
        loop = asyncio.get_running_loop()
        next_check = loop.time()
        try:
            while is_alive():
                if loop.time() >= next_check:
                    await self._check()
                    next_check = loop.time() + self.poll_interval
                await asyncio.sleep(_LIVENESS_POLL_SECONDS)
        finally:
            if self.paused:
                self._signal(signal.SIGCONT)
            if self._running_since is not None:
                self.run_intervals.append((self._running_since, self.clock.now()))
        return self.run_intervals

    async def _check(self) -> None:
        try:
            intensity = (await self.provider.current()).value
        except (ProviderError, CleanshiftError) as exc:
            # No data is no reason to freeze a job: keep (or resume) running.
            log.warning("halt_if_dirty: no current intensity (%s); letting the job run", exc)
            intensity = None
        dirty = intensity is not None and intensity > self.max_intensity
        if dirty and not self.paused:
            self._signal(signal.SIGSTOP)
            self.paused = True
            assert self._running_since is not None  # set whenever the job is not paused
            self.run_intervals.append((self._running_since, self.clock.now()))
            self._running_since = None
            log.info("halt_if_dirty: paused at %.0f gCO2eq/kWh > %g", intensity, self.max_intensity)
        elif not dirty and self.paused:
            self._signal(signal.SIGCONT)
            self.paused = False
            self._running_since = self.clock.now()
            log.info("halt_if_dirty: resumed")

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)


class ChildFailed(CleanshiftError):
    """The function run under halt_if_dirty raised; the message carries its traceback."""


def _child_main(conn: Any, func: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    try:
        result = func(*args, **kwargs)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        conn.send(("ok", result))
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
        conn.send(("error", (repr(exc), traceback.format_exc())))
    finally:
        conn.close()


async def run_function_halting(
    func: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    controller_for: Callable[[int], HaltController],
) -> tuple[Any, list[tuple[datetime, datetime]]]:
    """Run ``func`` in a forked child under a :class:`HaltController`; return its result and
    run intervals. The result must be picklable (it crosses a process boundary)."""
    require_posix()
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(sender, func, args, kwargs), daemon=True)
    proc.start()
    sender.close()
    outcome: list[Any] = []

    def alive() -> bool:
        if not outcome and receiver.poll():
            outcome.append(receiver.recv())
        return proc.is_alive() and not outcome

    assert proc.pid is not None  # set by start()
    controller = controller_for(proc.pid)
    intervals = await controller.supervise(alive)
    await asyncio.get_running_loop().run_in_executor(None, proc.join)
    if not outcome and receiver.poll():
        outcome.append(receiver.recv())
    if not outcome:
        raise ChildFailed(f"the job process exited with code {proc.exitcode} and no result")
    status, payload = outcome[0]
    if status == "error":
        raise ChildFailed(f"the job raised {payload[0]}\n{payload[1]}")
    return payload, intervals
