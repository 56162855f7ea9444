"""Suites: dataset + prompt format + verifier, one module each, registered by name (``data.name``).

A new suite is a new module here with a ``@register_suite`` class, plus ``conf/data/<name>.yaml``.
"""

from harness.registry import import_submodules
from harness.suites.base import SUITES, Item, Suite, get_suite

import_submodules(__name__)

__all__ = ["SUITES", "Item", "Suite", "get_suite"]
