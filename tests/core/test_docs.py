"""The README stays a five-minute read whose links and picture work on a fresh clone, and the
docs site shows every benchmark result.

The site has its own check (``mkdocs build --strict``, the ``docs`` suite of scripts/test.sh:
links, anchors, includes, images); what it cannot see is checked here: the README, which is
not a page of the site, and results files or plots that no page includes.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RESULTS = ROOT / "benchmarks" / "results"
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


def test_every_benchmark_result_is_included_by_a_docs_page():
    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    for result in sorted(RESULTS.glob("*.md")):
        assert f'"../benchmarks/results/{result.name}"' in pages, f"no page includes {result.name}"


def test_every_benchmark_plot_is_shown_in_the_docs():
    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    in_docs = {p.resolve(): p.name for p in (DOCS / "img").iterdir()}
    for plot in sorted(RESULTS.glob("*.png")):
        assert plot.resolve() in in_docs, f"{plot.name} needs a symlink in docs/img/"
        assert f"(img/{in_docs[plot.resolve()]})" in pages, f"no page shows {plot.name}"
