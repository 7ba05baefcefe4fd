"""Masked-LM data (whole-word and Han per-character units, 80/10/10, specials, determinism,
packing) on the real tokenizers of tiny checkpoints, and a tiny `bertex tune mlm` run."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from bertex.tune import masking, mlm_data, packing
from bertex.tune.masking import IGNORE, SPECIAL

SENTENCES = [
    "a man is playing a guitar with a hard hat.",
    "the woman was riding a horse and the dog was running.",
    "tokenization works on unbelievably long words.",
]


@pytest.fixture(scope="module")
def toks(bert_dir, roberta_dir, xlmr_dir, chinese_bert_dir) -> dict:
    return {
        name: AutoTokenizer.from_pretrained(str(folder))
        for name, folder in (
            ("bert", bert_dir),
            ("roberta", roberta_dir),
            ("xlmr", xlmr_dir),
            ("chinese", chinese_bert_dir),
        )
    }


def _pieces(tok, doc: packing.Doc) -> list[str]:
    return tok.convert_ids_to_tokens(list(doc.ids))


@pytest.mark.parametrize(
    ("name", "scheme", "marker"),
    [("bert", "wordpiece", "##"), ("roberta", "bpe", "Ġ"), ("xlmr", "sentencepiece", "▁")],
)
def test_whole_word_units_follow_the_tokenizers_word_marks(toks, name, scheme, marker):
    tok = toks[name]
    assert mlm_data.scheme_of(tok) == scheme
    docs = mlm_data.docs_of(SENTENCES, tok, scheme)
    multi = 0
    for doc in docs:
        pieces = _pieces(tok, doc)
        words = list(doc.words)
        assert words[0] == 0 and all(b - a in (0, 1) for a, b in zip(words, words[1:]))
        for i in range(1, len(pieces)):
            continues = (
                pieces[i].startswith("##") if scheme == "wordpiece" else not
                pieces[i].startswith(marker)
            )  # fmt: skip
            assert (words[i] == words[i - 1]) == continues, (pieces, words)
        multi += len(words) - len(set(words))
    assert multi > 0  # the corpus has words of several pieces: the rule was exercised
    # a word's pieces read back as the word the tokenizer saw
    text = tok.convert_tokens_to_string(
        [p for p, w in zip(_pieces(tok, docs[2]), docs[2].words) if w == docs[2].words[-2]]
    )
    assert text.strip() in SENTENCES[2]


def test_han_text_is_masked_one_character_at_a_time(toks):
    tok = toks["chinese"]
    text = "我们在中国说的人"
    doc = mlm_data.docs_of([text + " abc"], tok, mlm_data.scheme_of(tok))[0]
    pieces = _pieces(tok, doc)
    han = [w for p, w in zip(pieces, doc.words) if masking.is_han(p)]
    assert len(han) == len(text) and len(set(han)) == len(text)  # a unit per character
    latin = [w for p, w in zip(pieces, doc.words) if not masking.is_han(p)]
    assert len(set(latin)) == 1 and latin[0] not in han  # "abc" (a, ##b, ##c) one word
    # byte-level pieces of one character share its span: one unit, and the next starts anew
    assert masking.word_ids(["ä½", "ł", "Ġcat", "ä½", "ł"], "bpe", [(0, 1), (0, 1), None,
                            (5, 6), (5, 6)]) == [0, 0, 1, 2, 2]  # fmt: skip


def _spec(tok, p=0.15) -> masking.MaskSpec:
    return mlm_data.spec_of(tok, len(tok), p)


def test_whole_words_masked_together_specials_never(toks):
    tok = toks["bert"]
    blocks = mlm_data.blocks_of(SENTENCES * 20, tok, 32)
    spec = _spec(tok, 0.3)
    specials = set(tok.all_special_ids)
    for i, b in enumerate(blocks):
        for epoch in range(5):
            inputs, labels = masking.mask(b.ids, b.words, spec, masking.rng_for(3, epoch, i))
            chosen = labels != IGNORE
            assert not chosen[b.words == SPECIAL].any()
            assert (inputs[b.words == SPECIAL] == b.ids[b.words == SPECIAL]).all()
            assert (labels[chosen] == b.ids[chosen]).all()
            for w in np.unique(b.words[chosen]):  # a word is masked whole or not at all
                assert chosen[b.words == w].all()
            replaced = inputs[chosen & (inputs != b.ids) & (inputs != spec.mask_id)]
            assert not set(replaced.tolist()) & specials


def test_80_10_10_and_rate_over_many_draws(toks):
    tok = toks["bert"]
    blocks = mlm_data.blocks_of(SENTENCES * 40, tok, 48)
    spec = _spec(tok)
    chosen = kept = masked = randomized = real = 0
    for epoch in range(40):
        for i, b in enumerate(blocks):
            inputs, labels = masking.mask(b.ids, b.words, spec, masking.rng_for(0, epoch, i))
            sel = labels != IGNORE
            chosen += sel.sum()
            real += (b.words != SPECIAL).sum()
            masked += (inputs[sel] == spec.mask_id).sum()
            kept += (inputs[sel] == b.ids[sel]).sum()
            randomized += ((inputs[sel] != spec.mask_id) & (inputs[sel] != b.ids[sel])).sum()
    assert chosen > 10_000
    assert chosen / real == pytest.approx(0.15, abs=0.01)  # whole words may fall short a little
    assert masked / chosen == pytest.approx(0.8, abs=0.015)
    assert randomized / chosen == pytest.approx(0.1, abs=0.01)
    assert kept / chosen == pytest.approx(0.1, abs=0.01)


def test_masks_are_seeded_and_order_independent(toks):
    tok = toks["roberta"]
    blocks = mlm_data.blocks_of(SENTENCES * 10, tok, 24)
    spec = _spec(tok)
    a = mlm_data.MaskedBlocks(blocks, spec, seed=7, epoch=2, pad_id=tok.pad_token_id)
    b = mlm_data.MaskedBlocks(blocks, spec, seed=7, epoch=2, pad_id=tok.pad_token_id)
    order = list(reversed(range(len(blocks))))
    forward = [a[i] for i in range(len(blocks))]
    backward = {i: b[i] for i in order}  # another visiting order (a resumed run)
    for i, (x, y) in enumerate(forward):
        assert (x == backward[i][0]).all() and (y == backward[i][1]).all()
    other = mlm_data.MaskedBlocks(blocks, spec, seed=7, epoch=3, pad_id=tok.pad_token_id)
    assert any((a[i][1] != other[i][1]).any() for i in range(len(blocks)))  # a new epoch: new
    batch = a.batch([0, len(blocks) - 1])
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape


def test_packing_fills_blocks_and_keeps_every_token(toks):
    tok = toks["bert"]
    docs = mlm_data.docs_of(SENTENCES * 7, tok, "wordpiece")
    blocks = packing.pack(docs, 20, tok.cls_token_id, tok.sep_token_id)
    assert all(len(b) == 20 for b in blocks[:-1]) and 3 <= len(blocks[-1]) <= 20
    assert all(b.ids[0] == tok.cls_token_id and b.ids[-1] == tok.sep_token_id for b in blocks)
    body = np.concatenate([b.ids[1:-1] for b in blocks])
    words = np.concatenate([b.words[1:-1] for b in blocks])
    stream = body[words != SPECIAL]  # the separators between documents removed
    assert stream.tolist() == [i for d in docs for i in d.ids]
    assert (body[words == SPECIAL] == tok.sep_token_id).all()
    assert (words == SPECIAL).sum() == len(docs) - 1
    with pytest.raises(ValueError, match="length=2"):
        packing.pack(docs, 2, 1, 2)
    assert packing.pack([], 8, 1, 2) == []


@pytest.mark.parametrize("module", [masking, packing])
def test_docstring_examples_hold(module):
    import doctest

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# --- bertex tune mlm: a tiny run, its output, its resume, its bad input ------------------------


class Death(BaseException):
    """Stands for SIGKILL in-process (no handler of bertex's catches it)."""


@pytest.fixture(scope="module")
def mlm_job(tmp_path_factory, bert_dir) -> dict:
    from conftest import english_corpus

    d = tmp_path_factory.mktemp("mlm")
    corpus = d / "corpus.txt"
    corpus.write_text("\n".join(english_corpus()[:150]) + "\n", encoding="utf-8")
    return dict(
        model=str(bert_dir), train=str(corpus), epochs=2, batch_size=8, lr=1e-3,
        max_length=32, save_steps=2, quiet=True, precision="fp32",
    )  # fmt: skip


@pytest.fixture(scope="module")
def mlm_out(mlm_job, tmp_path_factory):
    import bertex

    return bertex.tune("mlm", **mlm_job, out=str(tmp_path_factory.mktemp("mlm-full") / "m"))


def test_tune_mlm_writes_a_masked_lm_folder_with_per_epoch_accuracy(mlm_out, bert_dir):
    from transformers import AutoModel, AutoModelForMaskedLM

    import bertex

    record = mlm_out.record
    assert record["task"] == "mlm" and len(record["epochs"]) == 2
    for e in record["epochs"]:
        m = e["metrics"]
        assert 0 <= m["accuracy"] <= 1 and m["perplexity"] == pytest.approx(np.exp(m["loss"]))
    assert "initialised from its tied word embeddings" in record["head"]
    assert any("tied word embeddings" in n for n in record["notes"])
    assert "held-out slice" in record["dev_source"]
    model, info = AutoModelForMaskedLM.from_pretrained(str(mlm_out.out), output_loading_info=True)
    assert not info["missing_keys"]
    enc, info = AutoModel.from_pretrained(str(mlm_out.out), output_loading_info=True)
    assert not info["missing_keys"]  # the base's pooler kept
    filled = bertex.load(mlm_out.out).fill("a man is [MASK] a horse .", k=2)
    assert len(filled.masks[0].candidates) == 2
    base = bertex.load(bert_dir)
    assert not np.allclose(
        bertex.load(mlm_out.out).embed("a dog").vectors, base.embed("a dog").vectors
    )  # the encoder itself changed


def test_tune_mlm_resumes_to_the_same_weights(mlm_job, mlm_out, tmp_path, monkeypatch, capsys):
    import json

    from safetensors.torch import load_file

    import bertex
    from bertex.tune.trainer import Trainer

    orig, calls = Trainer._step, [0]

    def step(self, *a):
        out = orig(self, *a)
        calls[0] += 1
        if calls[0] == 7:  # mid-epoch 2, after the checkpoint at step 6
            raise Death
        return out

    monkeypatch.setattr(Trainer, "_step", step)
    out = tmp_path / "m"
    with pytest.raises(Death):
        bertex.tune("mlm", **mlm_job, out=str(out))
    monkeypatch.undo()
    capsys.readouterr()
    again = bertex.tune("mlm", **mlm_job, out=str(out))
    assert "resuming from the checkpoint at step 6/" in capsys.readouterr().err
    a, b = load_file(mlm_out.out / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) == 0.0  # the same masks, in order
    full = json.loads((mlm_out.out / "training.json").read_text())
    assert again.record["step_losses"] == full["step_losses"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [("", "the file is empty"), ("\n \n", "no non-blank lines"), ("one line\n", "one document")],
)
def test_tune_mlm_bad_input_is_one_line_before_training(mlm_job, tmp_path, content, needle):
    from bertex.cli.main import main

    bad = tmp_path / "bad.txt"
    bad.write_text(content, encoding="utf-8")
    out = tmp_path / "m"
    args = ["tune", "mlm", "--model", mlm_job["model"], "--train", str(bad), "--out", str(out)]
    assert main(args) == 2
    assert not out.exists() and not out.with_name("m.tune-state").exists()


@pytest.mark.parametrize("which", ["bert_dir", "roberta_dir", "distilbert_dir"])
def test_sparse_head_scores_as_transformers_forward(which, request, toks):
    """Scoring only the predicted positions gives transformers' own loss and logits there."""
    import torch

    from bertex.tune.mlm_model import SparseMLM, load_for_mlm

    folder = request.getfixturevalue(which)
    mlm, note = load_for_mlm(folder)
    assert note is not None  # the tiny encoders have no head: one was made
    tok = AutoTokenizer.from_pretrained(str(folder))
    blocks = mlm_data.blocks_of(SENTENCES * 4, tok, 24)
    data = mlm_data.MaskedBlocks(blocks, _spec(tok, 0.3), 0, 0, tok.pad_token_id)
    batch = {k: torch.from_numpy(v) for k, v in data.batch(range(len(blocks))).items()}
    sparse = SparseMLM(mlm).eval()
    with torch.no_grad():
        loss, logits, labels = sparse(**batch)
        full = mlm(**batch)
    sel = batch["labels"] != IGNORE
    assert float(loss) == pytest.approx(float(full.loss), abs=1e-5)
    assert torch.allclose(logits, full.logits[sel], atol=1e-5)
    assert (labels == batch["labels"][sel]).all()
