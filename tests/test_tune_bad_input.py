"""Every bad input to `bertex tune` is one line on stderr and exit status 2, before anything
trains; no work folder is started and an earlier output is left as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bertex.cli.main import main

GOOD = (
    "sentence1,sentence2,score\n" + "A man plays.,A man is playing.,4.5\nA dog.,A cat.,1.0\n" * 16
)


def _case(tmp: Path, bert_dir: Path, name: str) -> tuple[list[str], str]:
    """(extra argv, a phrase the error must contain) for one bad input."""
    train = tmp / "train.csv"
    train.write_text(GOOD, encoding="utf-8")
    if name == "missing column":
        train.write_text("left,right,sim\na,b,1\n", encoding="utf-8")
        return [], "no column 'text_a' or 'sentence1'"  # ... and names those present
    if name == "empty file":
        train.write_text("", encoding="utf-8")
        return [], "the file is empty"
    if name == "only a header":
        train.write_text("sentence1,sentence2,score\n", encoding="utf-8")
        return [], "only a header row"
    if name == "score out of the stated range":
        return ["--score-range", "0,1"], "row 2: score 4.5 is outside the range 0..1"
    if name == "score out of any usual range":
        train.write_text(GOOD + "a,b,9\n", encoding="utf-8")
        return [], "scores run from 1 to 9, outside 0..1, 0..5 and -1..1"
    if name == "score not a number":
        train.write_text(GOOD + "a,b,high\n", encoding="utf-8")
        return [], "row 34: score 'high' is not a number"
    if name == "empty text":
        train.write_text(GOOD + ",b,1\n", encoding="utf-8")
        return [], "row 34: column 'sentence1' is empty"
    if name == "no such dev file":
        return ["--dev", str(tmp / "nope.csv")], "nope.csv: no such file"
    if name == "loss for other data":
        return ["--loss", "mnrl"], "loss='mnrl' is not valid"
    if name == "model without a tokenizer":
        broken = tmp / "no-tok"
        shutil.copytree(bert_dir, broken)
        for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
            (broken / f).unlink(missing_ok=True)
        return ["--model", str(broken)], "no tokenizer files"
    if name == "out is a file":
        (tmp / "out").write_text("x")
        return [], "is a file"
    if name == "out holds other files":
        (tmp / "out").mkdir()
        (tmp / "out" / "notes.txt").write_text("mine")
        return [], "holds files of its own"
    if name == "max length over the model's":
        return ["--max-length", "999"], "max_length=999 is not valid"
    raise AssertionError(name)


CASES = [
    "missing column",
    "empty file",
    "only a header",
    "score out of the stated range",
    "score out of any usual range",
    "score not a number",
    "empty text",
    "no such dev file",
    "loss for other data",
    "model without a tokenizer",
    "out is a file",
    "out holds other files",
    "max length over the model's",
]


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_line_and_exit_2(
    name: str, tmp_path: Path, bert_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    extra, phrase = _case(tmp_path, bert_dir, name)
    out = tmp_path / "out"
    before = _snapshot(out)
    argv = ["tune", "pairs", "--model", str(bert_dir), "--train", str(tmp_path / "train.csv")]
    argv += ["--out", str(out), "--max-steps", "1", "--quiet", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bertex: error: "), err
    assert phrase in lines[0], lines[0]
    if name == "missing column":
        assert "the file has 'left', 'right', 'sim'" in lines[0]
    assert not (tmp_path / "out.tune-state").exists()  # nothing started
    assert _snapshot(out) == before  # nothing lost


def test_another_jobs_model_is_kept_unless_overwrite(
    tmp_path: Path, bert_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    train = tmp_path / "train.csv"
    train.write_text(GOOD, encoding="utf-8")
    out = tmp_path / "out"
    argv = ["tune", "pairs", "--model", str(bert_dir), "--train", str(train), "--out", str(out)]
    argv += ["--max-steps", "1", "--batch-size", "4", "--quiet"]
    assert main(argv) == 0
    before = _snapshot(out)
    capsys.readouterr()
    assert main([*argv, "--lr", "1e-4"]) == 2  # another job: other options
    err = capsys.readouterr().err.strip()
    assert "holds another tuning job's model" in err and "--overwrite" in err
    assert _snapshot(out) == before
    assert main([*argv, "--lr", "1e-4", "--overwrite"]) == 0
    assert _snapshot(out) != before


def test_simcse_blank_text_file(tmp_path: Path, bert_dir: Path, capsys) -> None:  # noqa: ANN001
    text = tmp_path / "t.txt"
    text.write_text("\n  \n\n", encoding="utf-8")
    argv = ["tune", "simcse", "--model", str(bert_dir), "--train", str(text)]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert "no non-blank lines" in capsys.readouterr().err


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    if folder.is_file():
        return {"": folder.read_bytes()}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
