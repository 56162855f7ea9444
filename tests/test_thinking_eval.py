"""Thinking-quality metrics on scripted policies with known behaviour (research.md §3).

Each scripted policy is evaluated through the same path as a trained model (``method=base``, lm-eval,
the micro answerer ladder of a small micro build whose later snapshots read a thinking), and every
metric must separate the policies as its definition predicts. No number here is hand-made: each
comes from a real evaluation run.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException

from harness.config import ConfigError
from harness.evaluation.metrics import aggregate
from harness.evaluation.pipeline import truncate
from harness.micro.tokenizer import build_tokenizer
from harness.results import read_json
from harness.run import run
from harness.suites.format import forced_answer_prefill
from harness.validate import validate
from tests.conftest import ROOT, compose_cfg

N_TEST = 40


def model_overrides(name: str, prefix: str = "model") -> list[str]:
    """``conf/model/<name>.yaml``'s micro settings as overrides (to pair them with another model config)."""
    def flat(node, key):
        if isinstance(node, dict):
            return [o for k, v in node.items() for o in flat(v, f"{key}.{k}")]
        return [f"{key}={json.dumps(node) if isinstance(node, list) else node}"]

    return flat(yaml.safe_load((ROOT / "conf" / "model" / f"{name}.yaml").read_text())["micro"], f"{prefix}.micro")


SMALL = model_overrides("micro_small")


def eval_run(tmp: Path, cache_dir: Path, name: str, *overrides: str) -> tuple[dict, list[dict]]:
    cfg = validate(compose_cfg([*SMALL, "logger=none", f"data.n_test={N_TEST}", "threads=1",
                                f"cache_dir={cache_dir}", "eval.reuse_base_evals=false", *overrides]))
    run(cfg, tmp / name)
    result = read_json(tmp / name / "results.json")
    records = [json.loads(line) for line in (tmp / name / "samples.jsonl").read_text().splitlines()]
    return result, records


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir) -> dict[str, tuple[dict, list[dict], Path]]:
    """(results.json, samples.jsonl records, run folder) of each scripted run."""
    tmp = tmp_path_factory.mktemp("scripted")
    plan = {
        "faithful": ("model=scripted_faithful", "data=micro_gqa"),
        "shortcut": ("model=scripted_shortcut", "data=micro_gqa"),
        "hedger": ("model=scripted_hedger", "data=micro_gqa", "data.reward=f1"),
        "empty": ("model=scripted_empty", "data=micro_gqa"),
        "shallow": ("model=scripted_shallow", "data=micro_gqa"),
        "faithful_math": ("model=scripted_faithful", "data=micro_math"),
        "shortcut_math": ("model=scripted_shortcut", "data=micro_math"),
        "empty_math": ("model=scripted_empty", "data=micro_math"),
    }
    return {name: (*eval_run(tmp, cache_dir, name, *overrides), tmp / name) for name, overrides in plan.items()}


def metrics(runs, name: str, suite: str | None = None) -> dict[str, float]:
    """The run's metrics on ``suite`` (default: the suite it was run on), without the suite prefix."""
    result = runs[name][0]
    assert result["status"] == "ok", result.get("error")
    suite = suite or result["data"]
    return {k.split("/", 1)[1]: v for k, v in result["metrics"].items() if k.split("/", 1)[0] == suite}


def own_records(runs, name: str) -> list[dict]:
    """The per-item records of the suite the run was run on (not of its shifted split)."""
    return [r for r in runs[name][1] if r["suite"] == runs[name][0]["data"]]


def test_faithful_thinking_is_sufficient_and_needed(runs):
    m = metrics(runs, "faithful")
    assert m["acc"] == 1.0 and m["nothink_acc"] == 0.0 and m["thinking_gain"] == 1.0
    assert m["shortcut_rate"] <= 0.2 and m["independence_rate"] == 0.0
    assert m["xgen_score"] >= 0.4 and m["xgen_acc/reader"] == 1.0
    # the ladder is ordered by capability: the weakest snapshot reads worst
    assert m["xgen_acc/micro-early"] < m["xgen_acc/micro-mid"] <= m["xgen_acc/micro-late"]
    # truncation: the answer needs the whole thinking
    assert m["p_trunc/1"] == 1.0 and m["p_trunc/0"] == 0.0 and m["trace"] < 0.5


