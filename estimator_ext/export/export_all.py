"""export_all_saved_models: plan the export (every argument checked once), then write it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import tensorflow as tf

from estimator_ext.export.plan import DEFAULT_WRITE_OPTIONS, plan_export
from estimator_ext.export.result import ExportResult
from estimator_ext.export.write import write_plan
from estimator_ext.variables.strategies import WriteOptions

ReceiverFnMap = Mapping[str, Callable[[], Any]]


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
    _write_options: WriteOptions = DEFAULT_WRITE_OPTIONS,
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
    plan = plan_export(
        "export_all_saved_models",
        estimator,
        export_dir_base,
        input_receiver_fn_map,
        assets_extra=assets_extra,
        as_text=as_text,
        strip_default_attrs=strip_default_attrs,
        warmup_requests=warmup_requests,
        write_options=_write_options,
    )
    return write_plan(plan, checkpoint_path)
