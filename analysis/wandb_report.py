"""``python -m analysis.wandb_report <sweep_dir>``: a W&B report with the analysis panels of one sweep.

The report shows the sweep's W&B group (runs grouped by ``job_type`` = method, mean with min–max over
seeds): training curves (reward, accuracy, completion length), shortcut and independence rates,
Cross-Generation gains per answerer, truncation accuracies p(λ), the analysis run's tables
(``python -m analysis <sweep> --wandb online`` logs them) and its figures, and the written summary.
Panels are built from the metric names in the sweep's ``results.json`` files, so nothing is asked of
the server before saving.

Saving needs the W&B server: when W&B is offline (``WANDB_MODE=offline``/``disabled``) or no API key
is configured, the command says so and exits with status 4 before any network call. Without the
``wandb-workspaces`` package it exits with status 3 naming the extra that installs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from analysis.collect import load_runs, metric_columns, ok_runs
from analysis.wandb_log import sweep_identity
from harness.evaluation.metrics import CATALOGUE, GROUPS

EXTRA = "wandb"  # pip install -e ".[wandb]" installs wandb-workspaces
OFFLINE_MODES = {"offline", "disabled", "dryrun"}
NO_WORKSPACES, OFFLINE = 3, 4
CURVE_KEYS = (("train/reward", "reward of sampled completions"), ("train/suite/acc", "accuracy of sampled completions"),
              ("train/completions/mean_length", "completion length (tokens)"))


#: report sections, one per group of the metric catalogue: (title, metric names; a name ending in "/" is a
#: family and matches every metric under it, e.g. xgen_gain/<answerer>)
SECTIONS = tuple((title, tuple(m.name for m in CATALOGUE if m.group == group)) for group, title in GROUPS.items())
FIGURES = ("forest", "xgen", "shortcut", "truncation", "curves")  # the analysis figures, in report order


def figure_names(analysis: Path) -> list[str]:
    """The figures the analysis drew (its ``manifest.json``, e.g. also ``regimes`` for a regime sweep), in
    its order; :data:`FIGURES` before the sweep is analysed."""
    manifest = analysis / "manifest.json"
    if not manifest.is_file():
        return list(FIGURES)
    return [f["name"] for f in json.loads(manifest.read_text(encoding="utf-8"))["figures"] if f["status"] == "drawn"]


def eval_keys(sweep_dir: Path, names: tuple[str, ...]) -> dict[str, list[str]]:
    """Per suite, the ``eval/<suite>/<metric>`` W&B keys (as the harness logs them) of the metrics in ``names``."""
    runs = ok_runs(load_runs(sweep_dir))
    keys: dict[str, list[str]] = {}
    for column in metric_columns(runs):
        suite, metric = column.split("/", 1)
        wanted = any(metric == n or (n.endswith("/") and metric.startswith(n)) for n in names)
        if wanted and runs[column].notna().any():
            keys.setdefault(suite, []).append(f"eval/{column}")
    return {suite: sorted(v) for suite, v in sorted(keys.items())}


def build_report(sweep_dir: str | Path, project: str | None = None, entity: str | None = None):
    """The ``wandb_workspaces`` Report for ``sweep_dir`` (not saved); raises ImportError without the package."""
    import wandb_workspaces.reports.v2 as wr

    sweep_dir = Path(sweep_dir)
    group, default_project, default_entity = sweep_identity(sweep_dir)
    project, entity = project or default_project, entity or default_entity or ""
    runset = wr.Runset(project=project, entity=entity, name=f"sweep {group}",
                       filters=f"Metric('Group') == '{group}'", groupby=["JobType"])

    def grid(panels: list) -> wr.PanelGrid:
        return wr.PanelGrid(runsets=[runset], panels=panels)

    def bars(title: str, metrics: list[str]) -> wr.BarPlot:
        return wr.BarPlot(title=title, metrics=metrics, groupby_aggfunc="mean", groupby_rangefunc="minmax")

    blocks = [wr.H1(f"Sweep {group}"),
              wr.P("Runs grouped by method (W&B job type); bars and lines: mean over seeds, range: min–max. "
                   "The claims' verdicts, CIs, paired tests and MDEs are in the analysis tables below and in "
                   "<sweep>/analysis/."),
              wr.H2("Training curves"),
              grid([wr.LinePlot(title=title, x="Step", y=[key], groupby_aggfunc="mean", groupby_rangefunc="minmax")
                    for key, title in CURVE_KEYS])]
    for title, names in SECTIONS:
        per_suite = eval_keys(sweep_dir, names)
        if per_suite:
            blocks += [wr.H2(title), grid([bars(suite, keys) for suite, keys in per_suite.items()])]
    analysis = sweep_dir / "analysis"
    blocks += [wr.H2("Analysis tables (job type: analysis)"),
               grid([wr.WeavePanelSummaryTable(table_name=f"analysis/{name}")
                     for name in ("claims", "comparison", "paired", "budget")]
                    + [wr.MediaBrowser(title="figures",
                                       media_keys=[f"figures/{name}" for name in figure_names(analysis)])])]
    if (analysis / "summary.md").exists():
        blocks += [wr.H2("Summary"), wr.MarkdownBlock(text=(analysis / "summary.md").read_text(encoding="utf-8"))]
    return wr.Report(project=project, entity=entity, title=f"starbench: sweep {group}",
                     description="Tables and figures of the sweep, from its run folders.", blocks=blocks)


def offline_reason() -> str | None:
    """Why W&B cannot be reached for saving (offline mode or no API key), or None; never calls the network."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in OFFLINE_MODES:
        return f"W&B is offline (WANDB_MODE={mode})"
    import wandb

    if not wandb.login(prompt=False, verify=False):
        return "no W&B API key is configured (WANDB_API_KEY or `wandb login`)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.wandb_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="sweep folder with one sub-folder per run")
    parser.add_argument("--project", default=None, help="W&B project (default: the runs' logger.project)")
    parser.add_argument("--entity", default=None, help="W&B entity (default: the runs' logger.entity)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"error: sweep directory not found: {args.sweep_dir}", file=sys.stderr)
        return 2
    try:
        import wandb_workspaces  # noqa: F401
    except ImportError:
        print("error: a W&B report needs the wandb-workspaces package: pip install wandb-workspaces "
              f"(the '{EXTRA}' extra of this project: pip install -e \".[{EXTRA}]\")", file=sys.stderr)
        return NO_WORKSPACES
    reason = offline_reason()
    if reason:
        print(f"error: {reason}: a W&B report is saved on the W&B server, so nothing was created. Upload the "
              "offline runs with `wandb sync <run>/wandb/offline-run-*`, then rerun with WANDB_MODE=online and an "
              "API key. The same tables and figures are on disk: python -m analysis " + str(args.sweep_dir),
              file=sys.stderr)
        return OFFLINE
    report = build_report(args.sweep_dir, args.project, args.entity)
    report.save()
    print(f"report saved: {report.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
