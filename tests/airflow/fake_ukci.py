"""A fake UK Carbon Intensity API on 127.0.0.1, for the real ``ukci`` provider (``base_url``).

It answers ``/intensity/{from}/fw48h`` (national: ``data`` is a list) and
``/regional/intensity/{from}/fw48h/regionid/{id}`` (regional: ``data`` is one region object),
``hours`` (default two) of points of ``step`` seconds at 300 g except one dip per region that the caller
places, and it counts every request. ``mode`` turns it into a failing provider: ``"slow"``
(answers after ``slow_s``), ``"429"`` (rate limiting with a ``Retry-After``), ``"500"``,
``"garbage"`` (200 with an HTML page) or ``"wrong_shape"`` (200 with JSON of another API).
Used by the fault tests and by ``benchmarks/airflow_load.py``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typing_extensions import Self

_PATH = re.compile(r"(/regional)?/intensity/(\d{4}-\d\d-\d\dT\d\d:\d\dZ)/fw48h(?:/regionid/(\d+))?")


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeUKCI:
    def __init__(self, step: int = 1800, *, classify: Callable[[int], str] | None = None):
        self.step = step
        self.mode = "ok"
        self.slow_s = 1.5
        self.hours = 2  # how far ahead the forecast reaches
        self.lock = threading.Lock()
        #: region ("GB", "GB-13") -> (first epoch, end epoch, value)
        self.dips: dict[str, tuple[int, int, float]] = {}
        self.requests: list[dict[str, Any]] = []
        #: peer port -> who sent it (e.g. "triggerer"); recorded with each request.
        self.classify = classify or (lambda port: "client")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set_dip(self, region: str, start: int, value: float, seconds: int | None = None) -> None:
        """Serve ``value`` for ``region`` from ``start`` for ``seconds`` (default one point)."""
        with self.lock:
            self.dips[region] = (start, start + (seconds or self.step), value)

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if self.mode == "slow":
            time.sleep(self.slow_s)
        elif self.mode == "429":
            return 429, {"Retry-After": "3600"}, b'{"error":{"message":"rate limit"}}'
        elif self.mode == "500":
            return 500, {}, b"<html><body>Internal Server Error</body></html>"
        elif self.mode == "garbage":
            return 200, {}, b"<html><body>maintenance</body></html>"
        elif self.mode == "wrong_shape":
            return 200, {}, json.dumps({"zone": "DE", "forecast": [{"value": 1}]}).encode()
        match = _PATH.fullmatch(path)
        if not match:
            return 404, {}, b'{"error":{"code":"404","message":"not found"}}'
        regional, start, region_id = match.groups()
        region = f"GB-{region_id}" if region_id else "GB"
        begin = int(
            datetime.strptime(start, "%Y-%m-%dT%H:%MZ").replace(tzinfo=timezone.utc).timestamp()
        )
        with self.lock:
            dip = self.dips.get(region)
        entries = [
            {
                "from": stamp(t),
                "to": stamp(t + self.step),
                "intensity": {
                    "forecast": dip[2] if dip and dip[0] <= t < dip[1] else 300.0,
                    "actual": None,
                    "index": "moderate",
                },
            }
            for t in range(begin - begin % self.step, begin + self.hours * 3600, self.step)
        ]
        data: Any = {"regionid": int(region_id), "data": entries} if regional else entries
        return 200, {}, json.dumps({"data": data}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                region = re.search(r"/regionid/(\d+)", path)
                record = {
                    "t": time.time(),
                    "path": path,
                    "region": f"GB-{region.group(1)}" if region else "GB",
                    "source": fake.classify(self.client_address[1]),
                    "mode": fake.mode,
                }
                with fake.lock:
                    fake.requests.append(record)
                status, headers, body = fake.answer(path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):  # the client timed out first
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
