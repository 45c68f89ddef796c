"""Writing the SavedModel's variables, from the checkpoint the export reads.

TF's built-in restores the whole checkpoint into a session for every mode, then saves
it again: the model passes through memory once per mode, whole. Here the saving mode is
first checked against the checkpoint's metadata (``catalog.py``) and its variables
are written with the cheapest strategy that gives the same files a restore-then-save
would:

``"copy"``
  the mode saves exactly the checkpoint's tensors with the default saver (a TRAIN
  export of a plain model): the checkpoint's data and index files are copied (local to
  local by ``storage/local_copy.py``, which starts each chunk's writeback as it copies so the
  ``fsync`` before publishing waits for little; otherwise by the store's copy); no
  tensor passes through this process's memory, and the export shares no file with the
  checkpoint.
``"stream"``
  the mode saves a strict subset of them (a PREDICT-only export has no optimizer
  slots). From a V2 checkpoint, the needed tensors' byte ranges are copied in bounded
  chunks into a new data file and a new index is written (``bundle_subset.py``): memory
  is one chunk, whatever the tensor size. From a V1 checkpoint (or an index
  ``bundle_index.py`` cannot read): each tensor, or group of small tensors up to
  ``stream_group_bytes`` (:data:`STREAM_GROUP_BYTES` by default), goes from a
  ``RestoreV2`` straight into a ``SaveV2`` of its own shard inside one graph run, the
  shards chained so one is written before the next is read; then
  ``MergeV2Checkpoints`` joins the shards (it renames data files and merges the small
  indices). Peak memory is the largest tensor (or partition) plus a constant.
``"restore-save"``
  anything metadata cannot describe: lookup tables (``MutableHashTable`` saveables,
  e.g. ``LinearSDCA``), a custom ``Scaffold.saver``, a ``tf.train.Checkpoint`` saver.
  The mode's graph restores the checkpoint in a session and its own saver writes the
  variables, as TF does.

The modes that follow the saving one are checked against what was written
(:func:`check_mode`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import tensorflow as tf

from estimator_ext._mode_names import mode_label
from estimator_ext.storage import copying, paths
from estimator_ext.storage.files import gfile
from estimator_ext.storage.stores import store_for
from estimator_ext.variables.catalog import CheckpointCatalog, Spec, check_against
from estimator_ext.variables.progress import PROGRESS_INTERVAL, ProgressLog, watch_growth
from estimator_ext.variables.saved_entries import (
    SavedVariables,
    describe_saved,
    plain_variable_specs,
)
from estimator_ext.variables.stream import write_subset

if TYPE_CHECKING:  # the export stage's type; variables/ never imports export/ at run time
    from estimator_ext.export.mode_graph import ModeGraph

logger = logging.getLogger("estimator_ext")

#: Strategies for writing the saving mode's variables (see :func:`write_variables`).
COPY = "copy"
STREAM = "stream"
RESTORE_SAVE = "restore-save"
STRATEGIES = (COPY, STREAM, RESTORE_SAVE)

#: Small tensors are streamed together up to this many bytes per shard by default; a
#: larger tensor gets a shard of its own. It is the constant in "largest tensor plus a
#: constant".
STREAM_GROUP_BYTES = 32 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class WriteOptions:
    """How the saving mode's variables are written; the defaults are what exports use.

    ``strategy`` forces one of :data:`STRATEGIES` instead of the cheapest that applies:
    tests and benchmarks use it to show each path gives the same export. A strategy
    that cannot apply (``"copy"`` when the mode saves a subset of the checkpoint,
    ``"copy"``/``"stream"`` for lookup tables or custom savers) makes the export raise
    ValueError instead of silently taking another path. ``stream_group_bytes`` is the
    "stream" strategy's shard budget. ``progress_interval`` is the least time between
    two progress records of the variables written (``progress.py``; seconds, 0 for every
    step).

    Raises:
      ValueError: an unknown ``strategy``, a ``stream_group_bytes`` that is not a
        positive int, or a negative ``progress_interval``.
    """

    strategy: str | None = None
    stream_group_bytes: int = STREAM_GROUP_BYTES
    progress_interval: float = PROGRESS_INTERVAL

    def __post_init__(self) -> None:
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {STRATEGIES} or None, received {self.strategy!r}."
            )
        size = self.stream_group_bytes
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"stream_group_bytes must be a positive int, received {size!r}.")
        interval = self.progress_interval
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval < 0:
            raise ValueError(
                f"progress_interval must be a number of seconds >= 0, received {interval!r}."
            )


@dataclasses.dataclass
class WrittenVariables:
    """What the SavedModel's variables/ holds, for checking the modes that follow.

    ``specs`` is None when only a restore can check against it (lookup tables, custom
    savers). ``saved`` is the saving mode's graph-free description, None likewise: a
    later export of the same graphs writes its variables from it
    (:func:`write_described_variables`).
    """

    prefix: str
    strategy: str
    specs: dict[str, Spec] | None
    saved: SavedVariables | None = None


def write_variables(
    mode_graph: ModeGraph,
    catalog: CheckpointCatalog,
    export_dir: str,
    session_config: Any,
    options: WriteOptions = WriteOptions(),
) -> WrittenVariables:
    """Writes the saving mode's variables into ``export_dir/variables/variables``.

    The mode is first checked against the checkpoint's metadata (when it can be), so a
    mismatch is a ValueError naming the mode and listing the variables before any
    tensor is read. Then ``"copy"``, ``"stream"`` or ``"restore-save"`` (module
    docstring; ``options.strategy`` forces one); every one writes what the mode's saver
    would restore.

    Raises:
      ValueError: the mode needs variables the checkpoint lacks or holds with another
        shape or dtype, or ``options.strategy`` cannot apply to it.
    """
    saved = describe_saved(mode_graph)
    if saved is not None:
        check_against(mode_graph.mode, saved.specs, catalog.specs, f"checkpoint {catalog.prefix!r}")
    strategy = _choose_strategy(None if saved is None else saved.specs, catalog, options.strategy)
    if strategy != RESTORE_SAVE:
        assert saved is not None
        mode = mode_graph.mode
        return _write_plain(saved, mode, strategy, catalog, export_dir, session_config, options)
    variables_prefix = _variables_prefix(export_dir)
    logger.info("Writing the %s graph's variables: %s", mode_label(mode_graph.mode), strategy)
    _restore_and_save(mode_graph, catalog.prefix, variables_prefix, session_config)
    written = CheckpointCatalog(variables_prefix) if saved is not None else None
    return WrittenVariables(
        variables_prefix, RESTORE_SAVE, written.specs if written else None, saved
    )


def write_described_variables(
    saved: SavedVariables,
    mode: str,
    catalog: CheckpointCatalog,
    export_dir: str,
    session_config: Any,
    options: WriteOptions = WriteOptions(),
) -> WrittenVariables:
    """:func:`write_variables` from a stored description of the saving mode, no graph.

    For a later export of graphs built before (``export/reuse.py``): the same check
    against the checkpoint and the same "copy" or "stream" files.

    Raises:
      ValueError: as :func:`write_variables`; also when only "restore-save" could write
        them (no variables to write, or that strategy forced), which needs the graph.
    """
    check_against(mode, saved.specs, catalog.specs, f"checkpoint {catalog.prefix!r}")
    strategy = _choose_strategy(saved.specs, catalog, options.strategy)
    if strategy == RESTORE_SAVE:
        raise ValueError(
            f"The {mode_label(mode)} graph's variables can only be written by restoring them "
            "through the graph (restore-save); build the graphs for this export."
        )
    return _write_plain(saved, mode, strategy, catalog, export_dir, session_config, options)


def _variables_prefix(export_dir: str) -> str:
    gfile.makedirs(paths.join(export_dir, "variables"))
    return paths.join(export_dir, "variables", "variables")


def _write_plain(
    saved: SavedVariables,
    mode: str,
    strategy: str,
    catalog: CheckpointCatalog,
    export_dir: str,
    session_config: Any,
    options: WriteOptions,
) -> WrittenVariables:
    """Writes plain variables by "copy" or "stream"; ``saved`` was checked against ``catalog``."""
    variables_prefix = _variables_prefix(export_dir)
    logger.info("Writing the %s graph's variables: %s", mode_label(mode), strategy)
    if strategy == COPY:
        _copy_checkpoint(catalog, variables_prefix, options.progress_interval)
        return WrittenVariables(variables_prefix, COPY, dict(catalog.specs), saved)
    group_bytes = options.stream_group_bytes
    # One bounded store call on an object store (the subset writer's uploads can hang
    # in the client like any other); its own thread, so it builds its own graph.
    store_for(variables_prefix).call(
        "writing the variables",
        variables_prefix,
        lambda: write_subset(
            saved,
            catalog,
            variables_prefix,
            session_config,
            group_bytes,
            options.progress_interval,
        ),
        retries=0,
        nbytes=sum(catalog.nbytes(name) or 0 for name in saved.specs),
    )
    streamed = {name: catalog.specs[name] for name in saved.specs}
    return WrittenVariables(variables_prefix, STREAM, streamed, saved)


def _choose_strategy(
    specs: dict[str, Spec] | None, catalog: CheckpointCatalog, forced: str | None
) -> str:
    natural = RESTORE_SAVE
    if specs:  # None: metadata cannot describe the saver; {}: nothing to stream (no file)
        natural = COPY if set(specs) == set(catalog.specs) and catalog.is_v2 else STREAM
    if forced is None or forced == natural:
        return natural
    if forced == RESTORE_SAVE or (forced == STREAM and natural == COPY):
        return forced
    raise ValueError(
        f"The variables strategy {forced!r} cannot apply to this mode: it needs {natural!r} "
        "(copy needs exactly the checkpoint's tensors; copy and stream need plain variables "
        "under the default saver)."
    )


def _copy_checkpoint(
    catalog: CheckpointCatalog, variables_prefix: str, progress_interval: float
) -> None:
    """Copies the checkpoint's data and index files to ``variables_prefix``.

    Bytes copied are logged (``progress.py``) so a multi-GB file logs once a second: a
    local-to-local copy reports each chunk, a local destination of a remote checkpoint is
    watched as it grows; a remote destination advances file by file.
    """
    data_files = catalog.data_files()
    if not data_files:
        raise ValueError(
            f"Checkpoint {catalog.prefix!r} has an index but no data files; it cannot be exported."
        )
    copies = [(name, variables_prefix + name[len(catalog.prefix) :]) for name in data_files]
    copies.append((catalog.prefix + ".index", variables_prefix + ".index"))
    sizes = [gfile.stat(source).length for source, _ in copies]
    progress = ProgressLog("Writing variables", sum(sizes), progress_interval)
    for (source, destination), size in zip(copies, sizes):
        base = progress.done
        if paths.has_scheme(destination) or copying.is_local_to_local(source, destination):
            copying.copy_file(source, destination, "copying the variables", size, progress.advance)
        else:  # a remote checkpoint into a local export: its copy reports nothing, so watch it
            with watch_growth(paths.local_path(destination), progress, base):
                copying.copy_file(source, destination, "copying the variables", size)
        progress.update_to(base + size)
    progress.finish()


def _restore_and_save(
    mode_graph: ModeGraph, checkpoint_prefix: str, variables_prefix: str, session_config: Any
) -> None:
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
