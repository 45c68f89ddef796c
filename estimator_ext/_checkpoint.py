"""The checkpoint an export reads: finding it, its catalog, and checking modes against it.

TF's built-in restores the whole checkpoint into a session for every mode to learn
whether the mode's graph fits it. Here the checkpoint's metadata (names, shapes,
dtypes) is read once per export (:class:`CheckpointCatalog`), and a mode whose
variables are plain variables under the default saver is checked against it by
names, shapes and dtypes (:func:`check_against`), with no session and no tensor read.
Writing the SavedModel's variables from it is ``_variables.py``'s job.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import tensorflow as tf

from estimator_ext import _compat, _fs
from estimator_ext._gfile import gfile
from estimator_ext._modekeys import mode_label
from estimator_ext._modes import ModeGraph

#: (shape, or None when not fully known; dtype) of one checkpoint tensor or graph variable.
Spec = tuple[Optional[tuple[int, ...]], tf.dtypes.DType]

# --- which checkpoint ------------------------------------------------------------------------


def resolve_checkpoint(estimator: Any, checkpoint_path: str | None) -> str:
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
    if gfile.exists(path + ".index"):
        return path
    if gfile.isdir(path):
        variables_dir = _fs.join(path, "variables")
        if gfile.exists(_fs.join(variables_dir, "variables.index")):
            return _fs.join(variables_dir, "variables")  # a SavedModel directory
        latest = tf.train.latest_checkpoint(path)
        if latest is None and gfile.exists(_fs.join(path, "variables.index")):
            latest = _fs.join(path, "variables")  # a SavedModel's variables/ directory
        if latest is None:
            raise ValueError(
                f"{argument}={path!r} is a directory with no checkpoint in it (no 'checkpoint' "
                "state file naming one). Pass a checkpoint prefix such as "
                "'model_dir/model.ckpt-100', or a directory the estimator has saved into."
            )
        return latest
    if gfile.exists(path):
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

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        # NewCheckpointReader, not tf.train.load_checkpoint: the latter asks isdir() first,
        # which TF's ram:// filesystem answers True for any prefix of a file name.
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
        self.specs: dict[str, Spec] = {name: (tuple(shapes[name]), dtypes[name]) for name in shapes}

    @property
    def is_v2(self) -> bool:
        """True for the index + data files format TF2 writes (the only one we can copy)."""
        return gfile.exists(self.prefix + ".index")

    def data_files(self) -> list[str]:
        """The checkpoint's ``.data-*`` files, sorted."""
        return sorted(gfile.glob(self.prefix + ".data-*"))

    def nbytes(self, name: str) -> int | None:
        """Size of tensor ``name`` in memory; None when unknown (strings)."""
        shape, dtype = self.specs[name]
        return tensor_nbytes(shape, dtype)


def tensor_nbytes(shape: tuple[int, ...] | None, dtype: tf.dtypes.DType) -> int | None:
    """Bytes of a tensor in memory; None when unknown (strings, an unknown shape)."""
    if shape is None or dtype == tf.string:
        return None
    return int(np.prod(shape, dtype=np.int64)) * dtype.size


# --- what a mode saves -------------------------------------------------------------------------

SavedEntry = Union[Any, list[Any]]  # a variable's tensor, or the partitions of one variable


def saved_entries(mode_graph: ModeGraph) -> dict[str, SavedEntry] | None:
    """Checkpoint key -> variable (or list of partitions) the mode's saver saves, or None.

    None means metadata cannot describe what the saver writes: a custom saver, or
    saveables that are not variables (lookup tables), whose keys only they know.
    """
    graph = mode_graph.graph
    if not mode_graph.uses_default_saver:
        return None
    if graph.get_collection(tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS):
        return None
    return _compat.saveable_names(graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES))


def plain_variable_specs(mode_graph: ModeGraph) -> dict[str, Spec] | None:
    """Checkpoint key -> (shape, dtype) of what the mode's saver saves, or None.

    None means the mode cannot be checked by metadata: it has a custom saver, or
    saveables that are not variables (lookup tables), whose keys and shapes only the
    saveable itself knows.
    """
    entries = saved_entries(mode_graph)
    return None if entries is None else specs_of(entries)


def specs_of(entries: dict[str, SavedEntry]) -> dict[str, Spec]:
    """Checkpoint key -> (shape, dtype) of each entry; a partitioned one has its full shape."""
    specs: dict[str, Spec] = {}
    for name, variable in entries.items():
        if isinstance(variable, (list, tuple)):  # a partitioned variable: saved as one tensor
            first = variable[0]
            shape: tuple[int, ...] | None = tuple(_compat.save_slice_info(first).full_shape)
            dtype = first.dtype.base_dtype
        else:
            static = variable.shape
            shape = tuple(static.as_list()) if static.is_fully_defined() else None
            dtype = variable.dtype.base_dtype
        specs[name] = (shape, dtype)
    return specs


def check_against(
    mode: str, needed: dict[str, Spec], available: dict[str, Spec], source: str
) -> None:
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
    if needed_shape is None or available_shape is None:
        return True
    return tuple(needed_shape) == tuple(available_shape)


def _spec_text(spec: Spec) -> str:
    shape, dtype = spec
    return f"{dtype.name}{list(shape) if shape is not None else '[?]'}"
