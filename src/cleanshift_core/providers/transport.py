"""The resilience layer every HTTP provider shares: retries, typed errors, boundary sanity.

One place decides how cleanshift talks to a grid-intensity API, so all providers behave alike:

- **Timeouts and retries.** Each request has a timeout; timeouts, refused connections, 5xx and
  429 answers are retried (tenacity) with exponential backoff plus jitter. A ``Retry-After``
  header (seconds or an HTTP date) is honoured as a minimum wait. No retry ever sleeps past the
  caller's deadline (:func:`provider_deadline`) or the policy's per-call ``budget``: then the
  last error is raised at once, so the scheduler can fall back instead of hanging.
- **Typed errors.** Answers become :class:`~cleanshift_core.errors.ProviderError` subclasses
  whose messages say what to do; provider modules refine the mapping (WattTime's "Invalid
  scope" is an access error, not bad credentials).
- **No secrets anywhere.** Secrets live in ``SecretStr``; any secret value that an API echoes
  back is scrubbed from error messages and log records before they are made.
- **One client per call.** An ``httpx.AsyncClient`` is bound to the event loop it was first
  used in, and the same provider object is used from ``asyncio.run`` per call (sync callers)
  and from one long loop (the Airflow triggerer). A client per :meth:`Transport.session`
  never crosses loops; the coalescing cache keeps the number of calls small anyway.
- **Data sanity.** :func:`build_series` turns raw points into a validated series: nulls, NaN,
  negatives and (where the grid cannot be at zero) zeros become missing points, short holes
  are bridged, unsorted or duplicated points are repaired, long zero runs, long gaps and stale
  forecasts are refused. Every repair is listed on the series and logged once per fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import functools
import itertools
import json
import logging
import math
import random
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any
from urllib.parse import urlparse

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from ..errors import (
    AuthenticationError,
    BadDataError,
    BadSeriesError,
    ConfigurationError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    UnknownRegionError,
)
from ..series import Basis, IntensityPoint, IntensitySeries, SignalKind
from ..timeutil import SYSTEM_CLOCK, Clock, ensure_utc
from .base import GridIntensityProvider

log = logging.getLogger(__name__)

MASK = "**********"
#: No real grid, marginal or average, emits more than this (lignite is ~1 100 g/kWh); a
#: larger number means the units are wrong (lbs/MWh, g/MWh), not that the grid is dirty.
MAX_PLAUSIBLE_G_PER_KWH = 2000.0
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


def as_secret(value: str | SecretStr | None, name: str) -> SecretStr | None:
    """Store a secret option as ``SecretStr`` (spec options already are; direct callers may not be)."""
    if value is None or isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    raise ConfigurationError(f"{name} must be a string, got {type(value).__name__}")


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


#: Turns a non-2xx response (and its short, scrubbed detail text) into a provider-specific
#: error, or returns None to use the generic mapping.
Classifier = Callable[[httpx.Response, str], "ProviderError | None"]


class Transport:
    """HTTP for one provider instance: base URL, timeout, retry policy and error mapping."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout: float,
        retry: RetryPolicy,
        clock: Clock,
        credentials_hint: str = "credentials",
        secrets: Sequence[SecretStr | None] = (),
        classify: Classifier | None = None,
    ) -> None:
        self.name = name
        self.base_url = check_base_url(base_url, name)
        self.timeout = check_timeout(timeout, name)
        self.retry = retry
        self.clock = clock
        self.credentials_hint = credentials_hint
        self._secrets = {f"option{i}": s for i, s in enumerate(secrets) if s is not None}
        self.classify = classify

    def set_secret(self, name: str, secret: SecretStr) -> None:
        """Scrub this value too (e.g. the bearer token of the latest login)."""
        self._secrets[name] = secret

    def scrub(self, text: str) -> str:
        for secret in self._secrets.values():
            raw = secret.get_secret_value()
            if raw:
                text = text.replace(raw, MASK)
        return text

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """A client for one logical call (login + fetch + chunks), closed on exit."""
        async with httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self.timeout,
            follow_redirects=True,
            verify=_ssl_context(),
        ) as client:
            yield Session(self, client)


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every client: building one costs ~30 ms of CPU, and a context,
    unlike a client, is not tied to an event loop."""
    return httpx.create_ssl_context()


class Session:
    """Requests within one :meth:`Transport.session`; each is retried per the policy."""

    def __init__(self, transport: Transport, client: httpx.AsyncClient) -> None:
        self.transport = transport
        self.client = client

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return await self.request_json("GET", path, **kwargs)

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> Any:
        """Send with retries; return the decoded JSON body or raise a typed ProviderError."""
        t = self.transport
        attempts = _Attempts(t, _DEADLINE.get())
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((ProviderUnavailableError, RateLimitedError)),
                stop=attempts.stop,
                wait=attempts.wait,
                sleep=t.retry.sleep,
                before_sleep=attempts.log_retry,
                reraise=True,
            ):
                with attempt:
                    return await self._once(
                        method, path, params, json_body, headers, auth, attempts.start_attempt()
                    )
        except (ProviderUnavailableError, RateLimitedError) as exc:
            if attempts.tries > 1:
                exc.args = (f"{exc.args[0]} (gave up after {attempts.tries} attempts)",)
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
        auth: httpx.Auth | tuple[str, str] | None,
        timeout: float,
    ) -> Any:
        t = self.transport
        where = f"{t.name} ({t.base_url}{path})"
        try:
            response = await self.client.request(
                method,
                path,
                params=params,
                json=json_body,
                headers=headers,
                auth=auth,
                timeout=timeout,
            )
        except httpx.TimeoutException:
            raise ProviderUnavailableError(
                f"{where} did not answer within {timeout:g}s; it may be overloaded — raise the "
                "provider's timeout option or add a fallback source"
            ) from None
        except httpx.TransportError as exc:
            raise ProviderUnavailableError(
                f"cannot reach {where}: {t.scrub(type(exc).__name__ + ': ' + str(exc))}; check base_url, "
                "DNS and network egress"
            ) from None
        if response.is_success:
            try:
                return response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise BadDataError(
                    f"{where} answered HTTP {response.status_code} but not with JSON "
                    f"(starts {t.scrub(_excerpt(response.text))!r}); check base_url points at the API"
                ) from None
        raise self.error_for(response)

    def error_for(self, response: httpx.Response) -> ProviderError:
        """The typed error for a non-2xx answer: provider-specific first, then generic."""
        t = self.transport
        detail = t.scrub(response_detail(response))
        custom = t.classify(response, detail) if t.classify is not None else None
        if custom is not None:
            custom.args = (t.scrub(str(custom.args[0])),) if custom.args else custom.args
            return custom
        status = response.status_code
        said = f"HTTP {status}" + (f": {detail}" if detail else "")
        where = f"{t.name} ({response.request.url.path})"
        if status in (401, 403):
            return AuthenticationError(
                f"{where} refused the request ({said}); check the {t.credentials_hint}"
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), t.clock.now())
            hint = f"; it asks to wait {retry_after:.0f}s" if retry_after is not None else ""
            return RateLimitedError(
                f"{where} is rate limiting us ({said}){hint}; lower the polling rate or share one "
                "provider (shared_provider) between jobs",
                retry_after=retry_after,
            )
        if status >= 500 or status == 408:
            return ProviderUnavailableError(
                f"{where} is failing ({said}); retry later or add a fallback source"
            )
        return UnknownRegionError(
            f"{where} rejected the request ({said}); check the region and the provider options"
        )


class _Attempts:
    """Per-request retry bookkeeping: the next wait is computed once and shared by the
    tenacity ``stop`` and ``wait`` callbacks, so the deadline check sees the real wait."""

    def __init__(self, transport: Transport, deadline: datetime | None) -> None:
        self.t = transport
        self.policy = transport.retry
        started = transport.clock.now()
        budget_end = started + timedelta(seconds=self.policy.budget) if self.policy.budget else None
        ends = [d for d in (deadline, budget_end) if d is not None]
        self.deadline = min(ends) if ends else None
        self.tries = 0
        self._planned: tuple[int, float, float | None] = (0, 0.0, None)

    def start_attempt(self) -> float:
        """Count an attempt; its timeout is cut short so it cannot run past the deadline."""
        self.tries += 1
        if self.deadline is None:
            return self.t.timeout
        remaining = (self.deadline - self.t.clock.now()).total_seconds()
        return max(0.1, min(self.t.timeout, remaining))

    def _plan(self, state: RetryCallState) -> tuple[float, float | None]:
        if self._planned[0] != state.attempt_number:
            p = self.policy
            backoff = min(p.max_backoff, p.initial_backoff * 2 ** (state.attempt_number - 1))
            backoff += random.uniform(0, p.jitter) if p.jitter else 0.0
            exc = state.outcome.exception() if state.outcome is not None else None
            retry_after = getattr(exc, "retry_after", None)
            wait = max(backoff, retry_after) if retry_after is not None else backoff
            self._planned = (state.attempt_number, wait, retry_after)
        return self._planned[1], self._planned[2]

    def stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.policy.attempts:
            return True
        wait, retry_after = self._plan(state)
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            return True
        return (
            self.deadline is not None
            and self.t.clock.now() + timedelta(seconds=wait) > self.deadline
        )

    def wait(self, state: RetryCallState) -> float:
        return self._plan(state)[0]

    def log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "%s; retry %d/%d in %.1fs",
            self.t.scrub(str(exc)),
            state.attempt_number,
            self.policy.attempts - 1,
            self._plan(state)[0],
        )


def response_detail(response: httpx.Response) -> str:
    """The human part of an error body: JSON ``detail``/``message``/``error``/``title``
    (RFC 7807, UK CI's nested ``error.message``, ...) or the text of an HTML page."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = re.sub(r"<[^>]+>", " ", response.text)
        return _excerpt(text)
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, Mapping):
            for key in ("detail", "message", "error", "title"):
                if key in value:
                    walk(value[key])

    walk(body)
    seen: list[str] = []
    for part in parts:
        if part and part not in seen:
            seen.append(part)
    return _excerpt(" — ".join(seen))


