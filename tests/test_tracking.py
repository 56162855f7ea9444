"""The W&B mirror, read back offline: what a run logs equals what its folder holds.

Offline runs are read with W&B's own reader (``wandb leet inspect --json``), no server involved.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import Budget, RunResult
from harness.tracking import Tracker, sample_columns, wandb_run_id
from harness.validate import validate
from tests.conftest import TINY, compose_cfg, run_harness
from tests.standin import DATA


def read_offline_run(wandb_dir: Path) -> dict:
    """An offline W&B run as {run, summary, history, tables}, read from its .wandb log by W&B's reader."""
    (run_dir,) = sorted(Path(wandb_dir).glob("offline-run-*"))
    return read_offline_folder(run_dir)


def read_offline_folder(run_dir: Path) -> dict:
    """One ``offline-run-*`` folder (one attempt) as :func:`read_offline_run` reads it."""
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_dir)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    summary: dict = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"].get("update", {}))
    tables = {key[: -len("._type")]: json.loads((run_dir / "files" / summary[key[: -len("._type")] + ".path"])
                                                .read_text(encoding="utf-8"))
              for key, value in summary.items() if key.endswith("._type") and value == "table-file"}
    return {"run": next(r["run"] for r in records if r["type"] == "run"), "summary": summary, "tables": tables,
            "history": [r["history"]["item"] for r in records if r["type"] == "history"]}


def test_sample_columns_order():
    records = [{"zeta": 1, "acc": 1.0, "id": "a", "xgen_acc/r": 0.0}, {"id": "b", "thinking": "t"}]
    assert sample_columns(records) == ["id", "thinking", "acc", "xgen_acc/r", "zeta"]


def test_offline_run_logs_what_the_run_folder_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = validate(compose_cfg(["logger=wandb_offline", "method=rl", "data=micro_gqa", "seed=2"]))
    curve = [{"step": 1, "reward": 0.25, "loss": 0.5}, {"step": 2, "reward": 0.5, "loss": 0.25}]
    metrics = {"micro_gqa/acc": 0.5, "micro_gqa/xgen_gain/reader": 0.25, "micro_gqa/p_trunc/0.5": 0.75}
    records = [{"id": "q1", "gold": "Oslo", "thinking": "Ann's friend is Bob. Bob is in Oslo.", "answer": "Oslo",
                "acc": 1.0, "xgen_acc/reader": 1.0, "p_trunc/0.5": 1.0, "think_tokens": 35},
               {"id": "q2", "gold": "Rome", "thinking": "", "answer": "Nice", "acc": 0.0, "xgen_acc/reader": 0.0,
                "p_trunc/0.5": 0.5, "think_tokens": 0}]
    result = RunResult(status="ok", method="rl", data="micro_gqa", algo="dapo", seed=2, model="micro", sweep="s",
                       budget=Budget(base_checkpoint_hash="b", prompt_ids_hash="p", optimizer_steps=2,
                                     completions_sampled=16, tokens_generated=99, wall_time_s=1.5), metrics=metrics)
    tracker = Tracker(cfg, tmp_path)
    tracker.log_curve(curve)
    tracker.log_eval(metrics, records)
    tracker.finish(result)
    logged = read_offline_run(tmp_path / "wandb")

    run = logged["run"]
    assert (run["run_group"], run["job_type"]) == (cfg.sweep_name, "rl")
    assert run["tags"] == ["micro_gqa", "dapo", "seed2"]
    summary = logged["summary"]
    assert {k: summary[f"eval/{k}"] for k in metrics} == metrics
    assert {k: summary[f"budget/{k}"] for k in result.budget.to_json()} == result.budget.to_json()
    assert summary["status"] == "ok"
    steps = {h["_step"]: h for h in logged["history"] if "train/reward" in h}
    assert {s: (h["train/reward"], h["train/loss"]) for s, h in steps.items()} == {1: (0.25, 0.5), 2: (0.5, 0.25)}
    table = logged["tables"]["eval/samples"]
    assert table["columns"] == sample_columns(records)
    assert [dict(zip(table["columns"], row, strict=True)) for row in table["data"]] == records


def test_every_attempt_of_a_run_logs_to_one_wandb_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = validate(compose_cfg(["logger=wandb_offline", "method=rl"]))
    ids = []
    for attempt in ("failed", "ok"):  # a failed attempt, then the relaunch that resumes it
        tracker = Tracker(cfg, tmp_path / "run")
        ids.append(tracker.run.id)
        tracker.finish(RunResult(status=attempt, method="rl", data="micro_math", algo="dapo", seed=0, model="m",
                                 sweep="s"))
    assert ids[0] == ids[1] == wandb_run_id(cfg, tmp_path / "run")
    other = validate(compose_cfg(["logger=wandb_offline", "method=rl", "seed=1"]))
    assert len({wandb_run_id(other, tmp_path / "run"), wandb_run_id(cfg, tmp_path / "other"), ids[0]}) == 3
    # a run carried out again because its code changed logs to a new W&B run; learning the base hash does not
    fingerprint = {"config": "c", "code": "a", "base": None, "data": {}, "versions": {}}
    same = wandb_run_id(cfg, tmp_path / "run", fingerprint)
    assert wandb_run_id(cfg, tmp_path / "run", fingerprint | {"base": "w"}) == same
    assert wandb_run_id(cfg, tmp_path / "run", fingerprint | {"code": "b"}) != same


