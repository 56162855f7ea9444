"""Write ``constraints.txt``: the exact installed version of every package ``starbench[dev]`` needs.

Walks the dependency closure of ``pyproject.toml`` (``[project] dependencies`` plus the ``dev`` extra)
through the installed packages' metadata and pins each at the version installed here, so the lock
holds what the tests and ``bench/RESULTS.md`` ran with and nothing else of the environment. torch is
pinned without its local tag (``2.13.0``, not ``2.13.0+cpu``) so that pip keeps taking the CPU wheel
named in the install command. Usage: ``python bench/freeze_lock.py > constraints.txt``.
"""

from __future__ import annotations

import sys
import tomllib
from datetime import date
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("dev",)


def closure() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    todo = [(Requirement(r), "") for r in project["dependencies"]]
    todo += [(Requirement(r), "") for extra in EXTRAS for r in project["optional-dependencies"][extra]]
    pinned: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        for wanted in ("", *sorted(req.extras)):
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            dist = metadata.distribution(req.name)
            pinned[name] = dist.version.split("+")[0]
            todo += [(Requirement(r), wanted) for r in dist.requires or []]
    return pinned


def main() -> None:
    pins = closure()
    print(f"# Exact versions of starbench[dev] and everything it pulls in, as installed on the machine that\n"
          f"# produced the tests' and bench/RESULTS.md's numbers ({date.today().isoformat()}, Python "
          f"{sys.version_info.major}.{sys.version_info.minor}, {len(pins)} packages).\n"
          "# Used by both README install commands and .ci/run: pip install -c constraints.txt torch==2.13.0 ...\n"
          "# Not covered: the [gpu] extra (vllm pins its own torch). Regenerate: python bench/freeze_lock.py")
    for name in sorted(pins):
        print(f"{name}=={pins[name]}")


if __name__ == "__main__":
    main()
