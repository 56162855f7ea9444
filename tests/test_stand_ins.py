"""The real-model path, executed end to end on stand-in real models (``tests/standin.py``): the Qwen
configs train (sft, rl, start) and evaluate on GSM8K and NQ-Open through the micro world's code path,
and lm-eval's built-in tasks run for real (an ``HFLM`` on the stand-in, lm-eval's own gsm8k YAML over
local data) with the chat template and the thinking handled by the harness.

A random stand-in never closes its thinking, so every suite must score it 0 with ``no_think_close`` 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from harness.config import ConfigError
from harness.evaluation.builtin_tasks import run_builtin, scored_response, unknown_tasks
from harness.evaluation.lm_eval_bridge import EvalModel
from harness.methods.start import ThinkEnd
from harness.run import run
from harness.suites.format import THINK_CLOSE, THINK_OPEN
from harness.validate import validate
from tests.conftest import compose_cfg, run_harness
from tests.standin import DATA

MODELS = {"qwen2.5-0.5b-instruct": "qwen2.5", "qwen3-0.6b": "qwen3"}  # model config -> stand-in
DATA_ARGS = {"gsm8k": [], "nq_open": ["data.train_file=nq_open_efficientqa_dev.jsonl"]}
SMALL = ["data.n_test=4", "train.steps=2", "train.prompts_per_step=2", "train.num_generations=2",
         "train.max_completion_length=16", "eval.max_gen_toks=32", "eval.truncation=[]", "eval.answerers=[]",
         "eval.batch_size=8", "threads=1"]


def overrides(stand_ins, model: str, data: str, method: str, tmp_path: Path, *extra: str) -> list[str]:
    return [f"model={model}", f"model.path={stand_ins[MODELS[model]]}", f"data={data}", f"data.path={DATA}",
            *DATA_ARGS[data], f"method={method}", *SMALL, f"cache_dir={tmp_path / 'cache'}", *extra]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def local_gsm8k_tasks(folder: Path, num_fewshot: int = 2) -> Path:
    """A user's task folder: lm-eval's own gsm8k YAML over the local GSM8K excerpt (as ``gsm8k_local``)."""
    import lm_eval

    spec = {"include": str(Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml"), "task": "gsm8k_local",
            "dataset_path": "json", "dataset_name": None, "num_fewshot": num_fewshot,
            "dataset_kwargs": {"data_files": {"train": str(DATA / "gsm8k_train.jsonl"),
                                              "test": str(DATA / "gsm8k_test.jsonl")}}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gsm8k_local.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return folder


def test_stand_ins_are_shaped_like_qwen(stand_ins):
    q25, q3 = (AutoTokenizer.from_pretrained(stand_ins[k]) for k in ("qwen2.5", "qwen3"))
    assert AutoConfig.from_pretrained(stand_ins["qwen2.5"]).model_type == "qwen2"
    assert AutoConfig.from_pretrained(stand_ins["qwen3"]).model_type == "qwen3"
    for kind in stand_ins:
        params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(stand_ins[kind]).parameters())
        assert 1e5 < params < 1e6
    # Qwen2.5: '</think>' is several BPE tokens whose strings spell it (START finds it there)
    ids = q25.encode(THINK_CLOSE, add_special_tokens=False)
    assert len(ids) > 1 and ThinkEnd(q25).token_id is None and "".join(q25.convert_ids_to_tokens(ids)) == THINK_CLOSE
    # Qwen3: '<think>' and '</think>' are single added tokens that decoding keeps
    for tag in (THINK_OPEN, THINK_CLOSE):
        (tag_id,) = q3.encode(tag, add_special_tokens=False)
        assert tag not in q3.all_special_tokens and q3.decode([tag_id], skip_special_tokens=True) == tag
    assert ThinkEnd(q3).token_id == q3.convert_tokens_to_ids(THINK_CLOSE)
    for tok in (q25, q3):
        assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
        assert tok.apply_chat_template([{"role": "user", "content": "2+2?"}], tokenize=False,
                                       add_generation_prompt=True) == "<|im_start|>user\n2+2?<|im_end|>\n" \
                                                                      "<|im_start|>assistant\n"


@pytest.mark.parametrize("method", ["sft", "rl", "start"])
@pytest.mark.parametrize("data", ["gsm8k", "nq_open"])
@pytest.mark.parametrize("model", list(MODELS))
def test_real_model_config_runs_on_a_stand_in(stand_ins, tmp_path, model, data, method):
    cfg = validate(compose_cfg(overrides(stand_ins, model, data, method, tmp_path, "logger=none")))
    result = run(cfg, tmp_path / "run")
    assert result.status == "ok" and result.budget.optimizer_steps == 2
    assert result.budget.tokens_generated > 0 if method != "sft" else result.budget.completions_sampled == 0
    # a random model never closes its thinking: nothing of it is scored as an answer
    assert result.metrics[f"{data}/acc"] == 0.0 and result.metrics[f"{data}/no_think_close"] == 1.0
    samples = read_jsonl(tmp_path / "run" / "samples.jsonl")
    assert len(samples) == 4 and all(r["answer"] is None and r["acc"] == 0.0 for r in samples)
    prompt = AutoTokenizer.from_pretrained(Path(result.checkpoint)).apply_chat_template(
        [{"role": "user", "content": "q"}], tokenize=False, add_generation_prompt=True)
    assert prompt.startswith("<|im_start|>system\n")  # the config's prompt format went into the checkpoint


def test_python_m_harness_runs_a_qwen3_stand_in(stand_ins, tmp_path):
    """The command a user types, in a subprocess: model=qwen3-0.6b on local NQ-Open with START."""
    run_dir = tmp_path / "run"
    run_harness([*overrides(stand_ins, "qwen3-0.6b", "nq_open", "start", tmp_path), "logger=none",
                 f"hydra.run.dir={run_dir}"])
    result = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert result["status"] == "ok" and result["budget"]["optimizer_steps"] == 2
    assert result["metrics"]["nq_open/acc"] == 0.0 and result["metrics"]["nq_open/no_think_close"] == 1.0


# --- lm-eval's built-in tasks, for real ---------------------------------------------------------------------


def test_user_task_folders_are_validated(tmp_path):
    folder = local_gsm8k_tasks(tmp_path / "tasks")
    cfg = validate(compose_cfg(["eval.lm_eval_tasks=[gsm8k_local,gsm8k]", f"eval.lm_eval_include_path=[{folder}]"]))
    assert cfg.eval.lm_eval_tasks == ["gsm8k_local", "gsm8k"]  # the user's task and a built-in one
    assert unknown_tasks(["gsm8k_local", "gsm8k", "gsm8k_lokal"], [str(folder)]) == ["gsm8k_lokal"]
    with pytest.raises(ConfigError, match=r"\['gsm8k_lokal'\] are not lm-eval tasks nor tasks of eval.lm_eval_inc"):
        validate(compose_cfg(["eval.lm_eval_tasks=[gsm8k_lokal]", f"eval.lm_eval_include_path=[{folder}]"]))
    with pytest.raises(ConfigError, match="gsm8k_local"):  # without its folder it is unknown
        validate(compose_cfg(["eval.lm_eval_tasks=[gsm8k_local]"]))
    with pytest.raises(ConfigError, match="eval.lm_eval_include_path: /no/such/folder is not a folder"):
        validate(compose_cfg(["eval.lm_eval_include_path=[/no/such/folder]"]))


@pytest.mark.parametrize("text,until,expected", [
    ("<think>6*3=18</think><answer>18</answer>", ["Question:"], ("18", True)),
    ("<think>6*3=18</think> The answer is 18.\n\nQuestion: next", ["Question:"], ("The answer is 18.\n\n", True)),
    ("<think>Question: is it 18?</think><answer>18</answer>", ["Question:"], ("18", True)),  # stops: response only
    ("<think>the answer is 18", ["Question:"], ("", False)),  # never closed: nothing to score
    ("", None, ("", False)),
])
def test_scored_response(text, until, expected):
    assert scored_response(text, until) == expected


def test_builtin_task_is_scored_on_the_answer_after_the_thinking(stand_ins, tmp_path):
    """lm-eval's gsm8k (its prompts, filters and metric) on a real HFLM, generations scripted per item:
    right answers after closed thinking count, right numbers left in the thinking do not, unclosed
    thinking is wrong, and the task's stop strings never reach generation."""
    tokenizer = AutoTokenizer.from_pretrained(stand_ins["qwen3"])
    policy = EvalModel("policy", "hf", f"pretrained={stand_ins['qwen3']},dtype=float32")
    lm = policy.load(batch_size=8)
    seen = []

    def scripted(requests, disable_tqdm=False):
        out = []
        for r in requests:
            context, kwargs = r.args
            seen.append((context, kwargs["until"]))
            gold = r.doc["answer"].split("#### ")[-1]
            out.append([f"<think>so</think><answer>#### {gold}</answer>",  # right
                        f"<think>it is #### {gold}",  # right number, thinking never closed: wrong
                        f"<think>#### {gold}</think><answer>#### 0</answer>",  # right only in the thinking: wrong
                        f"<think>Question: what?</think><answer>#### {gold}\n\nQuestion: more</answer>",  # right
                        ][r.doc_id % 4])
        return out

    lm.generate_until = scripted
    metrics, command = run_builtin(lm, policy, tokenizer, ["gsm8k_local"], 8, tmp_path,
                                   include_path=[str(local_gsm8k_tasks(tmp_path / "tasks"))], max_gen_toks=64)
    n = 30  # items of the excerpt: doc ids 0..29
    right = sum(1 for i in range(n) if i % 4 in (0, 3))
    assert metrics["lm_eval/gsm8k_local/exact_match/strict-match"] == pytest.approx(right / n)
    assert metrics["lm_eval/gsm8k_local/no_think_close"] == pytest.approx(sum(i % 4 == 1 for i in range(n)) / n)
    assert all(until == [] for _, until in seen)  # generation stops at eos or the budget, not at 'Question:'
    context = seen[0][0]  # the chat template, the few-shot examples as earlier turns
    assert context.startswith("<|im_start|>user\n") and context.count("<|im_start|>assistant\n") == 3
    rows = read_jsonl(tmp_path / "lm_eval" / "samples_builtin.jsonl")
    assert {r["doc_id"] for r in rows if r["think_closed"] is False} == {i for i in range(n) if i % 4 == 1}
    assert all(r["response"] == "" for r in rows if not r["think_closed"])
    assert lm.generate_until is scripted  # the model is left as it was (the harness's suites keep the thinking)


