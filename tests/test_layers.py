"""The package's declared layer order: every import goes down (or sideways within a layer),
never up. Written once, here; docs/architecture.md draws the same order.

    7  adapters           cli/  server/  distributed/
    6  public surface     bertex/__init__.py (what users import; adapters may, as users do)
    5  uses of models     analysis/  index/  viz/  heads.py  holdout.py  tune/ (training)
                          tasks/ (task models: entity spans, answers, rerank)
    4  facade             request.py  runner.py  api.py  passes.py  engine.py  corpus.py
                          loader.py (assembles a Model)  fake.py (a Model on the fake backend)
                          columnar.py (the batch-at-a-time sentence path)  fill.py (Model.fill)
                          calibrate.py (calibrated int8 and its quality gate)
    3  models, backends   models/  backends/
    2  pipeline stages    sources/  tokenize.py  sentences.py  windows.py  batching.py
                          pooling.py  align.py  assemble.py  diagnostics.py  sinks/  jobstate.py
                          columns.py  reports.py (columnar tokens and reports)
    1  ground             _version.py  errors.py  types.py  config.py  cache.py
                          clock.py (stage timings)

Every import counts, lazy and TYPE_CHECKING ones included, `import bertex` as much as
`from bertex.x import y`. A module that no layer names is refused too: a new top-level module or
package says where it stands by being added here. No exceptions are listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "bertex"
ROOT = "__init__"  # the package root's own layer name

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ground", ("_version", "errors", "types", "config", "cache", "clock")),
    (
        "pipeline stages",
        (
            "sources",
            "tokenize",
            "sentences",
            "windows",
            "batching",
            "pooling",
            "align",
            "assemble",
            "diagnostics",
            "sinks",
            "jobstate",
            "columns",
            "reports",
        ),
    ),  # fmt: skip
    ("models and backends", ("models", "backends")),
    (
        "facade",
        (
            "request",
            "runner",
            "api",
            "passes",
            "engine",
            "corpus",
            "loader",
            "fake",
            "fill",
            "columnar",
            "calibrate",
        ),
    ),
    ("uses of models", ("analysis", "index", "viz", "heads", "holdout", "tune", "tasks")),
    ("public surface", (ROOT,)),
    ("adapters", ("cli", "server", "distributed")),
)
LEVEL = {name: n for n, (_, names) in enumerate(LAYERS) for name in names}


def top(module: str) -> str:
    """'bertex.index.core' -> 'index'; 'bertex' -> the root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def module_of(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(("bertex", *parts))


def imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every bertex import in the file, relative ones resolved."""
    here = module_of(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "bertex"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "bertex":
                continue
            if mod == "bertex":  # `from . import x` names a submodule (or a root name)
                out += [(node.lineno, f"bertex.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, mod))
    return out


def _name(mod: str) -> str:
    """The import's target as a layer key: a root name that is no submodule is the root."""
    first = top(mod)
    is_module = (SRC / f"{first}.py").exists() or (SRC / first / "__init__.py").exists()
    return first if is_module or first == ROOT else ROOT


def test_every_module_has_a_layer():
    unplaced = sorted(
        {top(module_of(p)) for p in SRC.rglob("*.py")} - set(LEVEL),
    )
    assert unplaced == [], f"add these to a layer in tests/test_layers.py: {unplaced}"


def climbs(path: Path, text: str | None = None) -> list[str]:
    here = top(module_of(path))
    found = []
    for line, mod in imports(path, text):
        there = _name(mod)
        if LEVEL.get(there, -1) > LEVEL.get(here, len(LAYERS)):
            found.append(
                f"{path.relative_to(SRC)}:{line} ({LAYERS[LEVEL[here]][0]}) imports {mod} "
                f"({LAYERS[LEVEL[there]][0]})"
            )
    return found


def test_imports_never_climb_the_layers():
    assert [c for path in sorted(SRC.rglob("*.py")) for c in climbs(path)] == []


def test_the_check_sees_a_climb():
    """A lazy `import bertex` and a relative import of the facade, in a pipeline stage."""
    text = "def f():\n    import bertex\n    from .api import Model\n    from . import errors\n"
    assert climbs(SRC / "pooling.py", text) == [
        "pooling.py:2 (pipeline stages) imports bertex (public surface)",
        "pooling.py:3 (pipeline stages) imports bertex.api (facade)",
    ]
