"""End to end through ``python -m harness``: the smoke sweep, resume-by-skip, the lm_eval command
and determinism (on a budget where RL rewards spread, so the weights move and the comparison can fail).
(The invariance "start with stage1_frac=0, stage2=full ≡ rl" is in test_start_mask.py, where a varying
reward guarantees the weights move.)"""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest
from transformers import AutoModelForCausalLM

from harness.results import hash_checkpoint, read_json
from harness.validate import validate
from tests.conftest import ROOT, SPREAD, TINY, compose_cfg, run_harness


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory, cache_dir, tiny_base):
    sweep_dir = tmp_path_factory.mktemp("smoke")
    proc = run_harness(["+sweep=smoke", f"hydra.sweep.dir={sweep_dir}", f"cache_dir={cache_dir}"])
    return sweep_dir, proc


def test_smoke_sweep_writes_every_run_and_the_analysis(smoke_sweep):
    sweep_dir, proc = smoke_sweep
    results = {r["method"]: r for r in (read_json(p) for p in sweep_dir.glob("*/results.json"))}
    assert sorted(results) == ["base", "rl", "sft", "start"]
    assert all(r["status"] == "ok" for r in results.values()), proc.stdout[-2000:]
    for r in results.values():
        assert {"micro_math/acc", "micro_math/nothink_acc", "micro_math/thinking_gain", "micro_math/think_tokens",
                "micro_math/no_think_close", "micro_math/empty_think", "micro_math/xgen_score",
                "micro_math/shortcut_rate", "micro_math/trace", "micro_math/xgen_gain/micro-late",
                "micro_math/p_trunc/0.5", "micro_gqa/acc", "micro_gqa/xgen_score",
                # interventions on every suite, and micro_gqa's shifted split beside it (issue 14)
                "micro_math/corrupt_follow", "micro_math/filler_acc", "micro_math/placebo_gain/micro-late",
                "micro_gqa/corrupt_follow", "micro_gqa/right_wrong_reason", "micro_gqa/xgen_score_over_placebo",
                "micro_gqa_ood/acc", "micro_gqa_ood/answer_follows", "micro_gqa_ood/corrupt_follow",
                "micro_gqa_ood/mode_careful"} <= set(r["metrics"])
        assert r["thinking_eval"]["shifted"] == {"micro_gqa_ood": "micro_gqa"}
        assert r["versions"]["trl"] == "1.16.0" and r["git_commit"]
    budgets = {m: r["budget"] for m, r in results.items()}
    assert len({b["base_checkpoint_hash"] for b in budgets.values()}) == 1
    trained = [budgets[m] for m in ("sft", "rl", "start")]
    assert {b["optimizer_steps"] for b in trained} == {2} and len({b["prompt_ids_hash"] for b in trained}) == 1
    assert budgets["rl"]["completions_sampled"] == budgets["start"]["completions_sampled"] == 8
    assert budgets["rl"]["tokens_generated"] > 0 and budgets["base"]["optimizer_steps"] == 0
    for m in ("sft", "rl", "start"):  # a policy the run trained is never served from the call cache
        assert results[m]["thinking_eval"]["reused_evaluations"] == {"micro_math": [], "micro_gqa": [],
                                                                    "micro_gqa_ood": []}
    for name in ("comparison.md", "comparison.csv", "shortcut.png", "shortcut.pdf", "status.md"):
        assert (sweep_dir / "analysis" / name).stat().st_size > 0
    assert "done 4" in proc.stdout  # sweep progress lines
    run = next(p.parent for p in sweep_dir.glob("*method-rl*/results.json"))
    AutoModelForCausalLM.from_pretrained(run / "checkpoint")  # stock transformers loads it
    assert list((run / "wandb").glob("offline-run-*"))  # W&B offline, nothing touched the network
    assert (run / "curve.jsonl").read_text().count("\n") == 2


