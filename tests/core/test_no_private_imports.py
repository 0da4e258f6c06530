"""No module imports another module's private name: what two modules share is public where its
concept lives (issue 14). Read from the source, so a new ``from .x import _y`` fails here."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_no_module_imports_a_private_name_from_another():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                found += [
                    f"{path.relative_to(SRC)}:{node.lineno} imports {alias.name} from "
                    f"{'.' * node.level}{node.module or ''}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert len(list(SRC.rglob("*.py"))) > 40  # the scan sees the packages
    assert found == []
