"""Sweeps that survive crashes: a run killed with SIGKILL mid-training resumes from its last trainer
checkpoint and ends with bitwise the same metrics, curve, budget and weights as an uninterrupted run
(sft, rl, and START, whose stage switch must land on the same step); only an interrupted run of the
same config resumes; a non-finite loss keeps the last good checkpoint; a sweep with failed runs
(including a config error) still writes its analysis; and a sweep whose worker is killed finishes
every run exactly once when relaunched.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

import harness.run
from harness.methods.training import RESUME_STATE, TRAINER_DIR, checkpoint_step, last_checkpoint
from harness.results import hash_checkpoint, hash_run_config, read_json, write_json
from harness.run import current_fingerprint, run
from harness.validate import validate
from tests.conftest import ROOT, SPREAD, TINY, compose_cfg, run_harness

# SPREAD (RL groups with reward spread, so RL and START move the weights before and after the resume
# point), with enough steps that a kill lands mid-training.
STEPS = 16
KILL_AFTER = 3  # kill once checkpoint-3 is complete
RESUME = [o for o in SPREAD if not o.startswith("train.steps=")] + [f"train.steps={STEPS}"]
TIMING = ("step_time",)  # curve keys that are wall-clock times


def harness_args(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "harness", *overrides]


def wait_for(find: Callable[[], Path | None], proc: subprocess.Popen, what: str) -> Path:
    """Poll ``find`` until it returns a path; fail if ``proc`` ends first."""
    while (found := find()) is None:
        if proc.poll() is not None:
            raise AssertionError(f"the harness ended (rc {proc.returncode}) before {what}; it must be killed mid-way")
        time.sleep(0.01)
    return found


def kill_mid_training(run_dir: Path, overrides: list[str]) -> int:
    """Start ``python -m harness`` on ``run_dir``, SIGKILL it once checkpoint-KILL_AFTER is complete;
    return the step of the newest complete checkpoint it left."""
    log = open(run_dir.parent / f"{run_dir.name}.killed.log", "w")
    proc = subprocess.Popen(harness_args(*overrides, f"hydra.run.dir={run_dir}"), cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    try:
        marker = run_dir / TRAINER_DIR / f"checkpoint-{KILL_AFTER}" / RESUME_STATE
        wait_for(lambda: marker if marker.exists() else None, proc, f"checkpoint-{KILL_AFTER}")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    assert read_json(run_dir / "results.json")["status"] == "running" and not (run_dir / "checkpoint").exists()
    last = last_checkpoint(run_dir / TRAINER_DIR)
    elapsed = read_json(last / RESUME_STATE)["elapsed_s"]  # (the resumed run deletes the checkpoint when done)
    write_json(run_dir.parent / f"{run_dir.name}.elapsed.json", {"elapsed_s": elapsed})
    return checkpoint_step(last)


PROVENANCE = ("reused_empty_answers", "reused_evaluations")  # which numbers came from the cross-run caches


def outcome(run_dir: Path) -> dict:
    """Everything a run's numbers consist of (wall-clock times and cache provenance left out)."""
    result = read_json(run_dir / "results.json")
    curve_file = run_dir / "curve.jsonl"  # method=base trains nothing: no curve, its checkpoint is the base
    curve = [json.loads(line) for line in curve_file.read_text().splitlines()] if curve_file.exists() else []
    budget = {k: v for k, v in result["budget"].items() if k != "wall_time_s"}
    return {"status": result["status"], "metrics": result["metrics"], "budget": budget,
            "thinking_eval": {k: v for k, v in result["thinking_eval"].items() if k not in PROVENANCE},
            "weights": hash_checkpoint(Path(result["checkpoint"])),
            "curve": [{k: v for k, v in row.items() if k not in TIMING} for row in curve]}


METHODS = [("sft", []), ("rl", []), ("start", ["method.stage1_frac=0.5"])]  # START switches stage at step 8


