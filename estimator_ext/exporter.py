"""AllModesExporter: ``export_all_saved_models`` after every evaluation of ``train_and_evaluate``.

TF's ``LatestExporter`` exports only the serving graph. This exporter plugs into the same
slot (``tf.estimator.EvalSpec(exporters=[...])``) and writes, after each evaluation, ONE
SavedModel holding the TRAIN, EVAL and PREDICT graphs requested, from exactly the
checkpoint that was just evaluated, then keeps only the newest ``exports_to_keep``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import tensorflow as tf

from estimator_ext._tf_private import members as tf_private
from estimator_ext.export.plan import check_flag, check_options, plan_with_options
from estimator_ext.export.result import ExportResult
from estimator_ext.export.reuse import GraphReuse
from estimator_ext.export.write import write_plan
from estimator_ext.storage.retention import delete_old_exports

#: ``tf.estimator.Exporter``, found where it lives on every supported TensorFlow (on 2.16+
#: there is no ``tf.estimator`` unless ``patch()`` is active).
_Exporter: Any = tf_private.tf_estimator.Exporter


class AllModesExporter(_Exporter):  # tf.estimator.Exporter
    """Exports the TRAIN, EVAL and PREDICT graphs as one SavedModel after each evaluation.

    Use it where ``tf.estimator.LatestExporter`` goes; TF calls it after every
    evaluation (locally, or in the ``evaluator`` task of a cluster) with the checkpoint
    it just evaluated::

        exporter = estimator_ext.AllModesExporter(
            "all_modes",
            {
                tf.estimator.ModeKeys.TRAIN: supervised_receiver_fn,
                tf.estimator.ModeKeys.EVAL: supervised_receiver_fn,
                tf.estimator.ModeKeys.PREDICT: serving_receiver_fn,
            },
            exports_to_keep=3,
        )
        eval_spec = tf.estimator.EvalSpec(eval_input_fn, exporters=[exporter], throttle_secs=60)
        tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
        # -> <model_dir>/export/all_modes/<timestamp>/ , the newest 3 kept

    Each export is written as :func:`estimator_ext.export_all_saved_models` writes one
    (hidden temporary directory, published under an integer name only when complete,
    nothing left behind on error). Afterwards older exports are deleted so that the
    ``exports_to_keep`` largest complete integer-named directories remain, as
    ``LatestExporter`` does; any
    other entry (temporary directories of exports in progress, integer-named directories
    without ``saved_model.pb`` -- a copy-publish in progress on ``s3://``/``gs://`` --
    files, other names) is neither counted nor touched, and the export just written is
    never deleted, even if a clock that went backwards gave it a smaller name than older
    ones.

    The first export builds the graphs (each mode's receiver and ``model_fn``); the
    later ones write them again with the new checkpoint's variables, without calling a
    receiver or ``model_fn``, as long as nothing they depend on changed (the estimator's
    ``model_fn``, ``params`` and ``config``, the asset files, the checkpoint's variables:
    see ``docs/exporter.md``, "Repeated exports"). Each rebuild logs one INFO record
    saying why.

    Arguments are checked when the exporter is built, so a mistake surfaces before
    training starts rather than after the first evaluation.

    Args:
      name: directory name of this exporter under ``<model_dir>/export/``; unique among
        the ``EvalSpec``'s exporters.
      input_receiver_fn_map: dict of ``tf.estimator.ModeKeys`` to receiver fns, as for
        :func:`estimator_ext.export_all_saved_models`.
      assets_extra: dict of destination (relative to ``assets.extra/``) to source file,
        or None.
      as_text: write ``saved_model.pbtxt`` instead of ``saved_model.pb``.
      exports_to_keep: how many of the newest exports to keep (a positive int), or None
        to keep them all.
      warmup_requests: TF Serving warmup requests written into (and replayed against)
        every export, as for :func:`estimator_ext.export_all_saved_models`; checked here.
      reuse_graphs: True (the default) to build the graphs once and reuse them while
        nothing they depend on changed; False to build them for every export, for
        receivers or a ``model_fn`` that read state changing between evaluations.

    Raises:
      TypeError / ValueError: an argument is invalid; the message names it and the fix.
    """

    def __init__(
        self,
        name: str,
        input_receiver_fn_map: Mapping[str, Callable[[], Any]],
        assets_extra: Mapping[str, str] | None = None,
        as_text: bool = False,
        exports_to_keep: int | None = 5,
        warmup_requests: Sequence[Any] | None = None,
        reuse_graphs: bool = True,
    ) -> None:
        self._name = _check_name(name)
        # Everything an export can check without the estimator, checked now (the plan's
        # own checks); each export() plans with them for its estimator and directory.
        self._options = check_options(
            "AllModesExporter",
            input_receiver_fn_map,
            assets_extra=assets_extra,
            as_text=as_text,
            warmup_requests=warmup_requests,
        )
        self._exports_to_keep = _check_exports_to_keep(exports_to_keep)
        reuse = check_flag("reuse_graphs", reuse_graphs, "AllModesExporter")
        self._reuse = GraphReuse() if reuse else None

    @property
    def name(self) -> str:
        return self._name

    @property
    def exports_to_keep(self) -> int | None:
        return self._exports_to_keep

    def export(
        self,
        estimator: tf.estimator.Estimator,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: Any,
        is_the_final_export: bool,
    ) -> ExportResult:
        """Exports every requested mode from ``checkpoint_path`` into ``export_path``.

        Called by TF with ``export_path = <model_dir>/export/<name>`` and the checkpoint
        just evaluated. Returns the new export directory (an :class:`ExportResult`).
        A failed export raises and deletes nothing: older exports stay as they were.
        """
        del eval_result, is_the_final_export  # every evaluation is exported, as LatestExporter does
        plan = plan_with_options("AllModesExporter", estimator, export_path, self._options)
        export_dir = write_plan(plan, checkpoint_path, self._reuse)
        if self._exports_to_keep is not None:
            delete_old_exports(export_path, self._exports_to_keep, export_dir)
        return export_dir


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            "AllModesExporter: `name` must be a non-empty string, the directory name of "
            f"this exporter under <model_dir>/export/; received {name!r}. Example: 'all_modes'."
        )
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(
            f"AllModesExporter: `name`={name!r} must be a single directory name (no '/', "
            "'\\', '.' or '..'), since exports go to <model_dir>/export/<name>/. "
            "Example: 'all_modes'."
        )
    return name


def _check_exports_to_keep(exports_to_keep: Any) -> int | None:
    if exports_to_keep is None:
        return None
    if (
        isinstance(exports_to_keep, bool)
        or not isinstance(exports_to_keep, numbers.Integral)
        or exports_to_keep <= 0
    ):
        raise ValueError(
            "AllModesExporter: `exports_to_keep` must be a positive int (how many of the "
            f"newest exports to keep) or None to keep every export; received {exports_to_keep!r}."
        )
    return int(exports_to_keep)