def _excerpt(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def check_base_url(value: str, provider: str) -> str:
    if (
        not isinstance(value, str)
        or urlparse(value).scheme not in ("http", "https")
        or not urlparse(value).netloc
    ):
        raise ConfigurationError(
            f"{provider} base_url must be an http(s) URL such as 'https://api.example.org', got {value!r}"
        )
    return value.rstrip("/")


def check_timeout(value: float, provider: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(
            f"{provider} timeout must be a positive number of seconds, got {value!r}"
        )
    return float(value)


def parse_time(value: Any, what: str, provider: str) -> datetime:
    """An API timestamp as aware UTC; naive stamps are UTC (every API here documents UTC)."""
    if not isinstance(value, str):
        raise BadDataError(f"{provider} sent a {what} that is not a timestamp: {value!r}")
    text = value.strip().replace("Z", "+00:00")
    # Python 3.10's fromisoformat wants 3 or 6 fraction digits; .NET sends 1-7.
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise BadDataError(f"{provider} sent an unreadable {what} {value!r}") from None
    return (
        stamp.replace(tzinfo=timezone.utc)
        if stamp.tzinfo is None
        else stamp.astimezone(timezone.utc)
    )


def api_time(value: datetime, minutes: bool = False) -> str:
    """UTC ISO 8601 with a Z, as these APIs expect (``minutes``: no seconds, for UK CI)."""
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%MZ" if minutes else "%Y-%m-%dT%H:%M:%SZ")


def chunks(start: datetime, end: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive pieces no longer than ``size`` (API range limits)."""
    pieces = []
    cursor = start
    while cursor < end:
        upper = min(end, cursor + size)
        pieces.append((cursor, upper))
        cursor = upper
    return pieces


# ---------------------------------------------------------------------------- data sanity
class Zeros(str, Enum):
    """What a 0 gCO2eq/kWh reading means for a signal."""

    #: An average intensity over a whole grid cannot be zero: a zero is a missing value.
    MISSING = "missing"
    #: Zero is possible (marginal curtailment, a wind-only region) but a long run is an outage.
    SUSPECT_RUNS = "suspect_runs"
    #: Zero is routine (e.g. NESO's North Scotland region, all wind and hydro).
    ALLOWED = "allowed"


@dataclass(frozen=True)
class RawPoint:
    """A point as an API sent it: value may be None/NaN; duration None = until the next one."""

    start: datetime
    value: Any
    duration: timedelta | None = None


def build_series(
    raw: Sequence[RawPoint],
    *,
    provider: str,
    region: str,
    signal: SignalKind,
    basis: Basis,
    now: datetime,
    generated_at: datetime | None = None,
    zeros: Zeros = Zeros.MISSING,
    max_zero_run: timedelta = timedelta(hours=6),
    max_age: timedelta | None = None,
    resolution: timedelta | None = None,
    what: str = "data",
) -> IntensitySeries:
    """Validate an API's points into a series, repairing only what is safe and saying so.

    - no points at all → :class:`BadDataError` (empty answers are never "all clean");
    - null, NaN, infinite, negative or non-numeric values, and zeros where ``zeros`` is
      ``MISSING``, are dropped; the hole left is bridged by holding the previous value when
      it is at most two points long, otherwise the series is refused;
    - with ``SUSPECT_RUNS``, a run of zeros longer than ``max_zero_run`` is refused (a real
      WattTime outage once served 0.0 for ten hours);
    - a value above :data:`MAX_PLAUSIBLE_G_PER_KWH` means wrong units and is refused;
    - unsorted points are sorted, duplicates keep the last value (providers revise);
    - a forecast generated more than ``max_age`` ago, or one that ends before ``now``, is stale
      and refused.

    ``resolution`` is the point length the API documents, used when it cannot be inferred
    from the spacing (a one-point answer).
    """
    if not raw:
        raise BadDataError(
            f"{provider} returned no {what} for {region}; the region may have no coverage for this "
            "period — try a later time, another region or a fallback source"
        )
    notes: list[str] = []
    ordered = sorted(raw, key=lambda p: p.start)
    starts = [p.start for p in ordered]
    spacing = sorted(b - a for a, b in itertools.pairwise(starts) if b > a)
    resolution = spacing[len(spacing) // 2] if spacing else resolution
    points: list[tuple[datetime, timedelta, float | None]] = []
    for i, p in enumerate(ordered):
        duration = p.duration
        if duration is None:
            later = next((s for s in starts[i + 1 :] if s > p.start), None)
            duration = (later - p.start) if later is not None else resolution
        if duration is None or duration <= timedelta(0):
            raise BadDataError(
                f"{provider} sent a single {what} point without a duration; cannot place it in time"
            )
        points.append((p.start, duration, _number(p.value)))

    implausible = next(
        ((s, v) for s, _, v in points if v is not None and v > MAX_PLAUSIBLE_G_PER_KWH), None
    )
    if implausible is not None:
        raise BadDataError(
            f"{provider} reports {implausible[1]:g} gCO2/kWh for {region} at {implausible[0].isoformat()}, "
            f"more than any real grid (> {MAX_PLAUSIBLE_G_PER_KWH:g}); the units look wrong — check "
            "base_url and the provider's signal options"
        )
    if zeros is Zeros.SUSPECT_RUNS:
        _refuse_long_zero_runs(points, provider, region, max_zero_run)
    bad = [(s, v) for s, _, v in points if v is None or (v == 0.0 and zeros is Zeros.MISSING)]
    if len(bad) == len(points):
        kinds = "zero" if all(v == 0.0 for _, v in bad) else "missing/invalid"
        raise BadDataError(
            f"{provider} returned only {kinds} {what} values for {region} ({len(points)} points); "
            "the provider's feed looks broken — try later or use a fallback source"
        )
    if bad:
        zeros_n = sum(1 for _, v in bad if v == 0.0)
        notes.append(
            f"dropped {len(bad)} unusable point(s) ({zeros_n} zero, {len(bad) - zeros_n} null/invalid) "
            f"from {bad[0][0].isoformat()}"
        )
    kept = [
        IntensityPoint(s, d, v)
        for s, d, v in points
        if v is not None and not (v == 0.0 and zeros is Zeros.MISSING)
    ]
    if sorted(raw, key=lambda p: p.start) != list(raw):
        notes.append("sorted points by start time")
    typical = resolution or kept[0].duration
    try:
        series = IntensitySeries.from_points(
            kept,
            signal=signal,
            provider=provider,
            region=region,
            basis=basis,
            generated_at=generated_at,
            repair=True,
            max_gap=typical * 2,
        )
    except BadSeriesError as exc:
        raise BadDataError(f"{provider} {what} for {region} is unusable: {exc}") from None
    notes.extend(series.repairs)
    if basis is Basis.FORECAST:
        _refuse_stale(series, provider, region, now, max_age)
    if notes:
        log.warning("%s %s for %s repaired: %s", provider, what, region, "; ".join(notes))
    return replace(series, repairs=tuple(notes))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _refuse_long_zero_runs(
    points: list[tuple[datetime, timedelta, float | None]],
    provider: str,
    region: str,
    limit: timedelta,
) -> None:
    run_start: datetime | None = None
    run_end: datetime | None = None
    for start, duration, value in points:
        if value == 0.0:
            run_start = run_start or start
            run_end = start + duration
            if run_end - run_start > limit:
                raise BadDataError(
                    f"{provider} reports 0 gCO2/kWh for {region} from {run_start.isoformat()} for more "
                    f"than {limit}; zero for that long is an outage, not a clean grid — try later or use "
                    "a fallback source"
                )
        else:
            run_start = None


def _refuse_stale(
    series: IntensitySeries, provider: str, region: str, now: datetime, max_age: timedelta | None
) -> None:
    if (
        max_age is not None
        and series.generated_at is not None
        and now - series.generated_at > max_age
    ):
        raise BadDataError(
            f"{provider} forecast for {region} was generated at {series.generated_at.isoformat()}, "
            f"{now - series.generated_at} ago (limit {max_age}); the provider's forecast looks stalled "
            "— try later or use a fallback source"
        )
    if series.end is not None and series.end <= now:
        raise BadDataError(
            f"{provider} forecast for {region} ends at {series.end.isoformat()}, before now; it is "
            "stale — try later or use a fallback source"
        )


# ---------------------------------------------------------------------------- base class
class HttpProvider(GridIntensityProvider):
    """Common ground of the HTTP providers: options, transport, and a forecast that covers now.

    Subclasses implement :meth:`_forecast`. If the API's forecast starts after the requested
    start and after now (Electricity Maps' first forecast hour is the next one, WattTime's
    starts at its last 5-minute run), the latest measured point is prepended, stretched up
    to the forecast's start (at most :attr:`max_now_gap`), so the immediate-start window
    always has a value and a plan can compare "wait" against "run now".
    """

    default_base_url: str = ""
    #: Forecasts generated longer ago than this are refused as stale.
    max_forecast_age: timedelta = timedelta(hours=6)
    #: The latest measurement may be held at most this long to reach the forecast's start.
    max_now_gap: timedelta = timedelta(hours=2)

    def __init__(
        self,
        *,
        base_url: str | None,
        timeout: float,
        retry: RetryPolicy | Mapping[str, Any] | None,
        clock: Clock,
        credentials_hint: str = "credentials",
        secrets: Sequence[SecretStr | None] = (),
    ) -> None:
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self._http = Transport(
            self.kind,
            base_url or self.default_base_url,
            timeout=timeout,
            retry=RetryPolicy.coerce(retry),
            clock=self.clock,
            credentials_hint=credentials_hint,
            secrets=secrets,
            classify=self._classify,
        )

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def _zeros(self) -> Zeros:
        """How zero intensities are read; overridden where the grid can really be at zero."""
        return Zeros.MISSING

    def _series(
        self,
        raw: Sequence[RawPoint],
        *,
        basis: Basis,
        now: datetime | None = None,
        provider: str | None = None,
        **checks: Any,
    ) -> IntensitySeries:
        """:func:`build_series` with this provider's name, region, signal, zero rule and clock."""
        return build_series(
            raw,
            provider=provider or self.name,
            region=self.region,
            signal=self.signal,
            basis=basis,
            now=now or self.clock.now(),
            zeros=self._zeros,
            **checks,
        )

    def _classify(self, response: httpx.Response, detail: str) -> ProviderError | None:
        """Provider-specific error mapping; None means the generic one."""
        return None

    async def forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        start, end = check_window(start, end)
        series = await self._forecast(start, end)
        return await self._cover_now(series, start)

    async def _forecast(self, start: datetime, end: datetime) -> IntensitySeries:
        raise NotImplementedError

    async def _cover_now(self, series: IntensitySeries, start: datetime) -> IntensitySeries:
        now = self.clock.now()
        first = series.start
        if first is None or not (start < first and now < first):
            return series
        latest = await self.current()
        if latest.start > now or latest.start >= first or first - latest.end > self.max_now_gap:
            log.info(
                "%s forecast starts at %s and no recent measurement can cover now",
                self.name,
                first.isoformat(),
            )
            return series
        bridge = IntensityPoint(latest.start, first - latest.start, latest.value)
        merged = IntensitySeries.from_points(
            [bridge, *series.points],
            signal=series.signal,
            provider=series.provider,
            region=series.region,
            basis=series.basis,
            generated_at=series.generated_at,
        )
        note = (
            f"prepended the latest measured value ({latest.value:g} at {latest.start.isoformat()}) "
            f"up to the forecast's first point at {first.isoformat()} so the forecast covers now"
        )
        return replace(merged, repairs=(*series.repairs, note))


def check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Public-argument check of forecast()/history(): aware UTC, end after start."""
    start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
    if end <= start:
        raise ConfigurationError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    return start, end
