"""Hostile use of task folders: threads sharing one model (as the server's routes do), pair
inputs whose first text alone is over the limit, option values that cannot work."""

from __future__ import annotations

import sys
import threading

import pytest

from bertex import tasks

LONG = "the man rides a horse with a cat " * 60


def _hammer(call, threads: int = 8, rounds: int = 5) -> list[str]:
    """`call()` from several threads at once; the failures and wrong results, as text."""
    want = call()
    bad: list[str] = []

    def work() -> None:
        for _ in range(rounds):
            try:
                if call() != want:
                    bad.append("a different result")
            except Exception as e:  # the race shows as a shape error in the forward pass
                bad.append(f"{type(e).__name__}: {e}")

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: the race shows in every run
    try:
        pool = [threading.Thread(target=work) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    finally:
        sys.setswitchinterval(old)
    return bad


def test_one_tagger_shared_by_threads_gives_the_same_entities(tag_dir):
    tagger = tasks.load(tag_dir)
    assert _hammer(lambda: tagger.predict([LONG, "the dog"])) == []


def test_one_reader_shared_by_threads_gives_the_same_answers(qa_dir):
    reader = tasks.load(qa_dir)
    assert _hammer(lambda: reader.answer("who rides?", LONG, max_length=32, top_k=2)) == []


def test_a_pair_whose_first_text_fills_the_window_is_one_clear_error(
    classify_dir, cross_encoder_dir
):
    from bertex.errors import TooLongError

    classifier, ce = tasks.load(classify_dir), tasks.load(cross_encoder_dir)
    with pytest.raises(TooLongError, match="only the second text of a pair is cut"):
        classifier.predict(["fine", LONG], pairs=["x", "y"], truncate=True)
    for truncate in (True, False):  # the query's own error: no document is to blame
        with pytest.raises(TooLongError, match="^[0-9]+ tokens .*the query is never cut") as e:
            tasks.rerank(ce, LONG, ["a doc", "the horse"], truncate=truncate)
        assert e.value.index is None
    # a long second text is still cut and flagged
    (p,) = classifier.predict(["fine"], pairs=[LONG], truncate=True)
    assert p.truncated


def test_cli_pair_with_a_long_first_text_is_one_line_exit_2(classify_dir, capsys):
    from bertex.cli.main import main

    args = ["predict", "--model", str(classify_dir), "--text", LONG, "--pair", "x", "--truncate"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "shorten the first" in err


def test_an_empty_label_restriction_is_refused_not_nan(classify_dir):
    from bertex.errors import OptionError

    with pytest.raises(OptionError, match="negative"):
        tasks.load(classify_dir).predict(["the man"], labels=[])


@pytest.mark.parametrize("stride", [-1, 62, 10_000])
def test_a_window_stride_that_cannot_work_is_an_option_error(tag_dir, stride):
    from bertex.errors import OptionError

    with pytest.raises(OptionError, match="stride"):
        tasks.load(tag_dir).predict([LONG], stride=stride)


@pytest.mark.parametrize("top_n", [0, -1])
def test_rerank_top_n_below_one_is_refused(cross_encoder_dir, top_n):
    from bertex.errors import OptionError

    with pytest.raises(OptionError, match="top_n"):
        tasks.rerank(tasks.load(cross_encoder_dir), "q", ["a", "b", "c"], top_n=top_n)


def test_id2label_with_a_gap_is_one_line_exit_2(tag_dir, tmp_path, capsys):
    import json
    import shutil

    from bertex.cli.main import main

    folder = tmp_path / "gap"
    shutil.copytree(tag_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    labels = dict(config["id2label"])
    labels["7"] = labels.pop("6")  # ids 0..5 and 7 for a 7-output head
    config["id2label"], config["label2id"] = labels, {v: int(k) for k, v in labels.items()}
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["predict", "--model", str(folder), "--text", "the man"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no label for id 6" in err


def test_string_keyed_id2label_gives_the_labels_in_id_order(tag_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "strkeys"
    shutil.copytree(tag_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = dict(reversed(list(config["id2label"].items())))  # "6" first
    (folder / "config.json").write_text(json.dumps(config))
    from task_folders import NER_LABELS

    assert tasks.load(folder).labels == tuple(NER_LABELS)


def test_a_frozen_heads_empty_label_restriction_is_refused_not_nan(tiny_bert, tmp_path):
    from bertex.analysis import train
    from bertex.errors import OptionError

    path = tmp_path / "d.csv"
    path.write_text("text,label\nthe man,a\nthe dog,b\nthe cat,a\nthe horse,b\n")
    head = train.train_classify(tiny_bert, str(path)).bind(tiny_bert)
    assert head.predict(["the man"], labels=["b"])[0].label == "b"
    with pytest.raises(OptionError, match="labels=\\[\\]"):
        head.predict(["the man"], labels=[])


def test_a_file_that_is_not_utf8_is_one_line_exit_2(qa_dir, tag_dir, tmp_path, capsys):
    from bertex.cli.main import main

    bad = tmp_path / "latin1.txt"
    bad.write_bytes("the café man\n".encode("latin-1"))
    for args in (
        ["answer", "who?", "--context", str(bad), "--model", str(qa_dir)],
        ["predict", "--model", str(tag_dir), "--input", str(bad)],
    ):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "invalid UTF-8 at byte 7" in err, err
        assert (str(bad) in err) and ("--context" in err) == (args[0] == "answer"), err
