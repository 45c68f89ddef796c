"""Writing a subset of a V2 checkpoint's tensors in bounded memory, by copying bytes.

Used when the saving mode needs a strict subset of the checkpoint (a PREDICT-only or
EVAL-only export leaves the optimizer slots out). The export's variables are a new
tensor bundle holding exactly those tensors, with the same bytes as the checkpoint.

Why copy byte ranges, and not the alternatives (measured on TF 2.15.1, a checkpoint with a
256 MiB float32 embedding saved whole and its 256 MiB Adagrad slot):

* ``RestoreV2`` + ``SaveV2`` per tensor (what the ``stream`` path did, and still does for
  V1 checkpoints) holds a whole tensor in memory: a PREDICT-only export peaked 265 MiB
  above baseline. Restoring in slices does not help: TF's bundle reader loads a tensor
  saved whole, then copies the slice out (``RestoreV2`` of 1,000 of its 1 Mi rows peaked
  264 MiB above baseline).
* Writing slices with ``SaveV2`` and merging them works (two 5-row slices of a 10x4
  tensor, ``MergeV2Checkpoints``, restore whole: equal; the data files are renamed into
  shards). It would bound the writing side, but the values must first be read in bounded
  pieces, which TF cannot do for a tensor saved whole; and the export would then store
  every tensor as slices, unlike any checkpoint TF writes for that graph.
* In the bundle format a tensor saved whole is one contiguous byte range of one data
  file, given with its dtype, shape and crc32c by its ``BundleEntryProto`` in the index
  (strings too: their varint lengths, the lengths' crc and the bytes are one range; a
  partitioned variable is one entry listing its slices plus one such range per slice).
  So the subset is written by copying each needed range, :data:`CHUNK_BYTES` at a
  time, into one new data file, and writing a new index whose entries are the
  checkpoint's with the new offsets (``bundle_index.py`` reads and writes the index).
  Memory is about four chunks whatever the tensor or checkpoint size (the export above:
  8 MiB above baseline); the bytes, and so the crc32c TF verifies on every restore, are
  unchanged: values restore bit-identical. Nothing is decoded or re-encoded, so every
  dtype (strings, ints, resource variables' values) is handled the same way.

The index is read by our own reader, checked (magic, every block's crc32c, key order,
slice counts); an index this reader does not support raises
:class:`bundle_index.UnsupportedIndexError` before anything is written, so the caller
can take TF's restore-based path instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from tensorflow.core.protobuf import tensor_bundle_pb2

from estimator_ext.storage.files import File, gfile
from estimator_ext.variables import bundle_index
from estimator_ext.variables.progress import PROGRESS_INTERVAL, ProgressLog

#: Bytes copied per read/write. Peak memory is about 4x this (measured: ``GFile.read``
#: and ``GFile.write`` each hold a copy besides the Python bytes), whatever the tensor size.
CHUNK_BYTES = 2 * 1024 * 1024


def data_file_name(prefix: str, shard: int, num_shards: int) -> str:
    """TF's name for data shard ``shard`` of a bundle (``prefix.data-00000-of-00001``)."""
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def write_subset(
    source_prefix: str,
    names: Iterable[str],
    destination_prefix: str,
    chunk_bytes: int = CHUNK_BYTES,
    progress_interval: float = PROGRESS_INTERVAL,
) -> int:
    """Writes tensors ``names`` of checkpoint ``source_prefix`` as bundle ``destination_prefix``.

    The result is one data file (``.data-00000-of-00001``) and an index holding exactly
    ``names`` (a partitioned variable with all its stored slices), byte-identical values
    and the checkpoint's header (endianness, version). At most ``chunk_bytes`` of tensor
    data are in memory at a time. Returns the number of data bytes written.

    Raises:
      KeyError: a name is not in the checkpoint.
      bundle_index.UnsupportedIndexError: the index uses a feature we do not read
        (raised before anything is written).
      ValueError: the checkpoint is corrupt or truncated (an index checksum fails, a data
        file is shorter than its entries say).
    """
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be a positive number of bytes, received {chunk_bytes}.")
    index = bundle_index.read_index(source_prefix)
    keys = sorted({key for name in names for key in index.keys_of(name)})
    entries = {key: index.entries[key] for key in keys}
    # Copy in the source's (shard, offset) order: sequential reads of every data file.
    order = sorted(keys, key=lambda key: (entries[key].shard_id, entries[key].offset))
    total = sum(entries[key].size for key in keys)
    progress = ProgressLog("Writing variables", total, progress_interval)
    new_entries: dict[bytes, tensor_bundle_pb2.BundleEntryProto] = {}
    num_shards = max(index.header.num_shards, 1)
    written = 0
    data_file = data_file_name(destination_prefix, 0, 1)
    with gfile.open(data_file, "wb") as out:
        sources = _Sources(source_prefix, num_shards)
        try:
            for key in order:
                entry = tensor_bundle_pb2.BundleEntryProto()
                entry.CopyFrom(entries[key])
                if entry.size:
                    source = sources.get(entry.shard_id)
                    _copy_range(source, entry.offset, entry.size, out, chunk_bytes, progress, key)
                entry.shard_id = 0
                entry.offset = written if entry.size else 0
                written += entry.size
                new_entries[key] = entry
        finally:
            sources.close()
    gfile.check_written(data_file, written, "writing the variables")
    header = tensor_bundle_pb2.BundleHeaderProto()
    header.CopyFrom(index.header)
    header.num_shards = 1
    subset = bundle_index.BundleIndex(header, new_entries)
    gfile.write_bytes(
        destination_prefix + ".index", bundle_index.index_bytes(subset), "writing the variables"
    )
    progress.finish()
    return written


class _Sources:
    """The checkpoint's data files, each opened on first use."""

    def __init__(self, prefix: str, num_shards: int):
        self._prefix = prefix
        self._num_shards = num_shards
        self._open: dict[int, File] = {}

    def get(self, shard: int) -> File:
        if shard not in self._open:
            if not 0 <= shard < self._num_shards:
                raise ValueError(
                    f"Checkpoint {self._prefix!r}: an entry names data shard {shard}, but the "
                    f"header declares {self._num_shards} shards. The checkpoint is corrupt."
                )
            path = data_file_name(self._prefix, shard, self._num_shards)
            self._open[shard] = gfile.open(path, "rb")
        return self._open[shard]

    def close(self) -> None:
        for handle in self._open.values():
            handle.close()


def _copy_range(
    source: File,
    offset: int,
    size: int,
    out: File,
    chunk_bytes: int,
    progress: ProgressLog,
    key: bytes,
) -> None:
    source.seek(offset)
    remaining = size
    while remaining:
        chunk = source.read(min(chunk_bytes, remaining))
        if not chunk:
            raise ValueError(
                f"Data file {source.name!r} ends {remaining} bytes before the end of tensor "
                f"{key!r} (offset {offset}, size {size}): the checkpoint is truncated."
            )
        out.write(chunk)
        remaining -= len(chunk)
        progress.advance(len(chunk))
