"""The typer application every command registers on, and what they share at run time.

Built on typer (type-hinted click: parsing, help and ``--`` handling for free) and rich.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

import typer
from rich.console import Console

from ..providers.base import GridIntensityProvider

T = TypeVar("T")

app = typer.Typer(
    name="cleanshift",
    help="Run deferrable work in the cleanest grid window, and keep an honest carbon receipt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class FixedClock:
    """The clock behind ``--now``: plan as of a given instant (past files, reproducible runs)."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def stderr_console() -> Console:
    """Where messages, progress and receipts go: stdout stays the command's output."""
    return Console(stderr=True, highlight=False)


def run_closing(coro: Awaitable[T], provider: GridIntensityProvider) -> T:
    """Run one command's coroutine on a fresh event loop, closing the provider's client."""

    async def main() -> T:
        try:
            return await coro
        finally:
            await provider.aclose()

    return asyncio.run(main())
