"""Map a Google TF BERT checkpoint onto a transformers BERT state dict, checked against the
config; write it as a Hugging Face folder (model.safetensors, config.json, tokenizer files).

Names follow transformers 4's `load_tf_weights_in_bert` (gone in transformers 5):
  bert/encoder/layer_3/attention/self/query/kernel
      -> bert.encoder.layer.3.attention.self.query.weight
  kernel -> weight, transposed (TF stores (in, out), nn.Linear (out, in));
  gamma/beta -> weight/bias;
  *_embeddings -> *_embeddings.weight; cls/predictions/output_bias -> cls.predictions.bias;
  cls/seq_relationship/output_weights -> cls.seq_relationship.weight (not transposed: TF uses it
  with transpose_b=True). Optimizer slots (adam_m, adam_v) and global_step are skipped, counted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TFCheckpointError
from .tf_checkpoint import Checkpoint, check_shards, read_index, read_tensor

CONFIG = "bert_config.json"
SKIP_PARTS = ("adam_m", "adam_v", "AdamWeightDecayOptimizer", "AdamWeightDecayOptimizer_1")
SKIP_NAMES = ("global_step",)
TASK_HEAD = "task_head"  # the count of fine-tuning head tensors skipped
HEADS = {"cls.predictions.": "cls/predictions", "cls.seq_relationship.": "cls/seq_relationship"}
TIED = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")  # tied in transformers
ALBERT_MARKS = ("/transformer/group_", "inner_group_", "embedding_hidden_mapping_in")
NOT_YET = (
    "bertex maps Google BERT checkpoints only (bert/embeddings, bert/encoder/layer_N, "
    "bert/pooler, cls/...); convert it with its own project's tools to a Hugging Face folder"
)
_INDEXED = re.compile(r"^([A-Za-z]+)_(\d+)$")
_LAYER = re.compile(r"^bert\.encoder\.layer\.(\d+)\.")
_TF_LAYER = re.compile(r"^bert/encoder/layer_(\d+)/")


@dataclass(frozen=True)
class Converted:
    """A checkpoint mapped and checked: HF-named tensors, the transformers config, counts."""

    tensors: dict[str, Any]  # HF name -> torch.Tensor, in HF layout
    config: dict[str, Any]  # config.json for transformers
    skipped: dict[str, int]  # "adam_m" / "adam_v" / "global_step" -> how many
    heads: tuple[str, ...]  # pretraining heads kept, e.g. ("cls/predictions",)
    dtype: str  # the checkpoint's float dtype
    task_heads: tuple[str, ...] = ()  # fine-tuning heads skipped (output_weights, cls/squad/...)


def hf_name(tf_name: str) -> tuple[str | None, bool]:
    """(transformers name, transpose?) for a TF variable; (None, False) for optimizer state.

    >>> hf_name("bert/encoder/layer_0/attention/self/query/kernel")
    ('bert.encoder.layer.0.attention.self.query.weight', True)
    >>> hf_name("bert/embeddings/LayerNorm/gamma")
    ('bert.embeddings.LayerNorm.weight', False)
    """
    parts = tf_name.split("/")
    if tf_name in SKIP_NAMES or any(p in SKIP_PARTS for p in parts):
        return None, False
    if tf_name == "cls/predictions/output_bias":
        return "cls.predictions.bias", False
    if parts[:2] == ["cls", "seq_relationship"] and len(parts) == 3:
        return {"output_weights": "cls.seq_relationship.weight"}.get(
            parts[2], "cls.seq_relationship.bias"
        ), False
    out: list[str] = []
    for p in parts:
        m = _INDEXED.match(p)
        out.extend([m.group(1), m.group(2)] if m else [p])
    last = out[-1]
    transpose = last == "kernel"
    out[-1] = {"kernel": "weight", "gamma": "weight", "beta": "bias"}.get(last, last)
    if last.endswith("_embeddings"):
        out.append("weight")
    return ".".join(out), transpose


def skip_kind(tf_name: str) -> str:
    """Which optimizer slot a skipped name is: "adam_m", "adam_v", "global_step", ..."""
    parts = tf_name.split("/")
    return next((p for p in reversed(parts) if p in SKIP_PARTS + SKIP_NAMES), parts[-1])


def hf_config(tf_config: dict[str, Any], heads: tuple[str, ...], dtype: str) -> dict[str, Any]:
    """bert_config.json -> a transformers BertConfig dict."""
    keys = (
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_act",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "max_position_embeddings",
        "type_vocab_size",
        "initializer_range",
    )
    cfg = {k: tf_config[k] for k in keys if k in tf_config}
    arch = {
        ("cls/predictions", "cls/seq_relationship"): "BertForPreTraining",
        ("cls/predictions",): "BertForMaskedLM",
        ("cls/seq_relationship",): "BertForNextSentencePrediction",
    }.get(heads, "BertModel")
    cfg.update(model_type="bert", architectures=[arch], layer_norm_eps=1e-12, dtype=dtype)
    return cfg


def config_path(folder: Path) -> Path:
    """bert_config.json, or a config.json in Google's format (some copies rename it)."""
    path, renamed = folder / CONFIG, folder / "config.json"
    return renamed if not path.exists() and renamed.exists() else path


