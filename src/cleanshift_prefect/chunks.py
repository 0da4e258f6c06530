"""``@carbon_chunks``: run an interruptible (checkpointing) task in the cleanest slots.

::

    @carbon_chunks(provider=..., duration="6h", finish_by=..., min_chunk="1h", max_chunks=4)
    @task(name="train")
    def train(chunk: Plan, epochs: int) -> int:
        ...  # resume from the checkpoint, work until chunk.end, checkpoint

    @flow
    def training():
        steps = train(epochs=3)  # one result per chunk, in time order

Calling the decorated task from a flow plans the whole job ONCE with the core's
:func:`~cleanshift_core.plan_interruptible`, maps one task run per chunk (``Task.map``), each
waiting with an async sleep for its own slot (never re-planning: a chunk's slot is part of
the whole), and settles one receipt over every chunk's real run interval with
:func:`~cleanshift_core.settle_receipt`, against running the same total time at once. The
plan and the receipt are published as the same artifacts as ``@carbon_window``'s.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from prefect import Flow, Task, task, unmapped
from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging import get_run_logger

from cleanshift_core import (
    WINDOW_DEFAULTS,
    ChunkRequest,
    ConfigurationError,
    EnergyRequest,
    JobSpec,
    OnProviderError,
    Plan,
    SchedulingRules,
    WindowRequest,
    plan_interruptible,
    settle_receipt,
)
from cleanshift_core.timeutil import (
    SYSTEM_CLOCK,
    Clock,
    format_duration,
    sleep_until,
)

from .artifacts import ArtifactKeys, announce_window, publish_deferral, publish_receipt
from .providers import ProviderArg, ProviderSource
from .runtime import run_async

R = TypeVar("R")


@dataclass(frozen=True)
class ChunkRun(Generic[R]):
    """What one chunk task run returns: the user's result and when the work really ran."""

    result: R
    started: datetime
    finished: datetime


@dataclass(frozen=True)
class ChunksConfig:
    """Everything ``@carbon_chunks`` validated at decoration time."""

    provider: ProviderSource
    job: JobSpec
    rules: SchedulingRules
    min_chunk: timedelta | None
    max_chunks: int | None
    power_kw: float | None
    clock: Clock


