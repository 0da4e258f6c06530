"""cleanshift core: carbon-aware planning with no orchestrator inside.

Providers fetch intensity, the planner finds the cleanest window, policies decide, receipts
record what happened. The Airflow provider and the Prefect integration only adapt this.
"""

from .batch import BatchPlan, decide_batch, plan_batch_with_provider
from .chunks import (
    Chunk,
    ChunkPlan,
    InterruptiblePlan,
    decide_chunks,
    plan_interruptible,
    plans_per_chunk,
)
from .deprecation import renamed
from .errors import (
    AuthenticationError,
    BadDataError,
    BadSeriesError,
    CleanshiftError,
    ConfigurationError,
    JobSkipped,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    StaleDataError,
    UnknownRegionError,
)
from .job import JobSpec
from .location import decide_location, plan_across_locations
from .plan import ForecastExcerpt, Interval, LocationOption, Plan
from .planner import scan_windows
from .policies import OnProviderError, Policy, SchedulingRules, decide
from .providers import (
    CachedProvider,
    FileProvider,
    GridIntensityProvider,
    MockProvider,
    ProviderSpec,
    build_provider,
    shared_provider,
)
from .receipt import CarbonReceipt, build_receipt
from .request import (
    WINDOW_DEFAULTS,
    ChunkRequest,
    EnergyRequest,
    Providers,
    WindowRequest,
    plan_request,
)
from .scheduling import plan_job, replan, settle_receipt, wait_for_window
from .series import Basis, IntensityPoint, IntensitySeries, SignalKind
from .timeutil import parse_duration
from .window import CarbonWindow, carbon_window, find_cleanest_window

__all__ = [
    "WINDOW_DEFAULTS",
    "AuthenticationError",
    "BadDataError",
    "BadSeriesError",
    "Basis",
    "BatchPlan",
    "CachedProvider",
    "CarbonReceipt",
    "CarbonWindow",
    "Chunk",
    "ChunkPlan",
    "ChunkRequest",
    "CleanshiftError",
    "ConfigurationError",
    "EnergyRequest",
    "FileProvider",
    "ForecastExcerpt",
    "GridIntensityProvider",
    "IntensityPoint",
    "IntensitySeries",
    "InterruptiblePlan",
    "Interval",
    "JobSkipped",
    "JobSpec",
    "LocationOption",
    "MockProvider",
    "OnProviderError",
    "Plan",
    "Policy",
    "ProviderError",
    "ProviderSpec",
    "ProviderUnavailableError",
    "Providers",
    "RateLimitedError",
    "SchedulingRules",
    "SignalKind",
    "StaleDataError",
    "UnknownRegionError",
    "WindowRequest",
    "build_provider",
    "build_receipt",
    "carbon_window",
    "decide",
    "decide_batch",
    "decide_chunks",
    "decide_location",
    "find_cleanest_window",
    "parse_duration",
    "plan_across_locations",
    "plan_batch_with_provider",
    "plan_interruptible",
    "plan_job",
    "plan_request",
    "plans_per_chunk",
    "replan",
    "scan_windows",
    "settle_receipt",
    "shared_provider",
    "wait_for_window",
]


#: Deprecated names (one release): see docs/reference/deprecations.md.
__getattr__ = renamed(
    __name__,
    {
        "plan_chunks": "decide_chunks",
        "chunk_plans": "plans_per_chunk",
        "plan_batch": "decide_batch",
    },
)