def test_builtin_task_on_a_random_stand_in_through_the_run(stand_ins, tmp_path):
    """eval.lm_eval_tasks with the user's task folder, in a run: a random stand-in scores 0 with
    no_think_close 1, and the recorded command carries the chat template and the task folder."""
    folder = local_gsm8k_tasks(tmp_path / "tasks")
    cfg = validate(compose_cfg(overrides(stand_ins, "qwen2.5-0.5b-instruct", "gsm8k", "base", tmp_path, "logger=none",
                                         "eval.lm_eval_tasks=[gsm8k_local]", f"eval.lm_eval_include_path=[{folder}]")))
    result = run(cfg, tmp_path / "run")
    assert result.status == "ok"
    assert result.metrics["lm_eval/gsm8k_local/exact_match/flexible-extract"] == 0.0
    assert result.metrics["lm_eval/gsm8k_local/no_think_close"] == 1.0
    assert result.metrics["gsm8k/acc"] == 0.0 and result.metrics["gsm8k/no_think_close"] == 1.0
    commands = (tmp_path / "run" / "lm_eval_command.txt").read_text(encoding="utf-8")
    line = commands.split("# lm_eval-builtin\n")[1].splitlines()[0]
    assert line.startswith("python -m harness.evaluation.lm_eval_cli --model starbench-thinking --model_args "
                           f"backend=hf,pretrained={result.checkpoint}")
    for flag in ("--apply_chat_template", "--fewshot_as_multiturn", f"--include_path {folder}", "--tasks gsm8k_local",
                 "--gen_kwargs max_gen_toks=32"):
        assert flag in line
    samples = read_jsonl(tmp_path / "run" / "lm_eval" / "samples_builtin.jsonl")
    assert {(r["doc_id"], r["filter"]) for r in samples} == {(i, f) for i in range(30)  # one row per filter
                                                             for f in ("strict-match", "flexible-extract")}
    assert not any(r["think_closed"] for r in samples)
    assert all(r["response"] == "" and r["completion"] for r in samples)  # it wrote something, never scored
