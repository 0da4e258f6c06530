"""Inline SVG charts: a plan's forecast with its chosen window(s) and actual run(s), and the
grams avoided per ISO week by DAG of the receipts page.

Plain SVG built here, so the charts need no JavaScript, no CDN and no internet; their text,
lines and bars take the page's colour (`currentColor`), so they follow the light/dark theme.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape
from typing import Any

from cleanshift_core.report import WeekAvoided

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40


def _time(value: str | datetime) -> float:
    return (value if isinstance(value, datetime) else datetime.fromisoformat(value)).timestamp()


def forecast_svg(
    forecast: Sequence[dict[str, Any]],
    windows: Sequence[Sequence[str]],
    runs: Sequence[Sequence[str]] = (),
) -> str:
    """SVG of the forecast steps (gCO2eq/kWh), the planned window(s) and the actual run(s).

    An interruptible job has one planned window per chunk; each gets its own band.
    """
    if not forecast:
        return '<p class="muted">No forecast was available when this was planned.</p>'
    spans = [(_time(p["start"]), _time(p["end"]), float(p["intensity"])) for p in forecast]
    marks = [tuple(w) for w in windows] + [tuple(r) for r in runs]
    t0 = min([s for s, _, _ in spans] + [_time(a) for a, _ in marks])
    t1 = max([e for _, e, _ in spans] + [_time(b) for _, b in marks])
    top = max(v for _, _, v in spans) * 1.1 or 1.0
    t1 = t1 if t1 > t0 else t0 + 1

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (1 - v / top) * (HEIGHT - TOP - BOTTOM)

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
            'role="img" aria-label="forecast with planned window and actual run">'
        )
    ]
    for a_iso, b_iso in windows:
        a, b = x(_time(a_iso)), x(_time(b_iso))
        parts.append(
            f'<rect class="window" x="{a:.1f}" y="{TOP}" width="{max(b - a, 1):.1f}" '
            f'height="{HEIGHT - TOP - BOTTOM}" fill="#a5d6a7" opacity="0.55"><title>planned window</title></rect>'
        )
    for a_iso, b_iso in runs:
        a, b = x(_time(a_iso)), x(_time(b_iso))
        parts.append(
            f'<rect class="run" x="{a:.1f}" y="{HEIGHT - BOTTOM - 10}" width="{max(b - a, 2):.1f}" '
            f'height="10" fill="#1b5e20"><title>actual run</title></rect>'
        )
    path: list[str] = []
    for s, e, v in spans:
        path.append(f"{'M' if not path else 'L'}{x(s):.1f},{y(v):.1f} L{x(e):.1f},{y(v):.1f}")
    parts.append(
        f'<path class="forecast" d="{" ".join(path)}" fill="none" stroke="currentColor" stroke-width="2"/>'
    )
    for frac in (0, 0.5, 1):
        v = top / 1.1 * frac
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" fill="currentColor">{v:.0f}</text>'
        )
    for frac, anchor in ((0, "start"), (0.5, "middle"), (1, "end")):  # the last stays inside
        t = t0 + (t1 - t0) * frac
        label = datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S")
        parts.append(
            f'<text x="{x(t):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}" '
            f'font-size="11" fill="currentColor">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 4}" font-size="11" fill="currentColor">gCO2eq/kWh (UTC) — line: forecast; '
        "green band(s): planned window, one per chunk; dark bar: actual run</text></svg>"
    )
    return "".join(parts)


#: Bars of one week, one per DAG, told apart by how strongly they take ``currentColor`` (and by
#: the legend and each bar's tooltip); a ninth DAG reuses the first shade.
SHADES = (0.9, 0.6, 0.35, 0.15, 0.75, 0.5, 0.25, 0.1)


def avoided_weeks_svg(weekly: Sequence[WeekAvoided], title: str) -> str:
    """Grouped bars of grams avoided per ISO week (x) and DAG (one bar each), zero line drawn,
    negative weeks (dirtier than running at once) below it. ``weekly`` must be of one signal:
    the caller draws one chart per signal, never a figure that mixes them."""
    if not weekly:
        return '<p class="muted">No receipts with grams in this period: nothing to chart.</p>'
    labels = {w.week_start: w.iso_week for w in weekly}
    weeks = sorted(labels)
    jobs = sorted({w.job for w in weekly})
    shade = {job: SHADES[i % len(SHADES)] for i, job in enumerate(jobs)}
    legend = 16 * -(-len(jobs) // 4)  # four DAGs a legend row; the chart grows, the plot does not
    height, bottom = HEIGHT + legend, BOTTOM + legend
    low, high = min(w.avoided_g for w in weekly), max(w.avoided_g for w in weekly)
    v_top, v_bottom = max(high, 0.0) * 1.1, min(low, 0.0) * 1.1
    if v_top == v_bottom:
        v_top = 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - bottom
    slot = plot_w / len(weeks)
    bar = slot * 0.8 / len(jobs)

    def y(v: float) -> float:
        return TOP + (v_top - v) / (v_top - v_bottom) * plot_h

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
            f'width="100%" role="img" aria-label="{escape(title)}" class="avoided-weeks">'
        )
    ]
    index = {w: i for i, w in enumerate(weeks)}
    order = {j: i for i, j in enumerate(jobs)}
    for w in weekly:
        x = LEFT + index[w.week_start] * slot + slot * 0.1 + order[w.job] * bar
        top, base = sorted((y(w.avoided_g), y(0.0)))
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{top:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{max(base - top, 0.5):.1f}" fill="currentColor" '
            f'fill-opacity="{shade[w.job]}" stroke="currentColor" stroke-width="0.5">'
            f"<title>{escape(w.job)}, {w.iso_week}: {w.avoided_g:.4g} g avoided "
            f"({w.with_grams} receipt(s))</title></rect>"
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0.0):.1f}" y2="{y(0.0):.1f}" '
        'stroke="currentColor" stroke-width="1"/>'
    )
    for v in sorted({min(low, 0.0), 0.0, max(high, 0.0)}):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{v:.3g}</text>'
        )
    every = max(1, math.ceil(len(weeks) * 56 / plot_w))  # a label is ~50 px wide: no overlap
    for week, i in index.items():
        if i % every:
            continue
        parts.append(
            f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle" font-size="11" fill="currentColor">{labels[week]}</text>'
        )
    for i, job in enumerate(jobs):
        row, col = divmod(i, 4)
        x, y0 = LEFT + col * (plot_w / 4), height - bottom + 32 + row * 16
        parts.append(
            f'<rect x="{x:.1f}" y="{y0 - 9}" width="10" height="10" fill="currentColor" '
            f'fill-opacity="{shade[job]}" stroke="currentColor" stroke-width="0.5"/>'
            f'<text x="{x + 14:.1f}" y="{y0}" font-size="11" fill="currentColor">'
            f"{escape(job)}</text>"
        )
    parts.append(
        f'<text x="{LEFT}" y="{height - 4}" font-size="11" fill="currentColor">'
        f"{escape(title)}</text></svg>"
    )
    return "".join(parts)