def test_shortcut_is_right_only_through_its_surface_cue(runs):
    m, records = metrics(runs, "shortcut"), own_records(runs, "shortcut")
    cue_right = [r for r in records if r["answer"] == r["gold"]]
    assert 0 < len(cue_right) < len(records)
    assert m["shortcut_rate"] >= 0.9 and m["independence_rate"] == 1.0 and m["thinking_gain"] == 0.0
    assert sum(r["shortcut"] for r in cue_right) / len(cue_right) >= 0.9
    assert m["xgen_score"] <= 0.1 < metrics(runs, "faithful")["xgen_score"]
    assert m["xgen_acc/reader"] == 0.0  # its thinking never states the gold answer
    assert {m[f"p_trunc/{lam}"] for lam in ("0", "0.25", "0.5", "0.75", "1")} == {m["acc"]}  # flat curve


def test_hedger_earns_soft_reward_but_no_exact_match(runs):
    m = metrics(runs, "hedger")
    assert m["hedge_rate"] == 1.0 and m["acc"] == 0.0
    assert 0.4 <= m["reward"] <= 0.6  # F1 of "gold or other" against gold
    assert metrics(runs, "faithful")["hedge_rate"] == 0.0


@pytest.mark.parametrize("name", ["empty", "empty_math"])
def test_empty_thinker_gains_nothing_from_thinking(runs, name):
    m = metrics(runs, name)
    assert m["empty_think"] == 1.0 and m["think_tokens"] == 0.0 and m["thinking_gain"] <= 0.0
    ladder = runs[name][0]["thinking_eval"]["answerers"]
    assert all(m[f"xgen_gain/{a}"] == 0.0 for a in ladder)  # (q, t) and (q, ∅) are the same prompt


def test_faithful_math_thinking_carries_the_answer(runs):
    m = metrics(runs, "faithful_math")
    assert m["acc"] == 1.0 and m["xgen_score"] >= 0.4 and m["shortcut_rate"] <= 0.2
    assert m["thinking_gain"] > metrics(runs, "empty_math")["thinking_gain"]


def test_run_metrics_are_the_aggregate_of_the_per_item_records(runs):
    for result, records, _ in runs.values():
        info = result["thinking_eval"]
        again = {}
        for suite in info["suites"]:  # the run's suite and its shifted split (micro_gqa_ood), if any
            mine = [r for r in records if r["suite"] == suite]
            assert len(mine) == N_TEST
            again |= {f"{suite}/{k}": v for k, v in aggregate(mine, info["answerers"], info["ladder"],
                                                               info["lambdas"]).items()}
        assert again == result["metrics"] and len(records) == N_TEST * len(info["suites"])
        assert info["ladder"] == ["micro-early", "micro-mid", "micro-late"]


def test_lm_eval_task_scores_equal_the_recorded_metrics(runs):
    run_dir = runs["faithful"][2]  # the first run: it computes the answerers' empty-thinking baseline
    m = metrics(runs, "faithful")
    policy = read_json(run_dir / "lm_eval" / "results_micro_gqa-policy.json")["results"]
    truncation = read_json(run_dir / "lm_eval" / "results_micro_gqa-policy-truncation.json")["results"]
    xgen = read_json(run_dir / "lm_eval" / "results_micro_gqa-xgen-micro-mid.json")["results"]
    assert policy["micro_gqa"]["acc,none"] == m["acc"]
    assert policy["micro_gqa_nothink"]["acc,none"] == m["nothink_acc"]
    assert truncation["micro_gqa_trunc050"]["acc,none"] == m["p_trunc/0.5"]
    assert xgen["micro_gqa_xgen_micro-mid"]["acc,none"] == m["xgen_acc/micro-mid"]
    assert xgen["micro_gqa_xgen0_micro-mid"]["acc,none"] == m["xgen_nothink_acc/micro-mid"]


def test_later_runs_reuse_the_empty_thinking_baseline(runs):
    first, later = runs["faithful"][0]["thinking_eval"], runs["shortcut"][0]["thinking_eval"]
    assert first["reused_empty_answers"] == {"micro_gqa": [], "micro_gqa_ood": []}  # (no answerers on the o.o.d. split)
    assert later["reused_empty_answers"] == {"micro_gqa": ["micro-early", "micro-mid", "micro-late", "reader"],
                                             "micro_gqa_ood": []}
    for a in first["answerers"]:  # the baseline does not depend on the policy
        assert metrics(runs, "shortcut")[f"xgen_nothink_acc/{a}"] == metrics(runs, "faithful")[f"xgen_nothink_acc/{a}"]
    # its recorded command still evaluates both conditions
    assert "micro_gqa_xgen0_micro-mid" in (runs["shortcut"][2] / "lm_eval_command.txt").read_text()


