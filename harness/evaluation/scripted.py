"""Scripted policies with known behaviour, served to lm-eval as a model (``starbench-scripted``).

They exist to keep the thinking-quality metrics honest (research.md §3): each metric must separate
them as its definition predicts. A scripted policy is evaluated through exactly the path of a
trained model (``model=scripted_<policy> method=base``): lm-eval sends it the same prompts and
scores its outputs with the same hooks. It reads the item from the request's document (it "knows"
the micro world, as a perfect model would), except the *reader*, which only reads the thinking
text written in the prompt.

| policy   | thinking                          | answer                                                  |
| -------- | --------------------------------- | ------------------------------------------------------- |
| faithful | the gold reasoning                | the thinking's conclusion (none without thinking)       |
| shortcut | a fluent, irrelevant fact         | the question's surface cue, whatever the thinking says  |
| hedger   | the gold reasoning                | the conclusion *or* another candidate                   |
| shallow  | the shallow surface fact          | the thinking's conclusion (right when the cue is)       |
| empty    | none (``<think></think>``)        | the surface cue                                         |
| reader   | none                              | the conclusion of the thinking in the prompt (answerer) |

When the prompt already holds a thinking and an open ``<answer>`` (a forced answer: no-thinking
prefill, truncation curve, Cross-Generation), the policy only writes the answer, from that thinking.
"""

from __future__ import annotations

from collections.abc import Callable

import lm_eval.models  # noqa: F401  (lm-eval imports its built-in models only while its registry is empty)
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from harness.evaluation.lm_eval_bridge import SCRIPTED_LM
from harness.evaluation.task_utils import suite_and_item
from harness.suites import Item, Suite
from harness.suites.format import ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, render_completion

Think = Callable[[Suite, Item], str]
Answer = Callable[[Suite, Item, str], str]


def _gold_thinking(suite: Suite, item: Item) -> str:
    return suite.reference(item)[0]


def _no_thinking(suite: Suite, item: Item) -> str:
    return ""


def _conclusion(suite: Suite, item: Item, thinking: str) -> str:
    return suite.conclusion(thinking)


def _surface(suite: Suite, item: Item, thinking: str) -> str:
    return suite.surface_answer(item)


def _hedge(suite: Suite, item: Item, thinking: str) -> str:
    return suite.hedge(item, suite.conclusion(thinking) or suite.surface_answer(item))


#: policy name -> (how it thinks, how it answers given a thinking)
POLICIES: dict[str, tuple[Think, Answer]] = {
    "faithful": (_gold_thinking, _conclusion),
    "shortcut": (lambda suite, item: suite.distractor_thinking(item), _surface),
    "hedger": (_gold_thinking, _hedge),
    "shallow": (lambda suite, item: suite.shallow_thinking(item), _conclusion),
    "empty": (_no_thinking, _surface),
    "reader": (_no_thinking, _conclusion),
}


def respond(policy: str, suite: Suite, item: Item, context: str) -> str:
    """What ``policy`` writes after ``context`` (a prompt, possibly ending in a forced-answer prefill)."""
    think, answer = POLICIES[policy]
    _, opened, written = context.rpartition(THINK_OPEN)
    if opened and written.rstrip().endswith(ANSWER_OPEN):  # forced answer after a given thinking
        return answer(suite, item, written.split(THINK_CLOSE)[0])
    thinking = think(suite, item)
    return render_completion(thinking, answer(suite, item, thinking))


def cut_at_stop(text: str, until: list[str]) -> str:
    """Generation stops before the first stop sequence, as lm-eval's HF model does."""
    for stop in until:
        text = text.split(stop)[0]
    return text


@register_model(SCRIPTED_LM)
class ScriptedLM(LM):
    """lm-eval model whose generations come from a scripted policy (``--model_args policy=<name>``)."""

    def __init__(self, policy: str, **_ignored) -> None:  # batch_size, device, ... do not apply
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f"unknown scripted policy {policy!r}; choose from {sorted(POLICIES)}")
        self.policy = policy

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out = []
        for request in requests:
            context, gen_kwargs = request.args
            suite, item = suite_and_item(request.doc)
            out.append(cut_at_stop(respond(self.policy, suite, item, context), gen_kwargs.get("until", [])))
        return out

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("scripted policies only generate; use generate_until tasks")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("scripted policies only generate; use generate_until tasks")