def test_logger_none_logs_nothing(tmp_path):
    cfg = validate(compose_cfg(["logger=none"]))
    tracker = Tracker(cfg, tmp_path)
    tracker.log_eval({"s/acc": 1.0}, [])
    tracker.finish(RunResult(status="ok", method="base", data="micro_math", algo="dapo", seed=0, model="m", sweep="s"))
    assert tracker.run is None and not (tmp_path / "wandb").exists()


def test_a_resumed_attempt_logs_only_steps_not_logged_before(tmp_path, monkeypatch):
    """An interrupted attempt logged steps 1-3 (its last checkpoint was step 2); the resumed attempt
    trains steps 3-5 again: step 3 is not logged twice, and both attempts are one W&B run."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = validate(compose_cfg(["logger=wandb_offline", "method=rl"]))
    result = RunResult(status="failed", method="rl", data="micro_math", algo="dapo", seed=0, model="m", sweep="s")
    first = Tracker(cfg, tmp_path)
    first.log_curve([{"step": s, "reward": s / 10} for s in (1, 2, 3)])
    first.finish(result)
    second = Tracker(cfg, tmp_path)
    assert second.last_step == 3
    second.log_curve([{"step": s, "reward": s / 10} for s in (3, 4, 5)])
    second.finish(dataclasses.replace(result, status="ok"))
    attempts = [read_offline_folder(d) for d in sorted((tmp_path / "wandb").glob("offline-run-*"))]
    assert len(attempts) == 2 and attempts[0]["run"]["run_id"] == attempts[1]["run"]["run_id"]
    steps = [[h["_step"] for h in a["history"] if "train/reward" in h] for a in attempts]
    assert steps == [[1, 2, 3], [4, 5]]


def test_training_curve_streams_to_wandb_while_training(stand_ins, tmp_path):
    """``python -m harness`` (START on a stand-in real model, offline W&B): each step's history row holds
    exactly the values ``curve.jsonl`` holds, TRL's training metrics among them, in the run that also
    holds the evaluation; and the rows were logged during training (the first one before the trained
    checkpoint was saved), not replayed afterwards."""
    run_dir = tmp_path / "run"
    run_harness(["model=qwen3-0.6b", f"model.path={stand_ins['qwen3']}", "data=gsm8k", f"data.path={DATA}",
                 "method=start", "algo.beta=0.04", "train.steps=4", "train.prompts_per_step=2",
                 "train.num_generations=2", "train.max_completion_length=16", "data.n_test=2", "eval.max_gen_toks=16",
                 "eval.truncation=[]", "eval.answerers=[]", "threads=1", "logger=wandb_offline",
                 f"cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run_dir}"])
    curve = [json.loads(line) for line in (run_dir / "curve.jsonl").read_text(encoding="utf-8").splitlines()]
    logged = read_offline_run(run_dir / "wandb")
    history = {h["_step"]: {k: v for k, v in h.items() if k.startswith("train/") or k == "_timestamp"}
               for h in logged["history"] if any(k.startswith("train/") for k in h)}
    assert [row["step"] for row in curve] == sorted(history) == [1, 2, 3, 4]
    for row in curve:
        assert {f"train/{k}": v for k, v in row.items() if k != "step"} == \
            {k: v for k, v in history[row["step"]].items() if k != "_timestamp"}
    for key in ("reward", "suite/acc", "kl", "clip_ratio/region_mean", "completions/mean_length",
                "frac_reward_zero_std", "start/think_only"):
        assert all(f"train/{key}" in history[s] for s in history), key
    assert [history[s]["train/start/think_only"] for s in sorted(history)] == [1.0, 1.0, 0.0, 0.0]
    assert "eval/gsm8k/acc" in logged["summary"] and logged["summary"]["status"] == "ok"  # the same run
    saved = (run_dir / "checkpoint" / "model.safetensors").stat().st_mtime  # (written once training ended)
    assert history[1]["_timestamp"] < saved  # three more training steps came after it (a replay comes after)


@pytest.mark.slow
def test_a_real_run_logs_its_run_folder(tmp_path, cache_dir, tiny_base):
    """``python -m harness`` with the offline logger: W&B holds results.json, curve.jsonl and samples.jsonl."""
    run_dir = tmp_path / "run"
    run_harness([*(a for a in TINY if not a.startswith("logger=")), "logger=wandb_offline", "method=rl",
                 f"cache_dir={cache_dir}", f"hydra.run.dir={run_dir}"])
    result = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    logged = read_offline_run(run_dir / "wandb")
    assert {k: logged["summary"][f"eval/{k}"] for k in result["metrics"]} == result["metrics"]
    assert {k: logged["summary"][f"budget/{k}"] for k in result["budget"]} == result["budget"]
    assert logged["run"]["job_type"] == "rl" and logged["summary"]["status"] == result["status"] == "ok"
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    table = logged["tables"]["eval/samples"]
    assert [dict(zip(table["columns"], row, strict=True)) for row in table["data"]] == samples
    curve = [json.loads(line) for line in (run_dir / "curve.jsonl").read_text(encoding="utf-8").splitlines()]
    history = {h["_step"]: h for h in logged["history"] if "train/loss" in h}
    assert {row["step"]: row["loss"] for row in curve} == {s: h["train/loss"] for s, h in history.items()}