def read_config(folder: Path) -> dict[str, Any]:
    path = config_path(folder)
    if not path.exists():
        albert = folder / "albert_config.json"
        if albert.exists():
            raise TFCheckpointError(albert, f"an ALBERT checkpoint is not supported yet; {NOT_YET}")
        raise TFCheckpointError(
            path,
            "missing: a Google TF checkpoint folder needs bert_config.json beside the "
            ".index, the .data-* shards and vocab.txt",
        )
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TFCheckpointError(path, f"is not valid JSON ({e})") from None
    required = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
    missing = [k for k in required if not isinstance(cfg, dict) or k not in cfg]
    if missing:
        raise TFCheckpointError(path, f"lacks {', '.join(missing)}: not a BERT config")
    if "embedding_size" in cfg or "num_hidden_groups" in cfg:
        raise TFCheckpointError(path, f"an ALBERT config: not supported yet; {NOT_YET}")
    return cfg


def expected_shapes(cfg: dict[str, Any], path: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor BertForPreTraining has for this config, built on the meta device (no
    memory, no initialization), in the model's own order."""
    import torch
    from transformers import BertConfig, BertForPreTraining

    try:
        with torch.device("meta"):
            model = BertForPreTraining(BertConfig(**cfg))
    except (ValueError, TypeError) as e:  # e.g. hidden_size not a multiple of the heads
        raise TFCheckpointError(path, f"is not a valid BERT config ({e})") from None
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if k not in TIED}


def plan(ckpt: Checkpoint, cfg: dict[str, Any]) -> tuple[dict[str, tuple[str, bool]], Counter]:
    """HF name -> (TF name, transpose) for the tensors to load; counts of skipped slots.
    Refuses names that do not map (another model family) and shapes that disagree."""
    names = sorted(ckpt.entries)
    _check_family(ckpt, names)
    check_sizes(ckpt, cfg)  # before building even a meta model: a claimed size is not trusted
    shapes = expected_shapes(hf_config(cfg, (), "float32"), config_path(ckpt.prefix.parent))
    mapping: dict[str, tuple[str, bool]] = {}
    skipped: Counter = Counter()
    for tf in names:
        hf, transpose = hf_name(tf)
        if hf is None:
            skipped[skip_kind(tf)] += 1
            continue
        layer = _LAYER.match(hf)
        if hf not in shapes and layer:
            raise TFCheckpointError(
                config_path(ckpt.prefix.parent),
                f"disagrees with the checkpoint: tensor {tf!r} belongs to layer "
                f"{layer.group(1)}, the config has num_hidden_layers={cfg['num_hidden_layers']}",
            )
        if hf not in shapes and not tf.startswith("bert/"):
            skipped[TASK_HEAD] += 1  # a fine-tuning head: run_classifier's output_weights, ...
            continue
        if hf not in shapes:
            raise TFCheckpointError(
                ckpt.prefix,
                f"tensor {tf!r} does not map onto a BERT model "
                f"(as {hf!r}): this model family is not supported yet; {NOT_YET}",
            )
        _check_shape(ckpt, tf, hf, transpose, shapes[hf], cfg)
        mapping[hf] = (tf, transpose)
    _check_complete(ckpt, mapping, shapes, cfg)
    return mapping, skipped