@pytest.mark.parametrize("method,extra", METHODS)
def test_killed_run_resumes_to_the_same_numbers(tmp_path, cache_dir, spread_base, method, extra):
    overrides = [*RESUME, f"cache_dir={cache_dir}", f"method={method}", *extra]
    reference = tmp_path / "reference"  # uninterrupted, with the default train.save_steps
    run_harness([*overrides, f"hydra.run.dir={reference}"])
    killed = tmp_path / "killed"
    left_at = kill_mid_training(killed, [*overrides, "train.save_steps=1"])
    run_harness([*overrides, "train.save_steps=1", f"hydra.run.dir={killed}"])

    assert read_json(killed / "results.json")["resumed_from_step"] == left_at >= KILL_AFTER
    # the killed attempt's training up to its checkpoint counts in the resumed run's wall time
    earlier = read_json(killed.parent / f"{killed.name}.elapsed.json")["elapsed_s"]
    assert 0 < earlier < read_json(killed / "results.json")["budget"]["wall_time_s"]
    assert read_json(reference / "results.json")["resumed_from_step"] is None
    want, got = outcome(reference), outcome(killed)
    assert got == want  # metrics, budget (completions, tokens), curve and final weights, bitwise
    assert [row["step"] for row in got["curve"]] == list(range(1, STEPS + 1))  # every step exactly once
    assert not (killed / TRAINER_DIR).exists() and (killed / "checkpoint").is_dir()  # intermediate ones deleted
    assert got["weights"] != hash_checkpoint(spread_base)  # training moved the weights: equality is not vacuous
    if method != "sft":  # some steps after the resume point had reward spread, i.e. a gradient
        assert any(row["grad_norm"] > 0 for row in got["curve"][left_at:])
    if method == "start":  # thinking-only up to step 8, the full completion after: in both runs alike
        assert [row["start/think_only"] for row in got["curve"]] == [1.0] * 8 + [0.0] * 8
        # both stages trained after the resume point (the resumed run must land on the same switch)
        assert any(row["grad_norm"] > 0 for row in got["curve"][left_at:8])
        assert any(row["grad_norm"] > 0 for row in got["curve"][8:])


def test_a_run_that_failed_after_training_resumes_at_its_last_step(tmp_path, cache_dir, tiny_base, monkeypatch):
    """E.g. evaluation crashed: the final trainer checkpoint is still there, so nothing is trained again."""
    from transformers import AutoTokenizer, set_seed
    from trl import SFTTrainer

    from harness.methods import get_method
    from harness.methods.training import TrainContext
    from harness.suites import get_suite

    cfg = validate(compose_cfg([*TINY, f"cache_dir={cache_dir}", "method=sft", "train.steps=3"]))
    suite = get_suite(cfg.data.name, reward=cfg.data.reward)
    ctx = TrainContext(cfg=cfg, suite=suite, train_items=suite.items("train", 6, random.Random(0), cfg.data),
                       base_path=tiny_base, run_dir=tmp_path, tokenizer=AutoTokenizer.from_pretrained(tiny_base))
    set_seed(cfg.seed)
    first = get_method("sft").train(ctx)
    weights = hash_checkpoint(first.checkpoint)
    assert last_checkpoint(tmp_path / TRAINER_DIR) == tmp_path / TRAINER_DIR / "checkpoint-3"

    monkeypatch.setattr(SFTTrainer, "training_step", lambda *a, **k: pytest.fail("trained again"))
    again = get_method("sft").train(ctx)
    assert hash_checkpoint(again.checkpoint) == weights != hash_checkpoint(tiny_base)
    assert again.curve == first.curve and again.optimizer_steps == 3


# --- which relaunch resumes --------------------------------------------------------------------------------


def fake_checkpoint(trainer_dir: Path, step: int, complete: bool = True) -> None:
    folder = trainer_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text("{}")
    if complete:
        write_json(folder / RESUME_STATE, {"step": step, "curve": [], "counters": {}})


