"""MkDocs hook: the ``cleanshift`` CLI as a click command, for mkdocs-click.

mkdocs-click documents click commands; the CLI is a typer app, and typer builds its click
command on demand. MkDocs loads this hook under its path (``docs/hooks/cli_command.py``), which
is no importable module name, so it also registers itself as ``cleanshift_cli_reference``:
``docs/reference/cli.md`` points mkdocs-click at ``cleanshift_cli_reference:command``, and the
reference is rendered from the same command object ``cleanshift --help`` prints, at every build.
"""

import sys

import typer.main

from cleanshift_core.cli import app

command = typer.main.get_command(app)
sys.modules["cleanshift_cli_reference"] = sys.modules[__name__]