# config key -> (tensor, axis): where the checkpoint itself records that size
_SIZES = {
    "vocab_size": ("bert/embeddings/word_embeddings", 0),
    "hidden_size": ("bert/embeddings/word_embeddings", 1),
    "max_position_embeddings": ("bert/embeddings/position_embeddings", 0),
    "type_vocab_size": ("bert/embeddings/token_type_embeddings", 0),
    "intermediate_size": ("bert/encoder/layer_0/intermediate/dense/kernel", 1),  # (in, out)
}


def check_sizes(ckpt: Checkpoint, cfg: dict[str, Any]) -> None:
    """Every size bert_config.json claims, held against the tensor shapes in the checkpoint's
    index, before anything is built: a config claiming hidden_size=10,000,000 or 100,000 layers
    over small tensors is refused in milliseconds, never allocated."""
    path = config_path(ckpt.prefix.parent)
    for key in (*_SIZES, "num_hidden_layers", "num_attention_heads"):
        value = cfg.get(key)
        if key in cfg and (type(value) is not int or value < 1):
            raise TFCheckpointError(path, f"{key}={value!r} is not a positive whole number")
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    if hidden % heads:
        raise TFCheckpointError(
            path,
            f"is not a valid BERT config (hidden_size={hidden} is not a multiple of "
            f"num_attention_heads={heads})",
        )
    for key, (tensor, axis) in _SIZES.items():
        entry = ckpt.entries.get(tensor)
        if key not in cfg or entry is None or len(entry.shape) <= axis:
            continue
        if entry.shape[axis] != cfg[key]:
            raise TFCheckpointError(
                path,
                f"{key}={cfg[key]} disagrees with the checkpoint: tensor {tensor!r} has shape "
                f"{list(entry.shape)}; the config belongs to another model",
            )
    layers = {int(m.group(1)) for n in ckpt.entries if (m := _TF_LAYER.match(n))}
    have = max(layers, default=-1) + 1  # fewer layers claimed than held: plan() names the tensor
    if cfg["num_hidden_layers"] > have:
        raise TFCheckpointError(
            path,
            f"num_hidden_layers={cfg['num_hidden_layers']} disagrees with the checkpoint: it "
            f"has {have} encoder layers and no tensor "
            f"'bert/encoder/layer_{have}/attention/self/query/kernel'; the config belongs to "
            "another model or the checkpoint is partial",
        )


def _check_family(ckpt: Checkpoint, names: list[str]) -> None:
    """ALBERT (shared layer groups, factorized embeddings) and other families' names."""
    albert = [n for n in names if any(m in n for m in ALBERT_MARKS)]
    if albert:
        raise TFCheckpointError(
            ckpt.prefix,
            f"an ALBERT checkpoint (tensor {albert[0]!r}) is not supported yet; " + NOT_YET,
        )
    weights = [n for n in names if hf_name(n)[0] is not None]
    if not any(n.startswith("bert/") for n in weights):
        example = weights[0] if weights else "none"
        raise TFCheckpointError(
            ckpt.prefix,
            f"has no bert/ tensors (e.g. {example!r}): a model family that is not supported "
            f"yet; {NOT_YET}",
        )


