"""Every Python snippet of the Airflow docs page builds as pasted (what the DAG processor
does with it: imports, argument validation, task wiring), and a missing ``cleanshift_default``
connection is explained where the page names it."""

from __future__ import annotations

import re

import pytest

from tests.airflow.conftest import ROOT

PAGE = ROOT / "docs" / "airflow.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL) if PAGE.exists() else []


@pytest.mark.skipif(not SNIPPETS, reason="no docs/airflow.md on this branch")
@pytest.mark.parametrize("source", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_every_snippet_builds_as_pasted(source):
    exec(compile(source, str(PAGE), "exec"), {"__name__": "docs_snippet"})


@pytest.mark.skipif(not SNIPPETS, reason="no docs/airflow.md on this branch")
def test_the_page_says_how_to_create_the_connection_its_snippets_use():
    text = PAGE.read_text()
    if "cleanshift_default" in "".join(SNIPPETS):
        assert "airflow connections add cleanshift_default" in text