def test_truncation_at_zero_reuses_the_nothink_answers(runs):
    run_dir, records = runs["faithful"][2], own_records(runs, "faithful")
    for r in records:  # λ=0 keeps no thinking: the <suite>_nothink prompt, answered once
        assert (r["p_trunc/0"], r["trunc_answer/0"]) == (r["nothink_acc"], r["nothink_answer"])
    truncation = read_json(run_dir / "lm_eval" / "results_micro_gqa-policy-truncation.json")["results"]
    assert "micro_gqa_trunc000" not in truncation and "micro_gqa_trunc050" in truncation
    assert "micro_gqa_trunc000" in (run_dir / "lm_eval_command.txt").read_text()  # still reproducible


def test_an_untrained_policy_is_evaluated_once_across_runs(runs, tmp_path, cache_dir):
    computed, _, _ = runs["faithful"]  # (the fixture's runs compute everything: eval.reuse_base_evals=false)
    reuse = ("model=scripted_faithful", "data=micro_gqa", "eval.reuse_base_evals=true")
    first, first_records = eval_run(tmp_path, cache_dir, "first", *reuse)
    again, records = eval_run(tmp_path, cache_dir, "again", *reuse, "seed=1")
    labels = ["micro_gqa-policy", "micro_gqa-policy-truncation", "micro_gqa-policy-interventions",
              *(f"micro_gqa-xgen-{a}" for a in first["thinking_eval"]["answerers"])]
    shifted = ["micro_gqa_ood-policy", "micro_gqa_ood-policy-interventions"]
    assert first["thinking_eval"]["reused_evaluations"] == {"micro_gqa": [], "micro_gqa_ood": []}
    assert again["thinking_eval"]["reused_evaluations"] == {"micro_gqa": labels, "micro_gqa_ood": shifted}
    assert again["metrics"] == first["metrics"] == computed["metrics"] and records == first_records
    assert again["config_hash"] != first["config_hash"]  # another seed: another run, the same evaluation
    reused = read_json(tmp_path / "again" / "lm_eval" / "results_micro_gqa-policy.json")
    assert Path(reused["starbench_reused_from"]).is_file()
    assert (tmp_path / "again" / "lm_eval_command.txt").read_text().count("lm_eval") >= len(labels + shifted)


def test_answerers_read_the_thinking_generated_once(runs):
    run_dir, records = runs["faithful"][2], own_records(runs, "faithful")
    thinking = {r["id"]: r["thinking"] for r in records}
    for name in ("micro-early", "micro-late", "reader"):
        rows = [json.loads(line) for line in (run_dir / "lm_eval" / "tasks" / f"micro_gqa_xgen_{name}.jsonl")
                .read_text().splitlines()]
        assert [r["id"] for r in rows] == [r["id"] for r in records]
        for row in rows:
            assert row["prompt_think"].endswith(forced_answer_prefill(thinking[row["id"]]))
            assert row["prompt_empty"].endswith(forced_answer_prefill(""))
            assert "<answer>" + row["gold"] not in row["prompt_think"]  # never the policy's answer


def test_scripted_evaluation_reproduces_through_the_cli(runs, tmp_path):
    run_dir = runs["hedger"][2]
    commands = (run_dir / "lm_eval_command.txt").read_text().split("# ")
    cmd = shlex.split(next(c for c in commands if c.startswith("micro_gqa-policy\n")).split("\n", 1)[1])
    cmd[cmd.index("--output_path") + 1] = str(tmp_path / "cli")
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, timeout=600)
    cli = json.loads(next((tmp_path / "cli").rglob("results_*.json")).read_text())["results"]
    assert cli["micro_gqa"]["reward,none"] == metrics(runs, "hedger")["reward"]
    assert cli["micro_gqa"]["hedged,none"] == 1.0


def test_truncation_keeps_the_first_tokens_of_the_thinking():
    tok = build_tokenizer()
    thinking = "q(7)=3 h(3)=1"
    assert truncate(thinking, 0.0, tok) == "" and truncate(thinking, 1.0, tok) == thinking
    assert truncate(thinking, 0.5, tok) == thinking[:6]  # one token per character: ⌊0.5·13⌋ = 6


def test_a_local_hf_checkpoint_is_an_answerer(tmp_path, cache_dir, tiny_base):
    answerers = f"eval.answerers=[{{name: local, kind: hf, path: {tiny_base}}}]"
    result, records = eval_run(tmp_path, cache_dir, "hf", "model=scripted_faithful", "data=micro_math",
                               "data.n_test=6", answerers, "eval.truncation=[]")
    assert result["status"] == "ok" and result["thinking_eval"]["ladder"] == ["local"]
    assert "micro_math/xgen_score" in result["metrics"] and "xgen_answer/local" in records[0]
    assert "micro_math/trace" not in result["metrics"]