def carbon_chunks(
    provider: ProviderArg = None,
    *,
    duration: timedelta | str | float | None = None,
    max_delay: timedelta | str | float | None = WINDOW_DEFAULTS.max_delay,
    finish_by: datetime | None = WINDOW_DEFAULTS.finish_by,
    min_chunk: timedelta | str | float | None = None,
    max_chunks: int | None = None,
    on_provider_error: OnProviderError | str = WINDOW_DEFAULTS.on_provider_error,
    power_kw: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Callable[[Task[..., Any] | Callable[..., Any]], CarbonChunks]:
    """Split an interruptible task into chunks placed in the cleanest slots before its deadline.

    Put it over ``@task`` (or on a plain function, which becomes a task). The function must
    take a ``chunk`` argument: the chunk's :class:`~cleanshift_core.Plan` (work from
    ``chunk.start`` until ``chunk.end``, then checkpoint). Call the result from a flow with the
    other arguments; it returns the chunks' results in time order.

    Args:
        provider: where intensities come from (every ``@carbon_window`` form: a spec, a
            :class:`~cleanshift_prefect.GridIntensityCredentials` block or its name, a provider).
        duration: the job's total running time, summed over its chunks ("6h").
        max_delay: the latest start of an uninterrupted run, relative to the call; the job
            must finish by that plus ``duration``.
        finish_by: the latest finish (timezone-aware); with ``max_delay`` the stricter holds.
        min_chunk: no chunk shorter than this (restarts cost; e.g. "1h").
        max_chunks: at most this many chunks.
        on_provider_error: with no forecast, ``run_now`` (default) or ``wait_until_deadline``
            runs the job as one chunk; ``fail`` raises.
        power_kw: average power draw, so the receipt can report grams.
        clock: time source (tests inject one).
    """
    if isinstance(provider, (Task, Flow)) or inspect.isfunction(provider):
        raise ConfigurationError(
            "@carbon_chunks needs arguments: write @carbon_chunks(provider=..., duration='6h', "
            "finish_by=...) over the @task"
        )
    if duration is None:
        raise ConfigurationError(
            "@carbon_chunks needs the job's total running time, e.g. duration='6h'"
        )
    request = WindowRequest.create(
        duration=duration,
        max_delay=max_delay,
        finish_by=finish_by,
        on_provider_error=on_provider_error,
    )
    chunking = ChunkRequest.create(request.duration, min_chunk, max_chunks)
    energy = EnergyRequest(power_kw)
    config = ChunksConfig(
        ProviderSource(provider),
        request.job,
        request.rules,
        chunking.min_chunk,
        chunking.max_chunks,
        energy.power_kw,
        clock,
    )

    def decorate(target: Task[..., Any] | Callable[..., Any]) -> CarbonChunks:
        return CarbonChunks(_as_task(target), config)

    return decorate


class CarbonChunks:
    """An interruptible task: calling it from a flow plans the chunks, runs one task run per
    chunk in its slot, publishes the summed receipt and returns the chunks' results."""

    def __init__(self, task: Task[..., Any], config: ChunksConfig) -> None:
        self.task = task
        self.config = config
        self.keys = ArtifactKeys.for_name(task.name)
        signature = inspect.signature(task.fn)
        self._call_signature = signature.replace(
            parameters=[p for p in signature.parameters.values() if p.name != "chunk"]
        )
        self._chunk_task = task.with_options()
        self._chunk_task.fn = _wait_then_run(task.fn, task.name, self.keys, config.clock)

    @property
    def name(self) -> str:
        return self.task.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the job (from a flow); for an async task, returns an awaitable."""
        if FlowRunContext.get() is None or TaskRunContext.get() is not None:
            raise RuntimeError(
                f"call {self.name!r} from the body of a @flow: its chunks are mapped task runs, "
                "which Prefect only creates in a flow"
            )
        try:
            bound = self._call_signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}: {exc} (chunk is passed by cleanshift)") from None
        run = self._run(bound.arguments)
        return run if self.task.isasync else run_async(run)

    async def _run(self, arguments: dict[str, Any]) -> list[Any]:
        config, log = self.config, get_run_logger()
        provider = await config.provider.get()
        planned = await plan_interruptible(
            provider,
            config.job,
            config.rules,
            config.clock,
            min_chunk=config.min_chunk,
            max_chunks=config.max_chunks,
        )
        slots = [(chunk.start, chunk.end) for chunk in planned.chunks]
        log.info(
            "%s: %d chunk(s) %s; %s",
            self.name,
            len(slots),
            ", ".join(f"{a.isoformat()} → {b.isoformat()}" for a, b in slots),
            planned.whole.reason,
        )
        await publish_deferral(
            self.keys,
            self.name,
            planned.whole,
            f"{len(slots)} chunk task run(s), each waiting in-process (async sleep) for its slot: "
            + ", ".join(f"{a:%H:%M:%S}–{b:%H:%M:%S} UTC" for a, b in slots),
            windows=slots,
        )
        fixed: dict[str, Any] = {name: unmapped(value) for name, value in arguments.items()}
        futures = self._chunk_task.map(chunk=planned.chunks, **fixed)
        runs: list[ChunkRun[Any]] = await asyncio.to_thread(futures.result)
        intervals = [(run.started, run.finished) for run in runs]
        receipt = await settle_receipt(provider, planned.whole, intervals, power_kw=config.power_kw)
        savings = receipt.estimated_savings_pct
        log.info(
            "Carbon receipt for %s over %d chunk run(s): %s",
            self.name,
            len(intervals),
            "savings unknown" if savings is None else f"{savings:.1f}% saved",
        )
        await publish_receipt(self.keys, self.name, planned.whole, receipt, windows=slots)
        return [run.result for run in runs]


def _as_task(target: Task[..., Any] | Callable[..., Any]) -> Task[..., Any]:
    if isinstance(target, Flow):
        raise ConfigurationError(
            "@carbon_chunks maps one task run per chunk, so it goes over a @task, not a @flow; "
            "move the work into a @task and call it from the flow"
        )
    if not isinstance(target, Task):
        if not callable(target) or inspect.isclass(target):
            raise ConfigurationError(
                f"@carbon_chunks decorates a @task or a function, not {type(target).__name__}"
            )
        if inspect.isasyncgenfunction(target) or inspect.isgeneratorfunction(target):
            raise ConfigurationError(
                f"@carbon_chunks cannot wrap the generator {target.__name__!r}; return results"
            )
        target = task(target)
    chunk = inspect.signature(target.fn).parameters.get("chunk")
    if chunk is None or chunk.kind in (chunk.VAR_POSITIONAL, chunk.VAR_KEYWORD):
        raise ConfigurationError(
            f"{target.name!r} must take a `chunk` argument: the chunk's Plan (work from "
            "chunk.start until chunk.end, then checkpoint)"
        )
    return target


def _wait_then_run(
    fn: Callable[..., Any], name: str, keys: ArtifactKeys, clock: Clock
) -> Callable[..., Any]:
    """``fn`` made to wait for its chunk's slot, returning a :class:`ChunkRun`."""
    signature = inspect.signature(fn)

    async def wait(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Plan:
        chunk = signature.bind(*args, **kwargs).arguments["chunk"]
        if not isinstance(chunk, Plan):
            chunk = Plan.model_validate(chunk)
        log, now = get_run_logger(), clock.now()
        if chunk.start > now:
            log.info(
                "Chunk waits in-process (async sleep) %s for its slot at %s",
                format_duration(chunk.start - now),
                chunk.start.isoformat(),
            )
            await sleep_until(chunk.start, clock)
        context = TaskRunContext.get()
        announce_window(name, keys, chunk, context.task_run.flow_run_id if context else None)
        log.info("Chunk slot open: running until %s, then checkpoint", chunk.end.isoformat())
        return chunk

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_chunk_async(*args: Any, **kwargs: Any) -> ChunkRun[Any]:
            await wait(args, kwargs)
            started = clock.now()
            result = await fn(*args, **kwargs)
            return ChunkRun(result, started, clock.now())

        return run_chunk_async

    @functools.wraps(fn)
    def run_chunk(*args: Any, **kwargs: Any) -> ChunkRun[Any]:
        run_async(wait(args, kwargs))
        started = clock.now()
        result = fn(*args, **kwargs)
        return ChunkRun(result, started, clock.now())

    return run_chunk
