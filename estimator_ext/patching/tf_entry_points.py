"""TensorFlow's other export entry points, with their TF contracts, on our export.

Two names TensorFlow code calls, each a thin layer over
:func:`estimator_ext.export_all_saved_models` that keeps the caller's contract and gets
everything else from it (argument checks, atomic publish, nothing left behind on failure):

* :func:`export_saved_model_for_mode`: ``tf.contrib.estimator.export_saved_model_for_mode``,
  one mode's graph (restored by ``patch()`` in ``tf.contrib.estimator``);
* :func:`experimental_export_all_saved_models`: TF 2.15's
  ``Estimator.experimental_export_all_saved_models``, which ``patch(builtin=True)`` routes
  here (TFMA's ``export_eval_savedmodel`` and TFX's estimator Trainer call it).

TensorFlow is imported when they are called, not with this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from estimator_ext.export.result import ExportResult


def export_saved_model_for_mode(
    estimator: Any,
    export_dir_base: str,
    input_receiver_fn: Callable[[], Any],
    assets_extra: Mapping[str, str] | None = None,
    as_text: bool = False,
    checkpoint_path: str | None = None,
    strip_default_attrs: bool = False,
    mode: str = "infer",
) -> ExportResult:
    """``tf.contrib.estimator.export_saved_model_for_mode``: exports ONE mode's graph.

    The legacy single-mode export, built on :func:`estimator_ext.export_all_saved_models`
    with the one-entry map ``{mode: input_receiver_fn}``; ``mode`` is a
    ``tf.estimator.ModeKeys`` value and defaults to ``ModeKeys.PREDICT`` (``'infer'``).

    Returns:
      The export directory (an :class:`estimator_ext.ExportResult`, a ``str``).

    Raises:
      ValueError: ``mode`` is not a ModeKeys value or ``input_receiver_fn`` is None, and
        every error of :func:`estimator_ext.export_all_saved_models`.
    """
    from estimator_ext.export.export_all import export_all_saved_models
    from estimator_ext.export.modekeys import EXPORT_ORDER

    if mode not in EXPORT_ORDER:
        raise ValueError(
            f"export_saved_model_for_mode: mode={mode!r} is not a tf.estimator.ModeKeys value. "
            "Pass ModeKeys.TRAIN ('train'), ModeKeys.EVAL ('eval') or ModeKeys.PREDICT ('infer')."
        )
    if input_receiver_fn is None:
        raise ValueError(
            "export_saved_model_for_mode: input_receiver_fn is None. Pass a function taking "
            f"no arguments that returns the input receiver for mode {mode!r}."
        )
    return export_all_saved_models(
        estimator,
        export_dir_base,
        {mode: input_receiver_fn},
        assets_extra=assets_extra,
        as_text=as_text,
        checkpoint_path=checkpoint_path,
        strip_default_attrs=strip_default_attrs,
    )


def experimental_export_all_saved_models(
    estimator: Any,
    export_dir_base: str,
    input_receiver_fn_map: Mapping[str, Callable[[], Any] | None],
    assets_extra: Mapping[str, str] | None = None,
    as_text: bool = False,
    checkpoint_path: str | None = None,
) -> bytes:
    """TF 2.15's ``Estimator.experimental_export_all_saved_models``, done by estimator_ext.

    Keeps TensorFlow's contract for this name:

    * entries of ``input_receiver_fn_map`` whose value is None are skipped (TFMA passes
      ``{EVAL: eval_fn, PREDICT: None}`` when there is no serving receiver);
    * default-valued attributes are stripped from the graphs (TF's
      ``strip_default_attrs=True``), so the tags and signatures are TF's;
    * the export directory is returned as ``bytes``.

    Everything else is :func:`estimator_ext.export_all_saved_models`: the same checks
    and errors (a key that is not a ModeKeys value is an error here, where TF ignores it),
    an atomic publish, and nothing left behind when it fails (TF leaves ``temp-*``).

    Raises:
      ValueError: every value of the map is None, and every error of
        :func:`estimator_ext.export_all_saved_models`.
    """
    from estimator_ext.export.export_all import export_all_saved_models

    receiver_fn_by_mode: Any = input_receiver_fn_map  # not a Mapping: ours refuses it
    if isinstance(input_receiver_fn_map, Mapping):
        receiver_fn_by_mode = {
            mode: receiver_fn
            for mode, receiver_fn in input_receiver_fn_map.items()
            if receiver_fn is not None
        }
        if input_receiver_fn_map and not receiver_fn_by_mode:
            raise ValueError(
                "experimental_export_all_saved_models: every receiver fn in "
                f"input_receiver_fn_map is None (keys {sorted(input_receiver_fn_map)}), so "
                "there is nothing to export (None entries are skipped). Map at least one of "
                "tf.estimator.ModeKeys.TRAIN, EVAL, PREDICT to a receiver fn."
            )
    export_dir = export_all_saved_models(
        estimator,
        export_dir_base,
        receiver_fn_by_mode,
        assets_extra=assets_extra,
        as_text=as_text,
        checkpoint_path=checkpoint_path,
        strip_default_attrs=True,
    )
    return str(export_dir).encode("utf-8")
