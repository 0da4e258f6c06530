"""``cleanshift_airflow.decorators``: ``@task.carbon_task`` is the TaskFlow decorator the provider
registers, and it waits in the triggerer (``deferrable=False`` is refused)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cleanshift_airflow.decorators import carbon_task
from cleanshift_airflow.operators import CarbonAwarePythonOperator
from cleanshift_core import ConfigurationError


def test_task_carbon_task_is_the_taskflow_decorator_registered_by_the_provider():
    # Airflow's `task` finds it through the provider's `task-decorators` entry, not an import.
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk import dag, task

    registered = ProvidersManager().taskflow_decorators
    assert registered["carbon_task"] is carbon_task

    @dag(schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
    def flow():
        @task.carbon_task(provider="mock", duration="1h", max_delay="6h", power_kw=0.3)
        def score(batch: int) -> int:
            return batch

        score(1)

    op = flow().get_task("score")
    assert isinstance(op, CarbonAwarePythonOperator) and op.custom_operator_name == "@carbon_task"
    assert op.window.duration == timedelta(hours=1) and op.power_kw == 0.3
    with pytest.raises(ConfigurationError, match="unknown policy"):
        task.carbon_task(provider="mock", duration="1h", policy="fastest")


def test_the_task_form_waits_in_the_triggerer_and_refuses_deferrable_false():
    window = {"provider": "mock", "duration": "1h"}
    # deferrable=True is what the task form does anyway: accepted by both forms.
    assert CarbonAwarePythonOperator(task_id="t", python_callable=print, deferrable=True, **window)
    carbon_task(deferrable=True, **window)
    for build in (
        lambda: CarbonAwarePythonOperator(
            task_id="t", python_callable=print, deferrable=False, **window
        ),
        lambda: carbon_task(deferrable=False, **window),  # at decoration, before any DAG
    ):
        with pytest.raises(ConfigurationError, match="CarbonWindowSensor\\(deferrable=False\\)"):
            build()
    with pytest.raises(ConfigurationError, match="deferrable must be True or False"):
        carbon_task(deferrable="no", **window)
    with pytest.raises(ConfigurationError, match="energy_kwh must be a positive number"):
        carbon_task(energy_kwh=0, **window)
