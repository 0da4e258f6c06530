"""The deployment test's flow, run by a separate process: ``python served_flow.py`` serves it,
or a process-pool worker runs it from the entrypoint ``served_flow.py:served_carbon``.

Its grid is the CSV at ``$CLEANSHIFT_TEST_GRID``. Every flow run is a fresh process that
imports this module, so the test can rewrite the CSV just before it triggers a run and place
the cleanest window wherever it needs it. Its ``on_completion``/``on_failure`` hooks append
a line to ``$CLEANSHIFT_TEST_HOOKS/<flow run id>`` each time they fire; ``fail_attempts``
makes the work fail on that many first attempts (to exercise ``retries``).
"""

import os
from datetime import datetime, timezone
from pathlib import Path

import psutil
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from cleanshift_prefect import carbon_window

GRID = os.environ["CLEANSHIFT_TEST_GRID"]
HOOKS = Path(os.environ["CLEANSHIFT_TEST_HOOKS"])


def record_hook(flow, run, state) -> None:
    with (HOOKS / str(run.id)).open("a") as out:
        out.write(f"{state.type.value} {datetime.now(timezone.utc).isoformat()}\n")


@flow(
    name="served-carbon",
    persist_result=True,
    retries=1,
    on_completion=[record_hook],
    on_failure=[record_hook],
)
@carbon_window(
    {"kind": "file", "path": GRID, "region": "SERVED"},
    duration="5s",
    max_delay="60s",
    min_deferral="5s",
)
def served_carbon(batch: str, size: int = 1, fail_attempts: int = 0) -> dict:
    started = datetime.now(timezone.utc).isoformat()
    with get_client(sync_client=True) as client:  # the server's count, not the engine's copy
        attempt = client.read_flow_run(flow_run.id).run_count
    if attempt <= fail_attempts:
        raise RuntimeError(f"failing attempt {attempt} on purpose")
    return {
        "batch": batch,
        "size": size,
        "started": started,
        "run_count": attempt,
        "ancestors": _ancestors(),
    }


def _ancestors() -> list[int]:
    """This process and its parents, so the test can see where the work ran."""
    me = psutil.Process()
    return [me.pid, *(parent.pid for parent in me.parents())]


if __name__ == "__main__":
    served_carbon.serve(name="test")
