"""A real Prefect server for the whole suite, and a mock grid whose cleanest hour we place.

Prefect's home, database and result storage go to a temporary directory (never ~/.prefect),
set before Prefect is imported so its settings pick them up.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="cleanshift-prefect-tests-"))
os.environ.setdefault("PREFECT_HOME", str(_HOME / "home"))
os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(_HOME / "storage"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_KEY", None)

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

#: Mock curve speed-up: one curve hour lasts 5 real seconds, so a day is 2 minutes.
SPEEDUP = 720
POINT_SECONDS = 3600 / SPEEDUP


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    """One real Prefect API (SQLite) for every test; yields its URL."""
    with prefect_test_harness(server_startup_timeout=60):
        warm_up()  # the first flow run in a process is slow; pay for it before timed tests
        yield PREFECT_API_URL.value()


@flow
def warm_up() -> None:
    """An empty flow run: loads the engine so later tests' windows are not eaten by start-up."""


def trough_at(when: datetime, region: str = "TEST") -> dict:
    """A mock provider spec whose cleanest point starts exactly at ``when``.

    The mock's daily minimum is at curve hour 03:00; anchoring that hour at ``when`` puts the
    cleanest ``POINT_SECONDS``-long window there, with strictly dirtier points either side.
    """
    return {
        "kind": "mock",
        "region": region,
        "speedup": SPEEDUP,
        "anchor": when.isoformat(),
        "anchor_hour": 3,
    }


def seconds_from_now(seconds: float) -> datetime:
    """A point-aligned instant ``seconds`` ahead (microseconds dropped for clean anchors)."""
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).replace(microsecond=0)


async def artifacts_of(flow_run_id) -> dict:
    """The flow run's artifacts by key (newest version per key)."""
    async with get_client() as client:
        found = await client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    by_key: dict = {}
    for artifact in sorted(found, key=lambda a: a.created):
        by_key[artifact.key or f"unkeyed-{artifact.id}"] = artifact
    return by_key


async def state_names(flow_run_id) -> list[str]:
    """The flow run's state history, oldest first, as state names."""
    async with get_client() as client:
        states = await client.read_flow_run_states(flow_run_id)
    return [s.name for s in sorted(states, key=lambda s: s.timestamp)]


def table_rows(table_artifact) -> dict:
    """A receipt table artifact read back from the API, as ``{field: value}``."""
    data = table_artifact.data
    rows = json.loads(data) if isinstance(data, str) else data
    return {row["field"]: row["value"] for row in rows}
