"""Evaluation throughput: the harness's evaluation of one run vs plain lm-eval at its best batch size.

    python bench/bench_eval_throughput.py [--data micro_gqa] [--batch-sizes 16,32,64,128,200,auto]
                                          [--out outputs/bench/eval_throughput]

What it measures (issue 6, goal: harness ≥ 80% of lm-eval's best batched throughput), in one
process at one torch thread (as a sweep's runs):

1. **harness**: ``harness.evaluation.pipeline.evaluate_suites`` for ``method=base`` on ``--data``
   with the default evaluation (the policy's thinking and no-thinking answers, the truncation curve,
   the Cross-Generation ladder: 3 micro answerers + the scripted reader), wall time of the whole call
   (model loads, task files, lm-eval calls, merging, aggregation). The empty-thinking answers are not
   reused from the cross-run cache (``eval.reuse_empty_answers=false``), so both sides do exactly the
   same generations. Timed twice; the faster is kept.
2. **plain lm-eval**: for each model the harness evaluated, one
   ``lm_eval.simple_evaluate(model="hf", model_args=..., tasks=<all its tasks>, batch_size=B)`` on the
   task folder the harness wrote (same items, same prompts, same generation settings), for every B in
   ``--batch-sizes``; the best B per model is kept (and re-timed once, the faster kept). lm-eval runs
   ``torch.utils.collect_env`` (``pip list``, ~0.5 s) inside every ``simple_evaluate``; the
   comparison uses lm-eval *without* that (collected once, as the harness does), i.e. lm-eval at its
   fastest; the stock figure is printed beside it.

Throughput = generated items (rows of every task, all models) / seconds. Prints a Markdown block.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

torch.set_num_threads(1)


def load_cfg(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from harness.config import CONF_DIR, register_configs
    from harness.validate import validate

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return validate(compose("config", overrides=overrides))


def harness_eval(cfg, run_dir: Path):
    """One harness evaluation of the base policy; returns (seconds, Evaluation)."""
    from harness.evaluation.pipeline import evaluate_suites
    from harness.models import get_kind
    from harness.suites import get_suite
    from harness.threads import torch_threads

    suite = get_suite(cfg.data.name, reward=cfg.data.reward, **cfg.data.params)
    items = suite.items("test", cfg.data.n_test, random.Random(cfg.data.gen_seed + 1), cfg.data)
    kind = get_kind(cfg.model.kind)
    base = kind.prepare(cfg)
    tokenizer, policy = base.tokenizer, kind.policy(cfg, base.path)
    with torch_threads(cfg.threads):
        started = time.perf_counter()
        evaluation = evaluate_suites(cfg, [(cfg.data, suite, items)], policy, tokenizer, run_dir)
        seconds = time.perf_counter() - started
    return seconds, evaluation


def model_groups(commands: list[tuple[str, str]]) -> dict[tuple[str, str, str], list[str]]:
    """(lm name, model_args, include_path) -> every task the harness ran on that model."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for _, command in commands:
        argv = shlex.split(command)
        arg = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
        groups[(arg["--model"], arg["--model_args"], arg["--include_path"])] += arg["--tasks"].split(",")
    return groups


