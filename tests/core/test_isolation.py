"""The core must stay orchestrator-free: importing it pulls in neither Airflow nor Prefect."""

import subprocess
import sys


def test_core_imports_no_orchestrator():
    code = (
        "import sys, cleanshift_core, cleanshift_core.scheduling;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('airflow', 'prefect')];"
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
