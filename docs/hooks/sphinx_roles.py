"""Griffe extension: Sphinx roles in docstrings become Markdown code spans.

The code follows Airflow's convention of Sphinx cross-reference roles
(``:class:`~pkg.mod.Name```, ``:func:`plan_job```); mkdocstrings renders Markdown and would
show the role markup verbatim. Each role becomes a code span of its target (``~`` keeps the
last dotted part, as Sphinx does). Plain code spans, not cross-references, because many
targets are Airflow or Prefect names that this site does not document.
"""

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj):`(~?)([^`]+)`")


def _code_span(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: object) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_code_span, obj.docstring.value)
