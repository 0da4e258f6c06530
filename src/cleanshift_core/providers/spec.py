"""Provider specs: one way to name a provider, shared by the CLI, Airflow and Prefect.

A spec is a kind plus options, written as a dict (``{"kind": "mock", "region": "X"}``), a
string (``"mock"``, ``"file:path=grid.csv,replay=true"``), or a list of either for a fallback
chain. The CLI's flags, an Airflow connection and a Prefect block all become a spec, and
:func:`build_provider` turns any spec into a provider, so all three front doors agree.

Secret options (keys, passwords, tokens) are held as ``SecretStr`` from the moment a spec is
made; reprs, logs and errors only ever see ``'**********'``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from ..errors import ConfigurationError
from .base import GridIntensityProvider
from .cache import DEFAULT_TTL, CachedProvider

#: Option names whose values are secrets wherever they appear.
SECRET_OPTIONS = frozenset({"api_key", "auth_token", "token", "password", "secret"})

ProviderFactory = Callable[..., GridIntensityProvider]
_REGISTRY: dict[str, ProviderFactory] = {}


def register_provider(kind: str, factory: ProviderFactory) -> None:
    """Make ``kind`` buildable from specs (third-party providers call this too)."""
    _REGISTRY[kind] = factory


def provider_kinds() -> list[str]:
    return sorted(_REGISTRY)


@dataclass(frozen=True)
class ProviderSpec:
    """A provider kind and its options; secrets are ``SecretStr``."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        masked = {k: _as_secret(k, v) for k, v in dict(self.options).items()}
        object.__setattr__(self, "options", masked)

    @classmethod
    def parse(cls, value: ProviderSpec | str | Mapping[str, Any]) -> ProviderSpec:
        """Read a spec from its string or dict form (see the module docstring)."""
        if isinstance(value, ProviderSpec):
            return value
        if isinstance(value, Mapping):
            options = dict(value)
            kind = options.pop("kind", None)
            if not kind:
                raise ConfigurationError(
                    f"provider spec needs a 'kind' (one of {', '.join(provider_kinds())})"
                )
            return cls(str(kind), options)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                try:
                    return cls.parse(json.loads(text))
                except json.JSONDecodeError as exc:
                    raise ConfigurationError(
                        f"provider spec is not valid JSON: {exc.msg}"
                    ) from None
            kind, _, rest = text.partition(":")
            options = {}
            for part in filter(None, (p.strip() for p in rest.split(","))):
                key, sep, val = part.partition("=")
                if not sep:
                    raise ConfigurationError(
                        f"provider option {key!r} has no value; write options as key=value, "
                        "e.g. 'mock:region=DE,speedup=720'"
                    )
                options[key.strip()] = _coerce(val.strip())
            return cls(kind.strip(), options)
        raise ConfigurationError(
            f"a provider spec must be a string, a dict or a list of them, got {type(value).__name__}"
        )

    def fingerprint(self) -> str:
        """Stable identity for sharing caches; secrets are hashed in, never shown."""
        blob = json.dumps([self.kind, _reveal(self.options)], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def public_options(self) -> dict[str, Any]:
        """Options with secrets masked: safe for logs, XCom, artifacts and receipts."""
        return _mask(dict(self.options))

    def __repr__(self) -> str:
        return f"ProviderSpec(kind={self.kind!r}, options={self.public_options()!r})"


def _as_secret(key: str, value: Any) -> Any:
    """Wrap secret options; a fallback chain's ``sources`` become specs themselves, so their
    secrets are wrapped too and reprs, fingerprints and public options see through them."""
    if key in SECRET_OPTIONS and value is not None and not isinstance(value, SecretStr):
        return SecretStr(str(value))
    if key == "sources" and isinstance(value, (list, tuple)):
        return [v if isinstance(v, GridIntensityProvider) else ProviderSpec.parse(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _as_secret(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_secret("", v) for v in value]
    return value


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_reveal(v) for v in value]
    if isinstance(value, ProviderSpec):
        return [value.kind, _reveal(value.options)]
    return value


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, Mapping):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask(v) for v in value]
    if isinstance(value, ProviderSpec):
        return {"kind": value.kind, **value.public_options()}
    return value


def _coerce(text: str) -> Any:
    """Spec-string values: true/false and numbers become Python values, the rest stay text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def build_provider(
    spec: ProviderSpec | GridIntensityProvider | str | Mapping[str, Any] | list[Any],
) -> GridIntensityProvider:
    """A provider for ``spec``; a ready provider instance passes through unchanged."""
    if isinstance(spec, GridIntensityProvider):
        return spec
    if isinstance(spec, (list, tuple)):
        spec = ProviderSpec("fallback", {"sources": list(spec)})
    parsed = ProviderSpec.parse(spec)
    factory = _REGISTRY.get(parsed.kind)
    if factory is None:
        raise ConfigurationError(
            f"unknown provider {parsed.kind!r}; choose one of {', '.join(provider_kinds())}"
        )
    options = dict(parsed.options)
    accepted = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ConfigurationError(
                f"provider {parsed.kind!r} does not take option(s) {', '.join(unknown)}; "
                f"it takes {', '.join(n for n in accepted if n != 'clock')}"
            )
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigurationError(f"provider {parsed.kind!r}: {exc}") from None


_SHARED: dict[tuple[str, float], CachedProvider] = {}


def shared_provider(
    spec: ProviderSpec | str | Mapping[str, Any] | list[Any], ttl: timedelta = DEFAULT_TTL
) -> CachedProvider:
    """The process-wide cached provider for ``spec``: every caller with an equal spec (every
    trigger in a triggerer, every task in a flow) shares one cache and one in-flight fetch."""
    if isinstance(spec, (list, tuple)):
        spec = ProviderSpec("fallback", {"sources": list(spec)})
    parsed = ProviderSpec.parse(spec)
    key = (parsed.fingerprint(), ttl.total_seconds())
    provider = _SHARED.get(key)
    if provider is None:
        provider = _SHARED[key] = CachedProvider(build_provider(parsed), ttl=ttl)
    return provider
