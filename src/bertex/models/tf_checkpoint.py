"""Read a Google TensorFlow checkpoint (a "tensor bundle") without TensorFlow.

A checkpoint `PREFIX` is `PREFIX.index` plus `PREFIX.data-0000i-of-0000N`. The index is a
LevelDB-format table (sorted string keys, prefix-compressed blocks, a 48-byte footer ending in
a magic number). Its "" key holds a BundleHeaderProto (number of shards, endianness); every
other key is a tensor name whose value is a BundleEntryProto: dtype, shape, shard, offset,
size and the masked crc32c of the tensor's raw little-endian bytes in that shard.

The three protobuf messages are decoded by a minimal varint reader below rather than with the
`protobuf` package: it would need TensorFlow's .proto schemas (tensor_bundle.proto,
tensor_shape.proto, types.proto) compiled in, which is a dependency for 6 integer fields.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TFCheckpointError

TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB's, which TensorFlow's table format keeps
FOOTER_SIZE = 48  # two block handles padded to 40 bytes, then the 8-byte magic
BLOCK_TRAILER = 5  # 1 byte compression type + 4 bytes masked crc32c
# TensorFlow DataType enum -> torch dtype name (the ones a BERT checkpoint holds)
DTYPES = {
    1: "float32",
    2: "float64",
    3: "int32",
    4: "uint8",
    5: "int16",
    6: "int8",
    9: "int64",
    10: "bool",
    14: "bfloat16",
    19: "float16",
}


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor's bytes are: shard `shard`, bytes [offset, offset + size)."""

    name: str
    dtype: str  # a torch dtype name ("float32", "bfloat16", ...), or "DT_<n>" if unknown
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int  # masked, as TensorFlow stores it


@dataclass(frozen=True)
class Checkpoint:
    """A parsed index: the shard files and every tensor's entry, by TF name."""

    prefix: Path  # e.g. folder/bert_model.ckpt
    num_shards: int
    entries: dict[str, TensorEntry]

    def shard_path(self, shard: int) -> Path:
        return Path(f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}")


# -- crc32c ----------------------------------------------------------------------------------


def crc32c(data: bytes | bytearray | memoryview) -> int:
    import google_crc32c

    return int(google_crc32c.value(bytes(data)))  # it takes read-only bytes only


def mask(crc: int) -> int:
    """TensorFlow and LevelDB store crc32c "masked" (rotated and offset), so that a crc of
    data that itself holds crcs does not look like a valid crc.
    >>> hex(mask(0))
    '0xa282ead8'
    """
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# -- protobuf wire format ----------------------------------------------------------------------


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, next position). varint(b'\\x96\\x01', 0) == (150, 2)"""
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) for each field of a serialized message: ints for varint and
    fixed32/fixed64 fields, bytes for length-delimited ones (strings, sub-messages)."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = varint(buf, pos)
            value, pos = bytes(buf[pos : pos + length]), pos + length
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated protobuf message")
        yield number, value


def _entry(name: str, buf: bytes) -> TensorEntry:
    """BundleEntryProto: 1 dtype, 2 shape, 3 shard_id, 4 offset, 5 size, 6 crc32c (fixed32),
    7 slices (partitioned variables, which BERT checkpoints do not use)."""
    got: dict[int, int | bytes] = {1: 0, 2: b"", 3: 0, 4: 0, 5: 0, 6: 0}
    for number, value in fields(buf):
        if number == 7:
            raise ValueError("partitioned (sliced) variables are not supported")
        got[number] = value
    ints = {k: int(v) if isinstance(v, int) else 0 for k, v in got.items()}
    shape = _shape(got[2] if isinstance(got[2], bytes) else b"")
    dtype = DTYPES.get(ints[1], f"DT_{ints[1]}")
    return TensorEntry(name, dtype, shape, ints[3], ints[4], ints[5], ints[6])


def _shape(buf: bytes) -> tuple[int, ...]:
    """TensorShapeProto: 2 repeated Dim {1 size, 2 name}; 3 unknown_rank."""
    dims = []
    for number, value in fields(buf):
        if number == 2:
            size = dict(fields(value)).get(1, 0)  # type: ignore[arg-type]
            dims.append(int(size))  # type: ignore[call-overload]
    return tuple(dims)


def _header(buf: bytes) -> int:
    """BundleHeaderProto: 1 num_shards, 2 endianness (0 little, 1 big), 3 version. Returns
    the number of shards."""
    got = dict(fields(buf))
    if got.get(2, 0) != 0:
        raise ValueError("a big-endian checkpoint; only little-endian ones are supported")
    return int(got.get(1, 1))  # type: ignore[call-overload]


# -- the table (LevelDB format) ----------------------------------------------------------------


def _block(data: bytes, offset: int, size: int) -> bytes:
    """A block's contents after checking its trailer (compression type, masked crc32c)."""
    end = offset + size
    if end + BLOCK_TRAILER > len(data):
        raise ValueError(f"block at {offset} runs past the end of the file")
    contents, kind = data[offset:end], data[end]
    (stored,) = struct.unpack("<I", data[end + 1 : end + 5])
    if mask(crc32c(data[offset : end + 1])) != stored:
        raise ValueError(f"block at {offset} fails its crc32c check")
    if kind != 0:
        raise ValueError(f"compressed blocks (type {kind}) are not supported")
    return contents


