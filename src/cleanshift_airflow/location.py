"""CarbonLocationSensor: choose where *and* when the gated work runs, then release it there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Context

from cleanshift_core import ConfigurationError, Plan, Providers
from cleanshift_core.location import check_locations

from .hooks import ConnectionOrSpec, SerializedProvider, provider_reference
from .keys import LOCATION_XCOM_KEY
from .sensors import CarbonWindowSensor


class CarbonLocationSensor(CarbonWindowSensor):
    """A :class:`~cleanshift_airflow.sensors.CarbonWindowSensor` across candidate locations.

    It plans every location's forecast (concurrently, with the core's
    :func:`~cleanshift_core.plan_across_locations`), chooses the location and the start
    together, waits for that start in the triggerer, and pushes the chosen location's label to
    XCom under ``cleanshift_location`` (also its return value, so ``sensor.output`` works) for
    downstream tasks, e.g. to pick a Kubernetes context or a cloud region.

    :param locations: your label → that location's provider (a ``cleanshift`` connection id or
        a provider spec); templated. Which grid feeds which region is your knowledge, so it is
        your input. Listing order is the preference order on ties, and the first location is
        used when no location's provider answers (``on_provider_error``).

    Every other argument is :class:`CarbonWindowSensor`'s (``duration``, ``max_delay`` /
    ``finish_by``, ``policy``, ``replan_interval``, ``start_from_trigger``, ...). Re-plans move
    the start within the chosen location, never the location. A
    :class:`~cleanshift_airflow.operators.CarbonReceiptOperator` downstream settles the
    receipt on the chosen location's provider, and the receipt names the location.
    """

    template_fields: Sequence[str] = ("provider", "locations", "finish_by")

    def __init__(self, *, locations: Mapping[str, ConnectionOrSpec], **kwargs: Any) -> None:
        if "provider" in kwargs:
            raise ConfigurationError(
                "CarbonLocationSensor takes locations={label: provider, ...}, not provider="
            )
        refs = location_references(locations)
        self.locations = refs  # before super(): the start trigger's kwargs name them
        super().__init__(provider=next(iter(refs.values())), **kwargs)

    def trigger_kwargs(self) -> dict[str, Any]:
        return {**super().trigger_kwargs(), "locations": location_references(self.locations)}

    def provider_for(self, plan: Plan, context: Context) -> SerializedProvider:
        locations = location_references(self.render_template(self.locations, context))
        return Providers.across(locations).for_plan(plan)

    def _release(self, context: Context, plan: Plan) -> str | None:
        super()._release(context, plan)
        context["ti"].xcom_push(key=LOCATION_XCOM_KEY, value=plan.location)
        self.log.info(
            "location %r chosen (%s); in XCom %r", plan.location, plan.reason, LOCATION_XCOM_KEY
        )
        return plan.location


def location_references(
    locations: Mapping[str, ConnectionOrSpec],
) -> dict[str, SerializedProvider]:
    """Validate ``locations`` (at parse time) into label → serialisable provider reference
    (the core's label checks, each provider through :func:`provider_reference`)."""
    return check_locations(locations, provider_reference)