def plain_lm_eval(lm_name: str, model_args: str, include_path: str, tasks: list[str], batch_size):
    """Stock ``simple_evaluate`` (model given by name: lm-eval loads it); returns (seconds, items, results)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    manager = TaskManager(include_path=include_path, include_defaults=False)
    out = lm_eval.simple_evaluate(model=lm_name, model_args=model_args, tasks=tasks, batch_size=batch_size,
                                  device="cpu", task_manager=manager, log_samples=True)
    seconds = time.perf_counter() - started
    return seconds, sum(len(out["samples"][t]) for t in tasks), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="micro_gqa")
    ap.add_argument("--batch-sizes", default="16,32,64,128,200,auto")
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "eval_throughput")
    args = ap.parse_args()
    os.chdir(ROOT)
    import lm_eval.evaluator

    import harness.evaluation.scripted  # noqa: F401  (registers the scripted reader as an lm-eval model)
    from harness.evaluation.lm_eval_bridge import _add_env_info_once

    stock_env_info = lm_eval.evaluator.add_env_info
    cfg = load_cfg(["method=base", f"data={args.data}", "threads=1", "logger=none",
                    "eval.reuse_empty_answers=false"])
    run_dir = args.out / args.data
    print(f"harness evaluation of method=base data={args.data} (1 thread) ...", file=sys.stderr)
    h1, evaluation = harness_eval(cfg, run_dir)
    groups = model_groups(evaluation.commands)

    def plain(batch_size, env_once: bool = True):
        lm_eval.evaluator.add_env_info = _add_env_info_once if env_once else stock_env_info
        per_model = {}
        for (lm_name, model_args, include), tasks in groups.items():
            b = batch_size if lm_name == "hf" else 64  # the scripted reader does not batch
            per_model[model_args] = plain_lm_eval(lm_name, model_args, include, tasks, b)
        return per_model

    sizes = [s if s == "auto" else int(s) for s in args.batch_sizes.split(",")]
    by_size: dict = {}
    for b in sizes:
        print(f"plain lm-eval, batch_size={b} ...", file=sys.stderr)
        by_size[b] = plain(b)
    models = list(by_size[sizes[0]])
    items = {m: by_size[sizes[0]][m][1] for m in models}
    best = {m: min(sizes, key=lambda b, m=m: by_size[b][m][0]) for m in models}
    best_s = {m: by_size[best[m]][m][0] for m in models}
    # re-time every model at its best size once (the faster of the two is kept), then the harness again
    for m in models:
        (lm_name, model_args, include), tasks = next((k, v) for k, v in groups.items() if k[1] == m)
        again = plain_lm_eval(lm_name, model_args, include, tasks, best[m] if lm_name == "hf" else 64)[0]
        best_s[m] = min(best_s[m], again)
    stock = plain(64, env_once=False)
    lm_eval.evaluator.add_env_info = stock_env_info
    h2, evaluation2 = harness_eval(cfg, run_dir)
    harness_s = min(h1, h2)

    # same scores: the harness's metrics vs plain lm-eval at the harness's batch size (64)
    same = all(abs(evaluation.metrics[k] - evaluation2.metrics[k]) < 1e-9 for k in evaluation.metrics)
    agree = []
    ref = {t: r for m in models for t, r in by_size[64][m][2]["results"].items()} if 64 in by_size else {}
    raw_dir = run_dir / "lm_eval"
    for f in sorted(raw_dir.glob("results_*.json")):
        for task, r in json.loads(f.read_text())["results"].items():
            if task in ref:
                key = "acc,none"
                agree.append(abs(r.get(key, 0) - ref[task].get(key, 0)) < 1e-9)

    total_items = sum(items.values())
    plain_best = sum(best_s.values())
    plain_stock = sum(v[0] for v in stock.values())
    nproc = len(os.sched_getaffinity(0))
    print(f"## {date.today()} · {platform.node()} · {platform.machine()}, {nproc} cores — eval throughput\n")
    print(f"Command: `python bench/bench_eval_throughput.py --data {args.data} --batch-sizes {args.batch_sizes}`"
          f" (torch {torch.__version__}, lm-eval {lm_eval.__version__ if hasattr(lm_eval, '__version__') else '?'},"
          f" 1 thread)\n")
    print("| model | tasks | items | " + " | ".join(f"lm-eval B={b} (s)" for b in sizes)
          + " | best B | lm-eval best (items/s) |")
    print("| --- " * (5 + len(sizes)) + "|")
    for (_, model_args, _), tasks in groups.items():
        name = model_args.split("pretrained=")[-1].split(",")[0].replace(str(ROOT) + "/", "")
        cells = " | ".join(f"{by_size[b][model_args][0]:.2f}" for b in sizes)
        print(f"| {name} | {len(tasks)} | {items[model_args]} | {cells} | {best[model_args]} | "
              f"{items[model_args] / best_s[model_args]:.0f} |")
    print()
    print(f"- harness `evaluate_suites` (eval.batch_size={cfg.eval.batch_size}), whole evaluation: "
          f"{harness_s:.2f} s (runs: {h1:.2f}, {h2:.2f}) for {total_items} items = "
          f"**{total_items / harness_s:.0f} items/s**; its `eval_seconds` sum to "
          f"{sum(evaluation2.seconds.values()):.2f} s")
    print(f"- plain lm-eval, best batch size per model, environment collected once: {plain_best:.2f} s = "
          f"**{total_items / plain_best:.0f} items/s**")
    print(f"- plain lm-eval stock (collect_env in every call), B=64: {plain_stock:.2f} s = "
          f"{total_items / plain_stock:.0f} items/s")
    print(f"- ratio harness / lm-eval best: **{plain_best / harness_s:.2f}** (goal ≥ 0.80); "
          f"harness / stock lm-eval at B=64: {plain_stock / harness_s:.2f}")
    print(f"- harness metrics identical over its two runs: {same}; task accuracies equal to plain lm-eval at "
          f"B=64: {sum(agree)}/{len(agree)}")


if __name__ == "__main__":
    main()
