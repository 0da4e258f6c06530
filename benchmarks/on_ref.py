"""Before/after in one run: a benchmark's measurement on the code of another git ref.

``git archive REF src`` is unpacked to a temporary directory and the measurement runs in a
subprocess of this run with that ``src/`` first on ``sys.path``, so both sides share the
machine's load, the interpreter and the installed packages; only the project's code differs.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run_on_ref(ref: str, package: str, statement: str) -> str:
    """The last line ``statement`` prints with ``ref``'s code importable as ``package``
    (and this directory, so the benchmark's own module imports too)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "src"], check=True, capture_output=True
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        code = (
            f"import sys; sys.path[:0] = [{str(Path(tmp) / 'src')!r}, {str(HERE)!r}]\n"
            f"import {package}\n"
            f"assert {package}.__file__.startswith({tmp!r}), {package}.__file__\n"
            f"{statement}\n"
        )
        return last_line(code)


def last_line(code: str) -> str:
    """The last line ``code`` prints, run by this interpreter in a fresh process (a fresh
    heap, and nothing the measurement does there outlives it)."""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return out.stdout.decode().splitlines()[-1]
