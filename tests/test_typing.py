"""Editors and mypy know what `embed` returns: the overloads on `level` and `on_error`."""

from __future__ import annotations

import sys

import pytest

SNIPPET = """
import bertex
m = bertex.load()
reveal_type(m.embed(["a"]))
reveal_type(m.embed("a", level="sentence"))
reveal_type(m.embed("a", level="token"))
reveal_type(m.embed("a", level="word"))
reveal_type(m.embed(["a"], on_error="collect"))
reveal_type(m.tokenize("a"))
"""


def test_embed_result_types_are_known_to_mypy(tmp_path):
    api = pytest.importorskip("mypy.api")  # the `test` extra installs it; CI always has it
    path = tmp_path / "use.py"
    path.write_text(SNIPPET)
    limit = sys.getrecursionlimit()
    try:
        out, err, code = api.run([str(path), "--ignore-missing-imports", "--no-incremental"])
    finally:  # mypy raises it for the whole process; tests that run after must not see that
        sys.setrecursionlimit(limit)
    revealed = [
        line.split('Revealed type is "')[1].rstrip('"')
        for line in out.splitlines()
        if "Revealed type" in line
    ]
    assert code == 0, out + err
    assert revealed == [
        "bertex.types.SentenceEmbeddings",
        "bertex.types.SentenceEmbeddings",
        "bertex.types.TokenEmbedding | list[bertex.types.TokenEmbedding]",
        "bertex.types.WordEmbedding | list[bertex.types.WordEmbedding]",
        "bertex.types.Collected",
        "bertex.types.Tokenized",
    ]
