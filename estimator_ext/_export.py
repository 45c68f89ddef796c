"""export_all_saved_models: one export, from argument checks to the published directory."""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from estimator_ext import _assets, _compat, _fs, _warmup
from estimator_ext._modekeys import mode_label, validate_receiver_map
from estimator_ext._modes import ModeGraph, build_mode_graph, drop_unimportable_saveables
from estimator_ext._result import ExportResult
from estimator_ext._variables import (
    CheckpointCatalog,
    WrittenVariables,
    check_mode,
    resolve_checkpoint,
    write_variables,
)

logger = logging.getLogger("estimator_ext")

ReceiverFnMap = Mapping[str, Callable[[], Any]]


def export_all_saved_models(
    estimator: tf.estimator.Estimator,
    export_dir_base: str,
    input_receiver_fn_map: ReceiverFnMap,
    assets_extra: Optional[Mapping[str, str]] = None,
    as_text: bool = False,
    checkpoint_path: Optional[str] = None,
    strip_default_attrs: bool = False,
    warmup_requests: Optional[Sequence[Any]] = None,
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
    export_dir_base = _check_export_dir_base(export_dir_base)
    _check_flag("as_text", as_text)
    _check_flag("strip_default_attrs", strip_default_attrs)
    receiver_fn_by_mode = validate_receiver_map(input_receiver_fn_map)
    assets_extra_plan = _assets.plan_assets_extra(assets_extra)
    warmup_plan = _warmup.plan_warmup_requests(
        warmup_requests, receiver_fn_by_mode, [destination for destination, _ in assets_extra_plan]
    )
    checkpoint = resolve_checkpoint(estimator, checkpoint_path)
    catalog = CheckpointCatalog(checkpoint)
    logger.info("Exporting %s from checkpoint %s", ", ".join(receiver_fn_by_mode), checkpoint)

    checkpoint_files = _fs.existing([checkpoint + ".index"] + catalog.data_files())
    created_dirs = _fs.missing_ancestors(export_dir_base)
    temp_dir = _fs.join(export_dir_base, _fs.temp_dir_name())
    try:
        tf.io.gfile.makedirs(export_dir_base)
        tf.io.gfile.makedirs(temp_dir)
        written = _write_saved_model(estimator, receiver_fn_by_mode, catalog, temp_dir, as_text, strip_default_attrs)
        _assets.copy_assets_extra(assets_extra_plan, temp_dir)
        _warmup.add_warmup_requests(warmup_plan, temp_dir, estimator.config.session_config)
        export_dir = _fs.publish(temp_dir, export_dir_base)
    except BaseException as error:
        _fs.remove_quietly(temp_dir)
        _fs.remove_created_dirs(created_dirs)  # only while empty: others may publish there
        vanished = _fs.existing(checkpoint_files) != checkpoint_files
        if vanished and isinstance(error, (tf.errors.NotFoundError, FileNotFoundError)):
            raise _vanished_checkpoint_error(checkpoint, checkpoint_files) from error
        raise
    tags_by_mode = {mode: tuple(_compat.EXPORT_TAG_MAP[mode]) for mode in receiver_fn_by_mode}
    saving_mode = next(iter(receiver_fn_by_mode))
    logger.info("Exported %s to %s (variables from %s, %s)", ", ".join(tags_by_mode), export_dir, saving_mode, written.strategy)
    return ExportResult(export_dir, tags_by_mode, saving_mode, written.strategy)


def _write_saved_model(
    estimator: Any,
    receiver_fn_by_mode: Mapping[str, Callable[[], Any]],
    catalog: CheckpointCatalog,
    temp_dir: str,
    as_text: bool,
    strip_default_attrs: bool,
) -> WrittenVariables:
    builder = _compat.SavedModelBuilder(temp_dir)
    session_config = estimator.config.session_config
    written: Optional[WrittenVariables] = None
    for mode, receiver_fn in receiver_fn_by_mode.items():
        with tf.Graph().as_default():
            logger.info("Building the %s graph", mode_label(mode))
            mode_graph = build_mode_graph(estimator, mode, receiver_fn)
            number = list(receiver_fn_by_mode).index(mode) + 1
            logger.info("Built the %s graph (%d of %d)", mode_label(mode), number, len(receiver_fn_by_mode))
            if written is None:
                written = write_variables(mode_graph, catalog, temp_dir, session_config)
                _compat.mark_variables_written(builder)
            else:
                check_mode(mode_graph, written, session_config)
            _add_meta_graph(builder, mode_graph, strip_default_attrs)
    assert written is not None  # validate_receiver_map guarantees at least one mode
    builder.save(as_text)
    return written


def _add_meta_graph(builder: Any, mode_graph: ModeGraph, strip_default_attrs: bool) -> None:
    drop_unimportable_saveables(mode_graph.graph)
    _compat.add_train_op(builder, mode_graph.train_op)
    builder.add_meta_graph(
        tags=mode_graph.tags,
        signature_def_map=mode_graph.signature_def_map,
        assets_collection=mode_graph.assets_collection,
        main_op=mode_graph.main_op,
        saver=mode_graph.saver,
        strip_default_attrs=strip_default_attrs,
    )


def _vanished_checkpoint_error(checkpoint: str, checkpoint_files: List[str]) -> Exception:
    missing = [path for path in checkpoint_files if path not in _fs.existing(checkpoint_files)]
    return tf.errors.NotFoundError(
        None,
        None,
        f"The checkpoint {checkpoint!r} disappeared while it was being exported (now missing: "
        f"{', '.join(missing)}; deleted by another process? tf.estimator keeps only the newest "
        "keep_checkpoint_max checkpoints). Nothing was written. Export again, from a "
        "checkpoint that is kept (checkpoint_path=None picks the latest).",
    )


def _check_flag(name: str, value: Any) -> None:
    # A string such as "false" is truthy: refuse it rather than silently doing the opposite.
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"export_all_saved_models: `{name}` must be True or False; received {value!r} "
            f"({type(value).__name__}). Pass a bool, e.g. {name}=True."
        )


def _check_estimator(estimator: Any) -> None:
    # tf.compat.v1.estimator.Estimator is the base of tf.estimator.Estimator and of TPUEstimator.
    if not isinstance(estimator, tf.compat.v1.estimator.Estimator):
        raise TypeError(
            "export_all_saved_models: `estimator` must be a tf.estimator.Estimator (canned, "
            f"custom model_fn, or from model_to_estimator); received {type(estimator).__name__}. "
            "For a Keras model, convert it with tf.keras.estimator.model_to_estimator first."
        )


def _check_export_dir_base(export_dir_base: Any) -> str:
    if isinstance(export_dir_base, os.PathLike):
        export_dir_base = os.fspath(export_dir_base)
    if isinstance(export_dir_base, bytes):
        export_dir_base = export_dir_base.decode("utf-8")
    if not isinstance(export_dir_base, str) or not export_dir_base.strip():
        raise TypeError(
            "export_dir_base must be a non-empty directory path (str or os.PathLike), e.g. "
            f"'exports/'; received {export_dir_base!r}."
        )
    if tf.io.gfile.exists(export_dir_base) and not tf.io.gfile.isdir(export_dir_base):
        raise ValueError(
            f"export_dir_base={export_dir_base!r} is a file; it must be a directory to create "
            "the export's timestamped subdirectory in. Pass a directory path."
        )
    stripped = export_dir_base.rstrip("/")
    # Keep "/" and "gs://bucket/"-style roots intact; drop trailing slashes elsewhere.
    return stripped if stripped and not stripped.endswith(":") else export_dir_base