def _block_items(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Each entry: varint shared, varint unshared, varint value length, key suffix, value.
    The key is the previous key's first `shared` bytes + the suffix. The block ends with the
    restart offsets (uint32 each) and their count, which a sequential scan does not need."""
    (n_restarts,) = struct.unpack("<I", block[-4:])
    end = len(block) - 4 * (n_restarts + 1)
    if end < 0:
        raise ValueError("block restart array larger than the block")
    pos, key = 0, b""
    while pos < end:
        shared, pos = varint(block, pos)
        unshared, pos = varint(block, pos)
        length, pos = varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + length]
        pos += length


def _table(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(data) < FOOTER_SIZE:
        raise ValueError(f"{len(data)} bytes is shorter than a table footer")
    (magic,) = struct.unpack("<Q", data[-8:])
    if magic != TABLE_MAGIC:
        raise ValueError("no table magic number at its end")
    footer = data[-FOOTER_SIZE:]
    _, pos = varint(footer, 0)  # metaindex handle (offset, size): unused
    _, pos = varint(footer, pos)
    index_offset, pos = varint(footer, pos)
    index_size, _ = varint(footer, pos)
    for _, handle in _block_items(_block(data, index_offset, index_size)):
        offset, pos = varint(handle, 0)
        size, _ = varint(handle, pos)
        yield from _block_items(_block(data, offset, size))


def read_index(prefix: Path) -> Checkpoint:
    """Parse PREFIX.index. Raises TFCheckpointError naming the file when it is not one."""
    path = Path(f"{prefix}.index")
    data = path.read_bytes()
    try:
        items = dict(_table(data))
        if b"" not in items:
            raise ValueError('no bundle header (the "" key)')
        num_shards = _header(items.pop(b""))
        entries = {k.decode(): _entry(k.decode(), v) for k, v in items.items()}
    except (ValueError, UnicodeDecodeError, struct.error, IndexError) as e:
        raise TFCheckpointError(
            path,
            f"is not a TensorFlow checkpoint index ({e}); expected the .index file that "
            "tf.train.Saver writes beside the .data-*-of-* shards",
        ) from None
    return Checkpoint(Path(prefix), num_shards, entries)


# -- tensors ---------------------------------------------------------------------------------


def check_shards(ckpt: Checkpoint, names: list[str]) -> None:
    """Every shard the named tensors live in exists and is long enough (fail before reading)."""
    for name in names:
        e = ckpt.entries[name]
        path = ckpt.shard_path(e.shard)
        if not path.exists():
            raise TFCheckpointError(
                path,
                f"missing: the index says the checkpoint has {ckpt.num_shards} data shard(s) "
                f"and tensor {name!r} is in shard {e.shard}; copy every "
                f"{ckpt.prefix.name}.data-*-of-{ckpt.num_shards:05d} file",
            )
        size = path.stat().st_size
        if e.offset + e.size > size:
            raise TFCheckpointError(
                path,
                f"is truncated: tensor {name!r} ends at byte {e.offset + e.size}, the file has "
                f"{size} bytes; download or copy it again",
            )


def read_tensor(ckpt: Checkpoint, name: str) -> Any:  # a torch.Tensor
    """The tensor's bytes, checked against its crc32c, as a torch tensor of its shape."""
    import torch

    e = ckpt.entries[name]
    if not hasattr(torch, e.dtype):
        raise TFCheckpointError(
            ckpt.prefix, f"tensor {name!r} has TensorFlow dtype {e.dtype}, which bertex cannot read"
        )
    path = ckpt.shard_path(e.shard)
    with path.open("rb") as f:
        f.seek(e.offset)
        raw = bytearray(f.read(e.size))
    if len(raw) != e.size:
        raise TFCheckpointError(path, f"is truncated inside tensor {name!r}")
    if mask(crc32c(raw)) != e.crc32c:
        raise TFCheckpointError(
            path,
            f"tensor {name!r} fails its crc32c check (bytes {e.offset}..{e.offset + e.size}): "
            "the shard is corrupt or belongs to another checkpoint; copy it again",
        )
    dtype = getattr(torch, e.dtype)
    if not raw:
        return torch.zeros(e.shape, dtype=dtype)
    return torch.frombuffer(raw, dtype=dtype).reshape(e.shape)  # little-endian, as stored


# -- the folder ------------------------------------------------------------------------------


HF_WEIGHTS = (
    "model.safetensors",
    "pytorch_model.bin",
    "*.safetensors.index.json",
    "*.bin.index.json",
)


def find_prefix(folder: Path) -> Path | None:
    """The checkpoint prefix of a Google TF folder (a *.index file and no Hugging Face
    weights), or None when the folder is not one. `bert_model.ckpt` wins, then the
    `checkpoint` file's choice."""
    if any(next(folder.glob(pattern), None) for pattern in HF_WEIGHTS):
        return None
    indexes = sorted(folder.glob("*.index"))
    if len(indexes) <= 1:
        return Path(str(indexes[0])[: -len(".index")]) if indexes else None
    if (folder / "bert_model.ckpt.index").exists():
        return folder / "bert_model.ckpt"
    chosen = _checkpoint_file_choice(folder)
    if chosen is not None and Path(f"{chosen}.index").exists():
        return chosen
    raise TFCheckpointError(
        folder,
        f"holds {len(indexes)} checkpoints ({', '.join(p.name for p in indexes[:4])}); keep one, "
        'or name the one to use in the `checkpoint` file (model_checkpoint_path: "...")',
    )


def _checkpoint_file_choice(folder: Path) -> Path | None:
    """The `checkpoint` text file tf.train.Saver writes: model_checkpoint_path: "model.ckpt-N"."""
    path = folder / "checkpoint"
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model_checkpoint_path":
            return folder / Path(value.strip().strip('"')).name
    return None
