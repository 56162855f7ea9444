"""Tests of the offline analysis on synthetic sweep folders (no harness run, no network, seconds).

The helpers here write run folders shaped like the harness writes them: results.json (metrics are
``aggregate`` of the per-item records, as in a real run), samples.jsonl, curve.jsonl and
.hydra/overrides.yaml. tests/test_analysis_stats.py and tests/test_analysis_outputs.py use them too.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.__main__ import main
from analysis.collect import load_runs
from analysis.estimate import ITEMS_SEEDS
from analysis.report import analyze
from analysis.stats import budgets_matched, mean_ci, t_quantile
from analysis.wandb_log import read_table
from harness.evaluation.metrics import aggregate, item_flags, lam_key
from harness.methods import METHODS

T_975_2 = 4.302652729911275
SUITE, GQA = "micro_math", "micro_gqa"
TRAINING = {"sft": 10, "rl": 10, "start": 10}
ACC = {"base": [0.2, 0.4, 0.6], "sft": [0.3, 0.5, 0.4], "rl": [0.5, 0.6, 0.7], "start": [0.6, 0.6, 0.8]}
ANSWERERS, LADDER = ("weak", "mid", "strong", "reader"), ("weak", "mid", "strong")
LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)
THINKING_EVAL = {"answerers": list(ANSWERERS), "ladder": list(LADDER), "lambdas": list(LAMBDAS)}


def synth_records(seed: int, n_items: int, acc: float, nothink: float = 0.2, quality: float = 0.8,
                  suite: str = GQA, xgen: bool = True, item_p: np.ndarray | None = None) -> list[dict]:
    """Per-item records of one run: right with probability ``acc`` (or ``item_p + acc - 0.5`` per item), a
    Cross-Generation ladder whose answerers succeed more often the better the thinking (``quality``) and the
    stronger the answerer, and a truncation curve rising from ``nothink`` to ``acc``."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_items):
        p = acc if item_p is None else float(np.clip(item_p[i] + acc - 0.5, 0, 1))
        right = float(rng.random() < p)
        r = {"id": f"{suite}-test-{i}", "gold": f"g{i}", "completion": "<think>t</think><answer>a", "thinking": "t",
             "answer": "a", "think_tokens": int(rng.integers(5, 60)), "acc": right, "reward": right,
             "no_think_close": 0.0, "empty_think": 0.0, "nothink_answer": "n",
             "nothink_acc": float(rng.random() < nothink)}
        if xgen:
            for j, name in enumerate(ANSWERERS):
                capability = 0.4 + 0.2 * j
                r[f"xgen_acc/{name}"] = float(rng.random() < min(1.0, capability * quality + 0.05))
                r[f"xgen_nothink_acc/{name}"] = float(rng.random() < capability * 0.3)
            for lam in LAMBDAS:
                r[f"p_trunc/{lam_key(lam)}"] = float(rng.random() < nothink + lam * (p - nothink))
            r.update(item_flags(r, LADDER))
        records.append(r)
    return records


