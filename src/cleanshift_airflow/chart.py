"""An inline SVG chart of a plan's forecast, its chosen window(s) and the actual run(s).

Plain SVG built here, so the chart needs no JavaScript, no CDN and no internet; its text and
line take the page's colour (`currentColor`), so they follow the light/dark theme.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape
from typing import Any

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
