"""Interruptible jobs: run a checkpointing job in the cleanest slots before its deadline.

A job that can stop and resume does not need one contiguous window. Given its total running
time D and the span it may use (earliest start to latest finish), the cleanest schedule is a
fractional knapsack on a piecewise-constant function: take the cleanest intervals first until
D is covered. That is exact, and it is what :func:`decide_chunks` does without constraints.

Real jobs pay for every restart, so ``min_chunk`` (no piece shorter) and ``max_chunks`` (no
more pieces) are configurable. Under them, when the span is a regular grid of slots and both
the duration and ``min_chunk`` are whole numbers of slots (hourly or half-hourly forecasts and
durations such as "6h"), :func:`decide_chunks` solves the problem exactly with a dynamic
programme over the slots (state: slots used, chunks used, length of the current chunk up to
``min_chunk``), whose work is slots × duration × chunks × min_chunk steps. Otherwise, or when
that would be too much work, it falls back to a documented heuristic:

1. start from the exact unconstrained selection;
2. while a constraint is violated, drop the shortest chunk and give its time back by growing
   the remaining chunks into their cleanest adjacent intervals (growing never adds a chunk,
   and chunks that touch merge), so every round removes at least one chunk;
3. compare with the single best contiguous window (which always satisfies both constraints)
   and keep the cleaner one.

So the result always satisfies the constraints and is never worse than not chunking at all.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, computed_field

from .deprecation import renamed
from .errors import BadSeriesError, ConfigurationError, ProviderError
from .job import JobSpec
from .plan import ForecastExcerpt, Interval, Plan, forecast_excerpt
from .planner import scan_windows
from .policies import Policy, SchedulingRules, fallback_plan
from .providers.base import GridIntensityProvider
from .providers.deadline import provider_deadline
from .series import Basis, IntensitySeries, SignalKind
from .timeutil import SYSTEM_CLOCK, Clock, from_epoch, parse_duration, to_epoch

__all__ = [
    "Chunk",
    "ChunkPlan",
    "InterruptiblePlan",
    "decide_chunks",
    "plan_interruptible",
    "plans_per_chunk",
]

#: Pieces shorter than this (seconds) are float dust, not chunks.
_EPS = 1e-6


class Chunk(BaseModel):
    """One uninterrupted piece of an interruptible job, with its mean forecast intensity."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    intensity: float

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


class ChunkPlan(BaseModel):
    """Where the pieces of an interruptible job go, and what that buys.

    ``immediate_intensity`` is the counterfactual of running the whole job at once from
    ``earliest_start``; ``contiguous_intensity`` that of the best single window.
    """

    model_config = ConfigDict(frozen=True)

    planned_at: AwareDatetime
    earliest_start: AwareDatetime
    finish_by: AwareDatetime
    duration_seconds: float
    min_chunk_seconds: float | None = None
    max_chunks: int | None = None
    chunks: list[Chunk]
    expected_intensity: float
    immediate_intensity: float | None = None
    contiguous_intensity: float | None = None
    contiguous_start: AwareDatetime | None = None
    method: str
    reason: str
    provider: str | None = None
    region: str | None = None
    signal: SignalKind | None = None
    basis: Basis | None = None
    forecast_generated_at: AwareDatetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expected_savings_pct(self) -> float | None:
        """Expected saving vs running the whole job immediately, on the same forecast."""
        if not self.immediate_intensity:
            return None
        return (
            (self.immediate_intensity - self.expected_intensity) / self.immediate_intensity * 100.0
        )

    @property
    def run_intervals(self) -> list[tuple[datetime, datetime]]:
        return [(c.start, c.end) for c in self.chunks]

    def as_plan(self) -> Plan:
        """The whole job as one :class:`Plan` (start = first chunk), for receipts:
        ``build_receipt(chunk_plan.as_plan(), chunk_plan.run_intervals, ...)`` sums every
        chunk and compares with running the same total time from ``earliest_start``."""
        return Plan(
            planned_at=self.planned_at,
            earliest_start=self.earliest_start,
            latest_start=self.chunks[0].start,
            duration_seconds=self.duration_seconds,
            start=self.chunks[0].start,
            expected_intensity=self.expected_intensity,
            immediate_intensity=self.immediate_intensity,
            policy="min_carbon",
            reason=self.reason,
            provider=self.provider,
            region=self.region,
            signal=self.signal,
            basis=self.basis,
            forecast_generated_at=self.forecast_generated_at,
        )


