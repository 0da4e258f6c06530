"""What both readers share: the result type, one request with typed, secret-free errors, and
a display form of the URL."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from ..errors import (
    ConfigurationError,
    DeploymentAuthError,
    DeploymentError,
    DeploymentUnreachableError,
)
from ..report import JobReceipt, Skipped

T = TypeVar("T")
R = TypeVar("R")

#: Requests in flight at once per reader: enough to hide latency, few enough to be polite to
#: a production API server.
CONCURRENCY = 8


@dataclass(frozen=True)
class Receipts:
    """What a reader found: receipts it could read, and those it skipped with the reason."""

    found: tuple[JobReceipt, ...]
    skipped: tuple[Skipped, ...]


def secret(value: str | SecretStr | None) -> SecretStr | None:
    """A credential as ``SecretStr``, so no repr, log line or traceback shows it."""
    return value if value is None or isinstance(value, SecretStr) else SecretStr(value)


def load_json(value: Any) -> Any:
    """A value that may be JSON text (Airflow stores a trigger's XComs encoded once more)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def stamp(value: str) -> datetime:
    """An API timestamp as an aware datetime (Python 3.10 wants 3 or 6 fraction digits)."""
    text = re.sub(
        r"\.(\d+)",
        lambda m: "." + (m.group(1) + "000000")[:6],
        value.replace("Z", "+00:00"),
        count=1,
    )
    return datetime.fromisoformat(text)


def base_url(url: str, what: str) -> str:
    """``url`` checked once (http or https, with a host), without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"the {what} URL must be http(s)://host[:port][/path], got {url!r}"
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            f"put no credentials in the {what} URL; pass them as options or environment variables"
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


async def request(
    client: httpx.AsyncClient, what: str, method: str, path: str, **kwargs: Any
) -> Any:
    """One request; its JSON answer, or a :class:`~cleanshift_core.errors.DeploymentError`
    whose one-line message names the server and what to check — never a credential (headers
    and bodies are not quoted, and the URL holds none)."""
    where = f"{what} at {str(client.base_url).rstrip('/')}"
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.TimeoutException:
        raise DeploymentUnreachableError(f"{where} did not answer in time") from None
    except httpx.TransportError as exc:
        raise DeploymentUnreachableError(
            f"cannot reach {where} ({_reason(exc)}); check the URL and that the server runs"
        ) from None
    if response.status_code in (401, 403):
        refused = "refused the credentials" if response.status_code == 401 else "denied access"
        raise DeploymentAuthError(
            f"{where} {refused} (HTTP {response.status_code} to {method} {path}); "
            "check the user name and password, token or API key"
        )
    if response.status_code >= 400:
        raise DeploymentError(
            f"{where} answered HTTP {response.status_code} to {method} {path}"
            + (f" (is this the {what} API URL?)" if response.status_code == 404 else "")
        )
    try:
        return response.json()
    except ValueError:
        raise DeploymentError(
            f"{where} answered {method} {path} with something that is not JSON "
            f"(is this the {what} API URL?)"
        ) from None


def _reason(exc: BaseException) -> str:
    """The OS's words for a failed connection (``Connection refused``), which httpx wraps in
    its own ("All connection attempts failed")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and (seen.errno or seen.strerror):
            # asyncio's strerror is "Connect call failed (host, port)"; the errno says why.
            return os.strerror(seen.errno) if seen.errno and seen.errno > 0 else str(seen.strerror)
        seen = seen.__cause__ or seen.__context__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__


async def gather_bounded(items: Iterable[T], fetch: Callable[[T], Awaitable[R]]) -> list[R]:
    """``fetch`` every item, at most :data:`CONCURRENCY` at a time, results in order."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(item: T) -> R:
        async with slots:
            return await fetch(item)

    return list(await asyncio.gather(*(one(i) for i in items)))
