"""Lazy package attributes: a package names what it exports and where, and the module that
holds a name is imported only when the name is first used (spaCy imports every plugin's factory
module on each `spacy.blank`, so torch-heavy modules must not load with the package)."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Dict


def lazy_exports(package: str, exports: Dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package` that imports `exports[name]` (a relative module) on use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(exports[name], package), name)

    return __getattr__
