"""Where the time of one run goes: start-up/imports, training (generation, reward, forward, backward,
optimizer, checkpoints) and evaluation, with timing hooks; optionally cProfile as well.

    python bench/profile_run.py [harness overrides ...] [--cprofile outputs/bench/profile/run.prof]
    python bench/profile_run.py method=rl data=micro_gqa train.steps=10     # the default

Runs ``python -m harness <overrides> threads=1 logger=none`` *inside this process* (``runpy``), after
wrapping, by monkeypatching, the methods where time is spent: TRL's ``GRPOTrainer._generate`` (rollout
generation), ``_calculate_rewards``, ``_generate_and_score_completions`` (generation + reward + the
rest of the batch preparation), ``compute_loss`` (the training forward pass), accelerate's
``backward``, the optimizer step, checkpoint saving; the micro kind's ``prepare`` (base checkpoint),
``hash_checkpoint`` and ``evaluate_suites`` (with its per-call ``eval_seconds``). The heavy imports
are timed one by one before the run starts. Times are inclusive and nest (generation is inside
"batch preparation", which is inside "train"). Prints a Markdown block; ``--cprofile PATH`` also
writes a cProfile dump and prints the top functions by own time (cProfile slows Python-heavy code:
read its numbers as shares, not seconds).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import runpy  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def wrap(owner, attr: str, label: str) -> None:
    fn = getattr(owner, attr)

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - started
            CALLS[label] += 1

    setattr(owner, attr, timed)


def import_times() -> dict[str, float]:
    out = {}
    for module in ("torch", "transformers", "datasets", "trl", "lm_eval", "lm_eval.evaluator",
                   "lm_eval.models.huggingface", "hydra", "harness.run"):
        started = time.perf_counter()
        __import__(module)
        out[module] = time.perf_counter() - started
    return out


def install_hooks() -> None:
    import accelerate
    import accelerate.optimizer
    import transformers
    from trl import GRPOTrainer

    import harness.models.micro as micro
    import harness.run as run

    wrap(GRPOTrainer, "__init__", "train: trainer set-up (GRPOTrainer.__init__)")
    wrap(transformers.Trainer, "train", "train: Trainer.train (whole loop)")
    wrap(GRPOTrainer, "_generate_and_score_completions", "train/loop: batch preparation (generate + score)")
    wrap(GRPOTrainer, "_generate", "train/loop/prep: generation (rollouts)")
    wrap(GRPOTrainer, "_calculate_rewards", "train/loop/prep: reward (suite verifier)")
    wrap(GRPOTrainer, "compute_loss", "train/loop: loss forward")
    wrap(accelerate.Accelerator, "backward", "train/loop: backward")
    wrap(accelerate.optimizer.AcceleratedOptimizer, "step", "train/loop: optimizer step")
    wrap(GRPOTrainer, "_save_checkpoint", "train/loop: trainer checkpoints (every 10 steps)")
    wrap(transformers.Trainer, "save_model", "train: save final model")
    wrap(micro.Micro, "prepare", "run: base checkpoint (cached micro model, hashed)")
    wrap(micro, "hash_checkpoint", "run: hash base checkpoint")
    wrap(run, "evaluate_suites", "eval: evaluate_suites (whole evaluation)")
    wrap(micro.Micro, "answerer", "eval: resolve micro answerers")
    wrap(run, "run", "run: harness.run.run (train + eval + writes)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cprofile", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "profile" / "run")
    args, overrides = ap.parse_known_args()
    overrides = overrides or ["method=rl", "data=micro_gqa", "train.steps=10"]
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    imports = import_times()
    install_hooks()
    run_dir = args.out.resolve()
    shutil.rmtree(run_dir, ignore_errors=True)
    sys.argv = ["harness", *overrides, "threads=1", "logger=none", f"hydra.run.dir={run_dir}"]
    profiler = None
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    try:
        runpy.run_module("harness", run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    main_s = time.perf_counter() - started
    if profiler:
        profiler.disable()
    total = time.perf_counter() - T0
    result = json.loads((run_dir / "results.json").read_text())
    eval_seconds = result["eval_seconds"]

    nproc = len(os.sched_getaffinity(0))
    print(f"## {date.today()} · {platform.node()} · {platform.machine()}, {nproc} cores — profile of one run\n")
    print(f"Command: `python bench/profile_run.py {' '.join(overrides)}`"
          f"{' --cprofile ' + str(args.cprofile) if args.cprofile else ''} (1 thread, logger=none)\n")
    print(f"Process wall time (after interpreter start): **{total:.1f} s**; the run's own `wall_time_s`: "
          f"{result['budget']['wall_time_s']:.1f} s\n")
    print("| part | seconds | share of process | calls |\n| --- | --- | --- | --- |")
    imp = sum(imports.values())
    print(f"| start-up: imports ({', '.join(f'{k} {v:.1f}' for k, v in imports.items() if v >= 0.1)}) | "
          f"{imp:.1f} | {100 * imp / total:.0f}% | |")
    run_s = SPENT.get("run: harness.run.run (train + eval + writes)", 0.0)
    rest = main_s - run_s
    print(f"| start-up: Hydra compose + validate + skip check (python -m harness, outside run()) | {rest:.1f} | "
          f"{100 * rest / total:.0f}% | |")
    for label in sorted(SPENT, key=lambda k: (k.split(":")[0], -SPENT[k])):
        print(f"| {label} | {SPENT[label]:.2f} | {100 * SPENT[label] / total:.0f}% | {CALLS[label]} |")
    for label, s in sorted(eval_seconds.items(), key=lambda kv: -kv[1]):
        print(f"| eval/call: {label} | {s:.2f} | {100 * s / total:.0f}% | |")
    loop = SPENT.get("train: Trainer.train (whole loop)", 0.0)
    parts = sum(v for k, v in SPENT.items() if k.startswith("train/loop:"))
    print(f"| train/loop: other (dataloader, logging, callbacks) | {loop - parts:.2f} | "
          f"{100 * (loop - parts) / total:.0f}% | |")
    if profiler:
        import pstats

        args.cprofile.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(args.cprofile))
        print("\ncProfile, top functions by own time (inflated by profiling overhead):\n\n```")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)
        print("```")


if __name__ == "__main__":
    main()