def decide_chunks(
    series: IntensitySeries,
    job: JobSpec,
    now: datetime,
    *,
    min_chunk: timedelta | str | float | None = None,
    max_chunks: int | None = None,
) -> ChunkPlan:
    """Place the ``job.duration`` of an interruptible job in the cleanest parts of its span.

    The span runs from the job's earliest start to its latest finish (latest start plus
    duration, from :meth:`JobSpec.bounds`), cut to the data. ``min_chunk`` and ``max_chunks``
    bound the pieces (see the module docstring for how they are honoured).
    """
    duration = job.duration.total_seconds()
    min_len = check_chunk_limits(min_chunk, max_chunks, job.duration)
    earliest, latest = job.bounds(now)
    finish_by = latest + job.duration
    if not len(series):
        raise BadSeriesError("the intensity series is empty; the provider returned no data")
    lo = max(to_epoch(earliest), series.starts[0])
    hi = min(to_epoch(finish_by), series.ends[-1])
    if hi - lo < duration - _EPS:
        raise BadSeriesError(
            f"only {timedelta(seconds=max(hi - lo, 0))} of data between {earliest.isoformat()} and "
            f"{finish_by.isoformat()}, less than the job's {job.duration}; extend the deadline or "
            "use a provider with a longer forecast"
        )
    pieces = _pieces(series, lo, hi)
    chosen = _cleanest(pieces, duration)
    method = "exact"
    if _violates(chosen, min_len, max_chunks):
        exact = _grid_optimum(pieces, duration, min_len, max_chunks)
        if exact is not None:
            chosen, method = exact, "exact"
        else:
            chosen, method = _repair(chosen, pieces, min_len, max_chunks), "heuristic"

    scan = scan_windows(series, earliest, latest, job.duration)
    best = scan.best_index()
    contiguous = (scan.starts[best], scan.means[best])
    mean_of = _mean_over(pieces)
    mean = mean_of(chosen)
    if method == "heuristic" and contiguous[1] <= mean:
        chosen, mean, method = (
            [(contiguous[0], contiguous[0] + duration)],
            contiguous[1],
            "contiguous",
        )
    immediate = scan.immediate_mean

    chunks = [
        Chunk(start=from_epoch(a), end=from_epoch(b), intensity=mean_of([(a, b)]))
        for a, b in chosen
    ]
    what = {
        "exact": "cleanest slots"
        + (" meeting the chunk limits" if min_len or max_chunks else "")
        + " (exact)",
        "heuristic": "cleanest slots meeting the chunk limits (heuristic, never worse than one window)",
        "contiguous": "one contiguous window (as clean as any split meeting the chunk limits)",
    }[method]
    return ChunkPlan(
        planned_at=now,
        earliest_start=earliest,
        finish_by=finish_by,
        duration_seconds=duration,
        min_chunk_seconds=min_len or None,
        max_chunks=max_chunks,
        chunks=chunks,
        expected_intensity=mean,
        immediate_intensity=immediate,
        contiguous_intensity=contiguous[1],
        contiguous_start=from_epoch(contiguous[0]),
        method=method,
        reason=f"{len(chunks)} chunk{'s' if len(chunks) != 1 else ''} in the {what} before {finish_by.isoformat()}",
        provider=series.provider,
        region=series.region,
        signal=series.signal,
        basis=series.basis,
        forecast_generated_at=series.generated_at,
    )


