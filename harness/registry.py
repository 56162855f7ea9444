"""Registries: a name -> object table whose lookup error lists the valid names, and plugin discovery.

Suites, methods, model kinds and judges are each one registry. An entry registers itself with a
decorator in its own module; :func:`import_submodules` imports every module of a package, so adding an
entry is adding a module (and, where the entry is a config option, its YAML file), nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """``{name: entry}``; :meth:`lookup` raises a ``KeyError`` that names the valid entries."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self:
                raise ValueError(f"{self.what} {name!r} is registered twice ({self[name]!r} and {entry!r})")
            self[name] = entry
            return entry
        return add

    def lookup(self, name: str) -> T:
        if name not in self:
            raise KeyError(f"unknown {self.what} {name!r}; registered: {sorted(self)}")
        return self[name]


def import_submodules(package: str) -> None:
    """Import every module of ``package`` (each registers what it defines)."""
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        importlib.import_module(f"{package}.{info.name}")
