"""The deployment test's flow, run by a separate process: ``python served_flow.py`` serves it,
or a process-pool worker runs it from the entrypoint ``served_flow.py:served_carbon``.

Its grid is the CSV at ``$CLEANSHIFT_TEST_GRID``. Every flow run is a fresh process that
imports this module, so the test can rewrite the CSV just before it triggers a run and place
the cleanest window wherever it needs it.
"""

import os
from datetime import datetime, timezone

import psutil
from prefect import flow

from cleanshift_prefect import carbon_window

GRID = os.environ["CLEANSHIFT_TEST_GRID"]


@flow(name="served-carbon", persist_result=True)
@carbon_window(
    {"kind": "file", "path": GRID, "region": "SERVED"},
    duration="5s",
    max_delay="60s",
    min_deferral="5s",
)
def served_carbon(batch: str, size: int = 1) -> dict:
    return {
        "batch": batch,
        "size": size,
        "started": datetime.now(timezone.utc).isoformat(),
        "ancestors": _ancestors(),
    }


def _ancestors() -> list[int]:
    """This process and its parents, so the test can see where the work ran."""
    me = psutil.Process()
    return [me.pid, *(parent.pid for parent in me.parents())]


if __name__ == "__main__":
    served_carbon.serve(name="test")
