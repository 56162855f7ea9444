"""LLM judges of GQA answers: the verdicts behind ``data.reward=judge`` (off by default).

A judge reads (question, gold aliases, answer) through ``data.params.judge.prompt`` and replies; the
verdict is the reply's first word: yes/correct/true = 1, no/incorrect/false = 0, or a number in
[0, 1] (a leading ``<think>…</think>`` is skipped). Generation is greedy (temperature 0), so a
verdict is a function of its prompt. Verdicts are cached per (question, gold aliases, answer) in
the process (the prompt shows all three: the same question with other aliases is another verdict),
and one judge object serves every suite built with the same judge config (:func:`get_judge`), so
training and evaluation of a run never ask twice. Models load on the first verdict, not before.

The judge's configuration (:class:`JudgeConfig`, checked by :func:`judge_config`) and its default
prompt (:data:`JUDGE_PROMPT`) are defined here, beside the judge.

Errors are never a score: an endpoint that cannot be reached, a failing request, or a reply with
no verdict raises :class:`JudgeError` (the run fails, naming the judge and the reply), because a
silent 0 would look like a wrong answer. Which answers reach the judge at all is the suite's call
(``Suite.rewards``: an empty answer is wrong and an exact alias match right without asking).

Kinds: ``hf`` (a causal LM through transformers, in this process, batched) and ``openai`` (an
OpenAI-compatible chat-completions endpoint, e.g. ``vllm serve``; needs ``pip install -e ".[judge]"``).
:func:`register_judge` adds a kind (the tests register a scripted one).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import string
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.config import ConfigError
from harness.hub import resolve
from harness.optional import MissingExtraError, require
from harness.registry import Registry

JUDGES: Registry[type[Judge]] = Registry("judge kind")
YES = {"yes", "correct", "true", "right"}
NO = {"no", "incorrect", "false", "wrong"}
FIRST_WORD = re.compile(r"[A-Za-z]+|\d*\.?\d+")
THINKING = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)


class JudgeError(RuntimeError):
    """A judge could not give a verdict: its endpoint or model failed, or its reply has no verdict."""


JUDGE_PROMPT = """You are grading an answer to a question against the accepted gold answers.
The answer is correct if it means the same as one of the gold answers (ignore case, punctuation,
articles and wording that does not change what it names); it is wrong if it names something else,
names several candidates, or says nothing.
Question: {question}
Gold answers: {gold}
Answer: {answer}
Is the answer correct? Reply with one word: yes or no."""


@dataclass
class JudgeConfig:
    """An LLM judge of GQA answers: the reward ``data.reward=judge`` (harness.judge), set as ``data.params.judge``.

    It lives in the suite's parameters because the suite is the one place that defines the reward: the
    RL trainer and lm-eval's scorer (which rebuilds the suite from each task row) see the same judge.
    """

    kind: str = "hf"  # hf (a causal LM through transformers, in this process) | openai (an OpenAI-compatible endpoint)
    model: str | None = None  # hf: hub id or local folder; openai: the model name the endpoint serves
    url: str | None = None  # openai: the endpoint's base URL, e.g. http://localhost:8000/v1 (vllm serve)
    api_key_env: str | None = None  # openai: the env var holding the API key (null: none needed, e.g. local vLLM)
    # the template: fields {question}, {gold} (the aliases, ' | '-joined) and {answer}; null: JUDGE_PROMPT
    prompt: str | None = None
    max_tokens: int = 8  # the verdict's budget: the verdict is the first word of the reply
    batch_size: int = 16  # hf: prompts per generate call; openai: requests in flight at once
    device: str = "cpu"  # hf: cpu | cuda
    timeout_s: float = 60.0  # openai: per request (the client retries twice before it gives up)


def register_judge(kind: str):
    return JUDGES.register(kind)


def parse_verdict(reply: str) -> float:
    """The verdict of ``reply`` (see the module docstring); ValueError when it has none."""
    text = THINKING.sub("", reply)
    word = FIRST_WORD.search(text)
    if word is not None:
        w = word.group().lower()
        if w in YES or w in NO:
            return float(w in YES)
        if w[0].isdigit() or w[0] == ".":
            if 0.0 <= float(w) <= 1.0:
                return float(w)
    raise ValueError(f"no verdict in the judge's reply {reply[:200]!r}: its first word must be yes/no "
                     "(correct/incorrect, true/false) or a number in [0, 1]")


class Judge(ABC):
    """Prompts, batching, caching and verdict parsing; a kind implements :meth:`complete`."""

    def __init__(self, cfg: JudgeConfig) -> None:
        self.cfg = cfg
        self.cache: dict[tuple[str, tuple[str, ...], str], float] = {}  # (question, gold aliases, answer)
        self.prompts_sent = 0

    @classmethod
    def check(cls, cfg: JudgeConfig) -> None:
        """Raise ValueError when ``cfg`` cannot work for this kind (called by config validation)."""
        if not cfg.model:
            raise ValueError("model is not set (hf: a hub id or local folder; openai: the served model's name)")

    @property
    def label(self) -> str:
        return f"judge {self.cfg.kind}:{self.cfg.model}"

    @abstractmethod
    def complete(self, prompts: list[str]) -> list[str]:
        """The judge's replies to ``prompts`` (at most ``batch_size`` of them), greedy; JudgeError on failure."""

    def prompt(self, question: str, aliases: Sequence[str], answer: str) -> str:
        return (self.cfg.prompt or JUDGE_PROMPT).format(question=question, gold=" | ".join(aliases), answer=answer)

    def verdicts(self, cases: Sequence[tuple[str, Sequence[str], str]]) -> list[float]:
        """The verdict on each (question, gold aliases, answer); new ones asked in batches, then cached."""
        keys = list(dict.fromkeys((q, tuple(aliases), a) for q, aliases, a in cases))  # (distinct, in order)
        todo = [key for key in keys if key not in self.cache]
        for start in range(0, len(todo), self.cfg.batch_size):
            batch = todo[start:start + self.cfg.batch_size]
            replies = self.complete([self.prompt(q, aliases, a) for q, aliases, a in batch])
            self.prompts_sent += len(batch)
            for (q, aliases, a), reply in zip(batch, replies, strict=True):
                try:
                    self.cache[q, aliases, a] = parse_verdict(reply)
                except ValueError as e:
                    raise JudgeError(f"{self.label} on question {q!r}, answer {a!r}: {e}; check "
                                     "data.params.judge.prompt/max_tokens, or use a model that follows it") from None
        return [self.cache[q, tuple(aliases), a] for q, aliases, a in cases]


