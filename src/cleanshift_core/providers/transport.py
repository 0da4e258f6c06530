"""HTTP for every provider: one client per call, retried requests, typed errors, no secrets.

One place decides how cleanshift talks to a grid-intensity API, so all providers behave alike:

- **Timeouts and retries.** Each request has a timeout; timeouts, refused connections, 5xx and
  429 answers are retried (tenacity) per the provider's :class:`~.retry.RetryPolicy`. No retry
  ever sleeps past the caller's deadline (:func:`~.deadline.provider_deadline`) or the policy's
  per-call ``budget``: then the last error is raised at once, so the scheduler can fall back
  instead of hanging.
- **Typed errors.** Answers become :class:`~cleanshift_core.errors.ProviderError` subclasses
  whose messages say what to do; provider modules refine the mapping (WattTime's "Invalid
  scope" is an access error, not bad credentials).
- **No secrets anywhere.** Secrets live in ``SecretStr``; any secret value that an API echoes
  back is scrubbed from error messages and log records before they are made.
- **One client per call.** An ``httpx.AsyncClient`` is bound to the event loop it was first
  used in, and the same provider object is used from ``asyncio.run`` per call (sync callers)
  and from one long loop (the Airflow triggerer). A client per :meth:`Transport.session`
  never crosses loops; the coalescing cache keeps the number of calls small anyway.

What the answers must contain is :mod:`.sanity`'s business; the provider base that ties both
together is :mod:`.http_provider`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import random
import re
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from ..deprecation import moved
from ..errors import (
    AuthenticationError,
    BadDataError,
    ConfigurationError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    UnknownRegionError,
)
from ..timeutil import Clock
from .deadline import current_deadline
from .retry import parse_retry_after

if TYPE_CHECKING:  # not imported at run time: the name's old import path warns (see the end)
    from .retry import RetryPolicy

log = logging.getLogger(__name__)

MASK = "**********"


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
        attempts = _Attempts(t, current_deadline())
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


#: Moved when this module was split by concept (one release): import them from
#: ``cleanshift_core.providers``, where they are exported.
__getattr__ = moved(
    __name__,
    {
        "RetryPolicy": "cleanshift_core.providers",
        "provider_deadline": "cleanshift_core.providers",
    },
)
