"""Nothing stale, nothing lost: a relaunch reuses a finished run, and a run reuses a cached evaluation, only
when nothing that decides its numbers changed (harness source, base weights, data files, library
versions: ``harness.fingerprint``), and says what changed when it reruns; the run's status is read under
its lock; a results.json or cache file cut short is recomputed, never trusted; a malformed data file is a
one-line error naming file and line."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

import harness.__main__ as cli
import harness.fingerprint
import harness.run
from harness.evaluation.answer_cache import AnswerCache, CallCache, cache_key
from harness.evaluation.lm_eval_bridge import EvalModel
from harness.fingerprint import changes, code_hash, fingerprint, numeric_versions
from harness.results import hash_run_config, read_json, write_json
from harness.run import current_fingerprint, previous_status
from harness.sweep import sweep_status
from harness.validate import validate
from tests.conftest import ROOT, TINY, compose_cfg

# A policy that needs no model (a scripted one answers from the micro world's facts): runs take seconds.
SCRIPTED = ["model=scripted_faithful", "logger=none", "data.n_test=8", "eval.answerers=[]", "threads=1"]


def repo_copy(tmp_path: Path) -> Path:
    """The harness and its configs copied, to change their code without touching the checkout."""
    root = tmp_path / "repo"
    for name in ("harness", "conf"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def harness_at(root: Path, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    """``python -m harness`` running the code under ``root`` (PYTHONPATH wins over the editable install)."""
    env = {**os.environ, "PYTHONPATH": str(root), "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"harness failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


# --- the headline: a scorer fixed in the code ----------------------------------------------------------------


def test_a_changed_scorer_reruns_a_finished_run_and_misses_the_cache(tmp_path):
    repo, run_dir, cache = repo_copy(tmp_path), tmp_path / "run", tmp_path / "cache"
    args = [*SCRIPTED, f"cache_dir={cache}", f"hydra.run.dir={run_dir}"]
    harness_at(repo, args)
    before = read_json(run_dir / "results.json")
    assert before["status"] == "ok" and before["metrics"]["micro_math/acc"] == 1.0
    old_entries = sorted((cache / "evals").glob("*.json"))
    assert old_entries  # the base evaluation went to the cross-run cache

    scorer = repo / "harness" / "suites" / "micro_math.py"
    source = scorer.read_text(encoding="utf-8")
    assert "        return math_equal(answer, item.gold)\n" in source
    scorer.write_text(source.replace("        return math_equal(answer, item.gold)\n", "        return 0.0\n"),
                      encoding="utf-8")  # the suite's scorer now scores every answer wrong

    kept = harness_at(repo, [*args, "reuse=if_config_matches"])  # explicitly: the change is cosmetic
    out = kept.stdout + kept.stderr
    assert "skip run: finished earlier with the same config; kept although code changed (harness source)" in out
    assert read_json(run_dir / "results.json") == before

    rerun = harness_at(repo, args)
    out = rerun.stdout + rerun.stderr
    assert "rerun run: code changed (harness source) since it finished; reuse=if_config_matches would keep it" in out
    after = read_json(run_dir / "results.json")
    assert after["status"] == "ok" and after["metrics"]["micro_math/acc"] == 0.0  # the new scorer's numbers
    assert after["fingerprint"]["code"] != before["fingerprint"]["code"]
    assert {k: v for k, v in after["fingerprint"].items() if k != "code"} == \
        {k: v for k, v in before["fingerprint"].items() if k != "code"}
    # the old code's cached evaluation is still there, and was not used: a new entry was computed
    assert after["thinking_eval"]["reused_evaluations"] == {"micro_math": []}
    assert set(old_entries) < set((cache / "evals").glob("*.json"))


def test_cache_keys_cover_the_code_and_the_library_versions(monkeypatch):
    model = EvalModel("reader", "starbench-scripted", "policy=reader")
    rows = [{"id": "a", "prompt": "p", "gold": "1", "aliases": [], "suite": "micro_math", "reward": "em",
             "suite_params": "{}"}]
    key = cache_key(model, rows, "prompt", {"batch_size": 8})
    assert key == cache_key(model, rows, "prompt", {"batch_size": 8})  # deterministic
    monkeypatch.setattr("harness.evaluation.answer_cache.code_hash", lambda: "other code")
    assert cache_key(model, rows, "prompt", {"batch_size": 8}) != key
    monkeypatch.undo()
    versions = {**numeric_versions(), "math-verify": "0.0.1"}
    monkeypatch.setattr("harness.evaluation.answer_cache.numeric_versions", lambda: versions)
    assert cache_key(model, rows, "prompt", {"batch_size": 8}) != key


# --- the fingerprint's parts -----------------------------------------------------------------------------------


def test_code_hash_is_the_package_source(tmp_path, monkeypatch):
    package = tmp_path / "harness"
    shutil.copytree(ROOT / "harness", package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(harness.fingerprint, "PACKAGE", package)

    def fresh() -> str:
        code_hash.cache_clear()
        return code_hash()

    try:
        original = fresh()
        assert original == code_hash.__wrapped__() and len(original) == 16
        (package / "__pycache__").mkdir(exist_ok=True)
        (package / "__pycache__" / "x.py").write_text("compiled = 1\n")
        assert fresh() == original  # caches of compiled code are not source
        normaliser = package / "suites" / "scoring.py"
        normaliser.write_text(normaliser.read_text(encoding="utf-8").replace("text.lower()", "text"),
                              encoding="utf-8")
        assert fresh() != original
    finally:
        monkeypatch.undo()
        code_hash.cache_clear()


def test_data_files_are_hashed_by_content(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "gsm8k_train.jsonl").write_text(json.dumps({"question": "1+1?", "answer": "#### 2"}) + "\n")
    (data / "gsm8k_test.jsonl").write_text(json.dumps({"question": "2+2?", "answer": "#### 4"}) + "\n")
    cfg = validate(compose_cfg([*TINY, "data=gsm8k", f"data.path={data}", f"cache_dir={tmp_path / 'cache'}",
                                "eval.extra_suites=[micro_gqa]"]))
    first = current_fingerprint(cfg)
    assert set(first["data"]) == {"gsm8k/train", "gsm8k/test", "micro_gqa"}
    assert first["data"]["micro_gqa"] == "generated"
    assert first["base"] is None  # the micro model of this cache is not built: nothing to compare with yet
    (data / "gsm8k_test.jsonl").write_text(json.dumps({"question": "2+2?", "answer": "#### 5"}) + "\n")
    second = current_fingerprint(cfg)
    assert second["data"]["gsm8k/test"] != first["data"]["gsm8k/test"]
    assert second["data"]["gsm8k/train"] == first["data"]["gsm8k/train"]
    assert changes(first, second) == [f"data changed (gsm8k/test {first['data']['gsm8k/test']} → "
                                      f"{second['data']['gsm8k/test']})"]
    hub = validate(compose_cfg([*TINY, "data=gsm8k"]))
    assert current_fingerprint(hub)["data"] == {"gsm8k": "hub:openai/gsm8k"}


def test_the_base_part_is_the_built_weights(tmp_path, cache_dir, tiny_base):
    from harness.results import hash_checkpoint

    built = validate(compose_cfg([*TINY, f"cache_dir={cache_dir}"]))
    assert current_fingerprint(built)["base"] == hash_checkpoint(tiny_base)
    hf = validate(compose_cfg([*TINY, "model.kind=hf", f"model.path={tiny_base}", "eval.answerers=[]"]))
    assert current_fingerprint(hf)["base"] == hash_checkpoint(tiny_base)


def test_changes_name_each_part_that_moved():
    now = fingerprint("c1", "b1", {"micro_math": "generated"})
    assert changes(now, now) == []
    versions = {**now["versions"], "transformers": "5.0.0"}
    assert changes({**now, "code": "0", "versions": versions}, now) == [
        "code changed (harness source)",
        f"versions changed (transformers 5.0.0 → {now['versions']['transformers']})"]
    assert changes({**now, "base": "b0"}, now) == ["base changed (base weights)"]
    assert changes(now, {**now, "base": None}) == [
        "base weights not available to compare (not built or not downloaded yet)"]
    assert changes(None, now) == ["no fingerprint recorded (finished by an older harness)"]


# --- what a relaunch does with a finished run ------------------------------------------------------------------


def finished(cfg, run_dir: Path, **fingerprint_changes) -> None:
    """A results.json as a launch that finished ``cfg`` leaves it, with parts of its fingerprint changed
    (``fingerprint=None``: none recorded, as by an older harness)."""
    fp = {**current_fingerprint(cfg), **fingerprint_changes}
    record = {"status": "ok", "config_hash": fp["config"], "fingerprint": fp, "metrics": {"micro_math/acc": 0.625}}
    if "fingerprint" in fingerprint_changes:
        del record["fingerprint"]
    write_json(run_dir / "results.json", record)


@pytest.fixture
def relaunch(tmp_path, monkeypatch, caplog):
    """Launch ``overrides`` on a run folder in-process; returns (carried out?, log text)."""
    carried_out = []
    monkeypatch.setattr(cli, "_run_job", lambda cfg, run_dir, *a: carried_out.append(run_dir))

    def launch(cfg) -> tuple[bool, str]:
        carried_out.clear()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="harness"):
            cli.launch(cfg, tmp_path / "run", False, None)
        return bool(carried_out), caplog.text

    return launch


STALE = [  # (what changed, reuse option, carried out again?, what the log says)
    ({}, "if_fingerprint_matches", False, "skip run: finished earlier with the same fingerprint"),
    ({"code": "0123"}, "if_fingerprint_matches", True,
     "rerun run: code changed (harness source) since it finished; reuse=if_config_matches would keep it"),
    ({"versions": {"transformers": "5.0.0"}}, "if_fingerprint_matches", True,
     "versions changed (transformers 5.0.0 → "),
    ({"data": {"micro_math": "other"}}, "if_fingerprint_matches", True, "data changed (micro_math other → generated)"),
    ({"base": "0123"}, "if_fingerprint_matches", True, "rerun run: base changed (base weights) since it finished"),
    ({"fingerprint": None}, "if_fingerprint_matches", True, "rerun run: no fingerprint recorded"),
    ({"code": "0123"}, "if_config_matches", False,
     "skip run: finished earlier with the same config; kept although code changed (harness source)"),
    ({"fingerprint": None}, "if_config_matches", False, "kept although no fingerprint recorded"),
    ({"config": "0123"}, "if_config_matches", True, "rerun run: config changed since it finished\n"),
]


@pytest.mark.parametrize("changed,reuse,reruns,message", STALE)
def test_a_finished_run_is_kept_only_while_its_fingerprint_matches(tmp_path, relaunch, changed, reuse, reruns,
                                                                     message):
    cfg = validate(compose_cfg([*SCRIPTED, f"reuse={reuse}"]))
    (tmp_path / "run").mkdir()
    if "versions" in changed:
        changed = {"versions": {**numeric_versions(), **changed["versions"]}}
    finished(cfg, tmp_path / "run", **changed)
    carried_out, log = relaunch(cfg)
    assert carried_out == reruns and message in log, log


def test_reuse_is_not_part_of_the_config_hash_nor_of_the_run_folder_name():
    base = validate(compose_cfg(SCRIPTED))
    assert hash_run_config(validate(compose_cfg([*SCRIPTED, "reuse=if_config_matches"]))) == hash_run_config(base)
    hydra_cfg = (ROOT / "conf" / "config.yaml").read_text(encoding="utf-8")
    assert "exclude_keys: [sweep, threads, cache_dir, logger, sweep_name, reuse]" in hydra_cfg


# --- the status is read under the lock -------------------------------------------------------------------------


def test_the_status_is_read_after_the_lock_is_taken(tmp_path, relaunch, monkeypatch):
    """Another launch finishes the run and releases its lock just before this one takes it: this launch
    must see ``ok`` and skip, not take the run for a new one and carry it out again from scratch."""
    cfg = validate(compose_cfg(SCRIPTED))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    real_lock, order = harness.run.run_lock, []

    @contextmanager
    def lock_after_the_other_launch_finished(folder):
        order.append("lock")
        finished(cfg, folder)  # the other launch's last act, then it releases the lock
        with real_lock(folder) as held:
            yield held

    def status(folder):
        order.append("status")
        return previous_status(folder)

    # (the CLI imports them from harness.run when it launches)
    monkeypatch.setattr(harness.run, "run_lock", lock_after_the_other_launch_finished)
    monkeypatch.setattr(harness.run, "previous_status", status)
    carried_out, log = relaunch(cfg)
    assert order == ["lock", "status"]
    assert not carried_out and "skip run: finished earlier with the same fingerprint" in log
    assert read_json(run_dir / "results.json")["status"] == "ok"


# --- files cut short: results.json, cache files --------------------------------------------------------------


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_results_json_cut_in_half_reruns_the_run_with_a_warning(tmp_path, relaunch, caplog):
    cfg = validate(compose_cfg(SCRIPTED))
    (tmp_path / "run").mkdir()
    finished(cfg, tmp_path / "run")
    cut_in_half(tmp_path / "run" / "results.json")
    carried_out, log = relaunch(cfg)
    assert carried_out and f"{tmp_path / 'run' / 'results.json'} is unreadable" in log
    assert sweep_status(tmp_path) == {"unreadable": ["run"]}  # sweep progress counts it, without crashing
    (tmp_path / "run" / "results.json").write_text("[1, 2]")
    assert previous_status(tmp_path / "run") is None and sweep_status(tmp_path) == {"unreadable": ["run"]}


ROWS = [{"id": f"q{i}", "acc": float(i % 2), "answer": str(i)} for i in range(4)]


@pytest.mark.parametrize("damage", ["mid-row", "row boundary", "empty", "not utf-8", "wrong fields"])
def test_an_answer_cache_file_that_is_not_whole_counts_as_absent(tmp_path, caplog, damage):
    cache = AnswerCache(tmp_path)
    cache.put("k", ROWS)
    assert cache.get("k", [r["id"] for r in ROWS]) == {r["id"]: r for r in ROWS}
    path = tmp_path / "answers" / "k.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes({"mid-row": b"".join(lines)[: len(b"".join(lines)) // 2 + 3],
                      "row boundary": b"".join(lines[:2]),  # whole rows, but not every item: a KeyError before
                      "empty": b"", "not utf-8": b"\xff\xfe" + b"".join(lines),
                      "wrong fields": b'{"id": "q0"}\n' + b"".join(lines[1:])}[damage])
    with caplog.at_level(logging.WARNING):
        assert cache.get("k", [r["id"] for r in ROWS]) is None
    assert f"cache file {path} is unusable" in caplog.text
    cache.put("k", ROWS)  # what the evaluation does next: recompute and replace it
    assert cache.get("k", [r["id"] for r in ROWS]) == {r["id"]: r for r in ROWS}


def test_a_call_cache_file_cut_in_half_counts_as_absent(tmp_path, caplog):
    calls = CallCache(tmp_path)
    raw = {"results": {"micro_math": {"acc,none": 0.5}}, "samples": {"micro_math": [{"doc": {"id": "a"}}]}}
    calls.put("k", raw)
    assert calls.get("k") == raw
    cut_in_half(tmp_path / "evals" / "k.json")
    with caplog.at_level(logging.WARNING):
        assert calls.get("k") is None
    assert f"cache file {tmp_path / 'evals' / 'k.json'} is unusable" in caplog.text
    write_json(tmp_path / "evals" / "k.json", {"results": {}})
    assert calls.get("k") is None


def test_results_and_cache_files_cut_short_are_recomputed_end_to_end(tmp_path):
    """Through ``python -m harness``: results.json and the answer cache both cut in half by a crash."""
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    args = [*[a for a in SCRIPTED if not a.startswith("eval.answerers")], f"cache_dir={cache}",
            f"hydra.run.dir={run_dir}", "eval.reuse_base_evals=false",  # (so the answer cache is the one used)
            "eval.answerers=[{name: reader, kind: scripted, path: reader, ladder: false}]"]
    harness_at(ROOT, args)
    before = read_json(run_dir / "results.json")
    (entry,) = (cache / "answers").glob("*.jsonl")
    cut_in_half(run_dir / "results.json")
    cut_in_half(entry)
    proc = harness_at(ROOT, args)
    out = proc.stdout + proc.stderr
    assert f"{run_dir / 'results.json'} is unreadable" in out and f"cache file {entry} is unusable" in out
    assert "Traceback" not in out
    after = read_json(run_dir / "results.json")
    assert after["status"] == "ok" and after["metrics"] == before["metrics"]
    assert after["thinking_eval"]["reused_empty_answers"] == {"micro_math": []}  # recomputed, not read
    assert len([json.loads(line) for line in entry.read_text().splitlines()]) == 8  # and replaced whole


# --- data.path files, broken on purpose ------------------------------------------------------------------------

GOOD = [{"question": "2+2?", "answer": "#### 4"}, {"question": "3+3?", "answer": "#### 6"}]
GOOD_TRAIN = [{"question": "1+1?", "answer": "#### 2"}, {"question": "5+5?", "answer": "#### 10"}]


def jsonl(rows: list) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


BAD_DATA = {  # case: (file -> bytes, where the error points, what it says)
    "truncated last line": ({"gsm8k_test.jsonl": jsonl(GOOD)[:-12]}, "gsm8k_test.jsonl:2:",
                            "not valid JSON (Expecting ':' delimiter); the file ends inside this row: truncated?"),
    "non-UTF-8 bytes": ({"gsm8k_test.jsonl": jsonl([GOOD[0], b'{"question": "caf\xe9?", "answer": "#### 1"}'])},
                        "gsm8k_test.jsonl:2:", "not UTF-8 (byte 0xe9 at column 18)"),
    "row without question": ({"gsm8k_train.jsonl": jsonl([GOOD_TRAIN[0], {"answer": "#### 4"}])},
                             "gsm8k_train.jsonl:2:", "field 'question' must be a non-empty string, got None"),
    "row without answer": ({"gsm8k_test.jsonl": jsonl([{"question": "2+2?"}])}, "gsm8k_test.jsonl:1:",
                           "field 'answer' must be a non-empty string, got None"),
    "empty file": ({"gsm8k_test.jsonl": b""}, "gsm8k_test.jsonl:", "empty split (no rows)"),
    "duplicate ids across train and test": (
        {"gsm8k_test.jsonl": jsonl([{**GOOD[0], "id": "a"}]),
         "gsm8k_train.jsonl": jsonl([{**GOOD_TRAIN[0], "id": "b"}, {**GOOD_TRAIN[1], "id": "a"}])},
        "gsm8k_train.jsonl:2:", "id 'a' is also the id of a test item; ids must be unique across train and test"),
}


def test_malformed_data_files_are_one_line_errors_naming_file_and_line(tmp_path):
    """Each case through ``python -m harness``, all at once: exit status 2, one error line, no traceback."""
    procs = {}
    for i, (case, (files, _, _)) in enumerate(BAD_DATA.items()):
        data = tmp_path / f"data{i}"
        data.mkdir()
        (data / "gsm8k_train.jsonl").write_bytes(jsonl(GOOD_TRAIN))
        (data / "gsm8k_test.jsonl").write_bytes(jsonl(GOOD))
        for name, content in files.items():
            (data / name).write_bytes(content)
        args = [*TINY, "data=gsm8k", f"data.path={data}", f"hydra.run.dir={tmp_path / f'run{i}'}",
                f"cache_dir={tmp_path / 'cache'}"]
        procs[case] = (data, subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, text=True,
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                              env={**os.environ, "HYDRA_FULL_ERROR": "0"}))
    for case, (data, proc) in procs.items():
        out = proc.communicate(timeout=600)[0]
        _, where, message = BAD_DATA[case]
        errors = [line for line in out.splitlines() if "ERROR" in line]
        assert proc.returncode == 2 and "Traceback" not in out, (case, out[-3000:])
        assert len(errors) == 1 and f"DataFileError: {data / where}" in errors[0] and message in errors[0], \
            (case, errors)
        assert not (tmp_path / "cache" / "micro").exists()  # it failed before building or loading any model
