"""A Prefect block that stores grid-intensity provider credentials.

Save one in the UI or with ``GridIntensityCredentials(...).save("prod")`` and pass the block
(or ``"cleanshift-grid-intensity/prod"``) to ``@carbon_window(provider=...)``. Secret fields
are ``SecretStr``: the Prefect API, reprs and logs show ``'**********'``, and the spec the
block turns into keeps them masked (see :class:`cleanshift_core.ProviderSpec`).
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, HttpUrl, SecretStr

from cleanshift_core import ProviderSpec

BLOCK_TYPE_SLUG = "cleanshift-grid-intensity"
#: The block's logo, relative to the repository root (drawn by docs/img/logo.py).
LOGO_PATH = "docs/img/logo.png"
_REPOSITORY = "https://github.com/cleanshift/cleanshift"
_REPOSITORY_FILES = "https://raw.githubusercontent.com/cleanshift/cleanshift/main"


class GridIntensityCredentials(Block):
    """Which grid-intensity provider to ask, for which region, with which credentials."""

    _block_type_name = "Cleanshift Grid Intensity"
    _block_type_slug = BLOCK_TYPE_SLUG
    _description = (
        "Provider kind, region and credentials for cleanshift's carbon-aware scheduling "
        "(mock, file, electricitymaps, watttime, ...)."
    )
    _documentation_url = HttpUrl(f"{_REPOSITORY}/blob/main/docs/prefect.md#credentials-block")
    _logo_url = HttpUrl(f"{_REPOSITORY_FILES}/{LOGO_PATH}")
    _code_example = """
```python
from prefect import flow

from cleanshift_prefect import GridIntensityCredentials, carbon_window

# Once: GridIntensityCredentials(kind="electricitymaps", region="DE", api_key="...").save("prod")
credentials = GridIntensityCredentials.load("BLOCK_NAME")

@flow
@carbon_window(provider=credentials, duration="2h", max_delay="8h")
def nightly_etl(): ...

# Or by name, loaded when the flow runs rather than at import:
# @carbon_window(provider="cleanshift-grid-intensity/BLOCK_NAME", ...)
```"""

    kind: str = Field(
        default="mock", description="Provider kind, e.g. 'electricitymaps', 'watttime', 'mock'."
    )
    region: str | None = Field(
        default=None, description="Grid region or zone, e.g. 'DE', 'CAISO_NORTH'."
    )
    api_key: SecretStr | None = Field(default=None, description="API key or token.")
    username: str | None = Field(default=None, description="Account user name (WattTime).")
    password: SecretStr | None = Field(default=None, description="Account password (WattTime).")
    base_url: str | None = Field(default=None, description="Override the provider's API address.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Other non-secret provider options, e.g. {'speedup': 720} for the mock.",
    )

    def to_spec(self) -> ProviderSpec:
        """The provider spec this block describes; secrets stay ``SecretStr``."""
        options = dict(self.options)
        for name in ("region", "api_key", "username", "password", "base_url"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        return ProviderSpec(self.kind, options)
