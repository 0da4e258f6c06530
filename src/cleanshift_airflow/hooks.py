"""The ``cleanshift`` connection type and how a DAG names its intensity provider.

A DAG names a provider either by a connection id (credentials stay in Airflow's connection
store) or by an inline core provider spec (``"mock:speedup=720"``, ``{"kind": "file", ...}``).
Both end as a core :class:`~cleanshift_core.ProviderSpec`, whose secrets are ``SecretStr``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseHook

from cleanshift_core import CleanshiftError, ConfigurationError, ProviderSpec, build_provider
from cleanshift_core.deprecation import renamed
from cleanshift_core.providers import provider_kinds
from cleanshift_core.window import run_sync

from .compat import AirflowNotFoundException

#: What a DAG passes as ``provider``: a connection id or a spec (string or dict).
ConnectionOrSpec = str | Mapping[str, Any]
#: A validated ``provider`` in its serialisable form (a connection id, or a spec as a plain
#: dict), kept on operators and in trigger kwargs; :func:`resolve_spec` reads it.
SerializedProvider = str | dict

_CONN_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


class CleanshiftHook(BaseHook):
    """Reads a ``cleanshift`` connection into a provider spec.

    Fields: *Provider kind* (extra ``provider``), *Zone / region* (extra ``region``), *API key /
    WattTime password* (password), *WattTime user* (login), *Base URL* (host) and any other
    provider options as a JSON object (extra ``options``).
    """

    conn_name_attr = "cleanshift_conn_id"
    default_conn_name = "cleanshift_default"
    conn_type = "cleanshift"
    hook_name = "cleanshift (grid carbon intensity)"

    def __init__(self, cleanshift_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cleanshift_conn_id = cleanshift_conn_id

    def get_conn(self) -> ProviderSpec:
        return self.provider_spec()

    def provider_spec(self) -> ProviderSpec:
        try:
            return spec_from_connection(self.get_connection(self.cleanshift_conn_id))
        except AirflowNotFoundException:
            raise missing_connection(self.cleanshift_conn_id) from None

    @classmethod
    async def aprovider_spec(cls, conn_id: str) -> ProviderSpec:
        """The same, for the triggerer's event loop."""
        try:
            return spec_from_connection(await cls.aget_connection(conn_id))
        except AirflowNotFoundException:
            raise missing_connection(conn_id) from None

    def test_connection(self) -> tuple[bool, str]:
        """One current-intensity request to the connection's provider (``airflow connections
        test``, the UI's *Test* button). The answer never contains the connection's secrets."""
        try:
            spec = self.provider_spec()
            point = run_sync(_current(spec))
        except CleanshiftError as exc:
            return False, _without_secrets(f"{type(exc).__name__}: {exc}", self)
        return True, (
            f"{spec.kind} answered: {point.value:.0f} gCO2eq/kWh for "
            f"{point.start.isoformat()}–{point.end.isoformat()}"
        )

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            # "extra" stays visible: Airflow 3's connection form cannot hide it.
            "hidden_fields": ["schema", "port"],
            "relabeling": {
                "host": "Base URL (optional)",
                "login": "WattTime user",
                "password": "API key / WattTime password",
            },
            "placeholders": {"host": "https://api.electricitymap.org"},
        }


def missing_connection(conn_id: str) -> ConfigurationError:
    """One line that says how to create the connection a DAG names."""
    return ConfigurationError(
        f"no Airflow connection {conn_id!r}: create it, e.g. `airflow connections add {conn_id} "
        """--conn-type cleanshift --conn-extra '{"provider": "ukci"}'` (or Admin → Connections), """
        "or pass an inline spec such as provider='mock:speedup=720'"
    )


async def _current(spec: ProviderSpec) -> Any:
    provider = build_provider(spec)
    try:
        return await provider.current()
    finally:
        await provider.aclose()