@register_judge("hf")
class HFJudge(Judge):
    """A causal LM loaded with transformers (chat template when it has one), greedy, left-padded batches."""

    @classmethod
    def check(cls, cfg: JudgeConfig) -> None:
        super().check(cfg)
        if cfg.device not in ("cpu", "cuda"):
            raise ValueError(f"device={cfg.device!r} is not one of ['cpu', 'cuda']")
        if cfg.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ValueError("device=cuda, but torch sees no GPU; use device=cpu or an openai-kind judge")

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__(cfg)
        self.model = self.tokenizer = None

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        folder = resolve(self.cfg.model, key="data.params.judge.model")
        self.tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype="auto").to(self.cfg.device).eval()
        self.model.generation_config = GenerationConfig(  # greedy, whatever the checkpoint's defaults say
            do_sample=False, max_new_tokens=self.cfg.max_tokens, pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.model.generation_config.eos_token_id)

    def complete(self, prompts: list[str]) -> list[str]:
        import torch

        if self.model is None:
            self._load()
        tok = self.tokenizer
        if tok.chat_template:  # enable_thinking=False: thinking models (Qwen3) answer at once
            texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                             add_generation_prompt=True, enable_thinking=False) for p in prompts]
        else:
            texts = prompts
        batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not tok.chat_template)
        with torch.no_grad():
            out = self.model.generate(**batch.to(self.model.device))
        return tok.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)


