"""Issue 30 case 6: every command that reads a user's file decodes it the way the corpus reader
does (sources.files.utf8_lines): UTF-16 refused whole with an iconv hint, a line that is not
UTF-8 refused naming the file and the line; never a UnicodeDecodeError traceback."""

from __future__ import annotations

import pytest

from bertex.cli.main import main

from .test_io_attacks import one_line_error

LABELLED = "text,label\n" + "".join(
    f"{t},{y}\n"
    for t, y in [("a good film", "pos"), ("great acting", "pos"), ("i loved it", "pos"),
                 ("a bad film", "neg"), ("awful acting", "neg"), ("i hated it", "neg")]
)  # fmt: skip
PAIRS = "sentence1,sentence2,score\na cat,a dog,1\nthe man,a woman,2\na car,a bus,3\n"
CONLL = (
    "John\tB-person\nlives\tO\nhappily\tO\n\nMary\tB-person\nleft\tO\n\nAnna\tB-person\nran\tO\n"
)


def utf16(text: str) -> bytes:
    return text.encode("utf-16")


def latin1_on_line_3(text: str) -> bytes:
    lines = text.encode("utf-8").split(b"\n")
    lines[2] = lines[2].replace(b"a", b"\xe9", 1)  # Latin-1 e-acute: not UTF-8
    return b"\n".join(lines)


COMMANDS = {
    "probe": ("data.csv", LABELLED, lambda f, out: ["probe", f, "--folds", "2"]),
    "eval sts": ("pairs.csv", PAIRS, lambda f, out: ["eval", "sts", f]),
    "train classify": (
        "train.csv",
        LABELLED,
        lambda f, out: ["train", "classify", "--data", f, "--out", out],
    ),
    "train tag": ("train.conll", CONLL, lambda f, out: ["train", "tag", "--data", f, "--out", out]),
    "probe --tags": ("tags.conll", CONLL, lambda f, out: ["probe", "--tags", f, "--folds", "2"]),
    "jsonl": (
        "pairs.jsonl",
        '{"sentence1": "a", "sentence2": "b", "score": 1}\n' * 2
        + '{"sentence1": "a", "sentence2": "b", "score": 1}\n',
        lambda f, out: ["eval", "sts", f],
    ),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(
    "damage, why",
    [
        (utf16, "it is UTF-16 (it starts with a byte order mark); bertex reads UTF-8"),
        (latin1_on_line_3, "line 3: invalid UTF-8 at byte"),
    ],
    ids=["utf16", "latin1"],
)
def test_case6_analysis_readers_decode_like_the_corpus_reader(
    bert_dir, tmp_path, capsys, command, damage, why
):
    """Before the fix: a UnicodeDecodeError traceback (probe, eval sts, train)."""
    name, text, argv = COMMANDS[command]
    path = tmp_path / name
    path.write_bytes(damage(text))
    out = tmp_path / "head.bertex"
    assert main([*argv(str(path), str(out)), "--model", str(bert_dir)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(path) in line and why in line and "iconv" in line, line
    assert not out.exists()


@pytest.mark.parametrize("damage", [utf16, latin1_on_line_3], ids=["utf16", "latin1"])
def test_case6_predict_input_decodes_like_the_corpus_reader(
    tiny_bert, bert_dir, tmp_path, capsys, damage
):
    from .test_head_files import write_head

    head = write_head(tmp_path / "h.bertex", tiny_bert)
    path = tmp_path / "in.txt"
    path.write_bytes(damage("a good film\nan awful film\na fine day\n"))
    argv = ["predict", str(head), "--input", str(path), "--model", str(bert_dir)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert str(path) in one_line_error(err) and out == ""