def plans_per_chunk(plan: ChunkPlan) -> list[Plan]:
    """One :class:`Plan` per chunk, so an orchestrator can map one task per chunk and let
    each wait for its own slot (do not re-plan them: a chunk's slot is part of the whole)."""
    total = len(plan.chunks)
    return [
        Plan(
            planned_at=plan.planned_at,
            earliest_start=plan.earliest_start,
            latest_start=chunk.start,
            duration_seconds=(chunk.end - chunk.start).total_seconds(),
            start=chunk.start,
            expected_intensity=chunk.intensity,
            policy="min_carbon",
            reason=f"chunk {i} of {total}: {plan.reason}",
            provider=plan.provider,
            region=plan.region,
            signal=plan.signal,
            basis=plan.basis,
            forecast_generated_at=plan.forecast_generated_at,
            forecast=ForecastExcerpt.of_intervals(
                [Interval(start=chunk.start, end=chunk.end, intensity=chunk.intensity)]
            ),
        )
        for i, chunk in enumerate(plan.chunks, start=1)
    ]


class InterruptiblePlan(BaseModel):
    """What an orchestrator needs to run an interruptible job: one plan per chunk (map one
    task over them, each waiting for its own slot) and the whole job as one plan (settle the
    summed receipt with it and every chunk's run interval).

    ``chunk_plan`` is ``None`` when no forecast could be had and ``on_provider_error`` chose a
    single uninterrupted run (then ``chunks`` holds that one run). JSON round-trippable.
    """

    model_config = ConfigDict(frozen=True)

    whole: Plan
    chunks: list[Plan]
    chunk_plan: ChunkPlan | None = None


async def plan_interruptible(
    provider: GridIntensityProvider,
    job: JobSpec,
    rules: SchedulingRules | None = None,
    clock: Clock = SYSTEM_CLOCK,
    *,
    min_chunk: timedelta | str | float | None = None,
    max_chunks: int | None = None,
) -> InterruptiblePlan:
    """Fetch the forecast for the job's span and :func:`decide_chunks` it.

    Only ``policy='min_carbon'`` applies (chunks take the cleanest slots); provider failures
    follow ``rules.on_provider_error`` with one uninterrupted run (``fail`` raises).
    """
    rules = rules or SchedulingRules()
    if rules.policy is not Policy.MIN_CARBON:
        raise ConfigurationError(
            f"an interruptible job takes the cleanest slots (policy='min_carbon'), "
            f"not policy={rules.policy.value!r}"
        )
    check_chunk_limits(min_chunk, max_chunks, job.duration)
    now = clock.now()
    earliest, latest = job.bounds(now)
    try:
        with provider_deadline(latest):
            series = await provider.forecast(earliest, latest + job.duration)
        planned = decide_chunks(series, job, now, min_chunk=min_chunk, max_chunks=max_chunks)
    except (ProviderError, BadSeriesError) as exc:
        fallback = fallback_plan(job, rules, now, exc)
        return InterruptiblePlan(whole=fallback, chunks=[fallback])
    forecast, downsampled = forecast_excerpt(series, earliest, planned.finish_by)
    whole = planned.as_plan().model_copy(
        update={
            "latest_start": latest,
            "forecast": forecast,
            "forecast_downsampled": downsampled,
        }
    )
    return InterruptiblePlan(whole=whole, chunks=plans_per_chunk(planned), chunk_plan=planned)


# ---------------------------------------------------------------------------- internals
Span = tuple[float, float]
Pieces = tuple[list[float], list[float], list[float]]  # starts, ends, values inside [lo, hi)