def _check_shape(
    ckpt: Checkpoint, tf: str, hf: str, transpose: bool, want: tuple[int, ...], cfg: dict
) -> None:
    have = ckpt.entries[tf].shape
    as_hf = tuple(reversed(have)) if transpose else have
    if as_hf != want:
        want_tf = tuple(reversed(want)) if transpose else want
        sizes = ", ".join(
            f"{k}={cfg[k]}"
            for k in ("vocab_size", "hidden_size", "intermediate_size", "max_position_embeddings")
            if k in cfg
        )
        raise TFCheckpointError(
            config_path(ckpt.prefix.parent),
            f"disagrees with the checkpoint: tensor {tf!r} has shape {list(have)}, the config "
            f"({sizes}) implies {list(want_tf)}; the config belongs to another model",
        )


def _check_complete(
    ckpt: Checkpoint, mapping: dict, shapes: dict[str, tuple[int, ...]], cfg: dict
) -> None:
    """Every encoder tensor present (the pooler may be absent); a head whole or absent."""
    groups = ("bert.embeddings.", "bert.encoder.", "bert.pooler.", *HEADS)
    for prefix in groups:
        want = [k for k in shapes if k.startswith(prefix)]
        missing = [k for k in want if k not in mapping]
        optional = prefix not in ("bert.embeddings.", "bert.encoder.")
        if not missing or (optional and len(missing) == len(want)):
            continue
        raise TFCheckpointError(
            config_path(ckpt.prefix.parent),
            f"disagrees with the checkpoint: {len(missing)} tensors the config "
            f"(num_hidden_layers={cfg['num_hidden_layers']}) implies are not in it, the first "
            f"{missing[0]!r}; the config belongs to another model or the checkpoint is partial",
        )


def convert(folder: Path, prefix: Path) -> Converted:
    """Read, check (shards, crc32c, names, shapes) and map the whole checkpoint."""
    cfg = read_config(folder)
    ckpt = read_index(prefix)
    mapping, skipped = plan(ckpt, cfg)
    mapped = {tf for tf, _ in mapping.values()}
    task_heads = tuple(n for n in sorted(ckpt.entries) if n not in mapped and hf_name(n)[0])
    check_shards(ckpt, [tf for tf, _ in mapping.values()])
    tensors = {}
    for hf, (tf, transpose) in mapping.items():
        t = read_tensor(ckpt, tf)  # (in, out) for a kernel
        tensors[hf] = t.t().contiguous() if transpose else t  # (out, in)
    heads = tuple(tf for hf, tf in HEADS.items() if any(k.startswith(hf) for k in tensors))
    if not heads:  # a bare encoder: save it as BertModel names
        tensors = {k.removeprefix("bert."): v for k, v in tensors.items()}
    floats = Counter(str(t.dtype).removeprefix("torch.") for t in tensors.values())
    dtype = floats.most_common(1)[0][0] if floats else "float32"
    config = hf_config(cfg, heads, dtype)
    return Converted(tensors, config, dict(skipped), heads, dtype, task_heads)


def write_folder(conv: Converted, vocab: Path, lowercase: bool, dst: Path) -> None:
    """model.safetensors + config.json + tokenizer files (tokenizer.json built from vocab.txt
    with the `tokenizers` library, whose BERT constructor is the same across transformers 4
    and 5; transformers 5's BertTokenizer silently ignores a `vocab_file` argument)."""
    from safetensors.torch import save_file
    from tokenizers import BertWordPieceTokenizer

    dst.mkdir(parents=True, exist_ok=True)
    save_file(conv.tensors, str(dst / "model.safetensors"), metadata={"format": "pt"})
    _write_json(dst / "config.json", conv.config)
    tok = BertWordPieceTokenizer(
        str(vocab),
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=None,  # BERT's rule: accents are stripped exactly when lowercasing
        lowercase=lowercase,
    )
    tok.save(str(dst / "tokenizer.json"))
    (dst / "vocab.txt").write_bytes(vocab.read_bytes())
    specials = {k: f"[{k.split('_')[0].upper()}]" for k in SPECIAL_TOKENS}
    _write_json(
        dst / "tokenizer_config.json",
        {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": lowercase,
            "strip_accents": None,
            "tokenize_chinese_chars": True,
            "model_max_length": int(conv.config.get("max_position_embeddings", 512)),
            **specials,
        },
    )


SPECIAL_TOKENS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
