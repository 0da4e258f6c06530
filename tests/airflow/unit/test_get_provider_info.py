"""The hand-written provider metadata against the code: a new module with a sensor, operator,
hook, trigger or extra link, or a changed connection form, cannot be forgotten in it; every
path it names imports, and its provider-kind field offers exactly the registered kinds."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys

from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator
from airflow.triggers.base import BaseTrigger

import cleanshift_airflow
from cleanshift_airflow.get_provider_info import PROVIDER_KINDS, get_provider_info
from cleanshift_airflow.hooks import CleanshiftHook


def defined_here() -> dict[str, set[type]]:
    """Each module of the package and the public classes it defines (not imports)."""
    found = {}
    for module_info in pkgutil.iter_modules(cleanshift_airflow.__path__, "cleanshift_airflow."):
        module = importlib.import_module(module_info.name)
        found[module_info.name] = {
            cls
            for name, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and not name.startswith("_")
        }
    return found


def modules_defining(base: type, but_not: type | None = None) -> set[str]:
    return {
        module
        for module, classes in defined_here().items()
        if any(issubclass(c, base) and not (but_not and issubclass(c, but_not)) for c in classes)
    }


def listed(section: str) -> set[str]:
    return {m for entry in get_provider_info()[section] for m in entry["python-modules"]}


def test_every_module_with_a_sensor_operator_hook_or_trigger_is_listed():
    assert listed("sensors") == modules_defining(BaseSensorOperator)
    assert listed("operators") == modules_defining(BaseOperator, but_not=BaseSensorOperator)
    assert listed("hooks") == modules_defining(BaseHook)
    assert listed("triggers") == modules_defining(BaseTrigger)


def test_every_extra_link_is_listed():
    links = {
        f"{cls.__module__}.{cls.__name__}"
        for classes in defined_here().values()
        for cls in classes
        if issubclass(cls, BaseOperatorLink)
    }
    assert set(get_provider_info()["extra-links"]) == links


def test_the_connection_form_is_the_hooks():
    [conn] = get_provider_info()["connection-types"]
    assert conn["connection-type"] == CleanshiftHook.conn_type
    assert conn["hook-name"] == CleanshiftHook.hook_name
    behaviour = CleanshiftHook.get_ui_field_behaviour()
    assert conn["ui-field-behaviour"] == {
        key.replace("_", "-"): value for key, value in behaviour.items()
    }


def test_provider_info_lists_importable_parts():
    info = get_provider_info()
    [conn] = info["connection-types"]
    assert conn["connection-type"] == "cleanshift"
    assert {"provider", "region", "options"} <= set(conn["conn-fields"])
    paths = [
        conn["hook-class-name"],
        *info["extra-links"],
        *(p["plugin-class"] for p in info["plugins"]),
        *(d["class-name"] for d in info["task-decorators"]),
    ]
    for path in paths:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name)
    for section in ("triggers", "sensors", "operators", "hooks"):
        for module in info[section][0]["python-modules"]:
            importlib.import_module(module)


REGISTERED_KINDS = (
    "import json; from cleanshift_core.providers import provider_kinds; "
    "print(json.dumps(provider_kinds()))"
)


def test_the_provider_kind_field_offers_exactly_the_registered_kinds():
    # the core's own registry, in a fresh interpreter (tests register extra kinds here)
    registered = subprocess.run(
        [sys.executable, "-c", REGISTERED_KINDS], capture_output=True, text=True, check=True
    ).stdout
    [conn] = get_provider_info()["connection-types"]
    field = conn["conn-fields"]["provider"]
    assert list(PROVIDER_KINDS) == json.loads(registered) == field["schema"]["enum"]
    assert "uk_carbon_intensity" not in field["description"] and "ukci" in field["description"]
    assert conn["conn-fields"]["options"]["schema"]["type"] == ["object", "null"]
