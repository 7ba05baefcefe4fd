"""Write Google TensorFlow checkpoints (tensor bundles) for tests, without TensorFlow.

Independent of bertex's reader: the LevelDB table (prefix-compressed blocks with restarts, a
block index, the footer and its magic), the BundleHeaderProto under the "" key, one
BundleEntryProto per tensor, and the data shards with each tensor's masked crc32c. Also the
inverse of the TF -> transformers name mapping, written from the other direction, so that a
random transformers BERT can be saved the way Google's BERT code saves it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import google_crc32c
import torch

MAGIC = 0xDB4775248B80FB57
DT = {torch.float32: 1, torch.int64: 9, torch.bfloat16: 14, torch.float16: 19, torch.int32: 3}


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _crc(data: bytes) -> int:
    return _mask(google_crc32c.value(data))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes, fixed32: bool = False) -> bytes:
    if fixed32:
        return _varint(number << 3 | 5) + struct.pack("<I", value)
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    return _varint(number << 3) + _varint(value)


def entry_proto(t: torch.Tensor, shard: int, offset: int, size: int, crc: int) -> bytes:
    dims = b"".join(_field(2, _field(1, d)) for d in t.shape)
    return (
        _field(1, DT[t.dtype])
        + _field(2, dims)
        + _field(3, shard)
        + _field(4, offset)
        + _field(5, size)
        + _field(6, crc, fixed32=True)
    )


def _block(items: list[tuple[bytes, bytes]], restart_every: int = 16) -> bytes:
    out, restarts, prev = bytearray(), [], b""
    for i, (key, value) in enumerate(items):
        shared = 0
        if i % restart_every == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(prev)) and key[shared] == prev[shared]:
                shared += 1
        out += _varint(shared) + _varint(len(key) - shared) + _varint(len(value))
        out += key[shared:] + value
        prev = key
    out += b"".join(struct.pack("<I", r) for r in restarts or [0])
    return bytes(out + struct.pack("<I", len(restarts or [0])))


def _put_block(f: bytearray, contents: bytes) -> bytes:
    """Append a block + trailer; return its handle (varint offset, varint size)."""
    handle = _varint(len(f)) + _varint(len(contents))
    f += contents + b"\0" + struct.pack("<I", _crc(contents + b"\0"))
    return handle


def write_table(path: Path, items: list[tuple[bytes, bytes]], per_block: int = 20) -> None:
    """A LevelDB-format table with several data blocks (keys must be sorted)."""
    f, index = bytearray(), []
    for start in range(0, len(items), per_block):
        chunk = items[start : start + per_block]
        index.append((chunk[-1][0], _put_block(f, _block(chunk))))
    meta = _put_block(f, _block([]))
    idx = _put_block(f, _block(index, restart_every=1))
    footer = (meta + idx).ljust(40, b"\0") + struct.pack("<Q", MAGIC)
    path.write_bytes(bytes(f + footer))


def write_checkpoint(prefix: Path, tensors: dict[str, torch.Tensor], num_shards: int = 1) -> None:
    """PREFIX.index + PREFIX.data-0000i-of-0000N; tensors spread round-robin over shards."""
    shards = [bytearray() for _ in range(num_shards)]
    entries = []
    for i, name in enumerate(sorted(tensors)):
        t = tensors[name].contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        shard = i % num_shards
        entries.append(
            (name.encode(), entry_proto(t, shard, len(shards[shard]), len(data), _crc(data)))
        )
        shards[shard] += data
    for k, data in enumerate(shards):
        Path(f"{prefix}.data-{k:05d}-of-{num_shards:05d}").write_bytes(bytes(data))
    header = _field(1, num_shards) + _field(3, _field(1, 1))  # num_shards, version{producer}
    write_table(Path(f"{prefix}.index"), [(b"", header), *entries])


def tf_name(hf: str) -> tuple[str, bool]:
    """transformers name -> (Google TF name, transposed?), the inverse of the converter."""
    special = {
        "cls.predictions.bias": "cls/predictions/output_bias",
        "cls.seq_relationship.weight": "cls/seq_relationship/output_weights",
        "cls.seq_relationship.bias": "cls/seq_relationship/output_bias",
    }
    if hf in special:
        return special[hf], False
    name = hf.replace(".layer.", ".layer_").replace(".", "/")
    if name.endswith("_embeddings/weight"):
        return name.removesuffix("/weight"), False
    if "LayerNorm/" in name:
        return name.replace("LayerNorm/weight", "LayerNorm/gamma").replace(
            "LayerNorm/bias", "LayerNorm/beta"
        ), False
    if name.endswith("/weight"):
        return name.removesuffix("/weight") + "/kernel", True
    return name, False


def bert_tf_tensors(
    state: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32, adam: bool = True
) -> dict[str, torch.Tensor]:
    """A BertForPreTraining state dict as Google's BERT saves it (kernels (in, out), Adam
    slots, global_step). The tied decoder copies are not saved, as in Google's checkpoints."""
    out: dict[str, torch.Tensor] = {"global_step": torch.tensor(20, dtype=torch.int64)}
    for hf, value in state.items():
        if hf.startswith("cls.predictions.decoder."):
            continue
        name, transpose = tf_name(hf)
        value = value.detach().to(dtype)
        out[name] = value.t().contiguous() if transpose else value
        if adam:
            out[name + "/adam_m"] = torch.zeros_like(out[name])
            out[name + "/adam_v"] = torch.zeros_like(out[name])
    return out


def write_bert_folder(
    folder: Path,
    config: dict,
    vocab: list[str],
    state: dict[str, torch.Tensor],
    dtype: torch.dtype = torch.float32,
    num_shards: int = 1,
) -> None:
    """A whole Google-format folder: bert_config.json, bert_model.ckpt.*, vocab.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bert_config.json").write_text(json.dumps(config, indent=2))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    write_checkpoint(folder / "bert_model.ckpt", bert_tf_tensors(state, dtype), num_shards)
