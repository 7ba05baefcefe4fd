"""`fill` (Python, CLI, HTTP) against transformers' fill-mask pipeline on tiny random checkpoints
with a masked-LM head; the errors: no head, no mask, a bad k."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import bertex
from bertex.errors import InputError, NoTaskHeadError, OptionError

BIN = Path(sys.executable).parent / "bertex"
TEXT = "a man is [MASK] a horse ."
TWO = "the [MASK] is playing with a [MASK] ."


def _with_head(src: Path, dst: Path, cls_name: str, seed: int) -> Path:
    """The tiny encoder's folder with a random masked-LM model of the same config."""
    import transformers

    shutil.copytree(src, dst)
    for f in ("model.safetensors", "pytorch_model.bin"):
        (dst / f).unlink(missing_ok=True)
    cfg = transformers.AutoConfig.from_pretrained(str(src))
    torch.manual_seed(seed)
    getattr(transformers, cls_name)(cfg).eval().save_pretrained(str(dst))
    return dst


@pytest.fixture(scope="module")
def bert_mlm(bert_dir, tmp_path_factory) -> Path:
    return _with_head(bert_dir, tmp_path_factory.mktemp("f") / "bert-mlm", "BertForMaskedLM", 11)


@pytest.fixture(scope="module")
def roberta_mlm(roberta_dir, tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("f") / "roberta-mlm"
    return _with_head(roberta_dir, dst, "RobertaForMaskedLM", 12)


def _pipeline(folder: Path, text: str, k: int) -> list[list[dict]]:
    from transformers import pipeline

    out = pipeline("fill-mask", model=str(folder), top_k=k, device="cpu")(text)
    return out if isinstance(out[0], list) else [out]


def _assert_same(filled: bertex.Filled, want: list[list[dict]], k: int) -> None:
    assert len(filled.masks) == len(want)
    for mask, ref in zip(filled.masks, want, strict=True):
        assert len(mask.candidates) == k
        got_p = [c.probability for c in mask.candidates]
        assert got_p == pytest.approx([r["score"] for r in ref], abs=1e-5)
        assert [c.token_id for c in mask.candidates] == [r["token"] for r in ref]
        assert got_p == sorted(got_p, reverse=True)


@pytest.mark.parametrize("which", ["bert", "roberta"])
def test_fill_matches_transformers_pipeline(which, bert_mlm, roberta_mlm):
    folder = bert_mlm if which == "bert" else roberta_mlm
    model = bertex.load(folder)
    own = model.tokenizer.hf.mask_token
    for text in (TEXT, TWO):
        ref_text = text.replace("[MASK]", own)
        want = _pipeline(folder, ref_text, 7)
        _assert_same(model.fill(ref_text, k=7), want, 7)
        # the other spelling of the mask gives the same answer, with offsets in the caller's text
        spelling = "<mask>" if own == "[MASK]" else "[MASK]"
        other = ref_text.replace(own, spelling)
        filled = model.fill(other, k=7)
        _assert_same(filled, want, 7)
        assert [other[m.start : m.end] for m in filled.masks] == [spelling] * len(want)


def test_fill_many_texts_offsets_and_best(bert_mlm):
    model = bertex.load(bert_mlm)
    texts = [TEXT, TWO, "[MASK]"]
    many = model.fill(texts, k=3)
    assert [len(f.masks) for f in many] == [1, 2, 1]
    for text, f in zip(texts, many, strict=True):
        assert [text[m.start : m.end] for m in f.masks] == ["[MASK]"] * len(f.masks)
        one = model.fill(text, k=3)  # batch invariance: alone or in a list, the same answer
        for a, b in zip(one.masks, f.masks, strict=True):
            assert [c.probability for c in a.candidates] == pytest.approx(
                [c.probability for c in b.candidates], abs=1e-6
            )
        best = f.best()
        assert "[MASK]" not in best
        assert all(m.candidates[0].word in best for m in f.masks)
    doc = many[1].to_dict()
    assert doc["masks"][1]["start"] == TWO.rindex("[MASK]")
    assert set(doc["masks"][0]["candidates"][0]) == {"token", "token_id", "word", "probability"}


def test_fill_errors(bert_mlm, default_model):
    model = bertex.load(bert_mlm)
    with pytest.raises(InputError, match="no mask in the text") as e:
        model.fill(["a [MASK] .", "no mask here"])
    assert e.value.index == 1
    for bad in (0, -1, True, "3", 10**7):
        with pytest.raises(OptionError, match="k="):
            model.fill(TEXT, k=bad)
    with pytest.raises(InputError, match="empty"):
        model.fill("  ")
    with pytest.raises(NoTaskHeadError, match="tune mlm first, or use a checkpoint that has one"):
        default_model.fill("The capital of France is [MASK].")
    with pytest.raises(NoTaskHeadError, match="tune mlm first"):
        bertex.fill("Paris is the [MASK] of France.")


def _cli(*args: str, capsys=None) -> subprocess.CompletedProcess:
    """In-process (seconds, not a Python start per call) unless capsys is left out."""
    if capsys is None:
        cmd = [str(BIN), "fill", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    from bertex.cli.main import main

    try:
        code = main(["fill", *args])
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_fill_cli_json_equals_library_and_errors_exit_2(bert_mlm, capsys):
    r = _cli(TWO, "--model", str(bert_mlm), "-k", "4", "--format", "json", capsys=capsys)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    want = bertex.load(bert_mlm).fill(TWO, k=4).to_dict()
    assert doc[0]["best"] == want["best"]
    for g, w in zip(doc[0]["masks"], want["masks"], strict=True):
        assert [c["token_id"] for c in g["candidates"]] == [c["token_id"] for c in w["candidates"]]
    human = _cli(TEXT, "--model", str(bert_mlm), "-k", "2", capsys=capsys)
    assert human.returncode == 0 and "mask 0 (characters 9:15)" in human.stdout
    for args, needle in (
        ((TEXT, "--model", str(bert_mlm), "-k", "0"), "not an integer >= 1"),
        (("no mask", "--model", str(bert_mlm)), "no mask in the text"),
    ):
        r = _cli(*args, capsys=capsys)
        assert r.returncode == 2 and needle in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = _cli(TEXT)  # a real process, on the default model (no masked-LM head)
    assert r.returncode == 2 and "tune mlm first" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def _client(model: bertex.Model):
    from starlette.testclient import TestClient

    from bertex.server.app import create_app
    from bertex.server.config import ServerConfig

    return TestClient(create_app(model, ServerConfig()), base_url="http://127.0.0.1")


def _ready(client) -> None:
    for _ in range(200):
        if client.get("/health").status_code == 200:
            return
        time.sleep(0.05)


def test_fill_http_route(bert_mlm, tiny_bert):
    model = bertex.load(bert_mlm)
    with _client(model) as client:
        _ready(client)
        r = client.post("/v1/fill", json={"input": [TEXT, TWO], "k": 3})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        for d, f in zip(data, model.fill([TEXT, TWO], k=3), strict=True):
            assert d["best"] == f.best()
            assert [m["start"] for m in d["masks"]] == [m.start for m in f.masks]
            got = [c["probability"] for c in d["masks"][0]["candidates"]]
            assert got == pytest.approx([c.probability for c in f.masks[0].candidates], abs=1e-6)
        for body, param in (
            ({"input": "no mask"}, "input[0]"),
            ({"input": TEXT, "k": 0}, "k"),
            ({"input": TEXT, "top": 3}, "top"),
        ):
            r = client.post("/v1/fill", json=body)
            assert r.status_code == 422 and r.json()["error"]["param"] == param, r.text
    with _client(tiny_bert) as client:  # an encoder without a head
        _ready(client)
        r = client.post("/v1/fill", json={"input": TEXT})
        assert r.status_code == 422 and r.json()["error"]["code"] == "missing_head"
        assert "tune mlm first" in r.json()["error"]["message"]
