"""LLM-judge reward (data.reward=judge): config, the suite's plumbing, caching, errors, hf and openai judges.

The judges here cannot judge: a scripted judge (registered like a real kind), a tiny HF model wired to
always reply one token, and a local HTTP server speaking the chat-completions format. They test the
plumbing deterministically; what a real judge says is its own business.
"""

from __future__ import annotations

import json
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from harness.config import ConfigError
from harness.judge import JUDGES, Judge, JudgeConfig, JudgeError, _judge, get_judge, parse_verdict
from harness.suites import get_suite
from harness.suites.format import parse_completion, render_completion
from harness.validate import validate
from tests.conftest import compose_cfg, run_harness

TEMPLATE = "{question} ## {gold} ## {answer}"  # what the scripted judge reads back


class ScriptedJudge(Judge):
    """Says yes when an alias occurs in the answer, and a reply without a verdict for answers with '??'."""

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__(cfg)
        self.batches: list[int] = []

    def complete(self, prompts: list[str]) -> list[str]:
        self.batches.append(len(prompts))
        replies = []
        for p in prompts:
            _, gold, answer = p.split(" ## ")
            replies.append("maybe" if "??" in answer else
                           "Yes." if any(g.lower() in answer.lower() for g in gold.split(" | ")) else "no")
        return replies


@pytest.fixture(autouse=True)
def fresh_judges():
    """Every test starts without judges (get_judge keeps one per config for the process)."""
    _judge.cache_clear()
    yield
    _judge.cache_clear()


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(JUDGES, "scripted", ScriptedJudge)
    return {"kind": "scripted", "model": "script", "prompt": TEMPLATE, "batch_size": 2}


def judge_override(judge: dict) -> str:
    """``+data.params.judge={...}`` in Hydra's override syntax."""
    return "+data.params.judge={" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in judge.items()) + "}"


def judged_suite(judge: dict, name: str = "micro_gqa"):
    """The suite a run builds from a validated config with data.reward=judge."""
    cfg = validate(compose_cfg([f"data={name}", "data.reward=judge", judge_override(judge)]))
    return cfg, get_suite(cfg.data.name, reward=cfg.data.reward, **cfg.data.params)


@pytest.mark.parametrize("reply,verdict", [("yes", 1.0), ("No.", 0.0), ("**Correct**", 1.0), ("incorrect", 0.0),
                                           ("1", 1.0), ("0.25", 0.25), ("<think>no, wait</think>\nYes", 1.0),
                                           ("TRUE", 1.0)])
def test_verdicts_are_the_first_word(reply, verdict):
    assert parse_verdict(reply) == verdict


@pytest.mark.parametrize("reply", ["", "maybe", "2", "The answer is correct", "111", "<think>yes"])
def test_a_reply_without_a_verdict_is_an_error_not_a_zero(reply):
    with pytest.raises(ValueError, match="no verdict"):
        parse_verdict(reply)


