"""The package's shape: no import cycle (imports inside functions count), the schema at the bottom, analysis
reading only the metric catalogue, one home per method, suite and kind, and every default written once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from harness.config import CONF_DIR, Config
from harness.evaluation.metrics import CATALOGUE, catalogue_markdown, item_metric, metric
from harness.methods import METHODS
from harness.models import KINDS
from harness.suites import SUITES
from tests.conftest import ROOT

PACKAGE = ROOT / "harness"
ANALYSIS_MAY_IMPORT = {"harness.evaluation.metrics"}
#: option groups whose files set schema values (conf/<group>/<option>.yaml -> Config.<group>)
GROUPS = ("method", "algo", "train", "model", "data", "eval", "logger")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def harness_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every harness module ``path`` imports, anywhere in the file (functions and TYPE_CHECKING blocks too);
    ``import_submodules(__name__)`` imports every module of its package."""
    me = module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "import_submodules"
              and [getattr(a, "id", None) for a in node.args] == ["__name__"]):
            names = [m for m in modules if m.rpartition(".")[0] == me]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `import a.b.c` where c is an attribute
                name = name.rpartition(".")[0]
            if name and name != me:
                found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = harness_modules()
    return {name: imports_of(path, set(modules)) for name, path in modules.items()}


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = import_graph()
    assert cycles(graph) == []
    graph["harness.config"] = graph["harness.config"] | {"harness.run"}  # run -> ... -> config
    planted = cycles(graph)
    assert planted and "harness.config" in planted[0] and "harness.run" in planted[0]


def test_function_level_and_plugin_imports_are_edges():
    graph = import_graph()
    assert "harness.sweep" in graph["harness.__main__"]
    assert {"harness.methods.start", "harness.methods.sft"} <= graph["harness.methods"]  # import_submodules


def test_harness_has_no_import_cycle():
    assert cycles(import_graph()) == [], "import cycles in harness/ (imports inside functions count)"


def test_the_schema_imports_nothing_of_the_harness():
    assert imports_of(PACKAGE / "config.py", set(harness_modules())) == set()


def test_analysis_imports_only_the_metric_catalogue():
    modules = set(harness_modules())
    for path in sorted((ROOT / "analysis").glob("*.py")):
        assert imports_of(path, modules) <= ANALYSIS_MAY_IMPORT, path.name


@pytest.mark.parametrize("group, registry", [("method", METHODS), ("data", SUITES)])
def test_every_registered_entry_has_its_config_file_and_back(group, registry):
    files = {p.stem: OmegaConf.load(p) for p in (CONF_DIR / group).glob("*.yaml")}
    named = {cfg.get("name", stem) for stem, cfg in files.items()}
    assert named == set(registry), f"conf/{group}/*.yaml names {sorted(named)}, registered {sorted(registry)}"
    assert all(cfg.get("name", stem) == stem for stem, cfg in files.items())


def test_model_kinds_are_one_object_each():
    assert set(KINDS) == {"micro", "hf", "scripted"}
    for kind in KINDS.values():
        assert type(kind).__module__ == f"harness.models.{kind.name}"


def test_a_lookup_error_names_the_valid_entries():
    with pytest.raises(KeyError, match=r"unknown method 'ppo'; registered: \['base', 'rl', 'sft', 'start'\]"):
        METHODS.lookup("ppo")


def _leaves(node: dict, prefix: str = ""):
    for key, value in node.items():
        if key == "defaults":
            continue
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def restated_defaults(conf_dir: Path = CONF_DIR) -> list[str]:
    """Values a YAML file sets to what the schema already has (an option's ``name`` excepted)."""
    schema = OmegaConf.structured(Config)
    files = [(p, group) for group in GROUPS for p in sorted((conf_dir / group).glob("*.yaml"))]
    files.append((conf_dir / "config.yaml", ""))
    found = []
    for path, group in files:
        for key, value in _leaves(OmegaConf.to_container(OmegaConf.load(path))):
            if key == "name" or key.startswith("hydra"):
                continue
            default = OmegaConf.select(schema, f"{group}.{key}" if group else key, default="<absent>")
            if (OmegaConf.to_container(default) if OmegaConf.is_config(default) else default) == value:
                found.append(f"{path.relative_to(conf_dir)}: {key}={value!r}")
    return found


def test_every_default_is_written_once_in_the_schema():
    assert restated_defaults() == []


def test_the_default_check_sees_a_restated_default(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "micro.yaml").write_text("steps: 30\ntemperature: 0.7\n")
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    assert restated_defaults(tmp_path) == ["train/micro.yaml: steps=30", "config.yaml: seed=0"]


def test_every_metric_a_suite_scores_is_in_the_catalogue():
    for name, suite in SUITES.items():
        keys = suite.metric_keys.fget(suite) if isinstance(suite.metric_keys, property) else suite.metric_keys
        missing = [k for k in keys if item_metric(k) is None]
        assert not missing, f"suite {name} scores {missing}, which harness/evaluation/metrics.py does not declare"


def test_the_catalogue_is_well_formed_and_documented():
    names = [m.name for m in CATALOGUE]
    assert len(names) == len(set(names))
    assert all(m.direction in ("higher", "lower", "neither") and m.doc and m.group for m in CATALOGUE)
    assert metric("xgen_gain/micro-late").name == "xgen_gain/" and metric("hedge_rate").item == "hedged"
    with pytest.raises(KeyError, match="not in the catalogue"):
        metric("hedge_rates")
    docs = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert catalogue_markdown() in docs, "docs/metrics.md: paste `python -m harness.evaluation.metrics` output"
