"""MultiExportMixin and its method: the one definition of ``export_all_saved_models`` as a method.

The three ways in share it: :class:`estimator_ext.MultiExportMixin` (public in
:mod:`estimator_ext.mixin`), :func:`estimator_ext.multi_export` and :func:`estimator_ext.patch`,
which install this very function (wrapped). This module imports no TensorFlow, so
``patch()`` can install the method while TensorFlow itself is still importing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

from estimator_ext.export.result import ExportResult


class MultiExportMixin:
    """Adds ``export_all_saved_models`` to an Estimator subclass.

    List it before the estimator class so its method wins::

        class MyClassifier(estimator_ext.MultiExportMixin, tf.estimator.LinearClassifier):
            pass

        clf = MyClassifier(feature_columns=[age, language])
        clf.train(input_fn, steps=100)
        export = clf.export_all_saved_models("exports/", {
            tf.estimator.ModeKeys.TRAIN: train_receiver_fn,
            tf.estimator.ModeKeys.PREDICT: serving_receiver_fn,
        })

    The method is :func:`estimator_ext.export_all_saved_models` with ``self`` as the
    estimator; see there for the arguments, the return value and the errors.
    """

    def export_all_saved_models(
        self,
        export_dir_base: str,
        input_receiver_fn_map: Mapping[str, Callable[[], Any]],
        assets_extra: Mapping[str, str] | None = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
        strip_default_attrs: bool = False,
        warmup_requests: Sequence[Any] | None = None,
    ) -> ExportResult:
        """Exports this estimator's TRAIN, EVAL and PREDICT graphs as one SavedModel.

        It is :func:`estimator_ext.export_all_saved_models` with this estimator as
        ``estimator``; see there for the arguments, the returned
        :class:`estimator_ext.ExportResult` and the errors. Classes get it from this mixin,
        from :func:`estimator_ext.multi_export` or from :func:`estimator_ext.patch`, which
        install this very function (wrapped).
        """
        # Imported on the first call, not with the class: patch()'s import hooks install
        # this method in the middle of TensorFlow's own (lazy) imports, where importing the
        # export path (which reads tf.estimator) could see a half-built namespace.
        from estimator_ext.export.export_all import export_all_saved_models

        return export_all_saved_models(
            self,
            export_dir_base,
            input_receiver_fn_map,
            assets_extra=assets_extra,
            as_text=as_text,
            checkpoint_path=checkpoint_path,
            strip_default_attrs=strip_default_attrs,
            warmup_requests=warmup_requests,
        )
