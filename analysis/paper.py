"""``python -m analysis.paper <results dir>``: regenerate every table and figure of the paper from disk.

``<results dir>`` is one sweep folder or a folder of sweep folders (e.g. ``outputs/sweeps``). Each
sweep is analysed into ``<sweep>/analysis`` (or ``<out>/<sweep name>`` with ``--out``); with several
sweeps an index ``report.md`` links their reports. Nothing but the run folders is read, and the
output is deterministic: ``--check`` regenerates into a temporary folder, writes nothing, and exits 1
if any CSV, Markdown, LaTeX or JSON file differs byte for byte from the one on disk, or any PNG
differs in its pixels.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from analysis.__main__ import add_common_options, parse_kinds
from analysis.collect import RESULTS_FILE, load_runs, ok_runs, run_folders
from analysis.report import analyze
from analysis.tables import write_text

TEXT_SUFFIXES = (".csv", ".md", ".tex", ".json")


def find_sweeps(results_dir: Path) -> list[Path]:
    """``results_dir`` itself when it holds run folders, else its sub-folders that do."""
    def is_sweep(folder: Path) -> bool:
        return any((p / RESULTS_FILE).exists() for p in run_folders(folder))

    if is_sweep(results_dir):
        return [results_dir]
    return [p for p in run_folders(results_dir) if is_sweep(p)]


def output_dir(sweep: Path, out: Path | None, several: bool) -> Path:
    if out is None:
        return sweep / "analysis"
    return out / sweep.name if several else out


def index_markdown(results_dir: Path, reports: list[tuple[Path, Path]], index_dir: Path) -> str:
    """The index of several sweeps: one line per sweep with its run counts and a link to its report."""
    text = f"# Results in `{results_dir.name}`\n\n"
    for sweep, out in reports:
        runs = load_runs(sweep)
        link = Path(os.path.relpath(out / "report.md", index_dir)).as_posix()
        text += f"- [{sweep.name}]({link}): {len(ok_runs(runs))} ok of {len(runs)} runs\n"
    return text


def compare_dirs(expected: Path, actual: Path) -> list[str]:
    """Files that differ between two analysis folders: text byte for byte, PNG by pixels; missing files too."""
    problems = []
    names = sorted({p.relative_to(expected).as_posix() for p in expected.rglob("*") if p.is_file()
                    and p.suffix in (*TEXT_SUFFIXES, ".png") and "wandb" not in p.parts}
                   | {p.relative_to(actual).as_posix() for p in actual.rglob("*") if p.is_file()
                      and p.suffix in (*TEXT_SUFFIXES, ".png")})
    for name in names:
        old, new = expected / name, actual / name
        if not old.exists() or not new.exists():
            problems.append(f"{name}: only in {'the new' if new.exists() else 'the existing'} output")
        elif old.suffix == ".png":
            a, b = imread(old), imread(new)
            if a.shape != b.shape or not np.array_equal(a, b):
                problems.append(f"{name}: pixels differ")
        elif old.read_bytes() != new.read_bytes():
            problems.append(f"{name}: bytes differ")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.paper", description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dir", type=Path, help="a sweep folder, or a folder of sweep folders")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <sweep>/analysis per sweep, index in <results_dir>)")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary folder and compare with the outputs on disk")
    add_common_options(parser)
    args = parser.parse_args(argv)
    if not args.results_dir.is_dir():
        print(f"error: results directory not found: {args.results_dir}", file=sys.stderr)
        return 2
    sweeps = find_sweeps(args.results_dir)
    if not sweeps:
        print(f"error: no run folders (*/{RESULTS_FILE}) in {args.results_dir} or its sub-folders", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = {"level": args.level, "kinds": parse_kinds(args.kind)}
    several = len(sweeps) > 1
    if args.check:
        problems = []
        with tempfile.TemporaryDirectory() as tmp:
            for sweep in sweeps:
                expected = output_dir(sweep, args.out, several)
                fresh = analyze(sweep, Path(tmp) / sweep.name, **options)
                problems += [f"{sweep.name}/{p}" for p in compare_dirs(expected, fresh)]
        for line in problems:
            print(f"differs: {line}")
        print(f"{len(sweeps)} sweep(s) checked: " + ("outputs reproduced exactly" if not problems
                                                      else f"{len(problems)} file(s) differ"))
        return 1 if problems else 0
    reports = [(sweep, analyze(sweep, output_dir(sweep, args.out, several), **options)) for sweep in sweeps]
    for sweep, out in reports:
        print(f"{sweep.name}: {out / 'report.md'}")
    if several:
        index_dir = args.out or args.results_dir
        index = write_text(index_dir / "report.md", index_markdown(args.results_dir, reports, index_dir))
        print(f"index: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
