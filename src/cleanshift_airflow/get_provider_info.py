"""Provider metadata read by Airflow's ProvidersManager through the entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "cleanshift-suite",
        "name": "cleanshift",
        "description": "Carbon-aware scheduling: run deferrable work in the cleanest grid window "
        "and keep an honest carbon receipt.",
        "versions": ["0.2.0"],
        "integrations": [
            {
                "integration-name": "cleanshift",
                "external-doc-url": "https://github.com/cleanshift/cleanshift",
                "tags": ["software"],
            }
        ],
        "sensors": [
            {"integration-name": "cleanshift", "python-modules": ["cleanshift_airflow.sensors"]}
        ],
        "operators": [
            {"integration-name": "cleanshift", "python-modules": ["cleanshift_airflow.operators"]}
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
                        "schema": {"type": ["string", "null"], "default": "mock"},
                        "description": "mock, file, electricitymaps, watttime, uk_carbon_intensity, "
                        "carbon_aware_sdk, energidataservice (any registered kind)",
                    },
                    "region": {
                        "label": "Zone / region",
                        "schema": {"type": ["string", "null"]},
                        "description": "e.g. DE, CAISO_NORTH, GB, DK1",
                    },
                    "options": {
                        "label": "Other provider options (JSON object)",
                        "schema": {"type": ["string", "null"]},
                        "description": 'e.g. {"speedup": 720} for the mock provider',
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
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
