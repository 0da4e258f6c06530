"""Airflow test session: a private AIRFLOW_HOME (set before Airflow is imported) and a
migrated SQLite metadata database for the tests that need one."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"

_HOME = tempfile.mkdtemp(prefix="cleanshift-airflow-tests-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLE_DAGS)

# Airflow reads AIRFLOW_HOME at import.
from cleanshift_airflow.compat import AIRFLOW_V, START_FROM_TRIGGER_SINCE  # noqa: E402

# For the tests of start_from_trigger itself; older Airflow refuses the flag (unit/test_sensors.py).
needs_start_from_trigger = pytest.mark.skipif(
    AIRFLOW_V < START_FROM_TRIGGER_SINCE, reason=f"Airflow {AIRFLOW_V} ignores start_from_trigger"
)
refuses_start_from_trigger = pytest.mark.skipif(
    AIRFLOW_V >= START_FROM_TRIGGER_SINCE, reason=f"Airflow {AIRFLOW_V} honours start_from_trigger"
)


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """``airflow db migrate`` once per session (~10 s); returns AIRFLOW_HOME."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=240,
    )
    return _HOME
