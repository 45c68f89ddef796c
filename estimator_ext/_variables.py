"""Finding the checkpoint, checking modes against it, and writing the SavedModel's variables.

TF's built-in restores the whole checkpoint into a session for every mode, then saves
it again: the model passes through memory once per mode, whole. Here the checkpoint's
metadata (names, shapes, dtypes) is read once per export (:class:`CheckpointCatalog`)
and:

* a mode whose variables are plain variables under the default saver is checked by
  names, shapes and dtypes, with no session and no tensor read;
* the saving mode's variables are written with the cheapest strategy that gives the
  same files a restore-then-save would:

  ``"copy"``
    the mode saves exactly the checkpoint's tensors with the default saver (a TRAIN
    export of a plain model): the checkpoint's data and index files are copied
    through ``tf.io.gfile``; no tensor passes through this process's memory. (An
    internal experiment, :data:`HARD_LINK_LOCAL_FILES`, off by default, hard-links the
    data files instead on one local filesystem.)
  ``"stream"``
    the mode saves a strict subset of them (a PREDICT-only export has no optimizer
    slots). From a V2 checkpoint, the needed tensors' byte ranges are copied in
    bounded chunks into a new data file and a new index is written
    (``_bundle_subset``): memory is one chunk, whatever the tensor size. From a V1
    checkpoint (or an index ``_bundle_index`` cannot read): each tensor, or group of small tensors up to :data:`STREAM_GROUP_BYTES`,
    goes from a ``RestoreV2`` straight into a ``SaveV2`` of its own shard inside one
    graph run, the shards chained so one is written before the next is read; then
    ``MergeV2Checkpoints`` joins the shards (it renames data files and merges the
    small indices). Peak memory is the largest tensor (or partition) plus a constant.
  ``"restore-save"``
    anything metadata cannot describe: lookup tables (``MutableHashTable``
    saveables, e.g. ``LinearSDCA``), a custom ``Scaffold.saver``, a
    ``tf.train.Checkpoint`` saver. The mode's graph restores the checkpoint in a
    session and its own saver writes the variables, as TF does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from estimator_ext import _bundle_index, _bundle_subset, _compat, _fs
from estimator_ext._modekeys import mode_label
from estimator_ext._modes import ModeGraph

logger = logging.getLogger("estimator_ext")

Spec = Tuple[Optional[Tuple[int, ...]], tf.dtypes.DType]

#: Strategies for writing the saving mode's variables (see :func:`write_variables`).
COPY = "copy"
STREAM = "stream"
RESTORE_SAVE = "restore-save"
STRATEGIES = (COPY, STREAM, RESTORE_SAVE)

#: False (the default): the "copy" strategy copies the checkpoint's files through
#: ``tf.io.gfile``, so the export shares nothing with the checkpoint. True hard-links the
#: data files instead when both are on one local filesystem: no data written (a 2 GB copy
#: costs seconds of disk writes), but the export's ``variables.data-*`` is then the
#: checkpoint's own inode (``chmod`` or an in-place edit of one changes the other). An
#: internal switch, measured in benchmarks/, not public API.
HARD_LINK_LOCAL_FILES = False

#: Small tensors are streamed together up to this many bytes per shard; a larger tensor
#: gets a shard of its own. It is the constant in "largest tensor plus a constant".
STREAM_GROUP_BYTES = 32 * 1024 * 1024

_forced_strategy: Optional[str] = None


@contextlib.contextmanager
def forced_strategy(strategy: str) -> Iterator[None]:
    """Within the block, write the saving mode's variables with ``strategy``.

    For tests and benchmarks only: it shows each path gives the same export. A strategy
    that cannot apply (``"copy"`` when the mode saves a subset of the checkpoint,
    ``"copy"``/``"stream"`` for lookup tables or custom savers) raises ValueError
    instead of silently taking another path. Not thread-safe.
    """
    global _forced_strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, received {strategy!r}.")
    previous, _forced_strategy = _forced_strategy, strategy
    try:
        yield
    finally:
        _forced_strategy = previous


# --- which checkpoint ------------------------------------------------------------------------


def resolve_checkpoint(estimator: Any, checkpoint_path: Optional[str]) -> str:
    """The checkpoint prefix to export from.

    ``checkpoint_path`` may be a prefix or a directory (its latest checkpoint is used).
    Without one, ``estimator.latest_checkpoint()`` (so subclasses that override it are
    honoured), then the estimator's warm-start checkpoint, as TF does.

    Raises:
      TypeError: ``checkpoint_path`` is not a non-empty string.
      ValueError: nothing found; the message says where we looked.
    """
    if checkpoint_path is not None:
        if not isinstance(checkpoint_path, (str, bytes)) or not checkpoint_path:
            raise TypeError(
                "checkpoint_path must be a checkpoint prefix or directory as a string, "
                f"received {checkpoint_path!r}."
            )
        return _existing_checkpoint(tf.compat.as_str(checkpoint_path), "checkpoint_path")
    latest = estimator.latest_checkpoint()
    if latest:
        return latest
    warm_start = _compat.warm_start_checkpoint(estimator)
    if warm_start:
        return _existing_checkpoint(warm_start, "the estimator's warm_start_from")
    raise ValueError(
        f"No checkpoint found to export: model_dir {estimator.model_dir!r} has none "
        "(estimator.latest_checkpoint() returned None) and the estimator has no "
        "warm-start checkpoint. Train the estimator first, or pass checkpoint_path=."
    )


def _existing_checkpoint(path: str, argument: str) -> str:
    # A prefix with its index comes first: TF's ram:// filesystem reports every prefix of
    # an existing file name as a directory, so isdir('ram://m/model.ckpt-2') is True.
    if tf.io.gfile.exists(path + ".index"):
        return path
    if tf.io.gfile.isdir(path):
        variables_dir = _fs.join(path, "variables")
        if tf.io.gfile.exists(_fs.join(variables_dir, "variables.index")):
            return _fs.join(variables_dir, "variables")  # a SavedModel directory
        latest = tf.train.latest_checkpoint(path)
        if latest is None and tf.io.gfile.exists(_fs.join(path, "variables.index")):
            latest = _fs.join(path, "variables")  # a SavedModel's variables/ directory
        if latest is None:
            raise ValueError(
                f"{argument}={path!r} is a directory with no checkpoint in it (no 'checkpoint' "
                "state file naming one). Pass a checkpoint prefix such as "
                "'model_dir/model.ckpt-100', or a directory the estimator has saved into."
            )
        return latest
    if tf.io.gfile.exists(path):
        _check_is_v1_checkpoint(path, argument)
        return path
    raise ValueError(
        f"{argument}={path!r} does not exist: there is no checkpoint index {path + '.index'!r}. "
        "Pass the prefix of an existing checkpoint (e.g. 'model_dir/model.ckpt-100', without "
        "'.index'), a directory holding checkpoints, or None for the latest one."
    )


def _check_is_v1_checkpoint(path: str, argument: str) -> None:
    """A file given without an index must be a (TF1, single-file) checkpoint itself."""
    try:
        tf.compat.v1.train.NewCheckpointReader(path)
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(
            f"{argument}={path!r} is a file but not a checkpoint ({type(error).__name__}). Pass "
            "a checkpoint prefix: for 'model.ckpt-100.index' and 'model.ckpt-100.data-*', that "
            "is 'model.ckpt-100'."
        ) from None


class CheckpointCatalog:
    """Names, shapes and dtypes of a checkpoint's tensors, read once from its index.

    Partitioned variables appear once, under their full name with their full shape.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        # NewCheckpointReader, not tf.train.load_checkpoint: the latter asks isdir() first,
        # which TF's ram:// filesystem answers True for any prefix of a file name.
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
        self.specs: Dict[str, Spec] = {name: (tuple(shapes[name]), dtypes[name]) for name in shapes}

    @property
    def is_v2(self) -> bool:
        """True for the index + data files format TF2 writes (the only one we can copy)."""
        return tf.io.gfile.exists(self.prefix + ".index")

    def data_files(self) -> List[str]:
        return sorted(tf.io.gfile.glob(self.prefix + ".data-*"))

    def nbytes(self, name: str) -> Optional[int]:
        """Size of tensor ``name`` in memory; None when unknown (strings)."""
        shape, dtype = self.specs[name]
        return _nbytes(shape, dtype)


