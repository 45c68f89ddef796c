"""Finding the checkpoint, checking modes against it, and writing the SavedModel's variables.

TF's built-in restores the whole checkpoint into a session for every mode, then saves
it again: the model passes through memory three times. Here the checkpoint's metadata
is read once (:class:`CheckpointCatalog`) and:

* a mode whose variables are plain variables under the default saver is checked by
  names, shapes and dtypes, with no session and no tensor read;
* the saving mode's variables are written by copying the checkpoint's files when they
  are exactly the checkpoint's tensors ("copy"), else restored and saved by the mode's
  own saver ("restore-save"), which is also the path for lookup tables and custom savers.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf

from estimator_ext import _compat, _fs
from estimator_ext._modekeys import mode_label
from estimator_ext._modes import ModeGraph

logger = logging.getLogger("estimator_ext")

Spec = Tuple[Optional[Tuple[int, ...]], tf.dtypes.DType]

#: Strategies for writing the saving mode's variables (see :func:`write_variables`).
COPY = "copy"
RESTORE_SAVE = "restore-save"


def resolve_checkpoint(estimator: Any, checkpoint_path: Optional[str]) -> str:
    """The checkpoint prefix to export from.

    ``checkpoint_path`` may be a prefix or a directory (its latest checkpoint is used).
    Without one, ``estimator.latest_checkpoint()`` (so subclasses that override it are
    honoured), then the estimator's warm-start checkpoint, as TF does.

    Raises:
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
    if tf.io.gfile.exists(path + ".index") or tf.io.gfile.exists(path):
        return path
    raise ValueError(
        f"{argument}={path!r} does not exist: there is no checkpoint index {path + '.index'!r}. "
        "Pass the prefix of an existing checkpoint (e.g. 'model_dir/model.ckpt-100', without "
        "'.index'), a directory holding checkpoints, or None for the latest one."
    )


class CheckpointCatalog:
    """Names, shapes and dtypes of a checkpoint's tensors, read once from its index."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
        self.specs: Dict[str, Spec] = {name: (tuple(shapes[name]), dtypes[name]) for name in shapes}

    def data_files(self) -> List[str]:
        return sorted(tf.io.gfile.glob(self.prefix + ".data-*"))


def plain_variable_specs(mode_graph: ModeGraph) -> Optional[Dict[str, Spec]]:
    """Checkpoint key -> (shape, dtype) of what the mode's saver saves, or None.

    None means the mode cannot be checked by metadata: it has a custom saver, or
    saveables that are not variables (lookup tables), whose keys and shapes only the
    saveable itself knows.
    """
    graph = mode_graph.graph
    if not mode_graph.uses_default_saver or graph.get_collection(tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS):
        return None
    specs: Dict[str, Spec] = {}
    for name, variable in _compat.saveable_names(graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)).items():
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


@dataclasses.dataclass
class WrittenVariables:
    """What the SavedModel's variables/ holds, for checking the modes that follow."""

    prefix: str
    strategy: str
    specs: Optional[Dict[str, Spec]]


def write_variables(mode_graph: ModeGraph, catalog: CheckpointCatalog, export_dir: str, session_config: Any) -> WrittenVariables:
    """Writes the saving mode's variables into ``export_dir/variables``.

    Copies the checkpoint's files when the mode saves exactly the checkpoint's tensors
    with the default saver; otherwise restores them into a session and saves with the
    mode's saver (so custom savers and lookup tables come out as TF would write them).
    """
    variables_prefix = _fs.join(export_dir, "variables", "variables")
    tf.io.gfile.makedirs(_fs.join(export_dir, "variables"))
    specs = plain_variable_specs(mode_graph)
    if specs is not None:
        check_against(mode_graph.mode, specs, catalog.specs, f"checkpoint {catalog.prefix!r}")
        if set(specs) == set(catalog.specs):
            _copy_checkpoint(catalog, variables_prefix)
            return WrittenVariables(variables_prefix, COPY, dict(catalog.specs))
    _restore_and_save(mode_graph, catalog.prefix, variables_prefix, session_config)
    written = CheckpointCatalog(variables_prefix) if specs is not None else None
    return WrittenVariables(variables_prefix, RESTORE_SAVE, written.specs if written else None)


def _copy_checkpoint(catalog: CheckpointCatalog, variables_prefix: str) -> None:
    data_files = catalog.data_files()
    if not data_files:
        raise ValueError(f"Checkpoint {catalog.prefix!r} has an index but no data files; it cannot be exported.")
    for data_file in data_files:
        suffix = data_file[len(catalog.prefix):]  # ".data-00000-of-00001"
        tf.io.gfile.copy(data_file, variables_prefix + suffix, overwrite=False)
    tf.io.gfile.copy(catalog.prefix + ".index", variables_prefix + ".index", overwrite=False)


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
