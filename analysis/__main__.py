"""Command line: ``python -m analysis <sweep_dir> [--out DIR]`` writes the analysis and prints a summary."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from analysis.report import analyze


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="sweep folder with one sub-folder per run")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <sweep_dir>/analysis)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"error: sweep directory not found: {args.sweep_dir}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = analyze(args.sweep_dir, args.out)
    print(f"analysis written to {out}\n")
    print((out / "summary.md").read_text(encoding="utf-8"), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
