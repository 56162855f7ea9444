"""GSM8K and NQ-Open: local JSONL loading, published scoring (100% on gold), splits, and clear errors.

``DATA`` is the committed excerpt under ``tests/data`` (a few dozen rows of each file, licences in its
README), so these tests run from a fresh clone; the gold-scoring tests of the full sets read
``../shared/data/external`` and are skipped where it is absent.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config import ConfigError
from harness.suites import get_suite
from harness.suites.files import DataUnavailableError
from harness.suites.format import parse_completion, render_completion
from harness.suites.gsm8k import gsm8k_correct
from harness.validate import validate
from tests.conftest import ROOT, compose_cfg, run_harness

DATA = Path(__file__).resolve().parent / "data"  # committed excerpts (tests/data/README.md)
FULL_DATA = ROOT.parent / "shared" / "data" / "external"  # the full published files, when present
needs_full_data = pytest.mark.skipif(not FULL_DATA.is_dir(), reason=f"full data files not found at {FULL_DATA}")
NQ_LOCAL = ["data.train_file=nq_open_efficientqa_dev.jsonl"]  # the offline stand-in for NQ-Open train


def source(path: Path, train_file: str | None = None, test_file: str | None = None) -> SimpleNamespace:
    """What ``FileSuite.items`` reads from a run's ``data`` config."""
    return SimpleNamespace(path=str(path), train_file=train_file, test_file=test_file)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_rows(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


@needs_full_data
def test_gsm8k_gold_answers_of_the_full_test_set_score_100_percent():
    suite = get_suite("gsm8k")
    test = suite.pool("test", source(FULL_DATA))
    published = rows(FULL_DATA / "gsm8k_test.jsonl")
    assert len(test) == len(published) == 1319
    # the published answer (worked solution ending in '#### <number>') and the bare number, as predictions
    assert all(gsm8k_correct(row["answer"], item.gold) for row, item in zip(published, test, strict=True))
    assert all(suite.correct(item.gold, item) for item in test)
    # SFT's target goes through the whole parse-and-score path
    scores = [suite.score_completion(parse_completion(render_completion(*suite.reference(it))), it) for it in test]
    assert all(s["acc"] == 1.0 and s["reward"] == 1.0 for s in scores)


@needs_full_data
def test_nq_open_gold_answers_of_the_full_dev_set_score_100_percent():
    suite = get_suite("nq_open", reward="f1")
    test = suite.pool("test", source(FULL_DATA))
    assert len(test) == len(rows(FULL_DATA / "nq_open_dev.jsonl")) == 3610
    for item in test:
        for alias in item.aliases:  # ANY alias is right
            scores = suite.score_completion(parse_completion(render_completion("", alias)), item)
            assert scores["acc"] == scores["reward"] == scores["f1"] == 1.0, (item.question, alias)


@pytest.mark.parametrize("prediction,right", [
    ("18", True), ("$18.00", True), ("She makes 9 * 2 = $18", True), ("1,018", False), ("18 eggs, 3 left", False),
    ("\\boxed{18}", True), ("\\frac{36}{2}", True), ("", False), ("eighteen", False)])
def test_gsm8k_final_number_convention(prediction, right):
    assert gsm8k_correct(prediction, "18") == float(right)


@pytest.mark.parametrize("name,row", [("gsm8k", {"question": "2+2?", "answer": "#### 4"}),
                                      ("nq_open", {"question": "q", "answer": ["4"]})])
def test_unclosed_thinking_is_wrong_on_real_suites(name, row):
    suite = get_suite(name)
    item = suite.parse_row(row)
    scores = suite.score_completion(parse_completion("<think>the answer is 4 <answer>4</answer>"), item)
    assert scores["acc"] == scores["reward"] == 0.0 and scores["no_think_close"] == 1.0


def test_nq_open_squad_normalisation_and_soft_f1():
    suite = get_suite("nq_open", reward="f1")
    item = suite.parse_row({"question": "q", "answer": ["The Beatles", "Beatles"]})
    assert suite.correct("the beatles!", item) == 1.0 and suite.correct("Beatles band", item) == 0.0
    assert suite.reward("Beatles band", item) == pytest.approx(2 / 3)


def test_excerpt_gold_answers_score_100_percent():
    gsm8k, nq = get_suite("gsm8k"), get_suite("nq_open", reward="f1")
    for row, item in zip(rows(DATA / "gsm8k_test.jsonl"), gsm8k.pool("test", source(DATA)), strict=True):
        assert gsm8k_correct(row["answer"], item.gold) == 1.0 and gsm8k.correct(item.gold, item) == 1.0
    for item in nq.pool("test", source(DATA)):
        assert all(nq.score_completion(parse_completion(render_completion("", a)), item)["acc"] == 1.0
                   for a in item.aliases)


def test_splits_come_from_the_files_and_never_overlap(caplog):
    gsm = get_suite("gsm8k")
    train, test = gsm.pool("train", source(DATA)), gsm.pool("test", source(DATA))
    assert (len(train), len(test)) == (40, 30) and not {it.id for it in train} & {it.id for it in test}
    nq = get_suite("nq_open")
    stand_in = source(DATA, train_file="nq_open_efficientqa_dev.jsonl")
    with caplog.at_level("INFO"):
        train = nq.pool("train", stand_in)
    # one EfficientQA question is an NQ-Open dev question up to articles: left out of training
    assert len(train) == 40 and "1 training questions are also test questions" in caplog.text


def test_items_are_a_seeded_draw_in_file_order():
    suite = get_suite("gsm8k")
    a = suite.items("test", 20, random.Random(7), source(DATA))
    assert [it.id for it in a] == [it.id for it in suite.items("test", 20, random.Random(7), source(DATA))]
    order = {it.id: i for i, it in enumerate(suite.pool("test", source(DATA)))}
    assert [order[it.id] for it in a] == sorted(order[it.id] for it in a)
    assert len(suite.items("test", 10**6, random.Random(0), source(DATA))) == 30  # smaller split: all of it


@pytest.mark.parametrize("data,extra", [("gsm8k", []), ("nq_open", NQ_LOCAL)])
def test_run_config_draws_real_items(data, extra):
    cfg = validate(compose_cfg([f"data={data}", f"data.path={DATA}", "data.n_test=5", *extra]))
    suite = get_suite(cfg.data.name, reward=cfg.data.reward, **cfg.data.params)
    train = suite.items("train", 8, random.Random(cfg.data.gen_seed), cfg.data)
    test = suite.test_items(cfg.data)  # (as a run draws them)
    assert len(train) == 8 and len(test) == 5 and not {it.id for it in train} & {it.id for it in test}


GOOD = {"question": "2+2?", "answer": "2+2=<<2+2=4>>4\n#### 4"}


@pytest.mark.parametrize("line,message", [
    ("{not json", "not valid JSON"),
    ({"question": "2+2?"}, "field 'answer'"),
    ({"question": "", "answer": "#### 4"}, "field 'question'"),
    ({"question": "2+2?", "answer": "it is 4"}, "must end with '#### <number>'"),
    ({"question": "2+2?", "answer": "#### four"}, "must end with '#### <number>'"),
    (["2+2?", "4"], "JSON object"),
])
def test_malformed_gsm8k_row_names_file_and_line(tmp_path, line, message):
    write_rows(tmp_path / "gsm8k_test.jsonl", [GOOD, line])
    with pytest.raises(ValueError, match=message) as e:
        get_suite("gsm8k").pool("test", source(tmp_path))
    assert f"{tmp_path / 'gsm8k_test.jsonl'}:2:" in str(e.value)


@pytest.mark.parametrize("answer", ["Paris", [], [""], None])
def test_malformed_nq_open_row_names_file_and_line(tmp_path, answer):
    write_rows(tmp_path / "nq_open_dev.jsonl", [{"question": "capital of France", "answer": answer}])
    with pytest.raises(ValueError, match="field 'answer' must be a non-empty list") as e:
        get_suite("nq_open").pool("test", source(tmp_path))
    assert "nq_open_dev.jsonl:1:" in str(e.value)


def test_empty_split_and_missing_file(tmp_path):
    write_rows(tmp_path / "gsm8k_test.jsonl", ["", "  "])
    with pytest.raises(ValueError, match="empty split"):
        get_suite("gsm8k").pool("test", source(tmp_path))
    write_rows(tmp_path / "gsm8k_test.jsonl", [GOOD])
    with pytest.raises(DataUnavailableError, match="data.train_file") as e:
        get_suite("gsm8k").pool("train", source(tmp_path, test_file="gsm8k_test.jsonl"))
    assert "gsm8k_train.jsonl does not exist" in str(e.value)


def test_duplicate_ids_within_a_split_and_across_train_and_test(tmp_path):
    write_rows(tmp_path / "gsm8k_test.jsonl", [GOOD, {**GOOD, "question": "3+1?"}, GOOD])
    with pytest.raises(ValueError, match=r"gsm8k_test.jsonl:3: duplicate id .*first at .*gsm8k_test.jsonl:1"):
        get_suite("gsm8k").pool("test", source(tmp_path))
    write_rows(tmp_path / "gsm8k_test.jsonl", [{**GOOD, "id": "a"}])
    write_rows(tmp_path / "gsm8k_train.jsonl", [{**GOOD, "id": "b", "question": "1+1?"},
                                                 {**GOOD, "id": "a", "question": "5+5?"}])
    with pytest.raises(ValueError, match=r"gsm8k_train.jsonl:2: id 'a' is also the id of a test item"):
        get_suite("gsm8k").pool("train", source(tmp_path))


def test_a_test_question_is_left_out_of_training(tmp_path):
    write_rows(tmp_path / "nq_open_dev.jsonl", [{"question": "who wrote the hobbit", "answer": ["Tolkien"]}])
    write_rows(tmp_path / "nq_open_train.jsonl", [{"question": "Who wrote The Hobbit?", "answer": ["Tolkien"]},
                                                   {"question": "who painted guernica", "answer": ["Picasso"]}])
    train = get_suite("nq_open").pool("train", source(tmp_path))
    assert [it.question for it in train] == ["who painted guernica"]


def test_hub_offline_error_names_data_path(monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataUnavailableError, match="set data.path=") as e:
        get_suite("nq_open").pool("test")
    assert "google-research-datasets/nq_open" in str(e.value)


def test_unavailable_data_is_one_line_and_exit_2(tmp_path, monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing to fall back on
    proc = run_harness(["data=nq_open", "data.n_test=2", "logger=none", f"hydra.run.dir={tmp_path / 'run'}",
                        f"cache_dir={tmp_path / 'cache'}"], check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in output, output[-3000:]
    assert "DataUnavailableError: suite nq_open: cannot load google-research-datasets/nq_open" in output
    assert "set data.path=" in output


@pytest.mark.parametrize("overrides,match", [
    (["data=gsm8k", "data.path=/no/such/folder"], "data.train_file: /no/such/folder/gsm8k_train.jsonl does not exist"),
    (["data=micro_math", "data.path=/tmp"], "data.path is for file-backed suites"),
    (["data=micro_gqa", "data.test_file=x.jsonl"], "data.test_file is for file-backed suites"),
])
def test_data_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        validate(compose_cfg(overrides))


def test_gsm8k_has_no_soft_reward():
    with pytest.raises(ValueError, match=r"reward must be one of \['em'\], got 'f1'"):
        get_suite("gsm8k", reward="f1")


def test_nq_open_offline_without_its_train_file_says_what_to_use():
    with pytest.raises(ConfigError, match="data.train_file=nq_open_efficientqa_dev.jsonl"):
        validate(compose_cfg(["data=nq_open", f"data.path={DATA}"]))