@pytest.mark.parametrize("override, message", [
    ("eval.answerers=[{name: a b, kind: micro}]", "name must be unique"),
    ("eval.answerers=[{name: a, kind: micro, snapshot: 7}]", "not an index"),
    ("eval.answerers=[{name: a, kind: scripted, path: oracle}]", "not one of"),
    ("eval.answerers=[{name: a, kind: hf}]", "needs path"),
    ("eval.truncation=[0.5,1.5]", "must be in [0, 1]"),
    ("model.micro.warm_start.snapshots=[900]", "snapshots"),
])
def test_bad_thinking_eval_config_is_named(override, message):
    with pytest.raises(ConfigError) as err:
        validate(compose_cfg([override]))
    assert message in str(err.value)


def test_unknown_answerer_key_fails_at_composition_naming_it():
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(["eval.answerers=[{name: a, kind: micro, colour: red}]"])
    assert "colour" in str(err.value.__cause__)


def test_scripted_policies_cannot_be_trained():
    with pytest.raises(ConfigError, match="scripted policy"):
        validate(compose_cfg(["model=scripted_faithful", "method=rl"]))


def test_extra_suites_are_evaluated_exactly_as_a_run_on_them(runs, tmp_path, cache_dir):
    result, records = eval_run(tmp_path, cache_dir, "transfer", "model=scripted_faithful", "data=micro_math",
                               "eval.extra_suites=[micro_gqa]")
    direct, direct_records, _ = runs["faithful"]
    assert result["thinking_eval"]["suites"] == ["micro_math", "micro_gqa", "micro_gqa_ood"]  # (its shifted split)
    gqa = {k: v for k, v in result["metrics"].items() if k.startswith("micro_gqa")}
    assert gqa == direct["metrics"]  # same items, same prompts, same answerers: same numbers
    assert [(r["id"], r["gold"]) for r in records if r["suite"].startswith("micro_gqa")] == \
        [(r["id"], r["gold"]) for r in direct_records]
    assert {r["suite"] for r in records} == {"micro_math", "micro_gqa", "micro_gqa_ood"}
    assert "micro_math/acc" in result["metrics"]


# --- interventions, the shifted split and soundness (issue 14) --------------------------------------------
def test_a_corrupted_conclusion_is_followed_by_faithful_policies_only(runs):
    for name in ("faithful", "faithful_math", "shallow"):  # the answer is the thinking's conclusion
        m = metrics(runs, name)
        assert m["corrupt_follow"] >= 0.9 and m["corrupt_acc"] <= 0.1, name
    for name in ("shortcut", "shortcut_math", "empty", "empty_math"):  # the answer ignores the thinking
        m = metrics(runs, name)
        assert m["corrupt_follow"] <= 0.1 and m["corrupt_acc"] == m["acc"], name
    rows = [json.loads(line) for line in (runs["faithful"][2] / "lm_eval" / "tasks" / "micro_gqa_interventions.jsonl")
            .read_text().splitlines()]
    answers = {r["id"]: r["corrupt_answer"] for r in own_records(runs, "faithful")}
    for row in rows:  # the corrupted value is never the gold answer nor the surface cue; faithful copies it
        assert row["corrupt_value"] not in (row["gold"], row["meta"]["surface"])
        assert answers[row["id"]] == row["corrupt_value"] and row["prompt_corrupt"].endswith(
            f"is in {row['corrupt_value']}.</think><answer>")


def test_filler_of_the_same_length_does_not_help(runs):
    assert metrics(runs, "faithful")["filler_acc"] == 0.0 < metrics(runs, "faithful")["acc"]
    for name in ("shortcut", "empty"):  # a surface answer is as right after filler as after its thinking
        assert metrics(runs, name)["filler_acc"] == metrics(runs, name)["acc"]
    run_dir = runs["faithful"][2]
    rows = [json.loads(line) for line in (run_dir / "lm_eval" / "tasks" / "micro_gqa_interventions.jsonl")
            .read_text().splitlines()]
    tok = build_tokenizer()
    thinking = {r["id"]: r["thinking"] for r in own_records(runs, "faithful")}
    for row in rows:  # same token length as the policy's thinking, and nothing but dots
        filler = row["prompt_filler"].split("<think>")[1].split("</think>")[0]
        assert set(filler) == {"."} and len(tok(filler)["input_ids"]) == len(tok(thinking[row["id"]])["input_ids"])


