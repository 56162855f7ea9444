"""``base``: no training; the run evaluates the base checkpoint (the reference row of every table)."""

from __future__ import annotations

from harness.methods.registry import Display, Method, register_method


@register_method
class Base(Method):
    name = "base"
    trains = False
    display = Display(order=0, colour="#000000", marker="o", line=":", role="base")
