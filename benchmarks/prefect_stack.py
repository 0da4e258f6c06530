"""The Prefect stack the Prefect benchmarks run against, and the process helpers they measure with.

``prefect_load.py`` and ``prefect_deferred_runs.py`` each start their own Prefect server (SQLite,
127.0.0.1, a free port) so their numbers do not depend on whatever else is running, and each
must leave no process behind. That start/health-poll/stop logic and the process helpers live here
once, so both benchmarks measure and clean up in the same way. The scripts are run as
``python benchmarks/<script>.py``, so they import this module as a sibling.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
from typing_extensions import Self


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc; zeros for a process without
    memory (a zombie)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    current, peak = fields.get("VmRSS", "0 kB"), fields.get("VmHWM", "0 kB")
    return int(current.split()[0]) / 1024, int(peak.split()[0]) / 1024


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``, with its command line ("?" if it vanished meanwhile)."""
    found: dict[int, str] = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            found[child.pid] = " ".join(child.cmdline())
        except psutil.Error:
            found[child.pid] = "?"
    return found


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGINT, then SIGKILL its whole process group (its own session): the process if it does
    not go, and any stragglers it left in its session either way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class PrefectServer:
    """``prefect server start`` on 127.0.0.1 in a temporary home; healthy on entry, gone on exit."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_API_URL": self.url,
            "PREFECT_UI_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        self.log = (self.home / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError(
                    f"prefect server exited: {(self.home / 'server.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("prefect server not healthy within 120 s")
            time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)
        self.log.close()


@contextmanager
def prefect_stack(prefix: str) -> Iterator[tuple[PrefectServer, Path]]:
    """A fresh work directory and a healthy server, with this process set up as its client:
    every Prefect setting that the flows run here (and the processes started from here) read
    points into the work directory, and flow runs log at WARNING so the server is not also
    ingesting INFO logs from every run."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    (work / "home").mkdir()
    with PrefectServer(work / "home") as server:
        os.environ.update(
            {
                "PREFECT_API_URL": server.url,
                "PREFECT_HOME": str(work / "home"),
                "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(work / "storage"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "WARNING",
            }
        )
        yield server, work
