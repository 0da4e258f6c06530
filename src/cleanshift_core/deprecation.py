"""Old public names kept for one release: importing one warns and returns the new object.

A module lists ``{old name: new name}`` and sets ``__getattr__ = renamed(__name__, ...)``
(PEP 562), or, for names that now live in another module, ``{name: new module}`` and
``__getattr__ = moved(__name__, ...)``. The alias costs nothing until somebody uses it, and the
warning names the replacement. Every alias is listed in docs/reference/deprecations.md.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def renamed(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving each old name in ``names`` to its new name."""
    return _aliases(
        module,
        {
            old: (
                module,
                new,
                f"{module}.{old} is renamed {new}; the old name goes in the next release",
            )
            for old, new in names.items()
        },
    )


def moved(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving each name in ``names`` (name: new module) there."""
    return _aliases(
        module,
        {
            name: (
                home,
                name,
                f"{module}.{name} has moved: import it from {home}; the old path goes in the next release",
            )
            for name, home in names.items()
        },
    )


def _aliases(module: str, targets: Mapping[str, tuple[str, str, str]]) -> Callable[[str], Any]:
    """The ``__getattr__``: ``targets`` maps an old name to (its module, its name, the warning)."""

    def __getattr__(name: str) -> Any:
        if name not in targets:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        home, new, message = targets[name]
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(home), new)

    return __getattr__
