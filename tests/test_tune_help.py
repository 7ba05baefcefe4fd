"""`bertex tune TASK --help` says what its --train file holds (the --train flag's help
points there)."""

from __future__ import annotations

import pytest

from bertex.cli.main import main


@pytest.mark.parametrize(
    ("task", "phrases"),
    [
        ("pairs", ["sentence1", "score", "anchor", "negative", "JSONL"]),
        ("simcse", ["one sentence a line", "--dev: scored pairs"]),
    ],
)
def test_each_tasks_help_says_its_data_format(task: str, phrases: list[str], capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit):
        main(["tune", task, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the task's help says its format" in text
    for phrase in phrases:
        assert phrase in text, phrase
