"""The call deadline: no provider retry may sleep past the moment a caller must decide.

A trigger that must decide by a job's latest start wraps its provider calls in
:func:`provider_deadline`; the transport reads :func:`current_deadline` before each wait and
raises the last error at once rather than sleep past it, so the scheduler can fall back instead
of hanging. A context variable carries it, so it follows the call through ``await`` and is never
shared between concurrent tasks.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from datetime import datetime

from ..timeutil import ensure_utc

_DEADLINE: contextvars.ContextVar[datetime | None] = contextvars.ContextVar(
    "cleanshift_provider_deadline", default=None
)


@contextlib.contextmanager
def provider_deadline(when: datetime | None) -> Iterator[None]:
    """Within this block no provider retry sleeps past ``when`` (aware UTC).

    A trigger that must decide by a job's latest start wraps its provider calls in this; a
    nested deadline can only tighten the outer one.
    """
    outer = _DEADLINE.get()
    if when is not None:
        when = ensure_utc(when, "deadline")
        if outer is not None:
            when = min(when, outer)
    token = _DEADLINE.set(when if when is not None else outer)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> datetime | None:
    """The tightest deadline of the enclosing :func:`provider_deadline` blocks, or None."""
    return _DEADLINE.get()
