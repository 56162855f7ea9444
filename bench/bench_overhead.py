"""Harness overhead: one run through ``python -m harness`` vs the same work in a hand-written script.

    python bench/bench_overhead.py [--data micro_gqa] [--steps 10] [--reps 2] [--out outputs/bench/overhead]

Times, as whole processes (interpreter start-up and imports included), alternating A B B A …:
- A: ``python -m harness method=rl data=<data> train.steps=<steps> seed=0 threads=1 logger=none
  eval.truncation=[] eval.answerers=[] eval.extra_suites=[]``: training, then the policy's own
  evaluation (thinking + no-thinking tasks) only — the truncation curve and Cross-Generation, which
  the hand-written script does not do, are turned off so that both do the same work;
- B: ``python bench/handwritten_run.py`` (stock TRL GRPOTrainer + stock ``lm_eval.simple_evaluate``),
  same base model, data, seeds and budgets.

Checks first that the hand-written ``GRPOConfig`` equals the harness's (``grpo_args``) except for
``output_dir``, and afterwards that both runs reach the same accuracies (same seed: same training).
Overhead ratio = mean harness wall time / mean hand-written wall time (goal ≤ 1.10).
Prints a Markdown block.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

OFF = ["eval.truncation=[]", "eval.answerers=[]", "eval.extra_suites=[]"]


def overrides(data: str, steps: int) -> list[str]:
    return ["method=rl", f"data={data}", f"train.steps={steps}", "seed=0", "threads=1", "logger=none", *OFF]


def check_same_config(data: str, steps: int, out: Path):
    """The hand-written GRPOConfig must equal the harness's; returns the base checkpoint path."""
    from bench_eval_throughput import load_cfg
    from handwritten_run import grpo_config

    from harness.methods.rl import grpo_args
    from harness.methods.training import TrainContext
    from harness.models import get_kind

    cfg = load_cfg(overrides(data, steps))
    base = get_kind(cfg.model.kind).prepare(cfg).path
    ctx = TrainContext(cfg=cfg, suite=None, train_items=[], base_path=base, run_dir=out, tokenizer=None)
    theirs, mine = grpo_args(ctx).to_dict(), grpo_config(out, steps, 0).to_dict()
    diff = {k: (theirs.get(k), mine.get(k)) for k in set(theirs) | set(mine)
            if k not in ("output_dir", "logging_dir") and theirs.get(k) != mine.get(k)}
    if diff:
        raise SystemExit(f"hand-written GRPOConfig differs from the harness's: {diff}")
    return base


def timed(cmd: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="micro_gqa")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "overhead")
    args = ap.parse_args()
    out = args.out.resolve()
    base = check_same_config(args.data, args.steps, out / "config_check")

    harness_dir, hand_dir = out / "harness", out / "handwritten"

    def run_harness() -> tuple[float, float]:
        shutil.rmtree(harness_dir, ignore_errors=True)  # a finished run would be skipped
        seconds, _ = timed([sys.executable, "-m", "harness", *overrides(args.data, args.steps),
                            f"hydra.run.dir={harness_dir}"])
        return seconds, json.loads((harness_dir / "results.json").read_text())["metrics"][f"{args.data}/acc"]

    def run_hand() -> tuple[float, float]:
        shutil.rmtree(hand_dir, ignore_errors=True)
        seconds, stdout = timed([sys.executable, str(ROOT / "bench" / "handwritten_run.py"), "--model", str(base),
                                 "--data", args.data, "--steps", str(args.steps), "--out", str(hand_dir)])
        return seconds, json.loads(stdout.strip().splitlines()[-1])["acc"]

    h, w, accs = [], [], {}
    for rep in range(args.reps):
        order = [("harness", run_harness), ("hand", run_hand)]
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            print(f"rep {rep}: {name} ...", file=sys.stderr)
            seconds, acc = fn()
            (h if name == "harness" else w).append(seconds)
            accs.setdefault(name, set()).add(round(acc, 6))

    nproc = len(os.sched_getaffinity(0))
    print(f"## {date.today()} · {platform.node()} · {platform.machine()}, {nproc} cores — harness overhead\n")
    print(f"Command: `python bench/bench_overhead.py --data {args.data} --steps {args.steps} --reps {args.reps}`\n")
    print("| | wall time per run, each rep (s) | mean (s) | accuracy |\n| --- | --- | --- | --- |")
    print(f"| `python -m harness {' '.join(overrides(args.data, args.steps))}` | "
          f"{', '.join(f'{s:.1f}' for s in h)} | {statistics.fmean(h):.1f} | {sorted(accs['harness'])} |")
    print(f"| `python bench/handwritten_run.py --data {args.data} --steps {args.steps}` | "
          f"{', '.join(f'{s:.1f}' for s in w)} | {statistics.fmean(w):.1f} | {sorted(accs['hand'])} |")
    print(f"\n- overhead ratio harness / hand-written: **{statistics.fmean(h) / statistics.fmean(w):.3f}** "
          f"(best of each: {min(h) / min(w):.3f}; goal ≤ 1.10)")
    print("- same GRPOConfig (checked field by field); truncation and Cross-Generation off in the harness run")


if __name__ == "__main__":
    main()
