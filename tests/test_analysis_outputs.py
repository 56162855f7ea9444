"""Figures, manifest, report, reproducibility (``python -m analysis.paper``) and the W&B side of the analysis."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from analysis import paper, wandb_report
from analysis.report import analyze
from analysis.wandb_log import read_table
from tests.conftest import ROOT
from tests.test_analysis import GQA, SUITE, full_sweep, item_sweep
from tests.test_tracking import read_offline_run

FIGURES = ("forest", "xgen", "shortcut", "truncation", "curves")


def outputs(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def test_every_figure_drawn_from_the_runs_and_listed_in_the_manifest(tmp_path):
    sweep = item_sweep(tmp_path / "sweep", suites=(SUITE, GQA), n_items=40)
    out = analyze(sweep)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    figures = {f["name"]: f for f in manifest["figures"]}
    assert list(figures) == list(FIGURES) and all(f["status"] == "drawn" for f in figures.values())
    for name, fig in figures.items():
        assert fig["files"] == [f"{name}.png", f"{name}.pdf"] and fig["data"] == f"{name}.csv"
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        assert fig["runs"] and all((sweep / r / "results.json").exists() for r in fig["runs"])
        assert f"]({name}.png)" in (out / "report.md").read_text(encoding="utf-8")
    assert {t["name"] for t in manifest["tables"]} == {"claims", "comparison", "paired", "budget"}
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.index("## The paper's claims") < report.index("## Accuracy")  # the claims come first
    # the forest plot draws every computed paired comparison, with its MDE
    paired = read_table(out / "paired.csv")
    forest = read_table(out / "forest.csv")
    compared = paired[paired.status == "compared"]
    assert len(forest) == len(compared) and forest["mde"].notna().all()
    assert sorted(forest.delta.round(6)) == sorted(compared.delta.round(6))
    # each figure's CSV holds exactly the numbers of the comparison table it is drawn from
    comparison = read_table(out / "comparison.csv").set_index(["suite", "setting", "method", "trained_on", "metric"])
    xgen = read_table(out / "xgen.csv")
    assert set(xgen.answerer) == {"weak", "mid", "strong", "reader"} and set(xgen.suite) == {SUITE, GQA}
    assert xgen.groupby(["suite", "method"]).position.apply(list).map(sorted).eq([[0, 1, 2, 3]] * 8).all()
    assert xgen[xgen.answerer == "reader"].in_ladder.eq(False).all()
    for r in xgen.itertuples(index=False):
        assert r.mean == comparison.loc[(r.suite, r.setting, r.method, r.trained_on, r.metric), "mean"]
    truncation = read_table(out / "truncation.csv")
    assert sorted(set(truncation["lambda"])) == [0.0, 0.25, 0.5, 0.75, 1.0]
    shortcut = read_table(out / "shortcut.csv")
    assert set(shortcut.metric) == {"shortcut_rate", "independence_rate"}
    curves = read_table(out / "curves.csv")
    assert set(curves.method) == {"rl", "start"}  # base does not train; sft logs none of the curve metrics
    assert "No line for sft" in figures["curves"]["caption"]


def test_outputs_are_byte_identical_on_rerun(tmp_path):
    sweep = item_sweep(tmp_path / "sweep", n_items=30, seeds=(0, 1))
    out = analyze(sweep)
    first = outputs(out)
    assert {"comparison.csv", "comparison.md", "comparison.tex", "paired.csv", "paired.md", "budget.csv",
            "manifest.json", "report.md", "xgen.png", "xgen.pdf"} <= set(first)
    analyze(sweep)
    assert outputs(out) == first


def test_runs_before_cross_generation_skip_those_figures_with_a_note(tmp_path):
    out = analyze(full_sweep(tmp_path / "sweep", suites=(SUITE, GQA)))
    figures = {f["name"]: f for f in json.loads((out / "manifest.json").read_text(encoding="utf-8"))["figures"]}
    assert figures["xgen"]["status"] == "skipped" and "xgen_gain" in figures["xgen"]["reason"]
    assert figures["truncation"]["status"] == "skipped" and "p_trunc" in figures["truncation"]["reason"]
    assert figures["curves"]["status"] == "skipped"
    assert figures["shortcut"]["status"] == "drawn" and "Not drawn: shortcut_rate" in figures["shortcut"]["caption"]
    assert not (out / "xgen.png").exists()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "not drawn: no ok run has xgen_gain" in report and "RLVR transfer" in report


def test_paper_regenerates_every_sweep_and_checks_reproducibility(tmp_path, capsys):
    results = tmp_path / "results"
    item_sweep(results / "ablation", n_items=20, seeds=(0,), xgen=False)
    full_sweep(results / "shortcut_p")
    (results / "notes").mkdir()
    assert paper.main([str(results)]) == 0
    index = (results / "report.md").read_text(encoding="utf-8")
    assert "[ablation](ablation/analysis/report.md): 4 ok of 4 runs" in index and "shortcut_p" in index
    assert (results / "ablation" / "analysis" / "comparison.csv").exists()
    capsys.readouterr()
    assert paper.main([str(results), "--check"]) == 0
    assert "outputs reproduced exactly" in capsys.readouterr().out
    (results / "ablation" / "analysis" / "paired.md").write_text("edited by hand\n", encoding="utf-8")
    assert paper.main([str(results), "--check"]) == 1
    assert "ablation/paired.md: bytes differ" in capsys.readouterr().out
    assert paper.main([str(tmp_path / "nothing")]) == 2


def run_wandb_report(sweep, **env) -> subprocess.CompletedProcess:
    """``python -m analysis.wandb_report`` in a fresh process (W&B keeps global state per process)."""
    return subprocess.run([sys.executable, "-m", "analysis.wandb_report", str(sweep)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={**os.environ, **env})


@pytest.mark.parametrize("mode", ["offline", "online-without-key"])
def test_wandb_report_offline_fails_fast_and_clearly(tmp_path, mode):
    sweep = full_sweep(tmp_path / "sweep")
    env = {"WANDB_MODE": "offline"} if mode == "offline" else {
        "WANDB_MODE": "online", "WANDB_API_KEY": "", "HOME": str(tmp_path), "NETRC": str(tmp_path / "netrc"),
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config")}
    done = run_wandb_report(sweep, **env)
    if "wandb-workspaces" in done.stderr:  # the optional package is not installed here
        assert done.returncode == wandb_report.NO_WORKSPACES and ".[wandb]" in done.stderr
    else:
        assert done.returncode == wandb_report.OFFLINE and "nothing was created" in done.stderr
        assert ("WANDB_MODE=offline" if mode == "offline" else "no W&B API key") in done.stderr


def test_wandb_report_names_the_extra_without_wandb_workspaces(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb_workspaces", None)  # import fails as if not installed
    assert wandb_report.main([str(full_sweep(tmp_path / "sweep"))]) == wandb_report.NO_WORKSPACES
    assert 'pip install -e ".[wandb]"' in capsys.readouterr().err


def test_wandb_report_panels(tmp_path):
    pytest.importorskip("wandb_workspaces")
    sweep = item_sweep(tmp_path / "sweep", n_items=20, seeds=(0,))
    analyze(sweep)
    report = wandb_report.build_report(sweep)
    grids = [b for b in report.blocks if type(b).__name__ == "PanelGrid"]
    keys = {k for g in grids for p in g.panels for k in (getattr(p, "metrics", None) or getattr(p, "y", None) or [])}
    assert {"train/reward", f"eval/{GQA}/acc", f"eval/{GQA}/shortcut_rate", f"eval/{GQA}/xgen_gain/strong",
            f"eval/{GQA}/p_trunc/0.5"} <= keys
    assert grids[0].runsets[0].filters == "Metric('Group') == 'test'" and grids[0].runsets[0].groupby == ["JobType"]


def test_sweep_summary_logged_offline_equals_the_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    sweep = item_sweep(tmp_path / "sweep", n_items=20, seeds=(0, 1), xgen=False)
    out = analyze(sweep, wandb_mode="offline")
    logged = read_offline_run(out / "wandb")
    assert (logged["run"]["run_group"], logged["run"]["job_type"]) == ("test", "analysis")
    for name in ("claims", "comparison", "paired", "budget"):
        table = logged["tables"][f"analysis/{name}"]
        expected = read_table(out / f"{name}.csv")
        got = pd.DataFrame(table["data"], columns=table["columns"]).reindex(columns=expected.columns)
        pd.testing.assert_frame_equal(got.fillna(""), expected.fillna(""), check_dtype=False)
    assert logged["summary"]["runs/ok"] == 8
    assert logged["summary"]["figures/shortcut._type"] == "image-file"


def test_a_method_keeps_its_colour_on_a_suite_it_was_not_trained_on():
    from analysis.collect import MethodInfo, Methods
    from analysis.figures import EXTRA_STYLES, TRANSFER_LINE, style_map

    methods = Methods(rl=MethodInfo(2, ("#0072B2", "^", "-"), "rl"),
                      start=MethodInfo(3, ("#009E73", "D", "-."), "start"))
    styles = style_map(["rl", "start", "rl (data=micro_gqa)", "start (data=micro_gqa)", "start (stage2=answer)"],
                       methods)
    assert styles["rl"] == ("#0072B2", "^", "-")  # the style the method's runs declare
    assert styles["rl (data=micro_gqa)"] == (*styles["rl"][:2], TRANSFER_LINE)  # same colour and marker, dotted
    assert styles["start (data=micro_gqa)"] == (*styles["start"][:2], TRANSFER_LINE)
    assert styles["start (stage2=answer)"] in EXTRA_STYLES  # a variant of a method gets a style of its own