@register_judge("openai")
class OpenAIJudge(Judge):
    """An OpenAI-compatible chat-completions endpoint at ``url``; ``batch_size`` requests in flight."""

    @classmethod
    def check(cls, cfg: JudgeConfig) -> None:
        super().check(cfg)
        require("openai", "kind=openai")
        if not cfg.url:
            raise ValueError("kind=openai needs url, the endpoint's base URL (e.g. http://localhost:8000/v1)")
        if cfg.api_key_env and not os.environ.get(cfg.api_key_env):
            raise ValueError(f"api_key_env={cfg.api_key_env}, but the environment variable {cfg.api_key_env} is "
                             "not set (null: the endpoint needs no key)")

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__(cfg)
        self.client = None

    def _ask(self, prompt: str) -> str:
        import openai

        try:
            reply = self.client.chat.completions.create(
                model=self.cfg.model, messages=[{"role": "user", "content": prompt}], temperature=0,
                max_tokens=self.cfg.max_tokens)
        except openai.OpenAIError as e:
            raise JudgeError(f"{self.label} at {self.cfg.url}: {type(e).__name__}: {e}") from None
        content = reply.choices[0].message.content if reply.choices else None
        if content is None:
            raise JudgeError(f"{self.label} at {self.cfg.url}: the reply has no message content")
        return content

    def complete(self, prompts: list[str]) -> list[str]:
        if self.client is None:
            import openai

            key = os.environ.get(self.cfg.api_key_env) if self.cfg.api_key_env else None
            self.client = openai.OpenAI(base_url=self.cfg.url, api_key=key or "none", timeout=self.cfg.timeout_s)
        with ThreadPoolExecutor(max_workers=self.cfg.batch_size) as pool:
            return list(pool.map(self._ask, prompts))


def get_judge(cfg: JudgeConfig) -> Judge:
    """The process's judge for ``cfg`` (one per distinct config, so its model and verdict cache are shared)."""
    return _judge(json.dumps(dataclasses.asdict(cfg), sort_keys=True))


@cache
def _judge(cfg_json: str) -> Judge:
    cfg = JudgeConfig(**json.loads(cfg_json))
    return JUDGES[cfg.kind](cfg)


def judge_config(raw: Any) -> JudgeConfig:
    """``data.params.judge`` as a checked :class:`JudgeConfig`; a :class:`ConfigError` names what is wrong."""
    if raw is None:
        raise ConfigError("data.reward=judge needs a judge: data.params.judge.{kind,model,url,...}, or a preset "
                          "from conf/judge/ (e.g. +judge=openai_local)")
    schema = OmegaConf.structured(JudgeConfig)
    OmegaConf.set_struct(schema, True)
    try:
        cfg = OmegaConf.to_object(OmegaConf.merge(schema, raw))
    except OmegaConfBaseException as e:
        raise ConfigError(f"invalid judge key 'data.params.judge.{getattr(e, 'full_key', '?')}': "
                          f"{str(e).splitlines()[0]}; valid keys: {sorted(schema)}") from None
    if cfg.kind not in JUDGES:
        raise ConfigError(f"data.params.judge.kind={cfg.kind!r} is not one of {sorted(JUDGES)}")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(cfg.prompt or JUDGE_PROMPT) if name is not None}
    except ValueError as e:
        raise ConfigError(f"data.params.judge.prompt is not a valid template ({e})") from None
    if "answer" not in fields or not fields <= {"question", "gold", "answer"}:
        raise ConfigError(f"data.params.judge.prompt has the fields {sorted(fields)}: it must use {{answer}} and may "
                          "use {question} and {gold}, nothing else (write literal braces as {{ and }})")
    for key in ("max_tokens", "batch_size"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"data.params.judge.{key}={getattr(cfg, key)} must be >= 1")
    try:
        JUDGES[cfg.kind].check(cfg)
    except (ValueError, MissingExtraError) as e:
        raise ConfigError(f"data.params.judge: {e}") from None
    return cfg
