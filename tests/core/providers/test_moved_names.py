"""Names that left ``providers.transport`` when it was split by concept still import from there
for one release, with a DeprecationWarning that says where they live now."""

from __future__ import annotations

import importlib

import pytest

import cleanshift_core.providers as providers


@pytest.mark.parametrize("name", ["RetryPolicy", "provider_deadline"])
def test_moved_name_still_imports_from_transport_and_warns(name):
    transport = importlib.import_module("cleanshift_core.providers.transport")
    with pytest.warns(
        DeprecationWarning,
        match=f"transport.{name} has moved: import it from cleanshift_core.providers",
    ):
        assert getattr(transport, name) is getattr(providers, name)


def test_transport_has_no_other_alias():
    transport = importlib.import_module("cleanshift_core.providers.transport")
    with pytest.raises(AttributeError):
        transport.build_series  # noqa: B018 - moved too, but it was never public
