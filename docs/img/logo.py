"""Draw the block logo: a day of grid intensity with the cleanest window in green.

    .venvs/prefect/bin/python docs/img/logo.py   # any venv with the plot extra

Prefect shows it beside the ``GridIntensityCredentials`` block (its ``_logo_url`` points at
this file's PNG in the repository; Prefect's block standards want a square, 46-999 px wide).
The curve is the embedded mock grid's daily shape, so the picture needs no network or key.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

from cleanshift_core import MockProvider

OUT = Path(__file__).with_name("logo.png")
DAY = datetime(2026, 3, 2, tzinfo=timezone.utc)
WINDOW = 3  # hours


def main() -> None:
    series = asyncio.run(MockProvider(region="LOGO").forecast(DAY, DAY + timedelta(days=1)))
    values = [p.value for p in series.points]
    width = round(WINDOW * len(values) / 24)  # points per window
    best = min(range(len(values) - width + 1), key=lambda i: sum(values[i : i + width]))
    xs = list(range(len(values)))
    fig = Figure(figsize=(2.56, 2.56), dpi=100)
    ax = fig.add_axes((0.06, 0.1, 0.88, 0.8))
    window = xs[best : best + width + 1]
    ax.fill_between(window, 0, values[best : best + width + 1], color="#2e7d32", linewidth=0)
    ax.plot(xs, values, color="#37474f", lw=7, solid_capstyle="round")
    ax.set_xlim(-1, len(values))
    ax.set_ylim(0, max(values) * 1.08)
    ax.set_axis_off()
    fig.savefig(OUT, facecolor="white")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
