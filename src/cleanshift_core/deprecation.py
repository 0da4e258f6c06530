"""Old public names kept for one release: importing one warns and returns the new object.

A module lists ``{old name: new name}`` and sets ``__getattr__ = renamed(__name__, ...)``
(PEP 562), so the alias costs nothing until somebody uses it, and the warning names the
replacement. Every alias is listed in docs/reference/deprecations.md.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def renamed(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving each old name in ``names`` to its new name."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(
            f"{module}.{name} is renamed {names[name]}; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), names[name])

    return __getattr__
