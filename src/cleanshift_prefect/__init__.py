"""cleanshift for Prefect 3: run flows and tasks in the cleanest grid window.

``@carbon_window(...)`` plans with cleanshift_core, then waits the way the code runs: a flow
run from a deployment reschedules itself to the window's start and exits (freeing its
infrastructure; the same flow run runs the work then); anything else waits with an async
sleep in its process. ``@carbon_chunks(...)``
runs an interruptible task as one mapped task run per chunk, each in its cleanest slot. Each
job leaves a carbon receipt as table and markdown artifacts; the task
:func:`publish_carbon_report` totals them over a period in one markdown artifact. Credentials
live in the :class:`GridIntensityCredentials` block. Registered through the ``prefect.collections``
entry point, so ``prefect block register -m cleanshift_prefect`` finds the block.
"""

from .artifacts import WINDOW_OPENED_EVENT, ArtifactKeys
from .blocks import BLOCK_TYPE_SLUG, GridIntensityCredentials
from .chunks import CarbonChunks, carbon_chunks
from .decorator import carbon_window
from .deferral import CONTINUATION_TAG, WAITING_STATE_NAME
from .runtime import LOCAL_WAIT_STATE_NAME, current_location, current_plan
from .totals import TOTALS_KEY, publish_carbon_report

__all__ = [
    "BLOCK_TYPE_SLUG",
    "CONTINUATION_TAG",
    "LOCAL_WAIT_STATE_NAME",
    "TOTALS_KEY",
    "WAITING_STATE_NAME",
    "WINDOW_OPENED_EVENT",
    "ArtifactKeys",
    "CarbonChunks",
    "GridIntensityCredentials",
    "carbon_chunks",
    "carbon_window",
    "current_location",
    "current_plan",
    "publish_carbon_report",
]
