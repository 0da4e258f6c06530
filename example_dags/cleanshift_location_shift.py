"""Run a job where *and* when the grid is cleanest, then deploy it to that location.

carbon_location → deploy → carbon_receipt

``carbon_location`` (a deferrable :class:`CarbonLocationSensor`) plans both candidate
locations, chooses the location and the start together, waits for that start in the triggerer
(no worker slot), and pushes the chosen label to XCom as ``cleanshift_location`` (also its
return value). ``deploy`` turns the label into a Kubernetes context; ``carbon_receipt``
settles the receipt on the chosen location's provider.

The providers are the embedded mock curve replayed 720× faster (one curve hour every 5 real
seconds), anchored at the run's start: ``eu-west-1`` shows 18:00 then and draws from a dirtier
grid; ``eu-north-1`` shows 00:00, so its night trough (03:00) comes 15 s into the run. In
production, map each label to a ``cleanshift`` connection id (e.g. Electricity Maps zones
``IE`` and ``SE-SE3``) and use real durations.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import dag, task

from cleanshift_airflow.location import CarbonLocationSensor
from cleanshift_airflow.operators import CarbonReceiptOperator

ANCHOR = "{{ dag_run.start_date.isoformat() }}"
LOCATIONS = {
    "eu-west-1": {
        "kind": "mock",
        "region": "IE",
        "base_intensity": 420,
        "speedup": 720,
        "anchor": ANCHOR,
        "anchor_hour": 18,
    },
    "eu-north-1": {
        "kind": "mock",
        "region": "SE-SE3",
        "base_intensity": 150,
        "amplitude": 60,
        "speedup": 720,
        "anchor": ANCHOR,
        "anchor_hour": 0,
    },
}
#: Your mapping from location label to where the job runs there.
KUBE_CONTEXTS = {"eu-west-1": "gke-dublin", "eu-north-1": "gke-stockholm"}


@dag(
    dag_id="cleanshift_location_shift",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["cleanshift", "example"],
)
def cleanshift_location_shift():
    where = CarbonLocationSensor(
        task_id="carbon_location",
        locations=LOCATIONS,
        duration="5s",
        max_delay="30s",
        deferrable=True,  # wait in the triggerer (default: [operators] default_deferrable)
    )

    @task
    def deploy(location: str) -> str:
        context = KUBE_CONTEXTS[location]
        print(f"running the job in {location} via kube context {context}")
        return context

    receipt = CarbonReceiptOperator(
        task_id="carbon_receipt", sensor_task_id="carbon_location", power_kw=1.5
    )
    deploy(where.output) >> receipt


dag_object = cleanshift_location_shift()