def write_run(sweep: Path, method: str, seed: int, data: str = SUITE, status: str = "ok", acc: float = 0.5,
              error: str | None = None, records: list[dict] | None = None, overrides: tuple[str, ...] = (),
              curve: list[dict] | None = None, extra_suites: dict[str, list[dict]] | None = None,
              method_info: dict | None = None, shifted: dict[str, str] | None = None, **budget) -> Path:
    """Write one run folder. With ``records``: samples.jsonl, and metrics = aggregate(records) as the harness
    computes them; without: results.json metrics only (a run without per-item records). ``method_info``: what
    the run says of its method (default: the registered method's own Display, as a run writes it); ``shifted``:
    the shifted test splits the run recorded (``thinking_eval.shifted``: split -> the suite it shifts)."""
    name = "__".join([f"data-{data}", f"method-{method}", f"seed-{seed}",
                      *(o.replace("=", "-").replace("/", "_") for o in overrides)])
    folder = sweep / name
    folder.mkdir(parents=True)
    steps = TRAINING.get(method, 0)
    budget = {"base_checkpoint_hash": "b0", "prompt_ids_hash": "p0" if steps else "", "optimizer_steps": steps,
              "completions_sampled": 40 if method in ("rl", "start") else 0, "tokens_generated": 100 * steps,
              "wall_time_s": 1.5} | budget
    info = {}
    if records is not None:
        info = THINKING_EVAL if "shortcut" in records[0] else {}
        metrics = {f"{data}/{k}": v for k, v in aggregate(records, info.get("answerers", ()), info.get("ladder", ()),
                                                          info.get("lambdas", ())).items()}
        samples = list(records)
        for suite, recs in (extra_suites or {}).items():
            ev = THINKING_EVAL if "shortcut" in recs[0] else {}
            metrics |= {f"{suite}/{k}": v for k, v in aggregate(recs, ev.get("answerers", ()), ev.get("ladder", ()),
                                                                 ev.get("lambdas", ())).items()}
            samples += [r | {"suite": suite} for r in recs]
        (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in samples), encoding="utf-8")
    else:
        metrics = {f"{data}/acc": acc, f"{data}/nothink_acc": acc / 2, f"{data}/thinking_gain": acc / 2,
                   f"{data}/independence_rate": 0.1 + seed / 10, f"{data}/think_tokens": 12.0 + seed}
    result = {"status": status, "method": method, "data": data, "algo": "dapo", "seed": seed, "model": "micro",
              "sweep": "test", "config_hash": "c", "checkpoint": "ckpt", "error": error, "versions": {},
              "git_commit": "x", "budget": budget, "metrics": metrics if status == "ok" else {},
              "thinking_eval": info | ({"shifted": shifted} if shifted else {}),
              "method_info": method_info if method_info is not None else dataclasses.asdict(METHODS[method].display)}
    (folder / "results.json").write_text(json.dumps(result), encoding="utf-8")
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in (f"method={method}", f"data={data}", f"seed={seed}", "+sweep=test", *overrides)),
        encoding="utf-8")
    if curve is not None:
        (folder / "curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in curve), encoding="utf-8")
    return folder


def full_sweep(sweep: Path, suites: tuple[str, ...] = (SUITE,)) -> Path:
    """4 methods × suites × 3 seeds with results.json metrics only (no per-item records)."""
    for data in suites:
        for method, accs in ACC.items():
            for seed, acc in enumerate(accs):
                write_run(sweep, method, seed, data=data, acc=acc)
    return sweep


def item_sweep(sweep: Path, suites: tuple[str, ...] = (GQA,), n_items: int = 40, xgen: bool = True,
               seeds: tuple[int, ...] = (0, 1, 2)) -> Path:
    """4 methods × suites × seeds with per-item records (Cross-Generation and truncation when ``xgen``) and curves."""
    quality = {"base": 0.5, "sft": 0.6, "rl": 0.6, "start": 0.9}
    for data in suites:
        for m, (method, accs) in enumerate(ACC.items()):
            for seed in seeds:
                acc = accs[seed % len(accs)]
                curve = None if method == "base" else [
                    {"step": s, "loss": 1.0 / s, **({"reward": acc * s / 4, "suite/acc": acc * s / 4,
                                                      "completions/mean_length": 20.0 + s} if method != "sft" else {})}
                    for s in range(1, 5)]
                write_run(sweep, method, seed, data=data, curve=curve,
                          records=synth_records(100 * m + seed, n_items, acc, quality=quality[method], suite=data,
                                                xgen=xgen))
    return sweep


def test_t_quantile_and_mean_ci_hand_computed():
    assert t_quantile(0.95, 2) == pytest.approx(T_975_2, rel=1e-9)
    assert t_quantile(0.95, 1) == pytest.approx(12.706204736174704, rel=1e-9)
    mean, lo, hi, n = mean_ci([0.2, 0.4, 0.6])
    assert (mean, n) == (pytest.approx(0.4), 3)
    assert (hi - lo) / 2 == pytest.approx(T_975_2 * 0.2 / math.sqrt(3), rel=1e-9)


def test_mean_ci_single_and_empty():
    assert tuple(mean_ci([0.7])) == (0.7, 0.7, 0.7, 1)
    assert mean_ci([math.nan]).n == 0


def test_load_runs(tmp_path):
    sweep = full_sweep(tmp_path / "sweep")
    (sweep / "empty_folder").mkdir()
    (sweep / "broken").mkdir()
    (sweep / "broken" / "results.json").write_text("{not json", encoding="utf-8")
    runs = load_runs(sweep)
    assert len(runs) == 12
    assert {"budget.optimizer_steps", f"{SUITE}/acc"} <= set(runs.columns)
    assert sorted(name for name, _ in runs.attrs["skipped"]) == ["broken", "empty_folder"]
    assert set(runs["setting"]) == {""} and set(runs["label"]) == set(ACC)  # nothing but method/data/seed varies
    assert runs.loc[runs["method"] == "rl", f"{SUITE}/acc"].tolist() == ACC["rl"]


def test_runs_grouped_by_swept_overrides_not_pooled(tmp_path):
    """A sweep over shortcut_p and START's stage 2: settings and method variants are kept apart."""
    sweep = tmp_path / "sweep"
    for p, acc in (("0.2", 0.3), ("0.8", 0.7)):
        for seed in (0, 1):
            common = (f"data.params.shortcut_p={p}", "cache_dir=/same", "threads=1",
                      *(["reuse=if_config_matches"] if seed else []))  # (relaunched so: not a setting)
            write_run(sweep, "base", seed, data=GQA, overrides=common, records=synth_records(seed, 40, acc / 2))
            write_run(sweep, "rl", seed, data=GQA, overrides=common, records=synth_records(10 + seed, 40, acc))
            for stage2 in ("full", "answer"):
                write_run(sweep, "start", seed, data=GQA, overrides=(*common, f"method.stage2={stage2}"),
                          records=synth_records(20 + seed, 40, acc))
    runs = load_runs(sweep)
    assert set(runs["setting"]) == {"data.params.shortcut_p=0.2", "data.params.shortcut_p=0.8"}
    assert set(runs["label"]) == {"base[method.stage2=<default>]", "rl[method.stage2=<default>]",
                                  "start[method.stage2=full]", "start[method.stage2=answer]"}
    out = analyze(sweep)
    table = read_table(out / "comparison.csv")
    acc = table[table.metric == "acc"]
    assert len(acc) == 8  # 2 settings × (base, rl, 2 start variants), nothing pooled
    for setting, expected in (("data.params.shortcut_p=0.2", 0.3), ("data.params.shortcut_p=0.8", 0.7)):
        rl = acc[(acc.setting == setting) & (acc.method == "rl[method.stage2=<default>]")]
        assert rl["mean"].iloc[0] == pytest.approx(expected, abs=0.12) and rl["n_seeds"].iloc[0] == 2
    paired = read_table(out / "paired.csv")
    start_rl = paired[(paired.question == "START vs RL on GQA") & (paired.metric == "acc")]
    assert len(start_rl) == 4 and set(start_rl.setting) == {"data.params.shortcut_p=0.2", "data.params.shortcut_p=0.8"}
    assert "data.params.shortcut_p=0.8" in (out / "comparison.md").read_text(encoding="utf-8")
    assert "shortcut_p" in (out / "budget.md").read_text(encoding="utf-8")


def test_order_style_and_role_of_a_method_come_from_its_runs(tmp_path):
    """A method the analysis has never heard of ("grpo2", declaring the role of START) is ordered, drawn and
    compared as its runs declare; a run from before method_info was recorded plays the role of its name."""
    sweep = tmp_path / "sweep"
    declared = {"order": 1.5, "colour": "#CC79A7", "marker": "v", "line": "--", "role": "start"}
    for seed in (0, 1):
        write_run(sweep, "base", seed, data=GQA, records=synth_records(seed, 40, 0.4))
        write_run(sweep, "rl", seed, data=GQA, records=synth_records(10 + seed, 40, 0.5), method_info={})
        write_run(sweep, "grpo2", seed, data=GQA, records=synth_records(20 + seed, 40, 0.6), method_info=declared)
    out = analyze(sweep)
    table = read_table(out / "comparison.csv")
    assert list(dict.fromkeys(table.method)) == ["base", "grpo2", "rl"]  # orders 0 and 1.5, then undeclared
    paired = read_table(out / "paired.csv")
    start_rl = paired[(paired.question == "START vs RL on GQA") & (paired.metric == "acc")]
    assert (start_rl.a.tolist(), start_rl.b.tolist()) == (["grpo2"], ["rl"])
    runs = load_runs(sweep)
    from analysis.collect import methods_of
    from analysis.figures import style_map

    methods = methods_of(runs)
    assert style_map(["grpo2"], methods)["grpo2"] == ("#CC79A7", "v", "--") and methods.role("rl") == "rl"


def test_tables_from_items(tmp_path):
    sweep = item_sweep(tmp_path / "sweep")
    out = analyze(sweep)
    table = read_table(out / "comparison.csv")
    runs = load_runs(sweep)
    for method in ACC:
        row = table[(table.method == method) & (table.metric == "acc")].iloc[0]
        recorded = runs.loc[runs.method == method, f"{GQA}/acc"].mean()
        assert row["mean"] == pytest.approx(recorded, abs=1e-6)  # point = mean over seeds of the runs' own value
        assert row["ci_lo"] <= row["mean"] <= row["ci_hi"] and row["ci_method"] == ITEMS_SEEDS
        assert (row["n_seeds"], row["n_items"]) == (3, 40)
    assert list(dict.fromkeys(table.method)) == ["base", "sft", "rl", "start"]
    rl = table[(table.method == "rl") & (table.metric == "shortcut_rate")].iloc[0]
    base = table[(table.method == "base") & (table.metric == "shortcut_rate")].iloc[0]
    assert rl["delta_vs_base"] == pytest.approx(rl["mean"] - base["mean"], abs=1e-6)
    assert rl["delta_lo"] <= rl["delta_vs_base"] <= rl["delta_hi"] and 0 < rl["delta_p"] <= 1
    assert {"xgen_gain/weak", "p_trunc/0.25", "xgen_score", "trace", "thinking_sufficient"} <= set(table.metric)
    md = (out / "comparison.md").read_text(encoding="utf-8")
    assert "| method | seeds | items | acc |" in md and "Δ vs base" in md and "NOT MATCHED" not in md
    assert "\\begin{tabular}" in (out / "comparison.tex").read_text(encoding="utf-8")
    budget = read_table(out / "budget.csv")
    assert budget[budget.method == "rl"]["optimizer_steps"].iloc[0] == 10
    assert "MATCHED: 12 ok runs" in (out / "matching.md").read_text(encoding="utf-8")


def test_runs_without_samples_fall_back_to_t_over_seeds(tmp_path):
    out = analyze(full_sweep(tmp_path / "sweep"))
    table = read_table(out / "comparison.csv")
    base_acc = table[(table.method == "base") & (table.metric == "acc")].iloc[0]
    assert base_acc["mean"] == pytest.approx(0.4, abs=1e-6) and base_acc["ci_method"].startswith("t over seeds")
    assert base_acc["ci_hi"] - base_acc["mean"] == pytest.approx(T_975_2 * 0.2 / math.sqrt(3), abs=1e-5)
    assert base_acc["ci_lo"] == 0  # 0.4 − 0.497, clipped to the values an accuracy can take
    delta = table[(table.method == "rl") & (table.metric == "acc")].iloc[0]
    assert delta["delta_vs_base"] == pytest.approx(0.2, abs=1e-6)
    assert "0.400 [0.000, 0.897]†" in (out / "comparison.md").read_text(encoding="utf-8")


def test_partial_sweep_failed_running_and_missing_runs(tmp_path):
    sweep = item_sweep(tmp_path / "sweep", seeds=(0, 1))
    write_run(sweep, "rl", 3, data=GQA, status="failed", error="RuntimeError: CUDA out of memory")
    write_run(sweep, "start", 3, data=GQA, status="running")
    for folder in sweep.glob("*method-sft__seed-1*"):
        payload = json.loads((folder / "results.json").read_text())
        (folder / "results.json").write_text(json.dumps(payload | {"status": "failed", "error": "boom"}))
    out = analyze(sweep)
    status = (out / "status.md").read_text(encoding="utf-8")
    assert "## failed (2)" in status and "RuntimeError: CUDA out of memory" in status
    assert "## running (1)" in status and "method start, data micro_gqa, seed 3" in status
    assert "method sft, data micro_gqa, seed 1" in status.split("missing from the numbers")[1]
    table = read_table(out / "comparison.csv")
    rl_acc = table[(table.method == "rl") & (table.metric == "acc")].iloc[0]
    assert rl_acc["n_seeds"] == 2
    sft_acc = table[(table.method == "sft") & (table.metric == "acc")].iloc[0]
    assert sft_acc["n_seeds"] == 1 and sft_acc["ci_lo"] < sft_acc["ci_hi"]  # one seed: items still give a CI
    paired = read_table(out / "paired.csv")
    rl_sft = paired[(paired.question == "RL vs SFT") & (paired.metric == "acc")].iloc[0]
    assert rl_sft["pairing"] == "items" and (rl_sft["seeds_a"], rl_sft["seeds_b"]) == (2, 1)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {f["name"]: f["status"] for f in manifest["figures"]} == dict.fromkeys(
        ("forest", "xgen", "shortcut", "truncation", "curves"), "drawn")


def test_unmatched_budgets_are_refused_not_compared(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in range(2):
        write_run(sweep, "base", seed, data=GQA, records=synth_records(seed, 40, 0.3))
        write_run(sweep, "sft", seed, data=GQA, optimizer_steps=10, records=synth_records(10 + seed, 40, 0.5))
        write_run(sweep, "rl", seed, data=GQA, optimizer_steps=20, records=synth_records(20 + seed, 40, 0.7))
        write_run(sweep, "start", seed, data=GQA, optimizer_steps=20, base_checkpoint_hash="other",
                  records=synth_records(30 + seed, 40, 0.7))
    problems = budgets_matched(load_runs(sweep))
    assert any("optimizer_steps" in p and "rl seed 0,1" in p for p in problems)
    out = analyze(sweep)
    assert "## NOT MATCHED" in (out / "matching.md").read_text(encoding="utf-8")
    paired = read_table(out / "paired.csv")
    refused = paired[paired.question.isin(["RL vs SFT", "START vs RL on GQA"])]
    assert len(refused) == 2 and refused.status.str.startswith("NOT MATCHED").all()
    assert refused.delta.isna().all() and refused.p.isna().all()  # no number for an unmatched pair
    assert "optimizer_steps" in refused.status.iloc[1] and "base_checkpoint_hash" in refused.status.iloc[0]
    table = read_table(out / "comparison.csv")
    start = table[table.method == "start"]
    assert start.delta_note.str.contains("NOT MATCHED.*base_checkpoint_hash").all() and start.delta_vs_base.isna().all()
    rl = table[(table.method == "rl") & (table.metric == "acc")].iloc[0]
    assert rl["delta_note"] == "" and not math.isnan(rl["delta_vs_base"])  # same checkpoint; base does not train
    assert "NOT MATCHED" in (out / "paired.md").read_text(encoding="utf-8")
    assert (out / "comparison.md").read_text(encoding="utf-8").count("WARNING: budgets NOT MATCHED") == 1


def test_runs_on_different_test_items_are_not_compared(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep, "base", 0, data=GQA, records=synth_records(0, 30, 0.3))
    write_run(sweep, "sft", 0, data=GQA, records=synth_records(1, 40, 0.5))
    write_run(sweep, "rl", 0, data=GQA, records=synth_records(2, 40, 0.6))
    out = analyze(sweep)
    table = read_table(out / "comparison.csv")
    assert table[table.method == "rl"].delta_note.str.contains("NOT MATCHED: evaluated on different test items").all()
    paired = read_table(out / "paired.csv")
    rl_sft = paired[paired.question == "RL vs SFT"]  # same items between these two: compared, paired over items
    assert rl_sft.status.eq("compared").all() and rl_sft.pairing.eq("items+seeds").all()


def test_other_budget_checks(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep, "base", 0, base_checkpoint_hash="other")
    write_run(sweep, "sft", 0, prompt_ids_hash="p1")
    write_run(sweep, "rl", 0)
    write_run(sweep, "start", 0, completions_sampled=80)
    problems = "\n".join(budgets_matched(load_runs(sweep)))
    assert "base_checkpoint_hash" in problems and "prompt_ids_hash" in problems and "completions_sampled" in problems


def test_results_json_that_samples_do_not_reproduce_is_reported(tmp_path):
    sweep = item_sweep(tmp_path / "sweep", n_items=30, xgen=False, seeds=(0,))
    folder = next(sweep.glob("*method-rl*"))
    payload = json.loads((folder / "results.json").read_text())
    payload["metrics"][f"{GQA}/acc"] += 0.25
    (folder / "results.json").write_text(json.dumps(payload))
    out = analyze(sweep)
    status = (out / "status.md").read_text(encoding="utf-8")
    assert "results.json disagrees with samples.jsonl (1)" in status and f"{GQA}/acc" in status
    assert "disagree with their samples.jsonl" in (out / "report.md").read_text(encoding="utf-8")


def test_transfer_question_with_runs_evaluated_on_several_suites(tmp_path):
    """RLVR's transfer: rl trained on micro_math and also evaluated on micro_gqa, vs base and vs rl on micro_gqa."""
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(sweep, "base", seed, data=GQA, records=synth_records(seed, 60, 0.3))
        write_run(sweep, "rl", seed, data=GQA, records=synth_records(10 + seed, 60, 0.8))
        write_run(sweep, "rl", seed, data=SUITE, records=synth_records(20 + seed, 60, 0.9, suite=SUITE),
                  extra_suites={GQA: synth_records(30 + seed, 60, 0.4)})
    out = analyze(sweep)
    paired = read_table(out / "paired.csv")
    transfer = paired[paired.question.str.startswith("RLVR transfer") & (paired.metric == "acc")]
    assert list(transfer.status) == ["compared", "compared"] and set(transfer.suite) == {GQA}
    assert list(transfer.a) == ["rl (data=micro_math)"] * 2 and list(transfer.b) == ["base", "rl"]
    # trained on other data than base and than rl on GQA: no shared randomness, so paired by items only
    assert transfer.pairing.tolist() == ["items"] * 2
    vs_rl = transfer.iloc[1]
    assert vs_rl["delta"] < 0 and vs_rl["ci_hi"] < 0  # direct RL on GQA beats the transferred RLVR here
    table = read_table(out / "comparison.csv")
    assert set(table[table.suite == GQA].trained_on) == {GQA, SUITE}


def test_zero_ok_runs_does_not_crash(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep, "rl", 0, status="failed", error="ValueError: boom")
    write_run(sweep, "sft", 0, status="running")
    out = analyze(sweep, tmp_path / "out")
    assert "ValueError: boom" in (out / "status.md").read_text(encoding="utf-8")
    assert "No ok runs" in (out / "summary.md").read_text(encoding="utf-8")
    assert "No ok runs" in (out / "report.md").read_text(encoding="utf-8")
    assert not (out / "comparison.csv").exists()
    (tmp_path / "empty").mkdir()
    assert "0 run folders" in (analyze(tmp_path / "empty") / "status.md").read_text(encoding="utf-8")


def test_cli(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err
    sweep = full_sweep(tmp_path / "sweep")
    assert main([str(sweep), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "out") in printed and "| suite | method | seeds | acc | Δ acc vs base |" in printed
    with pytest.raises(SystemExit):
        main([str(sweep), "--kind", "micro_math=physics"])


def test_cli_module_exit_code(tmp_path):
    done = subprocess.run([sys.executable, "-m", "analysis", str(tmp_path / "missing")], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 2 and "not found" in done.stderr