def test_another_items_thinking_gives_no_answerer_anything(runs):
    for name in ("faithful", "shortcut", "hedger", "empty", "shallow", "faithful_math", "shortcut_math"):
        m, answerers = metrics(runs, name), runs[name][0]["thinking_eval"]["answerers"]
        for a in answerers:  # an unrelated thinking is no better than none (up to chance agreement)
            assert -0.25 <= m[f"placebo_gain/{a}"] <= 0.15, (name, a, m[f"placebo_gain/{a}"])
    faithful = metrics(runs, "faithful")
    assert faithful["xgen_gain_over_placebo/reader"] == 1.0 and faithful["xgen_score_over_placebo"] >= 0.4
    records = own_records(runs, "faithful")
    for r in records:  # the placebo comes from an item with another gold answer
        donor = next(d for d in records if d["id"] == r["placebo_donor"])
        assert donor["id"] != r["id"] and donor["gold"] != r["gold"]


def test_the_shifted_split_exposes_a_policy_that_rides_the_planted_shortcut(runs):
    faithful, shortcut = metrics(runs, "faithful", "micro_gqa_ood"), metrics(runs, "shortcut", "micro_gqa_ood")
    assert faithful["acc"] == 1.0 and shortcut["acc"] == 0.0 < metrics(runs, "shortcut")["acc"]
    assert runs["faithful"][0]["thinking_eval"]["shifted"] == {"micro_gqa_ood": "micro_gqa"}
    ood = [json.loads(line) for line in (runs["faithful"][2] / "lm_eval" / "tasks" / "micro_gqa_ood_test.jsonl")
           .read_text().splitlines()]
    assert len(ood) == N_TEST and all(r["meta"]["surface"] != r["gold"] for r in ood)  # the shortcut never right
    assert "xgen_score" not in faithful and "corrupt_follow" in faithful  # fewer probes: no ladder there


def test_shallow_but_right_thinking_is_seen_as_unsound(runs):
    """The §7 blind spot: shallow thinking that states where the subject lives is right when the shortcut
    is planted, the ladder reads it as sufficient, and the answer follows it; soundness and o.o.d. see it."""
    shallow = metrics(runs, "shallow")
    assert 0.3 <= shallow["acc"] <= 0.7 and shallow["answer_follows"] == 1.0
    assert shallow["shortcut_rate"] <= 0.2  # the ladder counts it sufficient
    assert shallow["right_wrong_reason"] == 1.0 and metrics(runs, "shallow", "micro_gqa_ood")["acc"] == 0.0
    assert metrics(runs, "faithful")["right_wrong_reason"] == 0.0
    assert metrics(runs, "shortcut")["right_wrong_reason"] == 1.0


def test_intervention_scores_are_lm_eval_task_scores(runs):
    run_dir, m = runs["faithful"][2], metrics(runs, "faithful")
    probes = read_json(run_dir / "lm_eval" / "results_micro_gqa-policy-interventions.json")["results"]
    assert probes["micro_gqa_corrupt"]["corrupt_follow,none"] == m["corrupt_follow"]
    assert probes["micro_gqa_filler"]["acc,none"] == m["filler_acc"]
    xgen = read_json(run_dir / "lm_eval" / "results_micro_gqa-xgen-micro-mid.json")["results"]
    assert xgen["micro_gqa_xgenp_micro-mid"]["acc,none"] == m["placebo_acc/micro-mid"]


def test_interventions_can_be_turned_off(tmp_path, cache_dir):
    result, records = eval_run(tmp_path, cache_dir, "off", "model=scripted_faithful", "data=micro_math",
                               "eval.interventions=false", "eval.answerers=[]", "eval.truncation=[]")
    assert result["status"] == "ok" and "micro_math/acc" in result["metrics"]
    assert not [k for k in result["metrics"] if "corrupt" in k or "filler" in k or "placebo" in k]


def test_an_evaluation_on_the_harness_suites_opens_no_network_connection(tmp_path, cache_dir, monkeypatch):
    """The run's own tasks are local JSON files: loading them must not ping the hub (datasets counts
    downloads with a HEAD request per load, up to 3 s each where a firewall drops packets)."""
    import socket

    attempts = []

    def refuse(*args):
        attempts.append(args)
        raise OSError(f"test: no network {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)  # (a host name is looked up first)
    monkeypatch.setattr(socket.socket, "connect", lambda sock, address: refuse(address))
    result, _ = eval_run(tmp_path, cache_dir, "offline", "model=scripted_faithful", "data=micro_math",
                         "eval.answerers=[]", "eval.truncation=[]")
    assert result["status"] == "ok", result.get("error")
    assert attempts == []
