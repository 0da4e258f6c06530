"""How hard a provider call tries: the retry policy and the server's ``Retry-After`` hint.

Timeouts, refused connections, 5xx and 429 answers are retried (tenacity, in
:mod:`.transport`) with exponential backoff plus jitter; a ``Retry-After`` header (seconds or an
HTTP date) is honoured as a minimum wait. No retry sleeps past the policy's per-call ``budget``
or the caller's :func:`~.deadline.provider_deadline`. The policy is a value object: each
provider holds one, settable per provider as ``retry={"attempts": 2, "budget": 20}``.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import ConfigurationError


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests pass ``sleep`` (or tiny backoffs) so retries cost no real time.

    Args:
        attempts: total tries per request, the first included.
        initial_backoff: seconds before the first retry; doubles each retry.
        max_backoff: cap on the exponential part, seconds.
        jitter: up to this many random seconds are added to each wait (de-synchronises the
            clients of a shared API after an outage).
        max_retry_after: a ``Retry-After`` longer than this is not slept through; the
            :class:`RateLimitedError` is raised at once carrying the hint.
        budget: seconds one call may spend including waits (None: no limit but the deadline).
    """

    attempts: int = 4
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    jitter: float = 1.0
    max_retry_after: float = 300.0
    budget: float | None = 120.0
    sleep: Callable[[float], Awaitable[Any]] = field(
        default=asyncio.sleep, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise ConfigurationError(
                f"retry attempts must be a whole number ≥ 1, got {self.attempts!r}"
            )
        for name in ("initial_backoff", "max_backoff", "jitter", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigurationError(
                    f"retry {name} must be a number of seconds ≥ 0, got {value!r}"
                )
        if self.budget is not None and not (
            isinstance(self.budget, (int, float)) and self.budget > 0
        ):
            raise ConfigurationError(
                f"retry budget must be positive seconds or None, got {self.budget!r}"
            )

    @classmethod
    def coerce(cls, value: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy:
        """Accept a policy, a dict of its fields (spec option ``retry``) or None (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, RetryPolicy):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {
                "attempts",
                "initial_backoff",
                "max_backoff",
                "jitter",
                "max_retry_after",
                "budget",
            }
            if unknown:
                raise ConfigurationError(
                    f"unknown retry option(s) {', '.join(sorted(unknown))}; use attempts, initial_backoff, "
                    "max_backoff, jitter, max_retry_after, budget"
                )
            return cls(**dict(value))
        raise ConfigurationError(
            f"retry must be a RetryPolicy or a dict of its fields, got {type(value).__name__}"
        )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - now).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
