"""The provider options are declared once (the fields of ``ProviderFlags``) and every command
that reads a provider gets all of them, in one order, through ``@provider_options``."""

from __future__ import annotations

import inspect
import re
from dataclasses import fields

import pytest

from cleanshift_core.cli import run
from cleanshift_core.cli.options import ProviderFlags, provider_options

PROVIDER_OPTIONS = [
    "--region",
    "--provider",
    "--api-key",
    "--zone",
    "--username",
    "--password",
    "--path",
    "--replay",
    "--speedup",
    "--option",
]


@pytest.mark.parametrize("command", ["schedule", "forecast", "check", "wait"])
def test_every_provider_command_lists_the_provider_options_in_one_order(command, capsys):
    assert run([command, "--help"]) == 0
    listed = re.findall(r"(--[a-z][a-z-]*)", capsys.readouterr().out)
    shown = [name for name in listed if name in PROVIDER_OPTIONS]
    assert list(dict.fromkeys(shown)) == PROVIDER_OPTIONS


def test_the_command_receives_one_provider_flags_built_from_the_options():
    seen: list[ProviderFlags] = []
    none_given = ProviderFlags()

    @provider_options
    def command(before: int = 1, provider: ProviderFlags = none_given, after: int = 2):
        seen.append(provider)
        return before, after

    names = [f.name for f in fields(ProviderFlags)]
    assert list(inspect.signature(command).parameters) == ["before", *names, "after"]
    given = {name: getattr(none_given, name) for name in names}
    given.update(region="DE", kind="ukci", replay=True, extra=["a=1"])
    assert command(before=3, after=4, **given) == (3, 4)
    assert seen == [ProviderFlags(region="DE", kind="ukci", replay=True, extra=["a=1"])]


def test_a_command_without_a_provider_flags_parameter_is_refused_when_decorated():
    def command(region: str = "DE") -> None: ...

    with pytest.raises(TypeError, match="no ProviderFlags parameter"):
        provider_options(command)
