"""Suites: dataset + prompt format + verifier, registered by name (``data.name``)."""

from harness.suites import gsm8k, micro_gqa, micro_math, nq_open  # noqa: F401  (registration)
from harness.suites.base import SUITES, Item, Suite, get_suite, read_items

__all__ = ["SUITES", "Item", "Suite", "get_suite", "read_items"]
