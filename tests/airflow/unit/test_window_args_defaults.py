"""The Airflow signatures keep explicit window keywords (``default_args``, parse-time checks)
but read each default from the core's ``WINDOW_DEFAULTS``; the renamed provider types keep
their old names for one release."""

from __future__ import annotations

import importlib
import inspect

import pytest

from cleanshift_airflow.chunks import CarbonChunkPlanOperator
from cleanshift_airflow.operators import CarbonAwarePythonOperator
from cleanshift_airflow.sensors import CarbonWindowSensor
from cleanshift_airflow.window_args import DEFAULT_REPLAN_INTERVAL
from cleanshift_core import WINDOW_DEFAULTS, Policy
from cleanshift_core.request import WINDOW_KWARGS

SIGNATURES = [CarbonWindowSensor, CarbonAwarePythonOperator, CarbonChunkPlanOperator]


@pytest.mark.parametrize("operator", SIGNATURES, ids=lambda c: c.__name__)
def test_every_window_default_is_the_cores(operator):
    params = inspect.signature(operator.__init__).parameters
    optional = {
        n: p.default for n, p in params.items() if n in WINDOW_KWARGS and p.default is not p.empty
    }
    assert {"max_delay", "finish_by", "on_provider_error"} <= set(optional)
    for name, default in optional.items():
        # Airflow's own default: re-plan as often as the shared cache refreshes.
        expected = (
            DEFAULT_REPLAN_INTERVAL if name == "replan_interval" else getattr(WINDOW_DEFAULTS, name)
        )
        assert default == expected, name


def test_help_shows_the_default_values():
    shown = str(inspect.signature(CarbonWindowSensor.__init__))
    assert "= 'min_carbon'" in shown and "= 'run_now'" in shown and "= 0.0" in shown


def test_default_args_still_fill_the_window_arguments():
    sensor = CarbonWindowSensor(
        task_id="w",
        provider="mock",
        default_args={"duration": "1h", "policy": "threshold", "max_intensity": 200},
    )
    assert sensor.window.duration.total_seconds() == 3600
    assert sensor.window.rules.policy is Policy.THRESHOLD
    assert sensor.window.rules.max_intensity == 200


@pytest.mark.parametrize(
    ("old", "new"), [("ProviderArg", "ConnectionOrSpec"), ("ProviderRef", "SerializedProvider")]
)
def test_renamed_provider_types_still_work_for_one_release_and_warn(old, new):
    hooks = importlib.import_module("cleanshift_airflow.hooks")
    with pytest.warns(DeprecationWarning, match=f"{old} is renamed {new}"):
        assert getattr(hooks, old) is getattr(hooks, new)
    with pytest.raises(AttributeError):
        hooks.NoSuchName  # noqa: B018
