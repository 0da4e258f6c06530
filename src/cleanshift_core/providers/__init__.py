"""Provider interface, built-in providers and the spec registry."""

from .base import GridIntensityProvider
from .cache import CachedProvider
from .casdk import CarbonAwareSDKProvider
from .deadline import provider_deadline
from .electricitymaps import ElectricityMapsProvider
from .energidataservice import EnergiDataServiceProvider
from .fallback import FallbackProvider
from .file import FileProvider, read_series_file
from .mock import MockProvider
from .retry import RetryPolicy
from .spec import ProviderSpec, build_provider, provider_kinds, register_provider, shared_provider
from .ukci import UKCarbonIntensityProvider
from .watttime import WattTimeProvider

register_provider("mock", MockProvider)
register_provider("file", FileProvider)
register_provider("electricitymaps", ElectricityMapsProvider)
register_provider("watttime", WattTimeProvider)
register_provider("ukci", UKCarbonIntensityProvider)
register_provider("casdk", CarbonAwareSDKProvider)
register_provider("energidataservice", EnergiDataServiceProvider)
register_provider("fallback", FallbackProvider)

__all__ = [
    "CachedProvider",
    "CarbonAwareSDKProvider",
    "ElectricityMapsProvider",
    "EnergiDataServiceProvider",
    "FallbackProvider",
    "FileProvider",
    "GridIntensityProvider",
    "MockProvider",
    "ProviderSpec",
    "RetryPolicy",
    "UKCarbonIntensityProvider",
    "WattTimeProvider",
    "build_provider",
    "provider_deadline",
    "provider_kinds",
    "read_series_file",
    "register_provider",
    "shared_provider",
]
