"""Reading and writing a TF2 checkpoint's index file (``<prefix>.index``).

A V2 checkpoint (TF's "tensor bundle") is an index plus data files. The index is a
LevelDB-format sorted table (TF's ``tensorflow/core/lib/io/table*``): key ``""`` holds
a ``BundleHeaderProto``; every other key maps a tensor name (or, for one slice of a
partitioned variable, an OrderedCode-encoded name and extent) to a ``BundleEntryProto``
giving its dtype, shape, data shard, byte offset, byte size and crc32c. A tensor saved
whole is one contiguous byte range of one data file.

TF exposes the protos (``tensor_bundle_pb2``) but no reader for the table, and its
``CheckpointReader`` only hands out whole tensors. This module is that missing table
reader (and the matching writer), so a subset of a checkpoint can be written by copying
byte ranges (``bundle_subset.py``) without ever holding a tensor in memory.

What is implemented, from the table format (leveldb ``doc/table_format.md``, which TF's
copy follows):

* footer: the last 48 bytes: metaindex and index ``BlockHandle`` (varint64 offset,
  varint64 size), zero padding to 40 bytes, then the fixed64 magic
  ``0xdb4775248b80fb57``;
* block: entries ``varint32 shared, varint32 non_shared, varint32 value_length,
  key_delta, value`` (prefix-compressed against the previous key, restarted with
  ``shared == 0`` every few entries), then the ``fixed32`` restart offsets and their
  count; after the block a 5-byte trailer: compression type and the masked crc32c of
  block + type, which TF always verifies on read;
* compression: TF's ``BundleWriter`` writes its index with ``kNoCompression`` (checked
  on TF 2.15 checkpoints: every block's type byte is 0). A snappy-compressed block is
  refused with :class:`UnsupportedIndexError`, so the caller can fall back to TF's own
  readers instead of guessing;
* no filter blocks: TF's table has none (the metaindex block is empty).

The writer emits only what TF's reader needs: uncompressed data blocks of at most
:data:`BLOCK_SIZE` bytes with a restart point every :data:`RESTART_INTERVAL` entries,
an empty metaindex block, an index block keyed by each data block's last key, and the
footer. Keys must be given in TF's order (bytewise ascending, header first).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence

from tensorflow.core.protobuf import tensor_bundle_pb2

from estimator_ext.storage.files import gfile

HEADER_KEY = b""
FOOTER_SIZE = 48
TABLE_MAGIC = 0xDB4775248B80FB57
BLOCK_TRAILER_SIZE = 5
NO_COMPRESSION = 0
BLOCK_SIZE = 64 * 1024
RESTART_INTERVAL = 16
_MASK_DELTA = 0xA282EAD8


class UnsupportedIndexError(ValueError):
    """The index is valid for TF but uses a feature this reader does not implement."""


class CorruptIndexError(ValueError):
    """The index is not a well-formed table (bad magic, checksum, or block layout)."""


# --- crc32c (Castagnoli), as TF's lib/hash/crc32c ---------------------------------------


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C of ``data``, continuing from ``crc`` (pure Python: for index blocks only)."""
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """TF's ``crc32c::Mask``: the form stored next to data that may itself hold crcs."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    rotated = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


# --- varints ----------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varints are unsigned, received {value}.")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, position: int) -> tuple[int, int]:
    """(value, position after it) of the varint at ``data[position:]``."""
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise CorruptIndexError("A varint runs past the end of its block.")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


# --- reading ----------------------------------------------------------------------------


def parse_table(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a whole table file's bytes, in stored order."""
    if len(data) < FOOTER_SIZE:
        raise CorruptIndexError(f"An index of {len(data)} bytes is shorter than its footer.")
    footer = data[-FOOTER_SIZE:]
    (magic,) = struct.unpack("<Q", footer[-8:])
    if magic != TABLE_MAGIC:
        raise CorruptIndexError(f"Bad table magic {magic:#x}; this is not a checkpoint index.")
    _, position = _decode_handle(footer, 0)  # the metaindex: TF's tables keep nothing in it
    index_handle, _ = _decode_handle(footer, position)
    entries: list[tuple[bytes, bytes]] = []
    for _, handle_bytes in _parse_block(_read_block(data, index_handle)):
        handle, _ = _decode_handle(handle_bytes, 0)
        entries.extend(_parse_block(_read_block(data, handle)))
    return entries


