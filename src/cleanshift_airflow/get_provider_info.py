"""Provider metadata read by Airflow's ProvidersManager through the entry point.

Written out rather than computed, because every Airflow CLI call imports this module and
importing the operators costs seconds; ``tests/airflow/unit/test_get_provider_info.py`` keeps it equal
to the code (every module defining a sensor, operator, hook, trigger or extra link is listed, and
the connection form matches the hook's).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

#: The core's registered provider kinds (``cleanshift_core.providers.provider_kinds()``),
#: written out because every Airflow CLI call reads this module and importing the core costs
#: ~0.7 s; a test keeps the two equal.
PROVIDER_KINDS = (
    "casdk",
    "electricitymaps",
    "energidataservice",
    "fallback",
    "file",
    "mock",
    "ukci",
    "watttime",
)


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "cleanshift-suite",
        "name": "cleanshift",
        "description": "Carbon-aware scheduling: run deferrable work in the cleanest grid window "
        "and keep an honest carbon receipt.",
        "versions": [version("cleanshift-suite")],
        "integrations": [
            {
                "integration-name": "cleanshift",
                "external-doc-url": "https://github.com/cleanshift/cleanshift",
                "tags": ["software"],
            }
        ],
        "sensors": [
            {
                "integration-name": "cleanshift",
                "python-modules": ["cleanshift_airflow.sensors", "cleanshift_airflow.location"],
            }
        ],
        "operators": [
            {
                "integration-name": "cleanshift",
                "python-modules": ["cleanshift_airflow.operators", "cleanshift_airflow.chunks"],
            }
        ],
        "hooks": [
            {"integration-name": "cleanshift", "python-modules": ["cleanshift_airflow.hooks"]}
        ],
        "triggers": [
            {"integration-name": "cleanshift", "python-modules": ["cleanshift_airflow.triggers"]}
        ],
        "task-decorators": [
            {"name": "carbon_task", "class-name": "cleanshift_airflow.decorators.carbon_task"}
        ],
        "connection-types": [
            {
                "connection-type": "cleanshift",
                "hook-class-name": "cleanshift_airflow.hooks.CleanshiftHook",
                "hook-name": "cleanshift (grid carbon intensity)",
                "conn-fields": {
                    "provider": {
                        "label": "Provider kind",
                        "schema": {
                            "type": "string",
                            "enum": list(PROVIDER_KINDS),
                            "default": "mock",
                        },
                        "description": "One of: " + ", ".join(PROVIDER_KINDS),
                    },
                    "region": {
                        "label": "Zone / region",
                        "schema": {"type": ["string", "null"]},
                        "description": "e.g. DE, CAISO_NORTH, GB, DK1",
                    },
                    "options": {
                        "label": "Other provider options (JSON object)",
                        # an object, so the form stores JSON, not a string of JSON
                        "schema": {"type": ["object", "null"]},
                        "description": 'e.g. {"speedup": 720} for the mock provider',
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "Base URL (optional)",
                        "login": "WattTime user",
                        "password": "API key / WattTime password",
                    },
                    "placeholders": {"host": "https://api.electricitymap.org"},
                },
            }
        ],
        "extra-links": ["cleanshift_airflow.links.CarbonReceiptLink"],
        "plugins": [
            {"name": "cleanshift", "plugin-class": "cleanshift_airflow.plugin.CleanshiftPlugin"}
        ],
    }
