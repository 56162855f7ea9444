"""The regime map (analysis/regimes.py): drawn from runs at several training shortcut_p, absent otherwise."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.regimes import shortcut_of
from analysis.report import analyze
from analysis.wandb_report import FIGURES, figure_names
from tests.test_analysis import GQA, item_sweep, synth_records, write_run

OOD = "micro_gqa_ood"
#: (shortcut_p, method) -> i.i.d. accuracy; the o.o.d. accuracy falls with shortcut_p for the trained methods
IID = {("0.3", "base"): 0.4, ("0.3", "rl"): 0.8, ("0.3", "start"): 0.7,
       ("0.9", "base"): 0.9, ("0.9", "rl"): 0.9, ("0.9", "start"): 0.9}


def with_modes(records: list[dict], seed: int, follows: float, corrupt: float, careful: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [r | {"answer_follows": float(rng.random() < follows), "corrupt_follow": float(rng.random() < corrupt),
                 "mode_careful": float(rng.random() < careful)} for r in records]


def regime_sweep(sweep):
    for (p, method), acc in IID.items():
        trained = method != "base"
        ood_acc = (0.7 if p == "0.3" else 0.05) if trained else 0.2
        careful = (0.8 if p == "0.3" else 0.1) if trained else 0.3
        for seed in (0, 1):
            own = seed + 10 * len(method)  # each method its own draws: equal rates, not equal records
            records = with_modes(synth_records(own, 60, acc), own, 0.95, 0.6, careful)
            ood = with_modes(synth_records(own + 7, 60, ood_acc, suite=OOD, xgen=False), own, 0.95, 0.6, careful)
            write_run(sweep, method, seed, data=GQA, records=records, extra_suites={OOD: ood},
                      overrides=(f"data.params.shortcut_p={p}", "threads=1"))
    return sweep


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    sweep = regime_sweep(tmp_path_factory.mktemp("regimes") / "sweep")
    return sweep, analyze(sweep)


def test_the_map_is_drawn_from_the_runs_and_listed(analysed):
    sweep, out = analysed
    figures = {f["name"]: f for f in json.loads((out / "manifest.json").read_text())["figures"]}
    assert figures["regimes"]["status"] == "drawn" and figures["regimes"]["data"] == "regimes.csv"
    assert len(figures["regimes"]["runs"]) == 12
    for name in ("regimes.png", "regimes.pdf", "regimes.csv"):
        assert (out / name).stat().st_size > 0
    assert "![Regime map" in (out / "report.md").read_text()
    assert "regimes" in figure_names(out) and "regimes" not in FIGURES  # the W&B report shows the map too


def test_every_point_is_the_mean_over_seeds_of_the_runs(analysed):
    sweep, out = analysed
    frame = pd.read_csv(out / "regimes.csv")
    assert set(frame["shortcut_p"]) == {0.3, 0.9}
    assert set(zip(frame["suite"], frame["metric"], strict=True)) == {
        (GQA, "acc"), (OOD, "acc"), (GQA, "answer_follows"), (GQA, "corrupt_follow"), (GQA, "mode_careful")}
    for (p, method), _ in IID.items():
        for suite in (GQA, OOD):
            row = frame[(frame["shortcut_p"] == float(p)) & (frame["method"] == method) & (frame["suite"] == suite)
                        & (frame["metric"] == "acc")].iloc[0]
            runs = [json.loads((sweep / r / "results.json").read_text()) for r in row["runs"].split()]
            assert row["mean"] == pytest.approx(np.mean([r["metrics"][f"{suite}/acc"] for r in runs]), abs=1e-6)
            assert row["ci_lo"] <= row["mean"] <= row["ci_hi"] and row["n_seeds"] == 2
            assert 0.0 <= row["ci_lo"] and row["ci_hi"] <= 1.0  # clipped to the values an accuracy can take
    ood = frame[(frame["suite"] == OOD) & (frame["method"] == "rl")].set_index("shortcut_p")["mean"]
    assert ood[0.3] > 0.5 > 0.2 > ood[0.9]  # the planted effect is where it was planted


def test_start_minus_rl_is_paired_per_point(analysed):
    _, out = analysed
    frame = pd.read_csv(out / "regimes.csv")
    delta = frame[frame["method"] == "start − rl"]
    assert len(delta) == 2 * 5  # every shortcut_p and panel
    cells = frame[frame["method"].isin(["start", "rl"])].pivot_table(
        index=["shortcut_p", "suite", "metric"], columns="method", values="mean")
    for row in delta.itertuples():
        assert row.mean == pytest.approx(cells.loc[(row.shortcut_p, row.suite, row.metric), "start"]
                                         - cells.loc[(row.shortcut_p, row.suite, row.metric), "rl"], abs=1e-5)
        assert row.note == "paired: items+seeds" and row.ci_lo <= row.mean <= row.ci_hi


def test_a_sweep_without_a_shortcut_p_axis_has_no_map(tmp_path):
    out = analyze(item_sweep(tmp_path / "sweep", seeds=(0, 1)))
    names = [f["name"] for f in json.loads((out / "manifest.json").read_text())["figures"]]
    assert "regimes" not in names and not (out / "regimes.csv").exists()
    assert "regimes" not in figure_names(out)


def test_the_shortcut_p_of_a_setting():
    assert shortcut_of("data.params.shortcut_p=0.7") == (0.7, "")
    assert shortcut_of("algo=grpo, data.params.shortcut_p=0.3") == (0.3, "algo=grpo")
    assert shortcut_of("algo=grpo") == (None, "algo=grpo")
