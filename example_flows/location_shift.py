"""Train where *and* when the grid is cleanest: ``@carbon_window(locations=...)``.

The decorator plans both candidate locations, waits for the chosen start, and the function
reads the choice with ``current_location()`` (e.g. to pick a Kubernetes context). The receipt
artifact (``train-carbon-receipt``) records the location.

    python example_flows/location_shift.py
"""

from __future__ import annotations

import asyncio

from prefect import flow, task

from cleanshift_prefect import carbon_window, current_location

#: Your mapping: location label -> the grid it draws from (here the mock curve, 720x faster).
LOCATIONS = {
    "eu-west-1": "mock:region=IE,base_intensity=420,speedup=720",
    "eu-north-1": "mock:region=SE-SE3,base_intensity=150,speedup=720",
}
KUBE_CONTEXTS = {"eu-west-1": "gke-dublin", "eu-north-1": "gke-stockholm"}


@task(name="train")
@carbon_window(locations=LOCATIONS, duration="5s", max_delay="40s", power_kw=1.5)
async def train() -> str:
    context = KUBE_CONTEXTS[current_location()]
    print(f"training in {current_location()} via kube context {context}")
    return context


@flow(name="location-shift", log_prints=True)
async def location_shift() -> str:
    return await train()


if __name__ == "__main__":
    asyncio.run(location_shift())
