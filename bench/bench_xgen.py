"""Benchmark: what the thinking-quality evaluation adds to a run's evaluation time (issue 3).

Runs ``method=base`` on each micro suite at one thread (as in a sweep) and reads the per-call wall
times the run records (``results.json`` → ``eval_seconds``). Reports, per suite, the policy's own
evaluation (load + thinking and no-thinking tasks), the truncation curve, and Cross-Generation
(every answerer: load + its tasks), and the ratio of each to the policy's evaluation. The first run
of a sweep computes every answerer's empty-thinking baseline; later runs reuse it
(harness/evaluation/answer_cache.py): both are reported.

    python bench/bench_xgen.py [--n-test 200] [--out outputs/bench/xgen]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(suite: str, n_test: int, out: Path, reuse: bool) -> dict[str, float]:
    run_dir = out / suite
    shutil.rmtree(run_dir, ignore_errors=True)  # a finished run would be skipped
    subprocess.run([sys.executable, "-m", "harness", "method=base", f"data={suite}", f"data.n_test={n_test}",
                    "threads=1", "logger=none", f"hydra.run.dir={run_dir}", f"eval.reuse_empty_answers={reuse}"],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    result = json.loads((run_dir / "results.json").read_text())
    s = result["eval_seconds"]
    policy = s["load-policy"] + s[f"{suite}-policy"]
    truncation = s.get(f"{suite}-policy-truncation", 0.0)
    xgen = sum(v for k, v in s.items()
               if k.startswith(f"{suite}-xgen-") or (k.startswith("load-") and k != "load-policy"))
    return {"policy_eval_s": round(policy, 2), "truncation_s": round(truncation, 2), "xgen_s": round(xgen, 2),
            "xgen_over_policy": round(xgen / policy, 3), "truncation_over_policy": round(truncation / policy, 3),
            "answerers": len(result["thinking_eval"]["answerers"]), "n_test": n_test}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "xgen")
    args = parser.parse_args()
    report = {}
    for suite in ("micro_math", "micro_gqa"):
        report[f"{suite} (first run)"] = measure(suite, args.n_test, args.out, reuse=False)
        measure(suite, args.n_test, args.out, reuse=True)  # makes sure the baseline is cached
        report[f"{suite} (later runs)"] = measure(suite, args.n_test, args.out, reuse=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
