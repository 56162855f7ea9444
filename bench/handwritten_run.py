"""The work of one harness run, written by hand: the baseline of ``bench/bench_overhead.py``.

    python bench/handwritten_run.py --model <base checkpoint> [--data micro_gqa] [--steps 10] [--seed 0]
                                    [--out outputs/bench/overhead/handwritten]

What ``python -m harness method=rl data=<data> threads=1 logger=none eval.truncation=[]
eval.answerers=[] eval.extra_suites=[]`` does, without the harness's orchestration: the same train
prompts (the suite's generator, the data config's ``gen_seed``), stock TRL ``GRPOTrainer`` with a
``GRPOConfig`` built from the same arguments as ``harness.methods.rl.grpo_args`` (DAPO, the micro
budgets, checkpoints every 10 steps), the suite's verifier as the reward, ``save_model``, then stock
``lm_eval.simple_evaluate(model="hf")`` on two tasks written here by hand: the test items with
thinking (``max_gen_toks`` 128) and with an empty thinking prefilled (16 tokens), scored by the
suite's lm-eval hooks. One torch thread. Prints the metrics and wall time as JSON.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def grpo_config(out_dir: Path, steps: int, seed: int):
    """The harness's GRPOConfig for method=rl algo=dapo train=micro, spelled out."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(out_dir), max_steps=steps, per_device_train_batch_size=8 * 8, num_generations=8,
        max_completion_length=128, temperature=1.0, learning_rate=1e-4, lr_scheduler_type="constant",
        warmup_steps=0, max_grad_norm=1.0, weight_decay=0.0, loss_type="dapo", scale_rewards="group", beta=0.0,
        epsilon=0.2, epsilon_high=0.28, mask_truncated_completions=True, logging_steps=1, report_to=[],
        save_strategy="steps", save_steps=10, save_total_limit=2, use_cpu=True, bf16=False, fp16=False,
        seed=seed, data_seed=seed, gradient_checkpointing=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="micro_gqa")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "overhead" / "handwritten")
    args = ap.parse_args()
    torch.set_num_threads(1)

    import lm_eval
    import transformers
    from datasets import Dataset
    from lm_eval.tasks import TaskManager
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    from harness.suites import get_suite
    from harness.suites.format import ANSWER_CLOSE, forced_answer_prefill, parse_completion

    data = yaml.safe_load((ROOT / "conf" / "data" / f"{args.data}.yaml").read_text())
    params, gen_seed = data.get("params", {}), data.get("gen_seed", 1234)
    suite = get_suite(args.data, reward=data.get("reward", "em"), **params)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    # --- train: GRPO with the suite's verifier as reward ------------------------------------------
    transformers.set_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    def prompt(question: str) -> str:
        return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                             add_generation_prompt=True)

    train_items = suite.generate("train", args.steps * 8, random.Random(gen_seed))
    by_id = {it.id: it for it in train_items}

    def reward(prompts, completions, id, **_):
        return [suite.score_completion(parse_completion(c), by_id[i])["reward"]
                for c, i in zip(completions, id, strict=True)]

    reward.__name__ = f"{suite.name}_{suite.reward_kind}"
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype="float32")
    trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=grpo_config(out / "trainer", args.steps, args.seed),
                          train_dataset=Dataset.from_list([{"prompt": prompt(it.question), "id": it.id}
                                                           for it in train_items]),
                          processing_class=tokenizer)
    trainer.train()
    checkpoint = out / "checkpoint"
    trainer.save_model(str(checkpoint))
    tokenizer.save_pretrained(checkpoint)

    # --- evaluate: stock lm-eval on the test items, with thinking and with an empty one -----------
    tasks = out / "tasks"
    tasks.mkdir(exist_ok=True)
    test_items = suite.generate("test", data.get("n_test", 200), random.Random(gen_seed + 1))
    rows = [{**it.to_json(), "suite": suite.name, "reward": suite.reward_kind,
             "suite_params": json.dumps(params, sort_keys=True), "prompt": prompt(it.question),
             "prompt_nothink": prompt(it.question) + forced_answer_prefill("")} for it in test_items]
    (tasks / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tasks / "utils.py").write_text("from harness.evaluation.task_utils import process_results, "
                                    "process_results_forced  # noqa: F401\n")
    for name, column, hook, metrics, max_toks in [
            (args.data, "prompt", "process_results", suite.metric_keys, 128),
            (f"{args.data}_nothink", "prompt_nothink", "process_results_forced", ("acc",), 16)]:
        spec = {"task": name, "dataset_path": "json",
                "dataset_kwargs": {"data_files": {"test": str(tasks / "test.jsonl")}}, "test_split": "test",
                "output_type": "generate_until", "doc_to_text": column, "doc_to_target": "gold",
                "generation_kwargs": {"until": [ANSWER_CLOSE], "do_sample": False, "max_gen_toks": max_toks},
                "process_results": "HOOK", "metric_list": [{"metric": m, "aggregation": "mean"} for m in metrics],
                "metadata": {"version": 1}}
        (tasks / f"{name}.yaml").write_text(
            yaml.safe_dump(spec, sort_keys=False).replace("HOOK", f"!function utils.{hook}"))
    results = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={checkpoint},dtype=float32", tasks=[args.data, f"{args.data}_nothink"],
        batch_size=64, device="cpu", task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
        log_samples=True)
    metrics = {f"{t}/{k.split(',')[0]}": v for t, r in results["results"].items() for k, v in r.items()
               if k.endswith(",none") and isinstance(v, float)}
    (out / "results.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    print(json.dumps({"acc": metrics[f"{args.data}/acc"], "nothink_acc": metrics[f"{args.data}_nothink/acc"],
                      "steps": trainer.state.global_step, "wall_s": round(time.perf_counter() - STARTED, 3)}))


if __name__ == "__main__":
    main()