def check_chunk_limits(
    min_chunk: timedelta | str | float | None, max_chunks: int | None, duration: timedelta
) -> float:
    """Validate ``min_chunk`` and ``max_chunks`` for a job of ``duration``; the minimum in
    seconds (0 without one). The one home of these checks and their messages."""
    if max_chunks is not None and (
        isinstance(max_chunks, bool) or not isinstance(max_chunks, int) or max_chunks < 1
    ):
        raise ConfigurationError(
            f"max_chunks must be a whole number ≥ 1, got {max_chunks!r}; e.g. max_chunks=4"
        )
    if min_chunk is None:
        return 0.0
    value = parse_duration(min_chunk, "min_chunk")
    if value <= timedelta(0) or value > duration:
        raise ConfigurationError(
            f"min_chunk must be positive and no longer than the job ({duration}), got {value}; "
            "e.g. min_chunk='1h'"
        )
    return value.total_seconds()


def _pieces(series: IntensitySeries, lo: float, hi: float) -> Pieces:
    """The series cut to ``[lo, hi)``: whole points, the first and last clipped."""
    i = max(bisect_right(series.starts, lo) - 1, 0)
    j = bisect_left(series.starts, hi)
    starts, ends, values = (
        list(series.starts[i:j]),
        list(series.ends[i:j]),
        list(series.values[i:j]),
    )
    if starts:
        starts[0] = max(starts[0], lo)
        ends[-1] = min(ends[-1], hi)
    keep = [k for k in range(len(starts)) if ends[k] - starts[k] > _EPS]
    if len(keep) != len(starts):
        starts, ends, values = (
            [starts[k] for k in keep],
            [ends[k] for k in keep],
            [values[k] for k in keep],
        )
    return starts, ends, values


def _cleanest(pieces: Pieces, duration: float) -> list[Span]:
    """Exact: cleanest pieces first (earlier on ties), the last one cut to fit, then merged."""
    starts, ends, values = pieces
    remaining = duration
    taken: list[Span] = []
    for i in sorted(range(len(values)), key=lambda k: (values[k], starts[k])):
        if remaining <= _EPS:
            break
        length = min(ends[i] - starts[i], remaining)
        taken.append((starts[i], starts[i] + length))
        remaining -= length
    return _merge(taken)


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a - out[-1][1] <= _EPS:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _violates(spans: list[Span], min_len: float, max_chunks: int | None) -> bool:
    if max_chunks is not None and len(spans) > max_chunks:
        return True
    return any(b - a < min_len - _EPS for a, b in spans)


#: Above this many DP steps the exact search is not worth it; the heuristic takes over.
_DP_BUDGET = 3_000_000


