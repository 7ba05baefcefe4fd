"""The resolved request, the tolerant call, result kinds, and the package's shape."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import bertex

SRC = Path(__file__).resolve().parents[1] / "src" / "bertex"


# -- on_error="collect" ---------------------------------------------------------------------


def test_collect_embeds_the_good_inputs_and_names_the_bad(tiny_bert):
    texts = ["a man", "", "a dog runs", None, "\ud800", "the end"]
    got = tiny_bert.embed(texts, on_error="collect")
    assert isinstance(got, bertex.Collected) and not got.ok
    assert got.kept == (0, 2, 5)
    assert [e.index for e in got.errors] == [1, 3, 4]
    assert [type(e) for e in got.errors] == [
        bertex.EmptyInputError,
        bertex.InvalidTextError,
        bertex.InvalidTextError,
    ]
    assert "empty" in got.errors[0].reason and str(got.errors[0]).startswith("input 1: ")
    alone = tiny_bert.embed(["a man", "a dog runs", "the end"])
    assert np.abs(got.results.vectors - alone.vectors).max() <= 1e-6
    assert [r.index for r in got.results.reports] == [0, 2, 5]


def test_collect_at_token_level_and_for_length_errors(tiny_bert):
    long = " ".join(["word"] * 200)
    got = tiny_bert.embed(["a cat", long, "a dog"], level="token", long="error", on_error="collect")
    assert got.kept == (0, 2) and [e.index for e in got.errors] == [1]
    assert isinstance(got.errors[0], bertex.TooLongError) and got.errors[0].limit == 64
    assert [r.report.index for r in got.results] == [0, 2]
    assert got.results[1].tokens == tiny_bert.embed("a dog", level="token").tokens


def test_collect_with_nothing_left(tiny_bert):
    got = tiny_bert.embed(["", "  "], on_error="collect")
    assert got.results is None and got.kept == () and [e.index for e in got.errors] == [0, 1]


def test_collect_pairs_drop_the_pair_too(tiny_bert):
    got = tiny_bert.embed(["a", "b", "c"], ["x", "", "z"], on_error="collect")
    assert got.kept == (0, 2) and got.results.text_pairs == ("x", "z")


def test_raise_is_the_default_and_names_the_index(tiny_bert):
    with pytest.raises(bertex.EmptyInputError) as e:
        tiny_bert.embed(["ok", "ok", ""])
    assert e.value.index == 2 and "empty" in e.value.reason


def test_on_error_is_checked(tiny_bert):
    with pytest.raises(bertex.OptionError, match="'raise', 'collect'"):
        tiny_bert.embed("a", on_error="skip")


# -- the request: one rule each, nothing silently ignored --------------------------------------


def test_normalize_follows_the_model_whatever_the_pooling_or_layers(st_dir):
    model = bertex.load(st_dir)  # its sentence-transformers config normalizes
    for kw in ({}, {"pooling": "mean"}, {"pooling": "max"}, {"layers": -2}, {"layers": [1, 2]}):
        s = model.embed(["a man is dancing", "a dog"], **kw)
        assert s.meta.normalize and s.meta.normalize_source == "model config", kw
        assert np.allclose(np.linalg.norm(s.vectors, axis=-1), 1.0, atol=1e-5), kw
    t = model.embed("a man", level="token")
    assert not t.meta.normalize and t.meta.normalize_source == "not a pooled vector"


def test_model_without_normalize_never_normalizes_unless_asked(tiny_bert):
    s = tiny_bert.embed("a man is dancing")
    assert not s.meta.normalize and abs(np.linalg.norm(s.vector) - 1.0) > 1e-3
    n = tiny_bert.embed("a man is dancing", normalize=True)
    assert n.meta.normalize_source == "requested"
    assert np.abs(n.vector - s.vector / np.linalg.norm(s.vector)).max() <= 1e-6


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"level": "hidden_states", "combine": "mean"}, "combine"),
        ({"level": "hidden_states", "layers": [1]}, "layers"),
        ({"pooling": "first_last_avg", "layers": "all"}, "layers"),
        ({"pooling": "pooler", "layers": [1, 2]}, "layers"),
        ({"pooling": "pooler", "combine": "mean"}, "combine"),
        ({"level": "token", "layers": [1, 1]}, "layers"),
        ({"level": "token", "layers": [-1, 2]}, "layers"),
    ],
)
def test_combinations_that_would_be_ignored_are_refused(tiny_bert, kwargs, name):
    with pytest.raises(bertex.OptionError) as e:
        tiny_bert.embed("a man", **kwargs)
    assert e.value.name == name and "None" not in str(e.value.valid[:0])


def test_a_dict_is_not_a_list_of_texts(tiny_bert):
    with pytest.raises(bertex.InvalidTextError, match=r"dict.*list\(d.values\(\)\)"):
        tiny_bert.embed({"a": 1})
    with pytest.raises(bertex.InvalidTextError, match="set"):
        tiny_bert.embed({"a", "b"})
    gen = tiny_bert.embed(t for t in ["a", "b"])  # any other iterable is a list of texts
    assert gen.vectors.shape[0] == 2


def test_resolved_request_has_no_raw_options(tiny_bert):
    r = tiny_bert.resolve(bertex.EmbedOptions.create(level="word"))
    assert isinstance(r, bertex.Request) and not hasattr(r, "options")
    assert r.layers == (tiny_bert.info.num_layers,) and r.subword == "first"
    assert r.stride > 0 and r.max_length == tiny_bert.info.max_length


# -- result kinds and the one report form -----------------------------------------------------


def test_results_declare_their_kind_and_report_dicts_agree(tiny_bert):
    kinds = {
        lvl: tiny_bert.embed(["a cat"], level=lvl)
        for lvl in ("sentence", "token", "word", "hidden_states")
    }
    assert kinds["sentence"].kind == "sentence"
    assert kinds["token"][0].kind == "token" and kinds["word"][0].kind == "word"
    assert kinds["hidden_states"][0].meta.level == "hidden_states"
    report = kinds["token"][0].report
    d = report.to_dict()
    assert d["n_tokens"] == report.n_tokens and d["windowed"] is False
    tok = tiny_bert.tokenize("a cat").to_dict()
    assert {k: tok[k] for k in d} == d


# -- the package's shape ----------------------------------------------------------------------


def _imports(path: Path) -> list[str]:
    """Absolute module names this file imports from inside bertex (relative imports resolved)."""
    package = ".".join(("bertex", *path.relative_to(SRC).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + "." + "__init__"
    base = package.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = base[: len(base) - node.level + 1]
            mod = ".".join([*parts, *(node.module.split(".") if node.module else [])])
            if node.module is None:
                out += [f"{mod}.{a.name}" for a in node.names]
            else:
                out.append(mod)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bertex"):
            out.append(node.module or "")
    return out


def test_nothing_imports_the_package_root():
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p != SRC / "__init__.py" and "bertex" in _imports(p)
    ]
    assert offenders == []


def test_the_library_never_imports_an_adapter():
    adapters = ("bertex.cli", "bertex.server", "bertex.distributed")
    offenders = [
        f"{p.relative_to(SRC)} -> {m}"
        for p in SRC.rglob("*.py")
        if not str(p.relative_to(SRC)).startswith(("cli", "server", "distributed"))
        for m in _imports(p)
        if m.startswith(adapters)
    ]
    assert offenders == []


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def _file_of(module: str) -> str | None:
    rel = Path(*module.split(".")[1:])
    for cand in (SRC / rel.with_suffix(".py"), SRC / rel / "__init__.py"):
        if cand.exists():
            return str(cand.relative_to(SRC))
    return None


def test_the_import_graph_has_no_circles():
    """Every import counts, lazy and TYPE_CHECKING ones included: a circle is a design smell
    even where Python tolerates it."""
    graph: dict[str, set[str]] = {}
    for p in SRC.rglob("*.py"):
        here = str(p.relative_to(SRC))
        graph[here] = {f for m in _imports(p) if (f := _file_of(m)) and f != here}
        if p.name != "__init__.py":  # importing a submodule runs its package's __init__ first
            graph[here] -= {str(p.parent.relative_to(SRC) / "__init__.py")}
    circles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, set())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state and node != "__init__.py":
            visit(node, [node])
    assert circles == []