def _nbytes(shape: Optional[Tuple[int, ...]], dtype: tf.dtypes.DType) -> Optional[int]:
    if shape is None or dtype == tf.string:
        return None
    return int(np.prod(shape, dtype=np.int64)) * dtype.size


# --- what a mode saves -------------------------------------------------------------------------

SavedEntry = Union[Any, List[Any]]  # a variable's tensor, or the partitions of one variable


def _saved_entries(mode_graph: ModeGraph) -> Optional[Dict[str, SavedEntry]]:
    """Checkpoint key -> variable (or list of partitions) the mode's saver saves, or None.

    None means metadata cannot describe what the saver writes: a custom saver, or
    saveables that are not variables (lookup tables), whose keys only they know.
    """
    graph = mode_graph.graph
    if not mode_graph.uses_default_saver or graph.get_collection(tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS):
        return None
    return _compat.saveable_names(graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES))


def plain_variable_specs(mode_graph: ModeGraph) -> Optional[Dict[str, Spec]]:
    """Checkpoint key -> (shape, dtype) of what the mode's saver saves, or None.

    None means the mode cannot be checked by metadata: it has a custom saver, or
    saveables that are not variables (lookup tables), whose keys and shapes only the
    saveable itself knows.
    """
    entries = _saved_entries(mode_graph)
    return None if entries is None else _specs_of(entries)


