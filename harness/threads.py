"""Torch thread control: one thread per run in parallel sweeps, all cores for a single job."""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch


def resolve_threads(n: int) -> int:
    return n if n > 0 else (os.cpu_count() or 1)


@contextmanager
def torch_threads(n: int):
    """Run the body with ``n`` torch threads (0 = all cores), then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
