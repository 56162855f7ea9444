"""Benchmark: what the issue-14 evaluations add to a run's evaluation time.

The new evaluations are the interventions (the policy's corrupted-conclusion and filler answers, one
call per suite; each answerer's placebo answers, inside its Cross-Generation call) and the shifted
split ``micro_gqa_ood`` (the policy's answers, no-thinking answers and interventions). Runs
``method=base`` as a run of the ablation evaluates (``data=<suite>``, ``eval.extra_suites=[micro_math,
micro_gqa]``, one thread), with the cross-run cache of base evaluations off (so every call is computed)
and the empty-thinking baseline of the answerers cached (as in every run of a sweep but the first),
twice: ``eval.interventions=true`` and ``false``. Two measures:

* wall time, from ``results.json`` → ``eval_seconds``: ``old`` = the evaluation without them
  (interventions off, the shifted split's calls left out), ``new`` = what they add (the full run's
  total minus ``old``), and ``new / old``; model loading is counted in both (``load-*``);
* CPU time of the whole run process (user + system), which a busy machine inflates far less than wall
  time: ``cpu_new / cpu_old`` with the process's fixed cost (imports, model loads: a run on 2 test
  items) taken out of both, and the shifted split's share of the interventions-off run taken out of
  ``old`` by its share of the wall time.

Repeats alternate the settings, so a busy machine slows them alike; the median is reported.

    python bench/bench_interventions.py [--suite micro_gqa] [--repeats 2] [--out outputs/bench/interventions]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIFTED = "micro_gqa_ood"


def run(suite: str, interventions: bool, out: Path, n_test: int = 200) -> tuple[dict[str, float], float]:
    """(eval_seconds, CPU seconds of the run process)."""
    run_dir = out / f"{suite}-interventions-{interventions}-{n_test}"
    shutil.rmtree(run_dir, ignore_errors=True)  # a finished run would be skipped
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "harness", "method=base", f"data={suite}", "threads=1", "logger=none",
                    "eval.extra_suites=[micro_math,micro_gqa]", "eval.reuse_base_evals=false", f"data.n_test={n_test}",
                    f"eval.interventions={interventions}", f"hydra.run.dir={run_dir}"],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads((run_dir / "results.json").read_text())["eval_seconds"], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="micro_gqa")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "interventions")
    args = parser.parse_args()
    run(args.suite, False, args.out)  # fills the empty-thinking cache of every answerer
    run(args.suite, False, args.out, n_test=2)
    rows = []
    for _ in range(args.repeats):
        (on, cpu_on), (off, cpu_off) = run(args.suite, True, args.out), run(args.suite, False, args.out)
        _, cpu_fixed = run(args.suite, False, args.out, n_test=2)
        old = sum(v for k, v in off.items() if not k.startswith(SHIFTED))
        total = sum(on.values())
        shifted_share = 1 - old / sum(off.values())
        cpu_old = (cpu_off - cpu_fixed) * (1 - shifted_share)
        cpu_new = (cpu_on - cpu_fixed) - cpu_old
        rows.append({"old_s": round(old, 2), "with_new_s": round(total, 2), "new_s": round(total - old, 2),
                     "new_over_old": round((total - old) / old, 3),
                     "cpu_s": {"on": round(cpu_on, 1), "off": round(cpu_off, 1), "fixed": round(cpu_fixed, 1)},
                     "cpu_new_over_old": round(cpu_new / cpu_old, 3),
                     "of_which": {k: v for k, v in on.items() if "interventions" in k or k.startswith(SHIFTED)}})
    print(json.dumps({"suite": args.suite, "runs": rows,
                      "median_new_over_old": statistics.median(r["new_over_old"] for r in rows),
                      "median_cpu_new_over_old": statistics.median(r["cpu_new_over_old"] for r in rows)}, indent=2))

if __name__ == "__main__":
    main()
