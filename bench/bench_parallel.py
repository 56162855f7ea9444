"""Parallel scaling: two runs at the same time, one torch thread each, vs the same two one after another.

    python bench/bench_parallel.py [--steps 10] [--data micro_gqa] [--method rl]
                                   [--out outputs/bench/parallel]

Each run is a real, complete ``python -m harness method=<method> data=<data> train.steps=<steps>
seed=<s> threads=1 logger=none`` (training + the default evaluation: policy, truncation,
Cross-Generation), seeds 0 and 1, with the default (already built) micro model. A warm-up run first
fills the answerers' empty-thinking cache and the OS file cache, so both layouts start from the same
state. Speed-up = (sequential wall time) / (parallel wall time); on a machine with ≥ 2 free cores the
goal (issue 6) is ≥ 1.8×. Also reports each run's own ``wall_time_s`` from ``results.json``.
Prints a Markdown block.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def command(method: str, data: str, steps: int, seed: int, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "harness", f"method={method}", f"data={data}", f"train.steps={steps}",
            f"seed={seed}", "threads=1", "logger=none", f"hydra.run.dir={run_dir}"]


def start(cmd: list[str], run_dir: Path) -> subprocess.Popen:
    shutil.rmtree(run_dir, ignore_errors=True)  # a finished run would be skipped
    run_dir.mkdir(parents=True)
    log = open(run_dir.parent / f"{run_dir.name}.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"run failed: {' '.join(p.args)}")


def run_wall(run_dir: Path) -> float:
    return json.loads((run_dir / "results.json").read_text())["budget"]["wall_time_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="rl")
    ap.add_argument("--data", default="micro_gqa")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "parallel")
    args = ap.parse_args()
    out = args.out.resolve()
    seeds = (0, 1)

    def cmd(seed: int, run_dir: Path) -> list[str]:
        return command(args.method, args.data, args.steps, seed, run_dir)

    print("warm-up run ...", file=sys.stderr)
    wait([start(cmd(0, out / "warmup"), out / "warmup")])

    print("sequential ...", file=sys.stderr)
    t0 = time.perf_counter()
    for s in seeds:
        wait([start(cmd(s, out / f"seq_seed{s}"), out / f"seq_seed{s}")])
    sequential = time.perf_counter() - t0

    print("parallel ...", file=sys.stderr)
    t0 = time.perf_counter()
    wait([start(cmd(s, out / f"par_seed{s}"), out / f"par_seed{s}") for s in seeds])
    parallel = time.perf_counter() - t0

    seq_runs = [run_wall(out / f"seq_seed{s}") for s in seeds]
    par_runs = [run_wall(out / f"par_seed{s}") for s in seeds]
    nproc = len(os.sched_getaffinity(0))
    print(f"## {date.today()} · {platform.node()} · {platform.machine()}, {nproc} cores — parallel scaling\n")
    print(f"Command: `python bench/bench_parallel.py --method {args.method} --data {args.data} "
          f"--steps {args.steps}` (each run: `python -m harness method={args.method} data={args.data} "
          f"train.steps={args.steps} seed=0|1 threads=1 logger=none`)\n")
    print("| layout | wall time of both runs (s) | each run's wall_time_s (s) |\n| --- | --- | --- |")
    print(f"| one after another | {sequential:.1f} | {', '.join(f'{w:.1f}' for w in seq_runs)} |")
    print(f"| two in parallel | {parallel:.1f} | {', '.join(f'{w:.1f}' for w in par_runs)} |")
    print(f"\n- speed-up of the parallel layout: **{sequential / parallel:.2f}×** (goal ≥ 1.8×)")
    print(f"- per-run slowdown when sharing the machine: "
          f"{sum(par_runs) / sum(seq_runs):.2f}× (in-run wall time, process start-up excluded)")


if __name__ == "__main__":
    main()
