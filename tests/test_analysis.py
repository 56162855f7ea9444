"""Tests of the offline analysis on synthetic sweep folders (no harness, no network, seconds)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.collect import load_runs, tidy_metrics
from analysis.report import analyze
from analysis.stats import budgets_matched, diff_ci, mean_ci, t_quantile

T_975_2 = 4.302652729911275
SUITE = "micro_math"
TRAINING = {"sft": 10, "rl": 10, "start": 10}
ACC = {"base": [0.2, 0.4, 0.6], "sft": [0.3, 0.5, 0.4], "rl": [0.5, 0.6, 0.7], "start": [0.6, 0.6, 0.8]}


def write_run(sweep: Path, method: str, seed: int, data: str = SUITE, status: str = "ok", acc: float = 0.5,
              error: str | None = None, **budget) -> Path:
    """Write one run folder with a results.json shaped like the harness writes it."""
    folder = sweep / f"data={data},method={method},seed={seed}"
    folder.mkdir(parents=True)
    steps = TRAINING.get(method, 0)
    budget = {"base_checkpoint_hash": "b0", "prompt_ids_hash": "p0" if steps else "", "optimizer_steps": steps,
              "completions_sampled": 40 if method in ("rl", "start") else 0, "tokens_generated": 100 * steps,
              "wall_time_s": 1.5} | budget
    metrics = {f"{data}/acc": acc, f"{data}/nothink_acc": acc / 2, f"{data}/thinking_gain": acc / 2,
               f"{data}/independence_rate": 0.1 + seed / 10, f"{data}/think_tokens": 12.0 + seed}
    result = {"status": status, "method": method, "data": data, "algo": "dapo", "seed": seed, "model": "micro",
              "sweep": "test", "config_hash": "c", "checkpoint": "ckpt", "error": error, "versions": {},
              "git_commit": "x", "budget": budget, "metrics": metrics if status == "ok" else {}}
    (folder / "results.json").write_text(json.dumps(result), encoding="utf-8")
    return folder


def full_sweep(sweep: Path, suites: tuple[str, ...] = (SUITE,)) -> Path:
    for data in suites:
        for method, accs in ACC.items():
            for seed, acc in enumerate(accs):
                write_run(sweep, method, seed, data=data, acc=acc)
    return sweep


def test_t_quantile_and_mean_ci_hand_computed():
    assert t_quantile(0.95, 2) == pytest.approx(T_975_2, rel=1e-9)
    assert t_quantile(0.95, 1) == pytest.approx(12.706204736174704, rel=1e-9)
    mean, lo, hi, n = mean_ci([0.2, 0.4, 0.6])
    half = T_975_2 * 0.2 / math.sqrt(3)
    assert (mean, n) == (pytest.approx(0.4), 3)
    assert lo < 0.4 < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=1e-9)


def test_mean_ci_single_and_empty():
    assert tuple(mean_ci([0.7])) == (0.7, 0.7, 0.7, 1)
    assert mean_ci([math.nan]).n == 0
    assert tuple(diff_ci([0.5, 0.5], [0.2, 0.2])) == pytest.approx((0.3, 0.3, 0.3, 2))


def test_load_runs_and_tidy(tmp_path):
    sweep = full_sweep(tmp_path / "sweep")
    (sweep / "empty_folder").mkdir()
    (sweep / "broken").mkdir()
    (sweep / "broken" / "results.json").write_text("{not json", encoding="utf-8")
    runs = load_runs(sweep)
    assert len(runs) == 12
    assert {"budget.optimizer_steps", f"{SUITE}/acc"} <= set(runs.columns)
    assert sorted(name for name, _ in runs.attrs["skipped"]) == ["broken", "empty_folder"]
    tidy = tidy_metrics(runs)
    assert list(tidy.columns) == ["run", "method", "data", "seed", "suite", "metric", "value"]
    assert set(tidy["metric"]) == {"acc", "nothink_acc", "thinking_gain", "independence_rate", "think_tokens"}


def test_tables_written_and_deterministic(tmp_path):
    sweep = full_sweep(tmp_path / "sweep", suites=(SUITE, "micro_gqa"))
    out = analyze(sweep)
    assert out == sweep / "analysis"
    names = ["comparison.md", "comparison.csv", "budget.md", "budget.csv", "status.md", "matching.md"]
    first = {n: (out / n).read_bytes() for n in names}
    analyze(sweep)
    assert {n: (out / n).read_bytes() for n in names} == first
    table = pd.read_csv(out / "comparison.csv")
    base_acc = table[(table.suite == SUITE) & (table.method == "base") & (table.metric == "acc")].iloc[0]
    assert base_acc["mean"] == pytest.approx(0.4, abs=1e-6)
    assert base_acc["ci_hi"] - base_acc["ci_lo"] == pytest.approx(2 * T_975_2 * 0.2 / math.sqrt(3), abs=1e-5)
    assert list(dict.fromkeys(table[table.suite == SUITE].method)) == ["base", "sft", "rl", "start"]
    delta = table[(table.suite == SUITE) & (table.method == "rl") & (table.metric == "delta_acc_vs_base")]
    assert delta["mean"].iloc[0] == pytest.approx(0.2, abs=1e-6)
    md = (out / "comparison.md").read_text(encoding="utf-8")
    assert "0.400 ± 0.497 (n=3)" in md and "Δ acc vs base" in md and "NOT MATCHED" not in md
    assert "MATCHED" in (out / "matching.md").read_text(encoding="utf-8")
    budget = pd.read_csv(out / "budget.csv")
    assert budget[(budget.suite == SUITE) & (budget.method == "rl")]["optimizer_steps"].iloc[0] == 10


def test_failed_run_listed_and_excluded(tmp_path):
    sweep = full_sweep(tmp_path / "sweep")
    write_run(sweep, "rl", 3, status="failed", error="RuntimeError: CUDA out of memory")
    write_run(sweep, "start", 3, status="running")
    out = analyze(sweep)
    status = (out / "status.md").read_text(encoding="utf-8")
    assert "## failed (1)" in status and "RuntimeError: CUDA out of memory" in status
    assert "## running (1)" in status and "method start, data micro_math, seed 3" in status
    table = pd.read_csv(out / "comparison.csv")
    rl_acc = table[(table.method == "rl") & (table.metric == "acc")].iloc[0]
    assert rl_acc["n"] == 3 and rl_acc["mean"] == pytest.approx(0.6, abs=1e-6)


def test_unmatched_budgets_reported(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in range(2):
        write_run(sweep, "base", seed)
        write_run(sweep, "sft", seed, optimizer_steps=10)
        write_run(sweep, "rl", seed, optimizer_steps=20)
    problems = budgets_matched(load_runs(sweep))
    assert len(problems) == 1 and "optimizer_steps" in problems[0] and "rl seed 0,1" in problems[0]
    out = analyze(sweep)
    assert "## NOT MATCHED" in (out / "matching.md").read_text(encoding="utf-8")
    assert (out / "comparison.md").read_text(encoding="utf-8").count("NOT MATCHED") == 1


def test_other_budget_checks(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep, "base", 0, base_checkpoint_hash="other")
    write_run(sweep, "sft", 0, prompt_ids_hash="p1")
    write_run(sweep, "rl", 0)
    write_run(sweep, "start", 0, completions_sampled=80)
    problems = "\n".join(budgets_matched(load_runs(sweep)))
    assert "base_checkpoint_hash" in problems and "prompt_ids_hash" in problems and "completions_sampled" in problems


def test_zero_ok_runs_does_not_crash(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep, "rl", 0, status="failed", error="ValueError: boom")
    write_run(sweep, "sft", 0, status="running")
    out = analyze(sweep, tmp_path / "out")
    assert "ValueError: boom" in (out / "status.md").read_text(encoding="utf-8")
    assert "No ok runs" in (out / "summary.md").read_text(encoding="utf-8")
    assert not (out / "comparison.csv").exists()
    (tmp_path / "empty").mkdir()
    assert "0 run folders" in (analyze(tmp_path / "empty") / "status.md").read_text(encoding="utf-8")


def test_figures_exist_and_are_deterministic(tmp_path):
    sweep = full_sweep(tmp_path / "sweep", suites=(SUITE, "micro_gqa"))
    out = analyze(sweep)
    first = {name: (out / name).read_bytes() for name in ("shortcut.png", "shortcut.pdf")}
    assert all(first.values())
    assert first["shortcut.png"][:4] == b"\x89PNG" and first["shortcut.pdf"][:5] == b"%PDF-"
    analyze(sweep)
    assert {name: (out / name).read_bytes() for name in first} == first


def test_cli(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err
    sweep = full_sweep(tmp_path / "sweep")
    assert main([str(sweep), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "out") in printed and "| suite | method | acc |" in printed


def test_cli_module_exit_code(tmp_path):
    done = subprocess.run([sys.executable, "-m", "analysis", str(tmp_path / "missing")], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 2 and "not found" in done.stderr