def _specs_of(entries: Dict[str, SavedEntry]) -> Dict[str, Spec]:
    specs: Dict[str, Spec] = {}
    for name, variable in entries.items():
        if isinstance(variable, (list, tuple)):  # a partitioned variable: saved as one tensor
            first = variable[0]
            shape: Optional[Tuple[int, ...]] = tuple(first._save_slice_info.full_shape)
            dtype = first.dtype.base_dtype
        else:
            static = variable.shape
            shape = tuple(static.as_list()) if static.is_fully_defined() else None
            dtype = variable.dtype.base_dtype
        specs[name] = (shape, dtype)
    return specs


def check_against(mode: str, needed: Dict[str, Spec], available: Dict[str, Spec], source: str) -> None:
    """Raises ValueError listing every variable ``mode`` needs that ``available`` lacks."""
    missing = sorted(set(needed) - set(available))
    mismatched = [
        f"{name}: graph {_spec_text(needed[name])}, {source} {_spec_text(available[name])}"
        for name in sorted(set(needed) & set(available))
        if not _compatible(needed[name], available[name])
    ]
    if missing or mismatched:
        lines = []
        if missing:
            lines.append(f"missing from {source}: {', '.join(missing)}")
        if mismatched:
            lines.append("different shape or dtype: " + "; ".join(mismatched))
        raise ValueError(
            f"The {mode_label(mode)} graph needs variables the checkpoint cannot supply ("
            + " | ".join(lines)
            + "). Make sure the model_fn builds the same variables in every mode as in "
            "training, or export from a checkpoint of this model (checkpoint_path=)."
        )


def _compatible(needed: Spec, available: Spec) -> bool:
    needed_shape, needed_dtype = needed
    available_shape, available_dtype = available
    if needed_dtype != available_dtype:
        return False
    return needed_shape is None or available_shape is None or tuple(needed_shape) == tuple(available_shape)


def _spec_text(spec: Spec) -> str:
    shape, dtype = spec
    return f"{dtype.name}{list(shape) if shape is not None else '[?]'}"


# --- writing the saving mode's variables ----------------------------------------------------


@dataclasses.dataclass
class WrittenVariables:
    """What the SavedModel's variables/ holds, for checking the modes that follow.

    ``specs`` is None when only a restore can check against it (lookup tables, custom
    savers).
    """

    prefix: str
    strategy: str
    specs: Optional[Dict[str, Spec]]


def write_variables(mode_graph: ModeGraph, catalog: CheckpointCatalog, export_dir: str, session_config: Any) -> WrittenVariables:
    """Writes the saving mode's variables into ``export_dir/variables/variables``.

    The mode is first checked against the checkpoint's metadata (when it can be), so a
    mismatch is a ValueError naming the mode and listing the variables before any
    tensor is read. Then ``"copy"``, ``"stream"`` or ``"restore-save"`` (module
    docstring); every one writes what the mode's saver would restore.

    Raises:
      ValueError: the mode needs variables the checkpoint lacks or holds with another
        shape or dtype.
    """
    variables_prefix = _fs.join(export_dir, "variables", "variables")
    tf.io.gfile.makedirs(_fs.join(export_dir, "variables"))
    entries = _saved_entries(mode_graph)
    specs = None if entries is None else _specs_of(entries)
    if specs is not None:
        check_against(mode_graph.mode, specs, catalog.specs, f"checkpoint {catalog.prefix!r}")
    strategy = _choose_strategy(specs, catalog)
    logger.info("Writing the %s graph's variables: %s", mode_label(mode_graph.mode), strategy)
    if strategy == COPY:
        _copy_checkpoint(catalog, variables_prefix)
        return WrittenVariables(variables_prefix, COPY, dict(catalog.specs))
    if strategy == STREAM:
        assert entries is not None and specs is not None
        _write_subset(entries, catalog, variables_prefix, session_config)
        return WrittenVariables(variables_prefix, STREAM, {name: catalog.specs[name] for name in specs})
    _restore_and_save(mode_graph, catalog.prefix, variables_prefix, session_config)
    written = CheckpointCatalog(variables_prefix) if specs is not None else None
    return WrittenVariables(variables_prefix, RESTORE_SAVE, written.specs if written else None)


