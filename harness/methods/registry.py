"""The method interface and registry: what a run asks of a method (``method=<name>``).

A method is one class in its own module under ``harness/methods/``, registered with
:func:`register_method`, plus ``conf/method/<name>.yaml`` (its ``method.*`` values). It says whether it
trains, which ``method.*`` options it reads, checks its own config, trains, and declares what the
analysis shows of it (:class:`Display`, recorded in every run's ``results.json`` as ``method_info``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.config import Config
from harness.methods.training import TrainContext, TrainOutput
from harness.registry import Registry

METHODS: Registry[Method] = Registry("method")


@dataclass(frozen=True)
class Display:
    """What the analysis shows of a method: its place in tables (``order``), its line in figures
    (Okabe–Ito ``colour``, ``marker``, matplotlib ``line`` style) and the arm of the paper's comparisons
    it plays (``role``: base, sft, rl or start; None: it takes part in none)."""

    order: int
    colour: str
    marker: str
    line: str
    role: str | None


class Method:
    """One post-training method; subclasses set the class attributes and implement :meth:`train`."""

    name: ClassVar[str]
    display: ClassVar[Display]
    trains: ClassVar[bool] = True  # False: the run evaluates its base checkpoint as it is
    samples: ClassVar[bool] = False  # draws a group of completions per prompt (needs train.num_generations >= 2)
    options: ClassVar[tuple[str, ...]] = ()  # method.* fields it reads besides name and lr

    def validate(self, cfg: Config) -> None:
        """Raise ``ConfigError`` when the method's own options make no sense."""

    def train(self, ctx: TrainContext) -> TrainOutput:
        raise NotImplementedError(f"method {self.name} does not train")


def register_method(cls: type[Method]) -> type[Method]:
    METHODS.register(cls.name)(cls())
    return cls


def get_method(name: str) -> Method:
    return METHODS.lookup(name)
