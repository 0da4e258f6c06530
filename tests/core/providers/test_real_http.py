"""Over real sockets: a local HTTP server on 127.0.0.1 serving the sample bodies.

Also the event-loop contract: one provider object used from successive ``asyncio.run`` calls
(sync callers) and from a long-lived loop in another thread (the Airflow triggerer) — no
client crosses loops, and WattTime's token is shared rather than re-fetched.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typing_extensions import Self

from cleanshift_core.errors import ProviderUnavailableError
from cleanshift_core.providers import RetryPolicy, UKCarbonIntensityProvider, WattTimeProvider

from .conftest import NOW, Clock, sample


class SampleServer:
    """Serves ``routes[path] = (status, body, delay_seconds)``; counts requests per path."""

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

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

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


FW48H = "/intensity/2025-03-04T18:07Z/fw48h"


def test_ukci_over_real_http_from_successive_event_loops(server):
    server.routes[FW48H] = (200, sample("ukci_intensity_fw48h.json"), 0.0)
    server.routes["/intensity"] = (200, sample("ukci_intensity.json"), 0.0)
    provider = UKCarbonIntensityProvider(base_url=server.url, clock=Clock())
    first = asyncio.run(provider.forecast(NOW, NOW + timedelta(hours=2)))
    second = asyncio.run(provider.forecast(NOW, NOW + timedelta(hours=2)))
    assert first == second and first.values[0] == 182
    assert asyncio.run(provider.current()).value == 176
    assert server.hits[FW48H] == 2


def test_one_provider_in_a_long_lived_loop_and_in_asyncio_run(server):
    server.routes[FW48H] = (200, sample("ukci_intensity_fw48h.json"), 0.0)
    provider = UKCarbonIntensityProvider(base_url=server.url, clock=Clock())
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        in_loop = asyncio.run_coroutine_threadsafe(
            provider.forecast(NOW, NOW + timedelta(hours=1)), loop
        ).result(10)
        from_run = asyncio.run(provider.forecast(NOW, NOW + timedelta(hours=1)))
        again = asyncio.run_coroutine_threadsafe(
            provider.forecast(NOW, NOW + timedelta(hours=1)), loop
        ).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=5)
        loop.close()
    assert in_loop == from_run == again


def test_watttime_token_survives_across_event_loops(server):
    server.routes["/login"] = (200, sample("watttime_login.json"), 0.0)
    server.routes["/v3/forecast"] = (200, sample("watttime_forecast.json"), 0.0)
    provider = WattTimeProvider(
        username="u", password="p", region="CAISO_NORTH", base_url=server.url, clock=Clock()
    )

    async def burst() -> None:
        await asyncio.gather(*(provider.forecast(NOW, NOW + timedelta(hours=1)) for _ in range(10)))

    asyncio.run(burst())
    asyncio.run(burst())
    assert server.hits["/login"] == 1 and provider.logins == 1
    assert server.hits["/v3/forecast"] == 20


def test_a_real_timeout_is_retried_then_reported(server):
    server.routes[FW48H] = (200, sample("ukci_intensity_fw48h.json"), 1.0)
    clock = Clock()
    provider = UKCarbonIntensityProvider(
        base_url=server.url,
        timeout=0.2,
        clock=clock,
        retry=RetryPolicy(attempts=2, jitter=0, sleep=clock.sleep),
    )
    with pytest.raises(ProviderUnavailableError, match="did not answer within"):
        asyncio.run(provider.forecast(NOW, NOW + timedelta(hours=1)))
    assert server.hits[FW48H] == 2


def test_a_real_500_then_success(server):
    server.routes[FW48H] = (500, "<html>Internal Server Error</html>", 0.0)
    clock = Clock()
    provider = UKCarbonIntensityProvider(
        base_url=server.url, clock=clock, retry=RetryPolicy(attempts=3, jitter=0, sleep=clock.sleep)
    )

    async def heal_after_first_try(seconds: float) -> None:
        server.routes[FW48H] = (200, sample("ukci_intensity_fw48h.json"), 0.0)
        await clock.sleep(seconds)

    provider._http.retry = RetryPolicy(attempts=3, jitter=0, sleep=heal_after_first_try)
    series = asyncio.run(provider.forecast(NOW, NOW + timedelta(hours=1)))
    assert series.values[0] == 182 and server.hits[FW48H] == 2 and clock.sleeps == [1.0]
