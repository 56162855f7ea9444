"""Command line: ``python -m analysis <sweep_dir>`` writes every table, figure and the report, and prints a summary."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from analysis.report import analyze
from analysis.stats import LEVEL


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``python -m analysis.paper``."""
    parser.add_argument("--level", type=float, default=LEVEL, help=f"confidence level (default {LEVEL})")
    parser.add_argument("--kind", action="append", default=[], metavar="SUITE=KIND",
                        help="declare a suite math or gqa when its name does not tell (repeatable)")


def parse_kinds(items: list[str]) -> dict[str, str]:
    kinds = {}
    for item in items:
        suite, sep, kind = item.partition("=")
        if not sep or kind not in ("math", "gqa"):
            raise SystemExit(f"error: --kind expects SUITE=math or SUITE=gqa, got {item!r}")
        kinds[suite] = kind
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="sweep folder with one sub-folder per run")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <sweep_dir>/analysis)")
    parser.add_argument("--wandb", choices=("offline", "online"), default=None,
                        help="also log the tables and figures as one W&B run in the sweep's group")
    add_common_options(parser)
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"error: sweep directory not found: {args.sweep_dir}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = analyze(args.sweep_dir, args.out, level=args.level, kinds=parse_kinds(args.kind), wandb_mode=args.wandb)
    print(f"analysis written to {out} (report: {out / 'report.md'})\n")
    print((out / "summary.md").read_text(encoding="utf-8"), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
