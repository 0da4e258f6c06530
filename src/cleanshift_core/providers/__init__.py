"""Provider interface, built-in providers and the spec registry."""

from .base import GridIntensityProvider
from .cache import CachedProvider
from .file import FileProvider, read_series_file
from .mock import MockProvider
from .spec import ProviderSpec, build_provider, provider_kinds, register_provider, shared_provider

register_provider("mock", MockProvider)
register_provider("file", FileProvider)

__all__ = [
    "CachedProvider",
    "FileProvider",
    "GridIntensityProvider",
    "MockProvider",
    "ProviderSpec",
    "build_provider",
    "provider_kinds",
    "read_series_file",
    "register_provider",
    "shared_provider",
]
