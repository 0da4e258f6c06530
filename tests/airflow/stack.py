"""A real Airflow on 127.0.0.1 for end-to-end tests and benchmarks: api-server, scheduler,
triggerer and dag-processor (LocalExecutor, SQLite), started in their own process groups so
they can be killed (one of them, or all) and always cleaned up, plus the REST v2 calls the
tests make.

Used by ``system/test_real_stack.py``, ``system/test_faults.py`` and
``benchmarks/airflow_load.py`` (which puts this directory on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

HERE = Path(__file__).resolve().parent
COMPONENTS = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--port", "{port}"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
}


class StackTimeout(AssertionError):
    """A bounded wait on the stack ran out (an AssertionError, so pytest reports it plainly)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], object], timeout: float, every: float = 0.5):
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except httpx.TransportError as exc:  # not listening yet
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(every)
    raise StackTimeout(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Stack:
    """The four components, their environment and logs under ``home``."""

    def __init__(self, home: Path, env: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.starts: dict[str, int] = {}
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONUNBUFFERED": "1",  # logs survive SIGTERM
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": Fernet.generate_key().decode(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            **(env or {}),
        }

    def airflow(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            check=False,  # the exit code is reported below, with the stderr tail
            env=self.env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        if done.returncode:
            raise AssertionError(
                f"airflow {' '.join(args)} exited with {done.returncode}:\n{done.stderr[-3000:]}"
            )

    def start(self, *names: str) -> None:
        """Start the named components (default: all four), each in its own process group."""
        for name in names or COMPONENTS:
            self.starts[name] = self.starts.get(name, 0) + 1
            log_name = name if self.starts[name] == 1 else f"{name}.{self.starts[name]}"
            with open(self.home / f"{log_name}.log", "wb") as log:  # the child keeps its own fd
                self.procs[name] = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "airflow",
                        *(a.format(port=self.port) for a in COMPONENTS[name]),
                    ],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def kill(self, name: str) -> None:
        """SIGKILL one component's whole process group (a crash, not a shutdown)."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for proc in self.procs.values():  # task processes left in a group by a killed parent
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Read the metadata database (SQLite, read-only) for what the REST API does not show,
        e.g. ``task_instance.scheduled_dttm``: when the triggerer handed a trigger's event over."""
        db = sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name} ---\n" + path.read_text(errors="replace")[-3000:]
            for path in sorted(self.home.glob("*.log"))
        )

    def health(self) -> dict:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}\n{self.logs()}")
        response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        return response.json() if response.status_code == 200 else {}

    def healthy(self, parts=("metadatabase", "scheduler", "triggerer", "dag_processor")) -> bool:
        body = self.health()
        return all(body.get(part, {}).get("status") == "healthy" for part in parts)


@contextmanager
def running_stack(
    dags: Mapping[str, str],
    *,
    users: Mapping[str, tuple[str, str]] | None = None,
    env: Mapping[str, str] | None = None,
    parent: str | None = None,
) -> Iterator[Stack]:
    """A migrated, healthy stack serving ``dags`` (file name → source); stopped on exit.

    ``users`` maps user name → (role, password) for the simple auth manager (default: one
    admin). The home is made under ``parent`` (default ``$AIRFLOW_HOME``), not with pytest's
    tmp_path_factory: concurrent pytest sessions of the same user prune its directories.
    """
    users = users or {"admin": ("admin", "cleanshift-e2e")}
    home = Path(tempfile.mkdtemp(prefix="stack-", dir=parent or os.environ["AIRFLOW_HOME"]))
    (home / "dags").mkdir()
    for name, source in dags.items():
        (home / "dags" / name).write_text(source)
    (home / "passwords.json").write_text(json.dumps({u: p for u, (_, p) in users.items()}))
    stack = Stack(
        home,
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{u}:{role}" for u, (role, _) in users.items()
            ),
            **(env or {}),
        },
    )
    stack.airflow("db", "migrate")
    stack.start()
    try:
        wait_for("a healthy api-server, scheduler, triggerer and dag-processor", stack.healthy, 180)
        yield stack
    finally:
        stack.stop()


def token(stack: Stack, username: str = "admin", password: str = "cleanshift-e2e") -> str:
    def issue():
        response = httpx.post(
            f"{stack.url}/auth/token",
            json={"username": username, "password": password},
            timeout=10,
        )
        return response.json()["access_token"] if response.status_code in (200, 201) else None

    return wait_for(f"a JWT for {username} from /auth/token", issue, 60)


class Api:
    """The REST v2 calls the tests make, as an authenticated user."""

    def __init__(self, stack: Stack, username: str = "admin", password: str = "cleanshift-e2e"):
        self.http = httpx.Client(
            base_url=stack.url,
            headers={"Authorization": f"Bearer {token(stack, username, password)}"},
            timeout=30,
        )

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        dag = f"/api/v2/dags/{dag_id}"
        wait_for(f"{dag_id} to be parsed", lambda: self.http.get(dag).status_code == 200, 120)
        self.http.patch(dag, json={"is_paused": False}).raise_for_status()
        run = self.http.post(f"{dag}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        run.raise_for_status()
        return run.json()["dag_run_id"]

    def ti(self, dag_id: str, run_id: str, task_id: str) -> Any:
        return self.http.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        ).json()

    def tis(self, dag_id: str, run_id: str, **params: Any) -> list[dict]:
        """All task instances of a run (mapped ones too), paged."""
        out: list[dict] = []
        while True:
            page = self.http.get(
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={**params, "limit": 100, "offset": len(out)},
            )
            page.raise_for_status()
            batch = page.json()["task_instances"]
            out.extend(batch)
            if len(batch) < 100:
                return out

    def wait_deferred(self, dag_id: str, run_id: str, task_id: str) -> dict:
        def deferred():
            ti = self.ti(dag_id, run_id, task_id)
            assert ti["state"] in (None, "scheduled", "queued", "running", "deferred"), ti
            return ti if ti["state"] == "deferred" else None

        return wait_for(f"{task_id} to defer", deferred, 120, every=0.25)

    def wait_finished(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        def finished():
            state = self.http.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
            return state if state in ("success", "failed") else None

        return wait_for(f"{dag_id} to finish", finished, timeout)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1) -> Any:
        response = self.http.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": True, "stringify": False, "map_index": map_index},
        )
        response.raise_for_status()
        value = response.json()["value"]
        return json.loads(value) if isinstance(value, str) else value
