"""tune's data readers on files as users have them: a UTF-8 byte-order mark (Excel's
"CSV UTF-8", Notepad) is not part of the first column's name or the first line's text."""

from __future__ import annotations

from pathlib import Path

from bertex.tune.data import pick_columns, read_lines, read_table

BOM = b"\xef\xbb\xbf"


def test_a_csv_with_a_bom_and_crlf_has_its_header(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes(BOM + b'sentence1,sentence2,score\r\n"a, b",c,1\r\n\r\nd,e,2\r\n')
    table = read_table(f, ("sentence1",))
    assert table.columns == ("sentence1", "sentence2", "score")
    assert pick_columns(table, [("text_a", "sentence1")]) == ["sentence1"]
    assert [r["sentence1"] for _, r in table.rows] == ["a, b", "d"]


def test_a_jsonl_and_a_text_file_with_a_bom(tmp_path: Path) -> None:
    j = tmp_path / "t.jsonl"
    j.write_bytes(BOM + b'{"text_a": "x", "text_b": "y", "score": 1}\n')
    assert read_table(j, ()).columns == ("text_a", "text_b", "score")
    t = tmp_path / "t.txt"
    t.write_bytes(BOM + b"first line\r\nsecond\r\n")
    assert read_lines(t) == ("first line", "second")


def test_truncation_of_training_and_dev_texts_is_said(tmp_path: Path, bert_dir: Path) -> None:
    import bertex

    long = " ".join(["the man is riding a horse"] * 20)  # well over the tiny model's 64
    head = "sentence1,sentence2,score\n"
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    train.write_text(head + f"{long},a dog,3\n" + "a man,a woman,2\n" * 7, encoding="utf-8")
    dev.write_text(head + f"{long},{long},1\n" + "a cat,a dog,4\na hat,a dog,0\n", encoding="utf-8")
    r = bertex.tune(
        "pairs", model=str(bert_dir), train=str(train), dev=str(dev), out=str(tmp_path / "o"),
        max_steps=1, batch_size=4, quiet=True,
    )  # fmt: skip
    notes = r.record["notes"]
    assert "1 training texts are over 64 tokens: truncated" in notes, notes
    assert "2 dev texts are over 64 tokens: truncated" in notes, notes
