"""Issue 30 cases 1 and 2: a Google TF folder whose bert_config.json or vocab.txt lies about the
checkpoint. Each is refused with one line naming the file and the fix, before anything is built."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from bertex.cli.main import main

from .test_io_attacks import one_line_error

TINY = Path(__file__).resolve().parents[3] / "shared" / "data" / "tf-checkpoint-tiny"


@pytest.fixture
def tf_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BERTEX_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "uncased_tiny"
    shutil.copytree(TINY, folder)
    return folder


def _claim(folder: Path, **sizes: int) -> None:
    path = folder / "bert_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **sizes}))


@pytest.mark.parametrize(
    "sizes, named",
    [
        ({"hidden_size": 10_000_000, "num_attention_heads": 1}, "hidden_size=10000000"),
        ({"num_hidden_layers": 100_000}, "num_hidden_layers=100000"),
        ({"intermediate_size": 10**9}, "intermediate_size=1000000000"),
        ({"max_position_embeddings": 10**9}, "max_position_embeddings=1000000000"),
        ({"vocab_size": -3}, "vocab_size=-3 is not a positive whole number"),
    ],
)
def test_case1_config_claiming_huge_sizes_is_refused_at_once(tf_copy, capsys, sizes, named):
    """Before the fix a hidden_size of 10,000,000 and 100,000 layers ran for minutes while
    memory grew; the sizes are now held against the tensor shapes before anything is built."""
    import transformers  # noqa: F401  (imported up front: the bound is on the check, not imports)

    _claim(tf_copy, **sizes)
    start = time.process_time()  # CPU seconds: the bound holds on a loaded machine too
    assert main(["info", str(tf_copy)]) == 2
    took = time.process_time() - start
    line = one_line_error(capsys.readouterr().err)
    assert "bert_config.json" in line and named in line, line
    assert took < 1.0, f"{took:.2f} CPU s"  # before the fix: minutes, memory growing


@pytest.mark.parametrize(
    "content, why",
    [
        (b"", "is empty"),
        (b"hello\nworld\n##s\n", "lacks BERT's special tokens [CLS], [SEP], [UNK], [PAD], [MASK]"),
        (b"[PAD]\n[UNK]\n[CLS]\n[MASK]\nhello\n", "lacks BERT's special tokens [SEP]"),
        (b"[PAD]\n[UNK]\n\xff\xfe[SEP]\n", "line 3 is not UTF-8"),
    ],
)
def test_case2_vocab_without_special_tokens_is_refused(tf_copy, capsys, content, why):
    """Before the fix: exit 1 and a 20-line TypeError traceback from the tokenizer build."""
    (tf_copy / "vocab.txt").write_bytes(content)
    assert main(["info", str(tf_copy)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "vocab.txt" in line and why in line, line
    assert main(["convert", str(tf_copy), str(tf_copy.parent / "out")]) == 2
    assert why in one_line_error(capsys.readouterr().err)
