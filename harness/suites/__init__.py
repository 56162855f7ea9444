"""Suites: dataset + prompt format + verifier, registered by name (``data.name``)."""

from harness.suites import micro_gqa, micro_math  # noqa: F401  (registration)
from harness.suites.base import SUITES, Item, Suite, get_suite, read_items

__all__ = ["SUITES", "Item", "Suite", "get_suite", "read_items"]
