"""Resolve the ``provider=`` argument: a spec, a credentials block (object or name), or a provider.

Everything that can be checked without a Prefect API is checked at decoration time, so a typo
fails when the flow module is imported, not hours later when the window would open. A block
*name* is loaded at run time (it lives in the Prefect API, which a module import should not
need); the flow then uses the same process-wide cached provider as every other step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cleanshift_core import ConfigurationError, GridIntensityProvider, ProviderSpec, shared_provider
from cleanshift_core.deprecation import renamed

from .blocks import BLOCK_TYPE_SLUG, GridIntensityCredentials

#: The embedded default: cleanshift's synthetic daily curve, no account or network needed.
DEFAULT_PROVIDER = "mock"

ProviderArg = (
    GridIntensityCredentials
    | GridIntensityProvider
    | ProviderSpec
    | str
    | Mapping[str, Any]
    | list
    | None
)


class ProviderSource:
    """A validated reference to the provider one decorated step asks (named apart from
    Airflow's ``ProviderRef``, a plain connection-id-or-spec type)."""

    def __init__(self, value: ProviderArg) -> None:
        self._block_name: str | None = None
        self._instance: GridIntensityProvider | None = None
        self._spec: ProviderSpec | list | None = None
        if value is None:
            value = DEFAULT_PROVIDER
        if isinstance(value, GridIntensityProvider):
            self._instance = value
        elif isinstance(value, GridIntensityCredentials):
            self._spec = value.to_spec()
        elif isinstance(value, str) and value.strip().startswith(f"{BLOCK_TYPE_SLUG}/"):
            name = value.strip()[len(BLOCK_TYPE_SLUG) + 1 :]
            if not name:
                raise ConfigurationError(
                    f"provider={value!r} names no block; write '{BLOCK_TYPE_SLUG}/<block name>'"
                )
            self._block_name = name
        else:
            self._spec = (
                list(value) if isinstance(value, (list, tuple)) else ProviderSpec.parse(value)
            )
        if self._spec is not None:
            # Build once now: unknown kinds and options fail at decoration time with core's
            # fix-it messages, and the run later reuses this very (cached, shared) provider.
            shared_provider(self._spec)

    async def get(self) -> GridIntensityProvider:
        """The provider to ask (the process-wide cached one for specs and blocks)."""
        if self._instance is not None:
            return self._instance
        if self._block_name is not None:
            block: GridIntensityCredentials = await GridIntensityCredentials.aload(self._block_name)
            return shared_provider(block.to_spec())
        assert self._spec is not None
        return shared_provider(self._spec)

    def __repr__(self) -> str:
        if self._block_name is not None:
            return f"ProviderSource(block={BLOCK_TYPE_SLUG}/{self._block_name})"
        if self._instance is not None:
            return f"ProviderSource({self._instance!r})"
        return f"ProviderSource({self._spec!r})"


#: Deprecated names (one release): ``ProviderRef`` is Airflow's name for a different thing.
__getattr__ = renamed(__name__, {"ProviderRef": "ProviderSource"})
