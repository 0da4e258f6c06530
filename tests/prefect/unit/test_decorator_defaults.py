"""The Prefect decorators read each window default from the core's ``WINDOW_DEFAULTS``."""

from __future__ import annotations

import inspect

import pytest

from cleanshift_core import WINDOW_DEFAULTS
from cleanshift_core.request import WINDOW_KWARGS
from cleanshift_prefect import carbon_chunks, carbon_window


@pytest.mark.parametrize("decorator", [carbon_window, carbon_chunks], ids=lambda d: d.__name__)
def test_every_window_default_is_the_cores(decorator):
    params = inspect.signature(decorator).parameters
    optional = {
        n: p.default
        for n, p in params.items()
        if n in WINDOW_KWARGS and n not in ("provider", "duration") and p.default is not p.empty
    }
    assert {"max_delay", "finish_by", "on_provider_error"} <= set(optional)
    for name, default in optional.items():
        assert default == getattr(WINDOW_DEFAULTS, name), name


def test_the_duration_default_and_help_show_the_cores_values():
    assert inspect.signature(carbon_window).parameters["duration"].default == (
        WINDOW_DEFAULTS.duration
    )
    assert "= 'min_carbon'" in str(inspect.signature(carbon_window))  # help() shows the value
