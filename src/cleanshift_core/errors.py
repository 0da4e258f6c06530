"""Every error cleanshift raises on purpose.

Callers (the CLI, the Airflow trigger, the Prefect decorator) branch on these types instead of
parsing messages, and every message says what the user should change.
"""

from __future__ import annotations


class CleanshiftError(Exception):
    """Base class of all cleanshift errors."""


class ConfigurationError(CleanshiftError, ValueError):
    """A public argument is invalid; raised at construction (DAG parse / decoration time)."""


class BadSeriesError(CleanshiftError, ValueError):
    """An intensity series is unusable (unsorted, overlapping, gapped, NaN, negative, ...)."""


class JobSkipped(CleanshiftError):
    """The ``now_or_never`` policy found the grid too dirty to run now."""


class ProviderError(CleanshiftError):
    """A grid-intensity provider could not answer. Subclasses say why."""


class AuthenticationError(ProviderError):
    """The provider rejected the credentials (check the API key / user / password)."""


class UnknownRegionError(ProviderError):
    """The provider does not know the region, or the account may not access it."""


class RateLimitedError(ProviderError):
    """The provider asked us to slow down; ``retry_after`` is its hint in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailableError(ProviderError):
    """The provider is down, timing out or failing; retrying later may help."""


class BadDataError(ProviderError):
    """The provider answered, but with data that cannot be trusted (zeros, nulls, garbage)."""


class StaleDataError(BadDataError):
    """The provider answered with a reading or forecast too old to act on (a stalled feed)."""


class OldReceiptError(CleanshiftError, ValueError):
    """A stored receipt this version cannot read (written by an older cleanshift, or not a
    receipt at all). The message is one line and says what is missing."""


class DeploymentError(CleanshiftError):
    """An Airflow deployment or Prefect server the report reads from could not answer."""


class DeploymentUnreachableError(DeploymentError):
    """Nothing answered at the URL (refused, timed out, no such host): check the URL."""


class DeploymentAuthError(DeploymentError):
    """The deployment refused the credentials (check the user, password, token or API key)."""