def _choose_strategy(specs: Optional[Dict[str, Spec]], catalog: CheckpointCatalog) -> str:
    natural = RESTORE_SAVE
    if specs:  # None: metadata cannot describe the saver; {}: nothing to stream (Saver writes no file)
        natural = COPY if set(specs) == set(catalog.specs) and catalog.is_v2 else STREAM
    forced = _forced_strategy
    if forced is None or forced == natural:
        return natural
    if forced == RESTORE_SAVE or (forced == STREAM and natural == COPY):
        return forced
    raise ValueError(
        f"forced_strategy({forced!r}) cannot apply to this mode: it needs {natural!r} "
        "(copy needs exactly the checkpoint's tensors; copy and stream need plain variables "
        "under the default saver)."
    )


def _copy_checkpoint(catalog: CheckpointCatalog, variables_prefix: str) -> None:
    """Copies the checkpoint's data and index files to ``variables_prefix``.

    With the (off by default) :data:`HARD_LINK_LOCAL_FILES`, data files are hard-linked
    instead when both sides are on the same local filesystem; the index is always copied.
    """
    data_files = catalog.data_files()
    if not data_files:
        raise ValueError(f"Checkpoint {catalog.prefix!r} has an index but no data files; it cannot be exported.")
    linked = 0
    for data_file in data_files:
        suffix = data_file[len(catalog.prefix):]  # ".data-00000-of-00001"
        linked += _link_or_copy(data_file, variables_prefix + suffix)
    tf.io.gfile.copy(catalog.prefix + ".index", variables_prefix + ".index", overwrite=False)
    if linked:
        logger.info("Hard-linked %d of %d checkpoint data files into the export", linked, len(data_files))


def _link_or_copy(source: str, destination: str) -> bool:
    """Hard-links ``source`` to ``destination`` where possible, else copies; True if linked.

    A checkpoint's data files are never modified once written (TF writes new files and
    deletes old ones), so a link is indistinguishable from a copy for every reader and
    for later training, and it costs no disk writes. It is refused across filesystems,
    on remote ones (``gs://``, ``s3://``, ``ram://``) and without permission; then the
    file is copied through ``tf.io.gfile``.
    """
    if HARD_LINK_LOCAL_FILES and not _fs.has_scheme(source) and not _fs.has_scheme(destination):
        try:
            os.link(_strip_file_scheme(source), _strip_file_scheme(destination))
            return True
        except OSError as error:
            if error.errno == errno.EEXIST:
                raise
            logger.debug("Cannot hard-link %s (%s); copying it", source, error)
    tf.io.gfile.copy(source, destination, overwrite=False)
    return False


