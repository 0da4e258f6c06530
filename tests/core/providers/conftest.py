"""Fixtures for provider tests: sample bodies, a fake clock, instant retries, a 127.0.0.1 server.

Samples are copies of the shapes in the project's provider-samples (values invented), kept
here so the suite runs anywhere. Retries go through the real tenacity path; only ``sleep`` is
replaced, and it advances the fake clock, so deadlines and budgets are exercised honestly.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typing_extensions import Self

from cleanshift_core.providers import RetryPolicy

SAMPLES = Path(__file__).parent / "samples"
#: Just after the samples' "now" (their forecasts start 2025-03-04T18:00-18:05Z).
NOW = datetime(2025, 3, 4, 18, 7, tzinfo=timezone.utc)
BASE = "http://providers.test"


def sample(name: str) -> Any:
    """A fresh copy of a sample body (JSON decoded, or text for .html)."""
    path = SAMPLES / name
    if path.suffix == ".json":
        return copy.deepcopy(json.loads(path.read_text()))
    return path.read_text()


class Clock:
    """A settable clock whose ``sleep`` moves time instead of waiting."""

    def __init__(self, now: datetime = NOW) -> None:
        self.current = now
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def retry(clock: Clock) -> RetryPolicy:
    """Three attempts, 1 s then 2 s backoff (+ ≤0.1 s jitter), slept on the fake clock."""
    return RetryPolicy(
        attempts=3,
        initial_backoff=1.0,
        max_backoff=30.0,
        jitter=0.1,
        budget=60.0,
        sleep=clock.sleep,
    )


class SampleServer:
    """Serves ``routes[path] = (status, body, delay_seconds)`` to GET and POST alike (query
    strings ignored); counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, object, float]] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.hits[path] = server.hits.get(path, 0) + 1
                status, body, delay = server.routes.get(
                    path, (404, {"error": "no such route"}, 0.0)
                )
                if delay:
                    time.sleep(delay)
                payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left, as intended

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[SampleServer]:
    with SampleServer() as running:
        yield running