@pytest.mark.parametrize("previous,changed,reuse,resumes", [
    ("running", None, "if_fingerprint_matches", 3), ("failed", None, "if_fingerprint_matches", 3),
    ("running", "config", "if_fingerprint_matches", None), ("failed", "config", "if_fingerprint_matches", None),
    ("ok", None, "if_fingerprint_matches", None),
    # a trainer checkpoint written by other code or other library versions is not resumed silently
    ("running", "code", "if_fingerprint_matches", None), ("failed", "versions", "if_fingerprint_matches", None),
    ("running", "code", "if_config_matches", 3), ("running", "config", "if_config_matches", None),
])
def test_only_an_interrupted_run_of_the_same_fingerprint_resumes(tmp_path, monkeypatch, caplog, previous, changed,
                                                                   reuse, resumes):
    cfg = validate(compose_cfg([*TINY, "method=sft", f"reuse={reuse}", f"cache_dir={tmp_path / 'cache'}"]))
    run_dir, seen = tmp_path / "run", {}
    trainer = run_dir / TRAINER_DIR
    fake_checkpoint(trainer, 2)
    fake_checkpoint(trainer, 3)
    fake_checkpoint(trainer, 4, complete=False)  # killed while saving
    fingerprint = current_fingerprint(cfg)
    if changed == "versions":
        fingerprint["versions"] = {**fingerprint["versions"], "trl": "0.28.0"}
    elif changed:
        fingerprint[changed] = "0123456789abcdef"
    write_json(run_dir / "results.json", {"status": previous, "config_hash": fingerprint["config"],
                                          "fingerprint": fingerprint})

    def fake_run(cfg, run_dir, result, tracker):  # what training would find
        seen["checkpoints"] = sorted(p.name for p in trainer.glob("checkpoint-*"))
        seen["resumes"] = last_checkpoint(trainer)

    monkeypatch.setattr(harness.run, "_run", fake_run)
    with caplog.at_level("INFO", logger="harness"):
        result = run(cfg, run_dir)
    assert result.resumed_from_step == resumes == read_json(run_dir / "results.json")["resumed_from_step"]
    if previous != "ok" and changed and not resumes:
        assert f"run: not resuming the interrupted attempt: {changed} changed" in caplog.text
    if resumes:
        assert seen == {"checkpoints": ["checkpoint-2", "checkpoint-3"], "resumes": trainer / "checkpoint-3"}
    else:  # a stale folder (another config's, or a finished run's) is removed before training starts
        assert seen == {"checkpoints": [], "resumes": None}
    assert not trainer.exists()  # the run ended ok: its trainer checkpoints are deleted


def test_a_failed_run_keeps_its_checkpoints(tmp_path, monkeypatch):
    cfg = validate(compose_cfg([*TINY, "method=sft"]))
    run_dir = tmp_path / "run"

    def crash(cfg, run_dir, result, tracker):
        fake_checkpoint(run_dir / TRAINER_DIR, 5)
        raise RuntimeError("out of memory")

    monkeypatch.setattr(harness.run, "_run", crash)
    with pytest.raises(RuntimeError):
        run(cfg, run_dir)
    assert read_json(run_dir / "results.json")["status"] == "failed"
    assert last_checkpoint(run_dir / TRAINER_DIR) == run_dir / TRAINER_DIR / "checkpoint-5"


def test_save_steps_is_not_part_of_the_config_hash():
    base = hash_run_config(validate(compose_cfg([*TINY, "method=sft"])))
    assert hash_run_config(validate(compose_cfg([*TINY, "method=sft", "train.save_steps=1"]))) == base
    assert hash_run_config(validate(compose_cfg([*TINY, "method=sft", "method.lr=0.001"]))) != base


# --- failures: a non-finite loss, a config error; the analysis still runs --------------------------------


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory, cache_dir, tiny_base):
    """A multirun (Hydra's basic launcher, in-process) of four sft jobs: lr 5e-4 (ok) or 1e5 (the weights
    diverge at step 1, the loss is still finite at step 2, the gradient is NaN at step 3) × stage2 full or
    answer (a START option on sft: a config error)."""
    sweep = tmp_path_factory.mktemp("failing")
    proc = run_harness(["-m", *TINY, f"cache_dir={cache_dir}", f"hydra.sweep.dir={sweep}",
                        "hydra.sweep.subdir=lr${method.lr}_${method.stage2}", "method=sft", "train.steps=4",
                        "train.save_steps=1", "method.lr=5e-4,1e5", "method.stage2=full,answer"])
    return sweep, proc


def test_sweep_with_failed_runs_still_writes_the_analysis(failing_sweep):
    sweep, proc = failing_sweep
    status = {p.parent.name: read_json(p)["status"] for p in sweep.glob("*/results.json")}
    assert status == {"lr0.0005_full": "ok", "lr100000.0_full": "failed", "lr0.0005_answer": "failed",
                      "lr100000.0_answer": "failed"}
    assert read_json(sweep / "lr0.0005_answer" / "results.json")["error"].startswith(
        "ConfigError: method.stage2='answer' is an option of method start")
    report = (sweep / "analysis" / "status.md").read_text()
    assert "1 ok, 3 failed" in report and "NonFiniteLossError" in report and "ConfigError" in report
    assert (sweep / "analysis" / "comparison.md").stat().st_size > 0


