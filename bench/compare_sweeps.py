"""Do two sweeps give the same numbers? Compares every metric of every run, bitwise.

    python bench/compare_sweeps.py <sweep before> <sweep after> [--rename hedge_rate=hedged]

For every run folder present in either sweep: the status, every ``results.json`` metric (exact float
equality), the budget counters (not wall time), every per-item field of ``samples.jsonl`` (numbers
and texts) and every logged value of ``curve.jsonl`` but timings. ``--rename OLD=NEW`` maps a per-item column of
``samples.jsonl`` renamed between the two (compared under the new name). Prints the differences and a
summary; exits 1 if anything differs. Made to prove that a refactor changed no number.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TIMINGS = ("step_time", "train_runtime", "train_samples_per_second", "train_steps_per_second")
BUDGET = ("base_checkpoint_hash", "prompt_ids_hash", "optimizer_steps", "completions_sampled", "tokens_generated")


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.exists() else []


def renamed(row: dict, renames: dict[str, str]) -> dict:
    out = {}
    for key, value in row.items():
        for old, new in renames.items():
            if key == old or key.endswith(f"/{old}"):
                key = key[: len(key) - len(old)] + new
        out[key] = value
    return out


def untimed(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMINGS}


def compare_run(a: Path, b: Path, renames: dict[str, str]) -> tuple[list[str], int]:
    problems, compared = [], 0
    ra, rb = json.loads((a / "results.json").read_text()), json.loads((b / "results.json").read_text())
    if ra["status"] != rb["status"]:
        problems.append(f"status {ra['status']} vs {rb['status']}")
    for key in sorted(set(ra["metrics"]) | set(rb["metrics"])):
        compared += 1
        if ra["metrics"].get(key) != rb["metrics"].get(key):
            problems.append(f"metric {key}: {ra['metrics'].get(key)!r} vs {rb['metrics'].get(key)!r}")
    for key in BUDGET:
        if ra["budget"].get(key) != rb["budget"].get(key):
            problems.append(f"budget {key}: {ra['budget'].get(key)!r} vs {rb['budget'].get(key)!r}")
    for name in ("samples.jsonl", "curve.jsonl"):
        rows_a = [untimed(renamed(r, renames) if name == "samples.jsonl" else r) for r in jsonl(a / name)]
        rows_b = [untimed(r) for r in jsonl(b / name)]
        if len(rows_a) != len(rows_b):
            problems.append(f"{name}: {len(rows_a)} vs {len(rows_b)} rows")
            continue
        for i, (x, y) in enumerate(zip(rows_a, rows_b, strict=True)):
            compared += len(x)
            if x != y:
                diff = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
                problems.append(f"{name} row {i}: {diff[:5]}{' ...' if len(diff) > 5 else ''}")
    return problems, compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rename", action="append", default=[], metavar="OLD=NEW")
    args = parser.parse_args(argv)
    renames = dict(r.split("=", 1) for r in args.rename)
    runs = sorted({p.parent.name for sweep in (args.before, args.after) for p in sweep.glob("*/results.json")})
    differing, total = 0, 0
    for run in runs:
        a, b = args.before / run, args.after / run
        if not (a / "results.json").exists() or not (b / "results.json").exists():
            print(f"{run}: only in {'the second' if not (a / 'results.json').exists() else 'the first'} sweep")
            differing += 1
            continue
        problems, compared = compare_run(a, b, renames)
        total += compared
        if problems:
            differing += 1
            print(f"{run}:\n" + "".join(f"  {p}\n" for p in problems[:20]), end="")
    print(f"{len(runs)} runs, {total} numbers compared: "
          + ("all identical" if not differing else f"{differing} runs differ"))
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