def _decode_handle(data: bytes, position: int) -> tuple[tuple[int, int], int]:
    offset, position = decode_varint(data, position)
    size, position = decode_varint(data, position)
    return (offset, size), position


def _read_block(data: bytes, handle: tuple[int, int]) -> bytes:
    offset, size = handle
    end = offset + size
    if end + BLOCK_TRAILER_SIZE > len(data):
        raise CorruptIndexError(f"A block at {offset} (+{size}) runs past the end of the index.")
    block = data[offset:end]
    compression = data[end]
    (stored,) = struct.unpack("<I", data[end + 1 : end + BLOCK_TRAILER_SIZE])
    if unmask_crc(stored) != crc32c(data[offset : end + 1]):
        raise CorruptIndexError(f"Checksum mismatch in the index block at offset {offset}.")
    if compression != NO_COMPRESSION:
        raise UnsupportedIndexError(
            f"The index block at offset {offset} is compressed (type {compression}); only "
            "uncompressed blocks, which TF's BundleWriter writes, are supported."
        )
    return block


def _parse_block(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CorruptIndexError("An index block is shorter than its restart count.")
    (num_restarts,) = struct.unpack("<I", block[-4:])
    entries_end = len(block) - 4 - 4 * num_restarts
    if entries_end < 0:
        raise CorruptIndexError(f"An index block claims {num_restarts} restart points.")
    key = b""
    position = 0
    while position < entries_end:
        shared, position = decode_varint(block, position)
        non_shared, position = decode_varint(block, position)
        value_length, position = decode_varint(block, position)
        if shared > len(key) or position + non_shared + value_length > entries_end:
            raise CorruptIndexError("An index entry overruns its block or its previous key.")
        key = key[:shared] + block[position : position + non_shared]
        position += non_shared
        yield key, block[position : position + value_length]
        position += value_length


def read_index(prefix: str) -> BundleIndex:
    """The parsed ``<prefix>.index`` (read whole: an index is small, a few KB per variable)."""
    with gfile.open(prefix + ".index", "rb") as index_file:
        return BundleIndex.from_table(parse_table(index_file.read()))


class BundleIndex:
    """A checkpoint's header and its entries by key (bytes), in TF's key order."""

    def __init__(
        self,
        header: tensor_bundle_pb2.BundleHeaderProto,
        entries: dict[bytes, tensor_bundle_pb2.BundleEntryProto],
    ):
        self.header = header
        self.entries = entries
        self._slices_by_name: dict[bytes, list[bytes]] | None = None

    @classmethod
    def from_table(cls, pairs: Sequence[tuple[bytes, bytes]]) -> BundleIndex:
        if not pairs or pairs[0][0] != HEADER_KEY:
            raise CorruptIndexError("The index has no header entry (its first key must be '').")
        header = tensor_bundle_pb2.BundleHeaderProto.FromString(pairs[0][1])
        entries = {}
        previous = HEADER_KEY
        for key, value in pairs[1:]:
            if key <= previous:
                raise CorruptIndexError(f"Index keys out of order at {key!r}.")
            entries[key] = tensor_bundle_pb2.BundleEntryProto.FromString(value)
            previous = key
        return cls(header, entries)

    def tensor_names(self) -> list[str]:
        """The names of whole tensors and partitioned variables (no slice keys)."""
        return [key.decode("utf-8") for key in self.entries if not key.startswith(b"\x00")]

    def keys_of(self, name: str) -> list[bytes]:
        """``name``'s own key, then the keys of its stored slices (a partitioned variable)."""
        key = name.encode("utf-8")
        if key not in self.entries:
            raise KeyError(name)
        if self._slices_by_name is None:
            self._slices_by_name = {}
            for other in self.entries:
                if other.startswith(b"\x00"):
                    self._slices_by_name.setdefault(slice_key_name(other), []).append(other)
        slice_keys = self._slices_by_name.get(key, [])
        if len(slice_keys) != len(self.entries[key].slices):
            raise CorruptIndexError(
                f"{name!r} lists {len(self.entries[key].slices)} slices but the index holds "
                f"{len(slice_keys)} of them."
            )
        return [key] + slice_keys


def slice_key_name(key: bytes) -> bytes:
    """The tensor name in a slice key (TF's ``checkpoint::EncodeTensorNameSlice``).

    A slice key is OrderedCode: ``WriteNumIncreasing(0)`` (byte 0), ``WriteString(name)``
    (0x00 -> 00 ff, 0xff -> ff 00, then the terminator 00 01), then the extent.
    """
    name = bytearray()
    position = 1
    while position + 1 < len(key):
        byte, following = key[position], key[position + 1]
        if byte == 0x00 and following == 0x01:
            return bytes(name)
        if byte in (0x00, 0xFF):
            if following != (0xFF if byte == 0x00 else 0x00):
                break
            name.append(byte)
            position += 2
            continue
        name.append(byte)
        position += 1
    raise CorruptIndexError(f"Slice key {key!r} has no well-formed tensor name.")


# --- writing ----------------------------------------------------------------------------


def build_table(pairs: Iterable[tuple[bytes, bytes]], block_size: int = BLOCK_SIZE) -> bytes:
    """A whole table file for ``pairs``, whose keys must be strictly ascending.

    A data block is closed once it reaches ``block_size`` bytes (tests use small ones to
    get many blocks).
    """
    out = bytearray()
    index_pairs = []
    block = _BlockBuilder()
    last_key = None
    for key, value in pairs:
        if last_key is not None and key <= last_key:
            raise ValueError(
                f"Table keys must be strictly ascending; {key!r} follows {last_key!r}."
            )
        block.add(key, value)
        last_key = key
        if block.size() >= block_size:
            index_pairs.append((key, _write_block(out, block.finish())))
            block = _BlockBuilder()
    if not block.empty():
        assert last_key is not None
        index_pairs.append((last_key, _write_block(out, block.finish())))
    metaindex_handle = _write_block(out, _BlockBuilder().finish())
    index_block = _BlockBuilder()
    for key, handle in index_pairs:
        index_block.add(key, handle)
    index_handle = _write_block(out, index_block.finish())
    footer = (metaindex_handle + index_handle).ljust(FOOTER_SIZE - 8, b"\x00")
    out += footer + struct.pack("<Q", TABLE_MAGIC)
    return bytes(out)


def _write_block(out: bytearray, block: bytes) -> bytes:
    """Appends ``block`` and its trailer to ``out``; returns its encoded BlockHandle."""
    handle = encode_varint(len(out)) + encode_varint(len(block))
    typed = block + bytes([NO_COMPRESSION])
    out += typed + struct.pack("<I", mask_crc(crc32c(typed)))
    return handle


class _BlockBuilder:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._restarts = [0]
        self._count = 0
        self._last_key = b""

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self._count % RESTART_INTERVAL == 0:
            if self._count:
                self._restarts.append(len(self._buffer))
        else:
            limit = min(len(key), len(self._last_key))
            while shared < limit and key[shared] == self._last_key[shared]:
                shared += 1
        self._buffer += encode_varint(shared) + encode_varint(len(key) - shared)
        self._buffer += encode_varint(len(value)) + key[shared:] + value
        self._last_key = key
        self._count += 1

    def size(self) -> int:
        return len(self._buffer) + 4 * len(self._restarts) + 4

    def empty(self) -> bool:
        return self._count == 0

    def finish(self) -> bytes:
        restarts = b"".join(struct.pack("<I", offset) for offset in self._restarts)
        return bytes(self._buffer) + restarts + struct.pack("<I", len(self._restarts))


def index_bytes(index: BundleIndex, block_size: int = BLOCK_SIZE) -> bytes:
    """The table file for ``index`` (header first, entries in key order)."""
    pairs = [(HEADER_KEY, index.header.SerializeToString())]
    pairs += [(key, index.entries[key].SerializeToString()) for key in sorted(index.entries)]
    return build_table(pairs, block_size)
