"""The "stream" strategy: the subset of a checkpoint a mode saves, in bounded memory.

From a V2 checkpoint the needed tensors' byte ranges are copied chunk by chunk
(``bundle_subset.py``); from a V1 checkpoint, or an index ``bundle_index.py`` cannot read,
they go from a ``RestoreV2`` straight into a ``SaveV2`` of their own shard, in groups of
at most ``group_bytes`` (:func:`write_subset`). Only the graph-free description of what
the mode saves is needed (:class:`~estimator_ext.variables.saved_entries.SavedVariables`),
so a stored description serves every later export of the same graphs.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import tensorflow as tf

from estimator_ext.storage import paths, staging
from estimator_ext.variables import bundle_index, bundle_subset
from estimator_ext.variables.catalog import CheckpointCatalog, tensor_nbytes
from estimator_ext.variables.saved_entries import SavedVariables

logger = logging.getLogger("estimator_ext")


@dataclasses.dataclass(frozen=True)
class _Slice:
    """One tensor to stream: a checkpoint key and the part of it the mode's saver writes."""

    key: str
    shape_and_slice: str  # "" for a whole tensor; "full shape + offsets" for one partition
    dtype: tf.dtypes.DType
    nbytes: int | None  # None when unknown (strings): streamed alone


def _slices_to_write(saved: SavedVariables, catalog: CheckpointCatalog) -> list[_Slice]:
    """What the mode's default sharded Saver would write, one entry per tensor or partition.

    A partitioned variable is written partition by partition with the slice specs the
    graph gave it, exactly as its Saver would, so the mode restores it slice by slice
    and no partition is ever assembled into the full tensor.
    """
    slices = []
    for name in sorted(saved.specs):
        partitions = saved.partitions.get(name)
        if partitions is None:
            slices.append(_Slice(name, "", catalog.specs[name][1], catalog.nbytes(name)))
            continue
        for partition in sorted(partitions, key=lambda part: part.offset):
            size = tensor_nbytes(partition.shape, partition.dtype)
            slices.append(_Slice(name, partition.slice_spec, partition.dtype, size))
    return slices


def _groups(slices: list[_Slice], budget: int) -> list[list[_Slice]]:
    """Consecutive groups of at most ``budget`` bytes; a bigger or unsized slice goes alone."""
    groups: list[list[_Slice]] = []
    current: list[_Slice] = []
    current_bytes = 0
    for item in slices:
        size = item.nbytes
        if size is None or size > budget:
            groups.append([item])
            continue
        if current and current_bytes + size > budget:
            groups.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        groups.append(current)
    return groups


def _stream(
    slices: list[_Slice],
    source_prefix: str,
    variables_prefix: str,
    session_config: Any,
    group_bytes: int,
) -> None:
    """Writes ``slices`` of ``source_prefix`` to ``variables_prefix`` with bounded memory.

    ``slices`` must not be empty. One graph, one session run. The slices are grouped up
    to ``group_bytes`` each; group i is read by a ``RestoreV2`` and written by a
    ``SaveV2`` to shard i; the ``RestoreV2`` of group i+1 waits on the ``SaveV2`` of
    group i, so at most one group's tensors are alive, and none ever becomes a numpy
    array. ``MergeV2Checkpoints`` then moves the shards' data files under
    ``variables_prefix`` and merges their indices, removing the shard directory.
    """
    shard_dir = variables_prefix + "_stream_shards"
    shard_prefixes = []
    with tf.Graph().as_default() as graph, tf.device("/cpu:0"):
        previous_save = None
        for index, group in enumerate(_groups(slices, group_bytes)):
            shard_prefix = paths.join(shard_dir, f"part-{index:05d}")
            shard_prefixes.append(shard_prefix)
            names = [item.key for item in group]
            shape_and_slices = [item.shape_and_slice for item in group]
            with tf.control_dependencies([previous_save] if previous_save is not None else []):
                tensors = tf.raw_ops.RestoreV2(
                    prefix=source_prefix,
                    tensor_names=names,
                    shape_and_slices=shape_and_slices,
                    dtypes=[item.dtype for item in group],
                    name=f"read_{index}",
                )
                previous_save = tf.raw_ops.SaveV2(
                    prefix=shard_prefix,
                    tensor_names=names,
                    shape_and_slices=shape_and_slices,
                    tensors=tensors,
                    name=f"write_{index}",
                )
        with tf.control_dependencies([previous_save]):
            merge = tf.raw_ops.MergeV2Checkpoints(
                checkpoint_prefixes=shard_prefixes,
                destination_prefix=variables_prefix,
                delete_old_dirs=True,
                name="merge",
            )
    with tf.compat.v1.Session(graph=graph, config=session_config) as session:
        session.run(merge)
    # MergeV2Checkpoints(delete_old_dirs=True) removes the shard directory on local
    # filesystems; some remote ones keep an empty "directory" marker.
    staging.remove_if_empty(shard_dir)


def write_subset(
    saved: SavedVariables,
    catalog: CheckpointCatalog,
    variables_prefix: str,
    session_config: Any,
    group_bytes: int,
    progress_interval: float,
) -> None:
    """Writes the checkpoint's tensors ``saved`` names, in bounded memory when it can.

    A V2 checkpoint's byte ranges are copied chunk by chunk (``bundle_subset.py``: memory is
    one chunk whatever the tensor size); a V1 checkpoint, or an index our reader does not
    support, is streamed tensor by tensor with ``RestoreV2``/``SaveV2`` (:func:`_stream`),
    in groups of up to ``group_bytes``.
    """
    if catalog.is_v2:
        try:
            bundle_subset.write_subset(
                catalog.prefix,
                sorted(saved.specs),
                variables_prefix,
                progress_interval=progress_interval,
            )
            return
        except bundle_index.UnsupportedIndexError as error:
            logger.info("Cannot copy the checkpoint's byte ranges (%s); streaming instead", error)
    slices = _slices_to_write(saved, catalog)
    _stream(slices, catalog.prefix, variables_prefix, session_config, group_bytes)
