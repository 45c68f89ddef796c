"""export_all_saved_models: one export, from argument checks to the published directory."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from estimator_ext._tf_private import members as tf_private
from estimator_ext.export import assets_extra as assets_extra_files
from estimator_ext.export.mode_graph import ModeGraph, build_mode_graph, drop_unimportable_saveables
from estimator_ext.export.modekeys import mode_label, validate_receiver_map
from estimator_ext.export.result import ExportResult
from estimator_ext.serving import warmup_replay
from estimator_ext.serving.warmup_plan import plan_warmup_requests
from estimator_ext.storage import names as naming
from estimator_ext.storage import object_store, paths, s3, staging
from estimator_ext.storage import publish as publishing
from estimator_ext.storage.files import gfile
from estimator_ext.variables.catalog import CheckpointCatalog
from estimator_ext.variables.checkpoint import resolve_checkpoint
from estimator_ext.variables.strategies import (
    WriteOptions,
    WrittenVariables,
    check_mode,
    write_variables,
)

logger = logging.getLogger("estimator_ext")

ReceiverFnMap = Mapping[str, Callable[[], Any]]

# The default for ``_write_options``; WriteOptions is frozen, so one shared instance is safe.
_DEFAULT_WRITE_OPTIONS = WriteOptions()


def export_all_saved_models(
    estimator: tf.estimator.Estimator,
    export_dir_base: str,
    input_receiver_fn_map: ReceiverFnMap,
    assets_extra: Mapping[str, str] | None = None,
    as_text: bool = False,
    checkpoint_path: str | None = None,
    strip_default_attrs: bool = False,
    warmup_requests: Sequence[Any] | None = None,
    *,
    _write_options: WriteOptions = _DEFAULT_WRITE_OPTIONS,
) -> ExportResult:
    """Exports the TRAIN, EVAL and PREDICT graphs of ``estimator`` as ONE SavedModel.

    For each mode in ``input_receiver_fn_map`` a fresh graph is built: the receiver fn
    gives features (and labels), the estimator's model_fn is called in that mode, and
    the graph is checked against the checkpoint. The SavedModel gets one MetaGraphDef
    per mode, tagged ``train``, ``eval`` and ``serve``, and a single set of variables
    taken from the first present of TRAIN, EVAL, PREDICT.

    * PREDICT: one SignatureDef per ``export_outputs`` key; ``serving_default`` is always
      present (pointing at the predict outputs, with a warning, when the head's default
      output cannot be served from the receiver).
    * TRAIN / EVAL: the train op in the ``saved_model_train_op`` collection; loss,
      predictions and metrics (values and update ops) in the ``train`` / ``eval``
      signatures.

    The export is written to a hidden temporary directory inside ``export_dir_base`` and
    published as a new integer-named (seconds since epoch) subdirectory only when
    complete. On any error nothing is left behind and the original exception propagates.

    With ``warmup_requests``, ``assets.extra/tf_serving_warmup_requests`` (TF Serving's
    warmup file) is written from them to fit the serve graph's ``serving_default``
    signature, and every record is replayed against the exported serve graph before the
    export is published: a request the model cannot serve fails the export. The replay
    loads the serving model, so the export's memory is then at least the serving model's.

    Args:
      estimator: a ``tf.estimator.Estimator`` (canned or custom model_fn).
      export_dir_base: directory (local, ``gs://``, ``s3://``, ``ram://``) in which to
        create the export's timestamped subdirectory; created if missing.
      input_receiver_fn_map: dict of ``tf.estimator.ModeKeys`` to a function taking no
        arguments that returns the mode's receiver (``SupervisedInputReceiver`` for
        TRAIN/EVAL, ``ServingInputReceiver`` for PREDICT).
      assets_extra: dict of destination (relative to ``assets.extra/``, nested allowed)
        to source file path, or None.
      as_text: write ``saved_model.pbtxt`` instead of ``saved_model.pb``.
      checkpoint_path: checkpoint prefix or directory to export; None for
        ``estimator.latest_checkpoint()``, then the warm-start checkpoint.
      strip_default_attrs: remove default-valued attributes from the NodeDefs.
      warmup_requests: None, or a sequence of at most 1000 TF Serving warmup requests,
        each a ``tf.train.Example``, a serialized one (``bytes``), or a feature dict
        (name -> list or array of values; encoded as a tf.Example with the receiver's
        parse spec when the serve graph parses Examples). Needs ModeKeys.PREDICT and
        ``pip install --no-deps tensorflow-serving-api==2.15.1``.
      _write_options: internal, not public API: how the variables are written (a forced
        strategy, the stream shard size), for tests and benchmarks.

    Returns:
      An :class:`ExportResult`: the export directory as a ``str``, also usable as the
      contract's dict of mode to path.

    Raises:
      TypeError: ``estimator`` is not an Estimator, or an argument has the wrong type.
      ValueError: bad receiver map, no checkpoint, a mode without loss or outputs,
        variables the checkpoint lacks, unsafe ``assets_extra`` destinations, warmup
        requests that do not fit or cannot be served (naming ``warmup_requests[i]``).
      ImportError: ``warmup_requests`` without tensorflow-serving-api installed.
    """
    _check_estimator(estimator)
    started = time.monotonic()
    if isinstance(export_dir_base, (str, os.PathLike)):  # before the first s3:// access
        s3.apply_s3_defaults(os.fspath(export_dir_base))
        object_store.check_reachable(os.fspath(export_dir_base))
    with object_store.store_errors(str(export_dir_base), "checking the export directory"):
        export_dir_base = staging.check_export_dir_base(export_dir_base, "export_all_saved_models")
    check_flag("as_text", as_text)
    check_flag("strip_default_attrs", strip_default_attrs)
    if not isinstance(_write_options, WriteOptions):
        raise TypeError(
            "export_all_saved_models: _write_options must be an estimator_ext.variables.strategies."
            f"WriteOptions (internal: for tests and benchmarks); received {_write_options!r}."
        )
    receiver_fn_by_mode = validate_receiver_map(input_receiver_fn_map)
    assets_extra_plan = assets_extra_files.plan_assets_extra(assets_extra)
    warmup_plan = plan_warmup_requests(
        warmup_requests, receiver_fn_by_mode, [destination for destination, _ in assets_extra_plan]
    )
    checkpoint = resolve_checkpoint(estimator, checkpoint_path)
    catalog = CheckpointCatalog(checkpoint)
    logger.info("Exporting %s from checkpoint %s", ", ".join(receiver_fn_by_mode), checkpoint)

    checkpoint_files = staging.existing([checkpoint + ".index"] + catalog.data_files())
    with object_store.store_errors(export_dir_base, "listing the export directory's parents"):
        created_dirs = staging.missing_ancestors(export_dir_base)
    temp_dir = paths.join(export_dir_base, naming.temp_dir_name())
    try:
        gfile.makedirs(export_dir_base)
        gfile.makedirs(temp_dir)
        written, tags_by_mode = _write_saved_model(
            estimator,
            receiver_fn_by_mode,
            catalog,
            temp_dir,
            as_text,
            strip_default_attrs,
            _write_options,
        )
        assets_extra_files.copy_assets_extra(assets_extra_plan, temp_dir)
        warmup_replay.add_warmup_requests(warmup_plan, temp_dir, estimator.config.session_config)
        export_dir = publishing.publish(temp_dir, export_dir_base)
    except BaseException as error:
        staging.remove_quietly(temp_dir)
        staging.remove_created_dirs(created_dirs)  # only while empty: others may publish there
        vanished = staging.existing(checkpoint_files) != checkpoint_files
        if vanished and isinstance(error, (tf.errors.NotFoundError, FileNotFoundError)):
            raise _vanished_checkpoint_error(checkpoint, checkpoint_files) from error
        if paths.is_object_store(export_dir_base) and isinstance(error, tf.errors.OpError):
            elapsed = time.monotonic() - started
            raise object_store.store_error(
                error, export_dir_base, "the export", 0, elapsed
            ) from error
        raise
    saving_mode = next(iter(receiver_fn_by_mode))
    logger.info(
        "Exported %s to %s (variables from %s, %s)",
        ", ".join(tags_by_mode),
        export_dir,
        saving_mode,
        written.strategy,
    )
    return ExportResult(export_dir, tags_by_mode, saving_mode, written.strategy)


def _write_saved_model(
    estimator: Any,
    receiver_fn_by_mode: Mapping[str, Callable[[], Any]],
    catalog: CheckpointCatalog,
    temp_dir: str,
    as_text: bool,
    strip_default_attrs: bool,
    write_options: WriteOptions,
) -> tuple[WrittenVariables, dict[str, tuple[str, ...]]]:
    """Writes every mode's meta graph and the variables; returns them and each mode's tags."""
    builder = tf_private.SavedModelBuilder(temp_dir)
    session_config = estimator.config.session_config
    written: WrittenVariables | None = None
    tags_by_mode: dict[str, tuple[str, ...]] = {}
    for mode, receiver_fn in receiver_fn_by_mode.items():
        with tf.Graph().as_default():
            logger.info("Building the %s graph", mode_label(mode))
            mode_graph = build_mode_graph(estimator, mode, receiver_fn)
            number = list(receiver_fn_by_mode).index(mode) + 1
            logger.info(
                "Built the %s graph (%d of %d)", mode_label(mode), number, len(receiver_fn_by_mode)
            )
            if written is None:
                written = write_variables(
                    mode_graph, catalog, temp_dir, session_config, write_options
                )
                tf_private.mark_variables_written(builder)
            else:
                check_mode(mode_graph, written, session_config)
            _add_meta_graph(builder, mode_graph, strip_default_attrs)
            tags_by_mode[mode] = tuple(mode_graph.tags)
            # Released before the next mode's graph is built: kept alive, it doubles what
            # every garbage collection walks and the peak memory (issue 12's profile, 2,000
            # partition variables, three modes: 2.5 s and 280 MiB more).
            del mode_graph
    assert written is not None  # validate_receiver_map guarantees at least one mode
    # Not retried (the builder writes once); bounded, as an upload can hang in the client.
    object_store.call_store(
        "writing the SavedModel file", temp_dir, lambda: builder.save(as_text), retries=0
    )
    return written, tags_by_mode


def _add_meta_graph(builder: Any, mode_graph: ModeGraph, strip_default_attrs: bool) -> None:
    drop_unimportable_saveables(mode_graph.graph)
    tf_private.add_train_op(builder, mode_graph.train_op)
    builder.add_meta_graph(
        tags=mode_graph.tags,
        signature_def_map=mode_graph.signature_def_map,
        assets_collection=mode_graph.assets_collection,
        main_op=mode_graph.main_op,
        saver=mode_graph.saver,
        strip_default_attrs=strip_default_attrs,
    )


def _vanished_checkpoint_error(checkpoint: str, checkpoint_files: list[str]) -> Exception:
    missing = [path for path in checkpoint_files if path not in staging.existing(checkpoint_files)]
    return tf.errors.NotFoundError(
        None,
        None,
        f"The checkpoint {checkpoint!r} disappeared while it was being exported (now missing: "
        f"{', '.join(missing)}; deleted by another process? tf.estimator keeps only the newest "
        "keep_checkpoint_max checkpoints). Nothing was written. Export again, from a "
        "checkpoint that is kept (checkpoint_path=None picks the latest).",
    )


def check_flag(name: str, value: Any, function: str = "export_all_saved_models") -> bool:
    """``value`` as a bool: True, False or a numpy bool; anything else is a TypeError.

    A string such as "false" is truthy: refuse it rather than silently doing the opposite.
    The one rule for boolean arguments of ``export_all_saved_models`` and
    ``AllModesExporter``; ``function`` names the caller in the message.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{function}: `{name}` must be True or False; received {value!r} "
            f"({type(value).__name__}). Pass a bool, e.g. {name}=True."
        )
    return bool(value)


def _check_estimator(estimator: Any) -> None:
    # tf.compat.v1.estimator.Estimator is the base of tf.estimator.Estimator and of TPUEstimator.
    if not isinstance(estimator, tf.compat.v1.estimator.Estimator):
        raise TypeError(
            "export_all_saved_models: `estimator` must be a tf.estimator.Estimator (canned, "
            f"custom model_fn, or from model_to_estimator); received {type(estimator).__name__}. "
            "For a Keras model, convert it with tf.keras.estimator.model_to_estimator first."
        )