def test_relaunch_skips_finished_runs(smoke_sweep, cache_dir):
    sweep_dir, _ = smoke_sweep
    before = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/results.json")}
    proc = run_harness(["+sweep=smoke", f"hydra.sweep.dir={sweep_dir}", f"cache_dir={cache_dir}"])
    assert proc.stdout.count("skip ") == 4
    assert before == {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/results.json")}


def test_lm_eval_command_reproduces_recorded_scores(smoke_sweep, tmp_path):
    sweep_dir, _ = smoke_sweep
    run = next(p.parent for p in sweep_dir.glob("*method-sft*/results.json"))
    calls = dict(c.split("\n", 1) for c in (run / "lm_eval_command.txt").read_text().split("# ") if c)
    assert set(calls) == {f"{suite}-{c}" for suite in ("micro_math", "micro_gqa")  # micro_gqa: transfer
                          for c in ("policy", "policy-truncation", "policy-interventions", "xgen-micro-early",
                                    "xgen-micro-mid", "xgen-micro-late", "xgen-reader")} | \
        {"micro_gqa_ood-policy", "micro_gqa_ood-policy-interventions"}  # the shifted split: fewer probes
    cmd = shlex.split(calls["micro_math-policy"])
    out_idx = cmd.index("--output_path") + 1
    cmd[out_idx] = str(tmp_path / "cli")
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, timeout=600)
    cli = json.loads(next((tmp_path / "cli").rglob("results_*.json")).read_text())["results"]
    recorded = read_json(run / "results.json")["metrics"]
    assert cli["micro_math"]["acc,none"] == recorded["micro_math/acc"]
    assert cli["micro_math_nothink"]["acc,none"] == recorded["micro_math/nothink_acc"]


def single_run(tmp_path, cache_dir, name: str, *overrides: str, budget: list[str] = TINY) -> dict:
    run_dir = tmp_path / name
    run_harness([*budget, f"cache_dir={cache_dir}", f"hydra.run.dir={run_dir}", *overrides])
    result = read_json(run_dir / "results.json")
    result["weights"] = hash_checkpoint(run_dir / "checkpoint")
    curve = run_dir / "curve.jsonl"
    result["curve"] = [{k: v for k, v in json.loads(line).items() if k != "step_time"}
                       for line in curve.read_text().splitlines()]
    return result


@pytest.mark.parametrize("method", ["sft", "rl", "start"])
def test_same_config_and_seed_give_identical_numbers_and_weights(tmp_path, cache_dir, spread_base, method):
    # START: stage 1 (thinking tokens only) for steps 1-2, the whole completion for steps 3-4
    a = single_run(tmp_path, cache_dir, "a", f"method={method}", budget=SPREAD)
    b = single_run(tmp_path, cache_dir, "b", f"method={method}", budget=SPREAD)
    assert a["metrics"] == b["metrics"] and a["weights"] == b["weights"] and a["curve"] == b["curve"]
    assert a["budget"]["tokens_generated"] == b["budget"]["tokens_generated"]
    # not vacuous: training moved the weights, and RL/START had a gradient (reward spread) in every stage
    assert a["weights"] != hash_checkpoint(spread_base)
    if method != "sft":
        assert any(row["frac_reward_zero_std"] < 1 and row["grad_norm"] > 0 for row in a["curve"][:2])
        assert any(row["frac_reward_zero_std"] < 1 and row["grad_norm"] > 0 for row in a["curve"][2:])


def test_gradient_checkpointing_changes_no_number(tmp_path, cache_dir, tiny_base):
    """Config A ≡ config B: recomputing activations (TRL's default, on for hf models) gives the same
    metrics and weights as keeping them (the micro default), so the setting is not in the config hash.
    (For START, whose tiny runs get no reward spread, see test_start_mask.py.)"""
    off = single_run(tmp_path, cache_dir, "off", "method=sft")
    on = single_run(tmp_path, cache_dir, "on", "method=sft", "train.gradient_checkpointing=true")
    assert on["metrics"] == off["metrics"] and on["weights"] == off["weights"] != hash_checkpoint(tiny_base)
    assert on["config_hash"] == off["config_hash"]


def test_gradient_checkpointing_default_is_on_for_hf_models_only(tmp_path):
    from harness.methods.training import TrainContext, training_args

    def resolved(*overrides: str) -> bool:
        cfg = validate(compose_cfg([*TINY, "eval.answerers=[]", *overrides]))
        ctx = TrainContext(cfg=cfg, suite=None, train_items=[], base_path=tmp_path, run_dir=tmp_path, tokenizer=None)
        return training_args(ctx, 2, "train.prompts_per_step")["gradient_checkpointing"]

    assert resolved() is False
    assert resolved("model.kind=hf", "model.path=some/model") is True
    assert resolved("model.kind=hf", "model.path=some/model", "train.gradient_checkpointing=false") is False


def test_any_local_hf_checkpoint_runs_through_the_same_path(tmp_path, cache_dir, tiny_base):
    result = single_run(tmp_path, cache_dir, "hf", "method=sft", "model.kind=hf", f"model.path={tiny_base}",
                        "model.name=local_tiny", f"eval.answerers=[{{name: tiny, kind: hf, path: {tiny_base}}}]")
    assert result["status"] == "ok" and result["model"] == "local_tiny"
    assert result["budget"]["base_checkpoint_hash"] == hash_checkpoint(tiny_base)
    assert "micro_math/acc" in result["metrics"]
