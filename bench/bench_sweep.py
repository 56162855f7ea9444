"""Time the matched ablation sweep and compare RL and START step times; report peak memory of one run.

    python bench/bench_sweep.py [--sweep ablation] [--out outputs/bench]

Runs ``python -m harness +sweep=<sweep>`` into a fresh sweep folder (the micro base model is reused
from ``cache_dir`` when already built; ``--fresh-cache`` builds it anew and times that too, and then
times the sweep once more with the warm start built but the cross-run evaluation caches empty), then
reads every run's ``results.json`` and ``curve.jsonl``: wall time per method, TRL's per-step
``step_time`` for rl vs start, and the peak RSS of one ``method=rl data=micro_gqa`` run, measured in its own process.
Prints a Markdown block to paste into ``bench/RESULTS.md``.
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
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def harness(args: list[str]) -> float:
    start = time.time()
    subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - start


PEAK_RSS = """
import resource, runpy, sys
sys.argv = ["harness", *sys.argv[1:]]
runpy.run_module("harness", run_name="__main__")
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mb(args: list[str]) -> float:
    """Peak resident memory of one run, measured inside its own process (children excluded)."""
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *args], cwd=ROOT, check=True, capture_output=True,
                          text=True)
    return int(proc.stdout.rsplit("PEAK_RSS_KB", 1)[1].split()[0]) / 1024


def step_times(sweep_dir: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for curve in sweep_dir.glob("*/curve.jsonl"):
        method = json.loads((curve.parent / "results.json").read_text())["method"]
        out[method] += [r["step_time"] for r in map(json.loads, curve.read_text().splitlines()) if "step_time" in r]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", default="ablation")
    ap.add_argument("--out", default="outputs/bench")
    ap.add_argument("--fresh-cache", action="store_true", help="build the micro model anew (first-run time)")
    args = ap.parse_args()
    out = (ROOT / args.out).resolve()
    sweep_dir = out / f"sweep_{args.sweep}"
    cache = out / "cache" if args.fresh_cache else ROOT / "outputs/cache"
    shutil.rmtree(sweep_dir, ignore_errors=True)
    if args.fresh_cache:
        shutil.rmtree(cache, ignore_errors=True)
    overrides = [f"+sweep={args.sweep}", f"hydra.sweep.dir={sweep_dir}", f"cache_dir={cache}"]
    first = harness(overrides)
    rerun = harness(overrides)
    build = {}
    if args.fresh_cache:  # the same sweep anew with the warm start already built (the caches of evaluations cleared)
        build = json.loads(next((cache / "micro").glob("*/build_report.json")).read_text()).get("seconds", {})
        keep = sweep_dir.with_name(sweep_dir.name + "_first")
        shutil.rmtree(keep, ignore_errors=True)
        sweep_dir.rename(keep)
        for folder in ("answers", "evals"):
            shutil.rmtree(cache / folder, ignore_errors=True)
        warm = harness(overrides)
        shutil.rmtree(sweep_dir)
        keep.rename(sweep_dir)

    walls: dict[tuple[str, str], list[float]] = defaultdict(list)
    results = [json.loads(path.read_text()) for path in sweep_dir.glob("*/results.json")]
    if not results:
        raise SystemExit(f"{sweep_dir}: no run wrote results.json")
    for r in results:
        walls[(r["method"], r["data"])].append(r["budget"]["wall_time_s"])
    # what the numbers came from: every run of the sweep records the same versions and machine
    r = results[-1]
    stack = r.get("fingerprint", {}).get("versions") or r["versions"]
    machine = r.get("machine", {})
    steps = step_times(sweep_dir)
    peak_mb = peak_rss_mb(["method=rl", "data=micro_gqa", "threads=1", f"cache_dir={cache}",
                           f"hydra.run.dir={out / 'rss_run'}"])

    rl, st = statistics.fmean(steps["rl"]), statistics.fmean(steps["start"])
    print(f"## {date.today()} · {platform.node()} · {platform.processor() or platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} cores\n")
    flag = " --fresh-cache" if args.fresh_cache else ""
    print(f"Command: `python bench/bench_sweep.py --sweep {args.sweep}{flag}`\n")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(stack.items()))
          + f" (constraints.txt); machine: {machine.get('cpu', '?')}, {machine.get('cpu_capability', '?')}, "
          f"BLAS {machine.get('blas', '?')}\n")
    print(f"- sweep wall time: {first:.0f} s ({'including' if args.fresh_cache else 'excluding'} the micro build)")
    if args.fresh_cache:
        print(f"- of which the micro build: warm-start SFT {build.get('warm_start', float('nan')):.0f} s, "
              f"validation {build.get('validation', float('nan')):.0f} s (both cores)")
        print(f"- the same sweep with the warm start already built (evaluation caches cleared): {warm:.0f} s")
    print(f"- re-running the finished sweep: {rerun:.1f} s ({100 * rerun / first:.1f}% of the first run)")
    print(f"- RL step time {rl:.3f} s, START step time {st:.3f} s, ratio START/RL {st / rl:.3f}")
    print(f"- peak RSS of one `method=rl data=micro_gqa` run (1 thread, W&B offline): {peak_mb:.0f} MB\n")
    print("| method | data | runs | mean wall time per run (s) |\n| --- | --- | --- | --- |")
    for (m, d), w in sorted(walls.items()):
        print(f"| {m} | {d} | {len(w)} | {statistics.fmean(w):.1f} |")


if __name__ == "__main__":
    main()
