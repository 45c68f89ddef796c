"""The export plan: every argument of an export, checked once, before anything is written.

An export is planned, then written (:func:`estimator_ext.export.write.write_plan`). Every
way in builds its plan here: :func:`estimator_ext.export_all_saved_models`, the
``export_all_saved_models`` method, :class:`estimator_ext.AllModesExporter` and TF's own
entry points under ``patch()``. So this is the one place where the export's arguments
are checked, and each check's message names the function the user called (``caller``).

The checkpoint is not part of the plan: it is an argument of the write, so that one plan
can be written for one checkpoint after another.

:class:`ExportOptions` is what can be checked without an estimator (the receiver map,
``assets_extra``, the flags, warmup): ``AllModesExporter`` checks it when it is built,
and plans each export with it (:func:`plan_with_options`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from estimator_ext._tf_private import members as tf_private
from estimator_ext.export import assets_extra as assets_extra_files
from estimator_ext.export.errors import naming
from estimator_ext.export.modekeys import validate_receiver_map
from estimator_ext.serving.warmup_plan import WarmupPlan, plan_warmup_requests
from estimator_ext.storage import staging
from estimator_ext.storage.stores import store_for
from estimator_ext.variables.strategies import WriteOptions

#: The default for ``write_options``; WriteOptions is frozen, so one shared instance is safe.
DEFAULT_WRITE_OPTIONS = WriteOptions()


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What an export writes, checked; everything but the estimator and the directory.

    Attributes:
      receiver_fn_by_mode: each mode's receiver fn, in export order (TRAIN, EVAL,
        PREDICT); the first one's graph saves the variables.
      assets_extra: (destination relative to ``assets.extra/``, source file) pairs.
      as_text: write ``saved_model.pbtxt`` instead of ``saved_model.pb``.
      strip_default_attrs: remove default-valued attributes from the NodeDefs.
      warmup: the checked TF Serving warmup requests, or None for no warmup file.
      write_options: how the variables are written (internal: tests and benchmarks).
    """

    receiver_fn_by_mode: Mapping[str, Callable[[], Any]]
    assets_extra: tuple[tuple[str, str], ...] = ()
    as_text: bool = False
    strip_default_attrs: bool = False
    warmup: WarmupPlan | None = None
    write_options: WriteOptions = DEFAULT_WRITE_OPTIONS

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self.receiver_fn_by_mode)


@dataclasses.dataclass(frozen=True)
class CheckedPlan:
    """One export, checked: which estimator, into which directory, with what options.

    Attributes:
      caller: the function the user called, named by every error of this export.
      estimator: the ``tf.estimator.Estimator`` whose graphs are exported.
      export_dir_base: the directory (as a ``str``) that gets the export's timestamped
        subdirectory.
      options: the checked :class:`ExportOptions`.
    """

    caller: str
    estimator: Any
    export_dir_base: str
    options: ExportOptions


def plan_export(
    caller: str,
    estimator: Any,
    export_dir_base: Any,
    input_receiver_fn_map: Any,
    assets_extra: Any = None,
    as_text: Any = False,
    strip_default_attrs: Any = False,
    warmup_requests: Any = None,
    write_options: Any = DEFAULT_WRITE_OPTIONS,
) -> CheckedPlan:
    """Checks every argument of an export once and returns its plan.

    The estimator and the directory come first: an unreachable store fails the export
    before anything else is checked or written.

    Raises:
      TypeError / ValueError: an argument is invalid; the message names ``caller``, the
        argument, what was received and the fix.
      ImportError: ``warmup_requests`` without tensorflow-serving-api installed.
    """
    estimator, export_dir = _checked_target(caller, estimator, export_dir_base)
    options = check_options(
        caller,
        input_receiver_fn_map,
        assets_extra=assets_extra,
        as_text=as_text,
        strip_default_attrs=strip_default_attrs,
        warmup_requests=warmup_requests,
        write_options=write_options,
    )
    return CheckedPlan(caller, estimator, export_dir, options)


def plan_with_options(
    caller: str, estimator: Any, export_dir_base: Any, options: ExportOptions
) -> CheckedPlan:
    """The plan for ``options`` checked earlier (by :func:`check_options`), for this target."""
    estimator, export_dir = _checked_target(caller, estimator, export_dir_base)
    return CheckedPlan(caller, estimator, export_dir, options)


def check_options(
    caller: str,
    input_receiver_fn_map: Any,
    assets_extra: Any = None,
    as_text: Any = False,
    strip_default_attrs: Any = False,
    warmup_requests: Any = None,
    write_options: Any = DEFAULT_WRITE_OPTIONS,
) -> ExportOptions:
    """Checks the arguments that need no estimator; see :func:`plan_export` for the errors."""
    with naming(caller):
        as_text = check_flag("as_text", as_text, caller)
        strip_default_attrs = check_flag("strip_default_attrs", strip_default_attrs, caller)
        if not isinstance(write_options, WriteOptions):
            raise TypeError(
                f"{caller}: _write_options must be an estimator_ext.variables.strategies."
                f"WriteOptions (internal: for tests and benchmarks); received {write_options!r}."
            )
        receiver_fn_by_mode = validate_receiver_map(input_receiver_fn_map)
        assets_extra_plan = tuple(assets_extra_files.plan_assets_extra(assets_extra))
        warmup = plan_warmup_requests(
            warmup_requests,
            receiver_fn_by_mode,
            [destination for destination, _ in assets_extra_plan],
        )
    return ExportOptions(
        receiver_fn_by_mode=receiver_fn_by_mode,
        assets_extra=assets_extra_plan,
        as_text=as_text,
        strip_default_attrs=strip_default_attrs,
        warmup=warmup,
        write_options=write_options,
    )


def check_flag(name: str, value: Any, caller: str) -> bool:
    """``value`` as a bool: True, False or a numpy bool; anything else is a TypeError.

    A string such as "false" is truthy: refuse it rather than silently doing the opposite.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{caller}: `{name}` must be True or False; received {value!r} "
            f"({type(value).__name__}). Pass a bool, e.g. {name}=True."
        )
    return bool(value)


def _checked_target(caller: str, estimator: Any, export_dir_base: Any) -> tuple[Any, str]:
    _check_estimator(caller, estimator)
    if isinstance(export_dir_base, (str, bytes, os.PathLike)) and os.fsdecode(export_dir_base):
        path = os.fsdecode(export_dir_base)
        store = store_for(path)  # sets the store's client defaults before its first call
        store.check_reachable(path)
        with store.errors(path, "checking the export directory"):
            return estimator, staging.check_export_dir_base(export_dir_base, caller)
    return estimator, staging.check_export_dir_base(export_dir_base, caller)  # refuses it


def _check_estimator(caller: str, estimator: Any) -> None:
    # tf.compat.v1.estimator.Estimator is the base of tf.estimator.Estimator and of TPUEstimator.
    if not isinstance(estimator, tf_private.tf_compat_v1_estimator.Estimator):
        raise TypeError(
            f"{caller}: `estimator` must be a tf.estimator.Estimator (canned, "
            f"custom model_fn, or from model_to_estimator); received {type(estimator).__name__}. "
            "For a Keras model, convert it with tf.keras.estimator.model_to_estimator first."
        )
