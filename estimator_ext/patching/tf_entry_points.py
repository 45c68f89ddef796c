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

from estimator_ext.export import errors  # plain Python: imports no TensorFlow
from estimator_ext.export.result import ExportResult

#: TF's name for the multi-mode export; errors on the builtin route name it.
BUILTIN_NAME = "experimental_export_all_saved_models"


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
    from estimator_ext.export.modekeys import EXPORT_ORDER
    from estimator_ext.export.plan import plan_export
    from estimator_ext.export.write import write_plan

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
    plan = plan_export(
        "export_saved_model_for_mode",
        estimator,
        export_dir_base,
        {mode: input_receiver_fn},
        assets_extra=assets_extra,
        as_text=as_text,
        strip_default_attrs=strip_default_attrs,
    )
    return write_plan(plan, checkpoint_path)


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

    Where TF's own method raises for a case, this raises the same class, and the message
    starts with TF's leading sentence, our detail after it (code and alerts that match
    TF's text keep working): no checkpoint (``Couldn't find trained model at ...``), a
    checkpoint that is not one (``The passed save_path is not a valid checkpoint: ...``),
    no usable mode (``No valid modes for exporting found. Got ...``) and a mode needing
    variables the checkpoint lacks (``Could not load all requested variables from
    checkpoint.``).

    Raises:
      ValueError: every value of the map is None, and every error of
        :func:`estimator_ext.export_all_saved_models`.
    """
    from estimator_ext.export.plan import plan_export
    from estimator_ext.export.write import write_plan

    try:
        plan = plan_export(
            BUILTIN_NAME,
            estimator,
            export_dir_base,
            _without_none_entries(input_receiver_fn_map),
            assets_extra=assets_extra,
            as_text=as_text,
            strip_default_attrs=True,  # TF's, on this path
        )
        export_dir = write_plan(plan, checkpoint_path)
    except ValueError as error:
        failure = errors.failure_of(error)
        if failure is None:
            raise
        leading = _tf_leading_sentence(failure, estimator, input_receiver_fn_map)
        message = f"{leading}{' ' if leading.endswith('.') else '. '}{error}"
        raise errors.restated(error, message, ValueError) from error.__cause__
    return str(export_dir).encode("utf-8")


def _without_none_entries(input_receiver_fn_map: Any) -> Any:
    """TF's contract: entries whose receiver fn is None are skipped (TFMA passes some)."""
    if not isinstance(input_receiver_fn_map, Mapping):
        return input_receiver_fn_map  # not a Mapping: the plan refuses it, saying so
    receiver_fn_by_mode = {
        mode: receiver_fn
        for mode, receiver_fn in input_receiver_fn_map.items()
        if receiver_fn is not None
    }
    if input_receiver_fn_map and not receiver_fn_by_mode:
        raise errors.tagged(
            ValueError(
                f"{BUILTIN_NAME}: every receiver fn in input_receiver_fn_map is None (keys "
                f"{sorted(input_receiver_fn_map)}), so there is nothing to export (None "
                "entries are skipped). Map at least one of tf.estimator.ModeKeys.TRAIN, EVAL, "
                "PREDICT to a receiver fn."
            ),
            errors.Failure(errors.Kind.NO_MODES),
        )
    return receiver_fn_by_mode


def _tf_leading_sentence(
    failure: errors.Failure, estimator: Any, input_receiver_fn_map: Any
) -> str:
    """The sentence TF 2.15's ``_export_all_saved_models`` (or its Saver) starts with here."""
    if failure.kind is errors.Kind.NO_CHECKPOINT:
        return f"Couldn't find trained model at {getattr(estimator, 'model_dir', None)}."
    if failure.kind is errors.Kind.NOT_A_CHECKPOINT:
        return f"The passed save_path is not a valid checkpoint: {failure.path}"
    if failure.kind is errors.Kind.NO_MODES:
        return f"No valid modes for exporting found. Got {input_receiver_fn_map.keys()}."
    return "Could not load all requested variables from checkpoint."  # VARIABLES_MISMATCH
