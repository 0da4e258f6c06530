"""MkDocs hook: the CLI reference, generated from the ``cleanshift`` typer app at build time.

Typer documents its own apps (``typer MODULE utils docs``: every command, argument, option,
default and help text, from the same objects ``cleanshift --help`` prints). The click-based
plugins cannot: typer 0.2x builds its commands on a vendored click, whose options they do not
recognise. This hook runs typer's generator in the docs venv's Python and puts its Markdown
where ``docs/reference/cli.md`` holds the marker, one heading level down. A failure stops the
build: a reference that silently went missing would be worse than none.
"""

import subprocess
import sys

from mkdocs.exceptions import PluginError

MARKER = "<!-- cleanshift-cli-reference -->"
_COMMAND = [sys.executable, "-m", "typer", "cleanshift_core.cli", "utils", "docs"]


def _generated() -> str:
    done = subprocess.run(
        [*_COMMAND, "--name", "cleanshift"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise PluginError(f"cli_reference: {' '.join(_COMMAND)} failed:\n{done.stderr}")
    lines, fenced = [], False
    for line in done.stdout.splitlines():
        fenced ^= line.startswith("```")
        lines.append("#" + line if line.startswith("#") and not fenced else line)
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    return markdown.replace(MARKER, _generated()) if MARKER in markdown else markdown
