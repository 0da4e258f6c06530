"""A real grid-intensity API on 127.0.0.1 that can be told to fail.

It speaks the UK Carbon Intensity API's shape (``/intensity/<from>/fw48h`` and
``/intensity/<from>/<to>``: half-hour entries with ``forecast`` and ``actual``), so the real
:class:`~cleanshift_core.providers.UKCarbonIntensityProvider` talks to it over a real socket.
``mode`` switches the behaviour between requests: the fault tests of the core and of the
Prefect decorator both use it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from typing_extensions import Self

HALF_HOUR = timedelta(minutes=30)

#: What the server does with the next request.
MODES = ("ok", "slow", "rate_limited", "error_500", "garbage_html", "garbage_json", "echo")


class FaultyGridServer:
    """Serves ``values(t)`` for half-hours from ``start``; ``mode`` picks a fault.

    ``slow`` answers after ``delay`` seconds; ``rate_limited`` answers 429 with
    ``Retry-After: retry_after``; ``garbage_*`` answers 200 with HTML or JSON of the wrong shape;
    ``echo`` answers 200 with a non-JSON body that repeats the request's URL and headers (an API
    echoing credentials back, for the secrets canary).
    """

    def __init__(
        self, start: datetime, values: Callable[[datetime], float], hours: int = 48
    ) -> None:
        self.start, self.values, self.hours = start, values, hours
        self.mode = "ok"
        self.delay = 1.0
        self.retry_after = "60"
        self.requests: list[tuple[str, str]] = []  # (mode, path)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((server.mode, self.path))
                server.answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def body(self) -> dict:
        entries = []
        for k in range(self.hours * 2):
            t = self.start + k * HALF_HOUR
            v = self.values(t)
            entries.append(
                {
                    "from": t.strftime("%Y-%m-%dT%H:%MZ"),
                    "to": (t + HALF_HOUR).strftime("%Y-%m-%dT%H:%MZ"),
                    "intensity": {"forecast": v, "actual": v, "index": "moderate"},
                }
            )
        return {"data": entries}

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        if mode == "slow":
            time.sleep(self.delay)
        try:
            if mode == "rate_limited":
                self._send(
                    handler, 429, b'{"error": "slow down"}', {"Retry-After": self.retry_after}
                )
            elif mode == "error_500":
                self._send(handler, 500, b'{"error": "internal"}')
            elif mode == "garbage_html":
                self._send(
                    handler, 200, b"<html><body>maintenance</body></html>", ctype="text/html"
                )
            elif mode == "echo":
                usual = {"host", "accept", "accept-encoding", "connection", "user-agent"}
                unusual = [
                    f"{k}: {v}" for k, v in handler.headers.items() if k.lower() not in usual
                ]
                echoed = f"{'; '.join(unusual)} {handler.path}".encode()
                self._send(handler, 200, echoed, ctype="text/plain")
            elif mode == "garbage_json":
                self._send(handler, 200, b'{"data": "not a list", "intensity": [null]}')
            else:
                self._send(handler, 200, json.dumps(self.body()).encode())
        except OSError:
            pass  # the client gave up (timeout): nothing to answer

    @staticmethod
    def _send(handler, status: int, payload: bytes, headers=None, ctype="application/json") -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(payload)


def closed_port_url() -> str:
    """An address nothing listens on: connections are refused, as when the API is down."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)