def _grid_optimum(
    pieces: Pieces, duration: float, min_len: float, max_chunks: int | None
) -> list[Span] | None:
    """Exact cleanest schedule under the limits on a regular slot grid, or None if the span
    is not such a grid (or the work would exceed :data:`_DP_BUDGET`).

    Slots are taken or skipped left to right; the state is (slots taken, chunks started,
    length of the current chunk capped at the minimum in slots, 0 = not in a chunk). A chunk
    may only end once it reaches the minimum. Ties keep the earlier-found (earlier) schedule.
    """
    starts, ends, values = pieces
    step = ends[0] - starts[0]
    if any(abs((e - s) - step) > _EPS for s, e in zip(starts, ends)) or any(
        abs(starts[i + 1] - ends[i]) > _EPS for i in range(len(starts) - 1)
    ):
        return None
    k_total = duration / step
    m = min_len / step if min_len else 1.0
    if abs(k_total - round(k_total)) > 1e-9 or abs(m - round(m)) > 1e-9:
        return None
    k_total, m = round(k_total), max(round(m), 1)
    c_max = min(max_chunks or k_total, k_total // m)
    n = len(values)
    if n * k_total * max(c_max, 1) * m > _DP_BUDGET:
        return None

    State = tuple[int, int, int]  # taken, chunks, run (capped at m)
    layer: dict[State, float] = {(0, 0, 0): 0.0}
    parents: list[dict[State, State]] = []
    for i in range(n):
        nxt: dict[State, float] = {}
        back: dict[State, State] = {}
        v = values[i] * step
        for (k, c, r), cost in layer.items():
            moves = []
            if r == 0 or r == m:  # skip this slot (closing a chunk that is long enough)
                moves.append(((k, c, 0), cost))
            if k < k_total and (r > 0 or c < c_max):  # take it
                moves.append(((k + 1, c + (r == 0), min(r + 1, m)), cost + v))
            for state, new in moves:
                if state not in nxt or new < nxt[state] - 1e-9:
                    nxt[state] = new
                    back[state] = (k, c, r)
        parents.append(back)
        layer = nxt
    finals = [(cost, st) for st, cost in layer.items() if st[0] == k_total and st[2] in (0, m)]
    if not finals:
        return None
    state = min(finals, key=lambda f: f[0])[1]
    taken: list[Span] = []
    for i in range(n - 1, -1, -1):
        prev = parents[i][state]
        if prev[0] < state[0]:
            taken.append((starts[i], ends[i]))
        state = prev
    return _merge(taken)


def _repair(
    spans: list[Span], pieces: Pieces, min_len: float, max_chunks: int | None
) -> list[Span]:
    """Drop the shortest chunk and regrow the others until the limits hold (see module doc)."""
    spans = list(spans)
    while _violates(spans, min_len, max_chunks) and len(spans) > 1:
        shortest = min(range(len(spans)), key=lambda k: (spans[k][1] - spans[k][0], spans[k][0]))
        a, b = spans.pop(shortest)
        spans = _grow(spans, pieces, b - a)
    return spans


def _grow(spans: list[Span], pieces: Pieces, amount: float) -> list[Span]:
    """Extend the chunks by ``amount`` in total, always into the cleanest adjacent interval."""
    starts, ends, values = pieces
    lo, hi = starts[0], ends[-1]
    while amount > _EPS:
        best: tuple[float, int, str, float] | None = None  # value, chunk, side, available
        for k, (a, b) in enumerate(spans):
            left_limit = spans[k - 1][1] if k > 0 else lo
            right_limit = spans[k + 1][0] if k + 1 < len(spans) else hi
            if a - left_limit > _EPS:
                i = bisect_right(starts, a - _EPS) - 1
                avail = a - max(starts[i], left_limit)
                cand = (values[i], k, "left", avail)
                if best is None or cand[0] < best[0]:
                    best = cand
            if right_limit - b > _EPS:
                i = bisect_right(starts, b + _EPS) - 1
                avail = min(ends[i], right_limit) - b
                cand = (values[i], k, "right", avail)
                if best is None or cand[0] < best[0]:
                    best = cand
        if best is None:  # cannot happen while total < span length; guard against a loop
            raise BadSeriesError("no room left to place the job's remaining time")
        _, k, side, avail = best
        step = min(avail, amount)
        a, b = spans[k]
        spans[k] = (a - step, b) if side == "left" else (a, b + step)
        amount -= step
        spans = _merge(spans)
    return spans


def _mean_over(pieces: Pieces) -> Callable[[list[Span]], float]:
    """Time-weighted mean over spans inside the pieces, from one running integral."""
    starts, ends, values = pieces
    prefix = [0.0]
    for a, b, v in zip(starts, ends, values):
        prefix.append(prefix[-1] + v * (b - a))

    def area(t: float) -> float:
        i = min(max(bisect_right(starts, t) - 1, 0), len(values) - 1)
        return prefix[i] + values[i] * (t - starts[i])

    def mean(spans: list[Span]) -> float:
        return sum(area(b) - area(a) for a, b in spans) / sum(b - a for a, b in spans)

    return mean


#: Deprecated names (one release): see docs/reference/deprecations.md.
__getattr__ = renamed(__name__, {"plan_chunks": "decide_chunks", "chunk_plans": "plans_per_chunk"})