def _strip_file_scheme(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


@dataclasses.dataclass(frozen=True)
class _Slice:
    """One tensor to stream: a checkpoint key and the part of it the mode's saver writes."""

    key: str
    shape_and_slice: str  # "" for a whole tensor; "full shape + offsets" for one partition
    dtype: tf.dtypes.DType
    nbytes: Optional[int]  # None when unknown (strings): streamed alone


def _slices_to_write(entries: Dict[str, SavedEntry], catalog: CheckpointCatalog) -> List[_Slice]:
    """What the mode's default sharded Saver would write, one entry per tensor or partition.

    A partitioned variable is written partition by partition with the slice specs the
    graph gives it, exactly as its Saver would, so the mode restores it slice by slice
    and no partition is ever assembled into the full tensor.
    """
    slices = []
    for name in sorted(entries):
        entry = entries[name]
        if isinstance(entry, (list, tuple)):
            for partition in sorted(entry, key=lambda part: list(part._save_slice_info.var_offset)):
                info = partition._save_slice_info
                dtype = partition.dtype.base_dtype
                slices.append(_Slice(name, info.spec, dtype, _nbytes(tuple(info.var_shape), dtype)))
        else:
            slices.append(_Slice(name, "", catalog.specs[name][1], catalog.nbytes(name)))
    return slices


def _groups(slices: List[_Slice], budget: int) -> List[List[_Slice]]:
    """Consecutive groups of at most ``budget`` bytes; a bigger or unsized slice goes alone."""
    groups: List[List[_Slice]] = []
    current: List[_Slice] = []
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


def _stream(slices: List[_Slice], source_prefix: str, variables_prefix: str, session_config: Any) -> None:
    """Writes ``slices`` of ``source_prefix`` to ``variables_prefix`` with bounded memory.

    ``slices`` must not be empty. One graph, one session run. Group i is read by a ``RestoreV2`` and written by a
    ``SaveV2`` to shard i; the ``RestoreV2`` of group i+1 waits on the ``SaveV2`` of
    group i, so at most one group's tensors are alive, and none ever becomes a numpy
    array. ``MergeV2Checkpoints`` then moves the shards' data files under
    ``variables_prefix`` and merges their indices, removing the shard directory.
    """
    shard_dir = variables_prefix + "_stream_shards"
    shard_prefixes = []
    with tf.Graph().as_default() as graph, tf.device("/cpu:0"):
        previous_save = None
        for index, group in enumerate(_groups(slices, STREAM_GROUP_BYTES)):
            shard_prefix = _fs.join(shard_dir, f"part-{index:05d}")
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
    _fs_remove_empty_dir(shard_dir)


def _write_subset(entries: Dict[str, SavedEntry], catalog: CheckpointCatalog, variables_prefix: str, session_config: Any) -> None:
    """Writes the checkpoint's tensors ``entries`` names, in bounded memory when it can.

    A V2 checkpoint's byte ranges are copied chunk by chunk (``_bundle_subset``: memory is
    one chunk whatever the tensor size); a V1 checkpoint, or an index our reader does not
    support, is streamed tensor by tensor with ``RestoreV2``/``SaveV2`` (:func:`_stream`).
    """
    if catalog.is_v2:
        try:
            _bundle_subset.write_subset(catalog.prefix, sorted(entries), variables_prefix)
            return
        except _bundle_index.UnsupportedIndexError as error:
            logger.info("Cannot copy the checkpoint's byte ranges (%s); streaming instead", error)
    _stream(_slices_to_write(entries, catalog), catalog.prefix, variables_prefix, session_config)


def _fs_remove_empty_dir(path: str) -> None:
    # MergeV2Checkpoints(delete_old_dirs=True) removes the shard directory on local
    # filesystems; some remote ones keep an empty "directory" marker.
    if tf.io.gfile.isdir(path) and not tf.io.gfile.listdir(path):
        tf.io.gfile.rmtree(path)


def _restore_and_save(mode_graph: ModeGraph, checkpoint_prefix: str, variables_prefix: str, session_config: Any) -> None:
    with tf.compat.v1.Session(graph=mode_graph.graph, config=session_config) as session:
        _restore(mode_graph, session, checkpoint_prefix, f"checkpoint {checkpoint_prefix!r}")
        mode_graph.saver.save(session, variables_prefix, write_meta_graph=False, write_state=False)


def _restore(mode_graph: ModeGraph, session: Any, prefix: str, source: str) -> None:
    try:
        mode_graph.saver.restore(session, prefix)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as error:
        raise ValueError(
            f"The {mode_label(mode_graph.mode)} graph could not be restored from {source}: "
            f"{error.message.splitlines()[0]} Make sure the model_fn builds the same variables "
            "in every mode as in training, or export from a checkpoint of this model."
        ) from error


# --- the modes that do not save variables ---------------------------------------------------


def check_mode(mode_graph: ModeGraph, written: WrittenVariables, session_config: Any) -> None:
    """Checks a mode that does not save variables against what was written for the export.

    By metadata when both sides are plain variables; otherwise by really restoring the
    export's variables into the mode's graph, the same thing a loader will do.
    """
    specs = plain_variable_specs(mode_graph)
    if specs is not None and written.specs is not None:
        check_against(mode_graph.mode, specs, written.specs, "the exported variables")
        return
    with tf.compat.v1.Session(graph=mode_graph.graph, config=session_config) as session:
        _restore(mode_graph, session, written.prefix, "the exported variables")