def test_judge_reward_is_off_by_default_and_the_suite_asks_only_what_it_must(scripted):
    assert get_suite("micro_gqa").judge is None and get_suite("nq_open").judge is None
    cfg, suite = judged_suite(scripted)
    judge = suite.judge
    assert isinstance(judge, ScriptedJudge) and suite.reward_kind == "judge"
    item = suite.items("test", 1, random.Random(0))[0]
    gold = item.gold
    answers = ["", gold, f"the city of {gold}", "Atlantis", f"{gold}, I think", "Atlantis"]
    assert suite.rewards(answers, [item] * len(answers)) == [0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    assert judge.batches == [2, 1]  # 3 distinct answers need the judge ('' and the exact alias do not), 2 per batch
    assert suite.reward(f"the city of {gold}", item) == 1.0 and judge.batches == [2, 1]  # cached
    scores = suite.score_completions([parse_completion(render_completion("t", f"city {gold}")),
                                      parse_completion("<think>never closed")], [item, item])
    assert [(s["acc"], s["reward"], s["no_think_close"]) for s in scores] == [(0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
    assert judge.batches == [2, 1, 1]  # the unclosed one is wrong without asking
    assert scores[0] == suite.score_completion(parse_completion(render_completion("t", f"city {gold}")), item)


def test_verdicts_are_cached_per_question_gold_and_answer(scripted):
    """The same question and answer against other gold aliases is another prompt, so another verdict."""
    _, suite = judged_suite(scripted, "nq_open")
    judge = suite.judge
    cases = [("who wrote it", ["Tolkien"], "J. R. R. Tolkien"), ("who wrote it", ["C. S. Lewis"], "J. R. R. Tolkien")]
    assert judge.verdicts(cases) == [1.0, 0.0] and judge.prompts_sent == 2
    assert judge.verdicts([cases[1], (*cases[0][:2], "Tolkien")]) == [0.0, 1.0] and judge.prompts_sent == 3


def test_one_judge_and_cache_serve_training_and_evaluation(scripted):
    from harness.evaluation.task_utils import process_results
    from harness.methods.rl import SuiteReward

    cfg, suite = judged_suite(scripted)
    items = suite.items("train", 2, random.Random(0))
    reward = SuiteReward(suite, items)
    completions = [render_completion("t", f"in {it.gold}") for it in items] + [render_completion("t", "Atlantis")]
    ids = [it.id for it in items] + [items[0].id]
    assert reward(None, completions, [[1, 2]] * 3, ids) == [1.0, 1.0, 0.0] and reward.__name__ == "micro_gqa_judge"
    asked = suite.judge.prompts_sent
    # lm-eval's scorer rebuilds the suite from the task row (harness.evaluation.task_utils): same judge, same cache
    doc = {**items[0].to_json(), "suite": suite.name, "reward": suite.reward_kind,
           "suite_params": json.dumps(cfg.data.params, sort_keys=True)}
    assert process_results(doc, [render_completion("t", f"in {items[0].gold}")])["reward"] == 1.0
    assert suite.judge.prompts_sent == asked and get_judge(JudgeConfig(**scripted)) is suite.judge


def test_unparsable_verdict_fails_the_reward_naming_the_reply(scripted):
    _, suite = judged_suite(scripted, "nq_open")
    item = suite.parse_row({"question": "who painted guernica", "answer": ["Pablo Picasso", "Picasso"]})
    with pytest.raises(JudgeError, match=r"judge scripted:script on question 'who painted guernica', answer "
                                         r"'Pablo\?\?'.*no verdict in the judge's reply 'maybe'"):
        suite.reward("Pablo??", item)


@pytest.mark.parametrize("overrides,match", [
    (["data=micro_gqa", "data.reward=judge"], "data.reward=judge needs a judge"),
    (["data=micro_gqa", "+judge=openai_local", "data.reward=f1"], "data.params.judge is set, but data.reward=f1"),
    (["data=micro_math", "+judge=openai_local"], "data.reward='judge' is not a reward of suite micro_math"),
    (["data=gsm8k", "data.reward=f1"], r"data.reward='f1' is not a reward of suite gsm8k; choose from \['em'\]"),
    (["data=micro_gqa", "+judge=openai_local", "+data.params.judge.temp=0"], "invalid judge key '.*judge.temp'"),
    (["data=micro_gqa", "+judge=openai_local", "data.params.judge.prompt='{answer} {gold_answers}'"],
     r"prompt has the fields \['answer', 'gold_answers'\]"),
    (["data=micro_gqa", "+judge=openai_local", "data.params.judge.kind=claude"], "kind='claude' is not one of"),
    (["data=micro_gqa", "+judge=openai_local", "data.params.judge.url=null"], "kind=openai needs url"),
    (["data=micro_gqa", "+judge=openai"], "the environment variable OPENAI_API_KEY is not set"),
    (["data=micro_gqa", "+judge=qwen2.5-7b-instruct", "data.params.judge.model=null"], "model is not set"),
])
def test_judge_config_errors(overrides, match, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=match):
        validate(compose_cfg(overrides))


PRESETS = sorted(p.stem for p in (Path(__file__).parent.parent / "conf" / "judge").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_judge_presets_compose_for_both_gqa_suites(preset, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the hf preset puts the judge on the GPU
    for data in ("micro_gqa", "nq_open"):
        cfg = validate(compose_cfg([f"data={data}", f"+judge={preset}"]))
        assert cfg.data.reward == "judge" and cfg.data.params["judge"]["model"]


def test_openai_judge_needs_the_judge_extra(monkeypatch):
    monkeypatch.setattr("harness.optional.installed", lambda module: False)
    with pytest.raises(ConfigError, match=r"data.params.judge: kind=openai needs the 'openai' package.*\.\[judge\]"):
        validate(compose_cfg(["data=micro_gqa", "+judge=openai_local"]))


# --- hf: a tiny local causal LM ----------------------------------------------------------------------------
def always_says(reply_char: str, folder: Path) -> Path:
    """A tiny Llama (micro tokenizer) whose greedy reply is ``reply_char`` repeated, whatever the prompt.

    Its blocks add nothing to the residual stream and the final norm keeps one positive dimension,
    which only the reply's row of the output layer reads.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from harness.micro.tokenizer import build_tokenizer

    tok = build_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight[:, 0] = 1.0
        model.model.norm.weight.zero_()
        model.model.norm.weight[0] = 1.0
        model.lm_head.weight.zero_()
        model.lm_head.weight[tok.convert_tokens_to_ids(reply_char), 0] = 10.0
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_hf_judge_generates_greedily_in_batches(tmp_path):
    cfg = JudgeConfig(kind="hf", model=str(always_says("0", tmp_path / "says0")), max_tokens=1, batch_size=2)
    validate(compose_cfg(["data=micro_gqa", "data.reward=judge", judge_override(vars(cfg))]))
    judge = get_judge(cfg)
    cases = [("Where is Ann?", ["Oslo"], a) for a in ("Rome", "Lima", "in Oslo, yes")]
    assert judge.verdicts(cases) == [0.0, 0.0, 0.0] and judge.prompts_sent == 3
    assert judge.complete(["q1", "a longer question 2"]) == ["0", "0"]  # left-padded batch, new tokens only
    chatty = get_judge(JudgeConfig(kind="hf", model=str(always_says("1", tmp_path / "says1")), max_tokens=3))
    with pytest.raises(JudgeError, match="no verdict in the judge's reply '111'"):
        chatty.verdicts(cases)


def test_hf_judge_model_not_found_names_the_judge_key():
    from harness.hub import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match=r"data.params.judge.model='/no/such/judge' is not a folder"):
        get_judge(JudgeConfig(kind="hf", model="/no/such/judge")).verdicts([("q", ["a"], "b")])


# --- openai: a local server speaking the chat-completions format --------------------------------------------
class ChatServer:
    """``POST /v1/chat/completions`` on localhost; replies yes/no by whether an alias is in the answer."""

    def __init__(self, reply=None, status: int = 200) -> None:
        self.requests: list[dict] = []
        self.reply, self.status = reply, status
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                content = server.reply or server.verdict(body["messages"][-1]["content"])
                out = json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def verdict(prompt: str) -> str:
        gold = re.search(r"Gold answers: (.*)", prompt).group(1).split(" | ")
        answer = re.search(r"\nAnswer: (.*)", prompt).group(1)
        return "Yes" if any(g.lower() in answer.lower() for g in gold) else "No"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat_server():
    pytest.importorskip("openai")
    servers = []

    def start(**kw) -> ChatServer:
        servers.append(ChatServer(**kw))
        return servers[-1]
    yield start
    for s in servers:
        s.close()


def test_openai_judge_against_a_local_endpoint(chat_server, monkeypatch):
    server = chat_server()
    monkeypatch.setenv("JUDGE_KEY", "sk-local")
    cfg = JudgeConfig(kind="openai", model="judge-7b", url=server.url, api_key_env="JUDGE_KEY", batch_size=3)
    judge = get_judge(cfg)
    cases = [("Who painted Guernica?", ["Pablo Picasso", "Picasso"], a)
             for a in ("picasso, the Spaniard", "Dali", "Miro", "Dali")]
    assert judge.verdicts(cases) == [1.0, 0.0, 0.0, 0.0]
    assert len(server.requests) == 3  # the repeated answer is asked once
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-local"
    assert (first["model"], first["temperature"], first["max_tokens"]) == ("judge-7b", 0, 8)
    assert "Gold answers: Pablo Picasso | Picasso" in first["messages"][0]["content"]


def test_openai_judge_errors_are_errors(chat_server):
    down = ChatServer()
    down.close()  # nothing listens there any more
    with pytest.raises(JudgeError, match=rf"judge openai:m at {re.escape(down.url)}: APIConnectionError"):
        get_judge(JudgeConfig(kind="openai", model="m", url=down.url, timeout_s=5)).verdicts([("q", ["a"], "b")])
    failing = chat_server(status=400)
    with pytest.raises(JudgeError, match="BadRequestError"):
        get_judge(JudgeConfig(kind="openai", model="m", url=failing.url)).verdicts([("q", ["a"], "b")])
    rambling = chat_server(reply="Well, it depends.")
    with pytest.raises(JudgeError, match="no verdict in the judge's reply 'Well, it depends.'"):
        get_judge(JudgeConfig(kind="openai", model="m", url=rambling.url)).verdicts([("q", ["a"], "b")])


def test_judge_reward_in_a_real_run_through_lm_eval(chat_server, tmp_path):
    """A hedger says 'gold or other': wrong by exact match, right by this endpoint's judge (alias contained)."""
    server = chat_server()
    run_dir = tmp_path / "run"
    run_harness(["model=scripted_hedger", "data=micro_gqa", "+judge=openai_local",
                 f"data.params.judge.url={server.url}", "data.n_test=6", "logger=none", "eval.answerers=[]",
                 "eval.nothink=false", "threads=1",
                 f"hydra.run.dir={run_dir}", f"cache_dir={tmp_path / 'cache'}"])
    metrics = json.loads((run_dir / "results.json").read_text())["metrics"]
    assert metrics["micro_gqa/acc"] == 0.0 and metrics["micro_gqa/reward"] == 1.0
    # micro_gqa's shifted split (micro_gqa_ood, 6 more items) is scored with the same judge reward
    assert metrics["micro_gqa_ood/acc"] == 0.0 and metrics["micro_gqa_ood/reward"] == 1.0
    assert 1 <= len(server.requests) <= 12
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").open()]
    assert all(r["reward"] == 1.0 for r in rows)
