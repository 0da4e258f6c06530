"""Prefect's block standards (``prefect.testing.standard_test_suites``) for the credentials block,
which Prefect finds through the ``prefect.collections`` entry point.

The one standard test that downloads the logo is run against the repository file the logo URL
names instead: tests reach no host but 127.0.0.1.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from cleanshift_prefect.blocks import BLOCK_TYPE_SLUG, LOGO_PATH, GridIntensityCredentials

ROOT = Path(__file__).resolve().parents[3]


class TestGridIntensityCredentialsStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[GridIntensityCredentials]:
        return GridIntensityCredentials

    def test_has_a_valid_image(self, block: type[GridIntensityCredentials]) -> None:
        logo_url = str(block._logo_url)
        assert logo_url.endswith("/main/" + LOGO_PATH), logo_url
        with Image.open(ROOT / LOGO_PATH) as img:
            assert img.width == img.height, "Logo should be a square image"
            assert 1000 > img.width > 45, f"Logo is {img.width}px wide"


async def test_the_server_records_the_logo_and_documentation():
    await GridIntensityCredentials.register_type_and_schema()
    async with get_client() as client:
        block_type = await client.read_block_type_by_slug(BLOCK_TYPE_SLUG)
    assert str(block_type.logo_url) == str(GridIntensityCredentials._logo_url)
    assert str(block_type.documentation_url) == str(GridIntensityCredentials._documentation_url)
    assert "GridIntensityCredentials.load" in (block_type.code_example or "")


def test_block_is_discovered_through_the_prefect_collections_entry_point():
    [entry] = [
        e for e in entry_points(group="prefect.collections") if e.name == "cleanshift_prefect"
    ]
    assert entry.load().GridIntensityCredentials is GridIntensityCredentials
    assert GridIntensityCredentials.get_block_type_slug() == BLOCK_TYPE_SLUG
