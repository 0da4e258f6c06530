"""The hand-written provider metadata against the code: a new module with a sensor, operator,
hook, trigger or extra link, or a changed connection form, cannot be forgotten in it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator
from airflow.triggers.base import BaseTrigger

import cleanshift_airflow
from cleanshift_airflow.get_provider_info import get_provider_info
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
