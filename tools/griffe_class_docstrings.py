"""A Griffe extension (mkdocs.yml, mkdocstrings' `extensions:`): a class whose body says
`__doc__ = __doc__` gets its module's docstring, as Python gives it at run time.

Each optimizer's docstring is its module's (the citation, the equations, the conventions), and
the class takes it with `__doc__ = __doc__` so that help() and the tests see one text. Griffe reads
the source without running it, so it sees no class docstring there and the API reference would
show a bare signature; this extension makes the static reading agree with Python's.
"""
from __future__ import annotations

from typing import Any

import griffe


class ModuleDocstringForClasses(griffe.Extension):
    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        assigned = cls.members.get("__doc__")
        source = cls.module.docstring
        if cls.docstring is None and assigned is not None and source is not None \
                and str(getattr(assigned, "value", "")) == "__doc__":
            cls.docstring = griffe.Docstring(source.value, lineno=source.lineno,
                                             endlineno=source.endlineno, parent=cls,
                                             parser=source.parser,
                                             parser_options=source.parser_options)