def _without_secrets(message: str, hook: CleanshiftHook) -> str:
    password = hook.get_connection(hook.cleanshift_conn_id).password
    return message.replace(password, "***") if password else message


def spec_from_connection(conn: Any) -> ProviderSpec:
    """Map a connection's fields onto provider options (secrets become ``SecretStr``)."""
    extra = conn.extra_dejson or {}
    kind = extra.get("provider") or "mock"
    options: dict[str, Any] = {}
    raw = extra.get("options")
    if raw:
        try:
            options.update(json.loads(raw) if isinstance(raw, str) else dict(raw))
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"connection {conn.conn_id!r}: 'options' must be a JSON object, "
                'e.g. {"speedup": 720}'
            ) from None
    if extra.get("region"):
        options["region"] = extra["region"]
    if conn.host:
        options["base_url"] = conn.host
    if conn.login:
        options["username"] = conn.login
    if conn.password:
        options["password" if conn.login else "api_key"] = conn.password
    return ProviderSpec(str(kind), options)


def provider_reference(provider: ConnectionOrSpec) -> SerializedProvider:
    """Validate a ``provider`` argument at DAG parse time; return its serialisable form.

    Specs are parsed and built here so a typo fails the parse, not the run. A plain name that
    is not a provider kind is a connection id: it is looked up when the task runs, because
    DAG parsing must not query the connection store. A spec with Jinja templates in its values
    (e.g. ``"anchor": "{{ dag_run.start_date }}"``) is checked for its kind now and built
    after rendering.
    """
    if _templated(provider):
        if isinstance(provider, Mapping):
            kind = provider.get("kind")
            if _templated(kind) or kind in provider_kinds():
                return dict(provider)
            raise ConfigurationError(
                f"unknown provider kind {kind!r}; choose one of {', '.join(provider_kinds())}"
            )
        return provider
    if isinstance(provider, Mapping) or (
        isinstance(provider, str) and (":" in provider or provider.strip().startswith("{"))
    ):
        spec = ProviderSpec.parse(provider)
        build_provider(spec)
        return {"kind": spec.kind, **_plain(spec)}
    if isinstance(provider, str) and provider in provider_kinds():
        build_provider(provider)
        return {"kind": provider}
    if isinstance(provider, str) and _CONN_ID.match(provider):
        return provider
    raise ConfigurationError(
        f"provider={provider!r} is neither a connection id nor a provider spec; pass a "
        f"cleanshift connection id (e.g. 'cleanshift_default'), a kind ({', '.join(provider_kinds())}) "
        "or a spec such as 'mock:speedup=720'"
    )


def _templated(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_templated(v) for v in value.values())
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def resolve_spec(ref: SerializedProvider) -> ProviderSpec:
    """The provider spec for a reference, reading the connection if it is one (worker side)."""
    if isinstance(ref, dict):
        return ProviderSpec.parse(ref)
    return CleanshiftHook(ref).provider_spec()


async def aresolve_spec(ref: SerializedProvider) -> ProviderSpec:
    """The provider spec for a reference, reading the connection if it is one (triggerer side)."""
    if isinstance(ref, dict):
        return ProviderSpec.parse(ref)
    return await CleanshiftHook.aprovider_spec(ref)


def public_reference(ref: SerializedProvider) -> SerializedProvider:
    """The reference with secrets masked, for reprs and logs."""
    if isinstance(ref, dict):
        spec = ProviderSpec.parse(ref)
        return {"kind": spec.kind, **spec.public_options()}
    return ref


def _plain(spec: ProviderSpec) -> dict[str, Any]:
    return {
        k: v.get_secret_value() if hasattr(v, "get_secret_value") else v
        for k, v in spec.options.items()
    }


#: Deprecated names (one release): Prefect's ``ProviderArg`` and (old) ``ProviderRef`` mean
#: other things; see docs/reference/deprecations.md.
__getattr__ = renamed(
    __name__, {"ProviderArg": "ConnectionOrSpec", "ProviderRef": "SerializedProvider"}
)
