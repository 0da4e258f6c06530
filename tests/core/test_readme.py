"""The README stays a five-minute read whose links and picture work on a fresh clone.

The docs site has its own check (``mkdocs build --strict``, the ``docs`` suite of
scripts/test.sh); the README is not a page of that site, so its links are checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: Markdown links and images, ``[text](target)`` / ``![alt](target)``, without a #fragment.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)#\s]+)[^)]*\)")


def test_readme_is_a_five_minute_read():
    assert len(README.read_text().splitlines()) <= 200


def test_readme_keeps_the_two_set_up_commands():
    text = README.read_text()
    for command in ("bash scripts/demo.sh", "bash scripts/test.sh"):
        assert f"```bash\n{command}\n```" in text, command


def test_every_local_link_and_image_in_the_readme_is_a_file_in_the_repository():
    targets = [t for t in LINK.findall(README.read_text()) if "://" not in t]
    assert any(t.endswith(".png") for t in targets), "the README shows its picture"
    for target in targets:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), f"{target} points outside the repository"
        assert path.is_file(), f"{target} does not exist"
