"""Text charts for markdown artifacts: the forecast with the chosen window and the actual run,
and the grams avoided per ISO week by flow of the totals artifact.

Plain characters in a code block render the same in the Prefect UI, in ``prefect artifact
inspect`` and in a terminal, need no internet and cannot be stripped by an HTML sanitiser.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cleanshift_core import Interval
from cleanshift_core.report import WeekAvoided

BAR_WIDTH = 32
MAX_ROWS = 48
_EIGHTHS = " ▏▎▍▌▋▊▉"


Span = tuple[datetime, datetime]


def forecast_chart(
    forecast: Sequence[Interval],
    window: Span | Sequence[Span],
    run: Span | Sequence[Span] | None = None,
) -> str:
    """Rows of ``time │ bar value``, ``◆`` on the chosen window and ``●`` on the actual run.

    ``window`` and ``run`` are one span or several (an interruptible job's chunks).
    """
    windows, runs = _spans(window), _spans(run)
    rows = _merge(list(forecast), MAX_ROWS)
    if not rows:
        return "(no forecast: the plan was made without intensity data)"
    top = max(r.intensity for r in rows) or 1.0
    lines = []
    for r in rows:
        marks = ("◆ window " if _overlaps(r, windows) else "") + (
            "● run" if _overlaps(r, runs) else ""
        )
        row = f"{r.start:%m-%d %H:%M:%S} │{_bar(r.intensity / top)} {r.intensity:6.0f} {marks}"
        lines.append(row.rstrip())
    lines.append(f"{'':14} gCO2eq/kWh; ◆ chosen window, ● actual run (UTC)")
    return "\n".join(lines)


def _bar(fraction: float) -> str:
    eighths = round(max(0.0, min(1.0, fraction)) * BAR_WIDTH * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[rest] if rest else "")).ljust(BAR_WIDTH)


def _spans(value: Span | Sequence[Span] | None) -> list[Span]:
    if not value:
        return []
    if isinstance(value[0], datetime):
        return [value]  # type: ignore[list-item]
    return list(value)  # type: ignore[arg-type]


def _overlaps(point: Interval, spans: list[Span]) -> bool:
    return any(point.start < end and start < point.end for start, end in spans)


def _merge(points: list[Interval], limit: int) -> list[Interval]:
    """Average consecutive points so a long fine-grained forecast still fits ``limit`` rows."""
    if len(points) <= limit:
        return points
    size = -(-len(points) // limit)
    merged = []
    for i in range(0, len(points), size):
        group = points[i : i + size]
        seconds = [(p.end - p.start).total_seconds() for p in group]
        mean = sum(p.intensity * s for p, s in zip(group, seconds, strict=True)) / sum(seconds)
        merged.append(Interval(start=group[0].start, end=group[-1].end, intensity=mean))
    return merged


def avoided_weeks_chart(weekly: Sequence[WeekAvoided]) -> str:
    """Rows of ``week  flow │bar grams``, one per flow and ISO week, bars scaled to the largest
    magnitude; a week dirtier than running at once (negative grams) draws ``░`` instead of
    ``█``. ``weekly`` must be of one signal (the caller charts each signal apart)."""
    if not weekly:
        return "(no receipts with grams in this period: nothing to chart)"
    top = max(abs(w.avoided_g) for w in weekly) or 1.0
    width = max(len(w.job) for w in weekly)
    lines, last_week = [], None
    for w in sorted(weekly, key=lambda w: (w.week_start, w.job)):
        week = w.iso_week if w.week_start != last_week else ""
        last_week = w.week_start
        fraction = abs(w.avoided_g) / top
        bar = (
            _bar(fraction)
            if w.avoided_g >= 0
            else ("░" * round(fraction * BAR_WIDTH)).ljust(BAR_WIDTH)
        )
        lines.append(f"{week:8} {w.job:{width}} │{bar} {w.avoided_g:10.4g} g".rstrip())
    lines.append(f"{'':{9 + width}} gCO2eq avoided per ISO week (UTC); ░ more than at once")
    return "\n".join(lines)