def test_non_finite_loss_keeps_the_last_good_checkpoint(failing_sweep):
    run_dir = failing_sweep[0] / "lr100000.0_full"
    result, error = read_json(run_dir / "results.json"), (run_dir / "error.txt").read_text()
    good = run_dir / TRAINER_DIR / "checkpoint-1"
    assert result["error"].startswith("NonFiniteLossError: non-finite grad_norm=nan at step 3")
    message = f"last good checkpoint (its next step was still finite): {good}"
    assert message in result["error"] and message in error
    # checkpoint-2 holds the weights that step 3 started from; step 3 itself was never saved
    assert [p.name for p in sorted((run_dir / TRAINER_DIR).glob("checkpoint-*"))] == ["checkpoint-1", "checkpoint-2"]
    curve = [json.loads(line) for line in (run_dir / "curve.jsonl").read_text().splitlines()]
    assert [math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"]) for row in curve] == [True, True, False]
    weights = AutoModelForCausalLM.from_pretrained(good).state_dict().values()
    assert all(torch.isfinite(w).all() for w in weights)


# --- a sweep whose joblib worker is killed ------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def process_with_open_file_under(pids: list[int], folder: Path) -> int | None:
    """The process that has a file inside ``folder`` open (a joblib worker holds its job's log file)."""
    for pid in pids:
        try:
            targets = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        if any(t.startswith(f"{folder}/") for t in targets):
            return pid
    return None


@pytest.mark.slow
def test_sweep_with_a_killed_worker_finishes_every_run_exactly_once(tmp_path, cache_dir, tiny_base):
    args = ["+sweep=smoke", f"cache_dir={cache_dir}", "logger=none", f"train.steps={STEPS}", "train.save_steps=1"]
    reference = tmp_path / "reference"
    run_harness([*args, f"hydra.sweep.dir={reference}"])

    sweep = tmp_path / "sweep"
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen(harness_args(*args, f"hydra.sweep.dir={sweep}"), cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    try:
        marker = wait_for(lambda: next(iter(sweep.glob(f"*/{TRAINER_DIR}/checkpoint-{KILL_AFTER}/{RESUME_STATE}")),
                                       None), proc, "a checkpoint")
        victim = marker.parents[2]
        worker = wait_for(lambda: process_with_open_file_under(descendants(proc.pid), victim), proc, "its worker")
        os.kill(worker, signal.SIGKILL)  # the loky worker running that job
        assert proc.wait(timeout=120) != 0  # joblib gives up on the sweep: no analysis
    finally:
        proc.kill()
        proc.wait()
        log.close()
    assert read_json(victim / "results.json")["status"] == "running" and not (sweep / "analysis").exists()
    left_at = checkpoint_step(last_checkpoint(victim / TRAINER_DIR))
    finished_before = {p.parent.name for p in sweep.glob("*/results.json") if read_json(p)["status"] == "ok"}

    relaunch = run_harness([*args, f"hydra.sweep.dir={sweep}"]).stdout
    runs = sorted(p.parent.name for p in reference.glob("*/results.json"))
    assert sorted(p.parent.name for p in sweep.glob("*/results.json")) == runs
    for name in runs:  # each run either finished before the kill (skipped now) or ran once now
        assert relaunch.count(f"skip {name}:") == (name in finished_before)
        assert relaunch.count(f"start {name} ") == (name not in finished_before)
        assert outcome(sweep / name) == outcome(reference / name), name
    assert read_json(victim / "results.json")["resumed_from_step"] == left_at
    assert (sweep / "analysis" / "status.md").read_text().count("4 run folders: 4 ok") == 1


def test_a_run_another_process_is_running_is_skipped_not_shared(tmp_path, cache_dir, tiny_base):
    """Two launches of one sweep: the second leaves a run alone while the first holds its folder's lock."""
    import fcntl

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / harness.run.LOCK_FILE, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = run_harness([*TINY, "method=base", f"cache_dir={cache_dir}", f"hydra.run.dir={run_dir}"])
        assert "another process is running it now" in proc.stdout + proc.stderr
        assert not (run_dir / "results.json").exists()
    run_harness([*TINY, "method=base", f"cache_dir={cache_dir}", f"hydra.run.dir={run_dir}"])  # released: it runs
    assert read_json(run_dir / "results.json")["status"] == "ok"
