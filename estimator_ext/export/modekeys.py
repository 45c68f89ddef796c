"""Validation of ``input_receiver_fn_map``: its keys must be ``tf.estimator.ModeKeys`` values.

TF's built-in silently skips keys it does not know and receiver fns that are None,
although its docstring promises a ValueError; a map keyed ``'predict'`` then exports
nothing for serving without a word. Here every key is checked, and the near-misses
users actually write are answered with the ModeKeys value they meant.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any, Callable

from estimator_ext._mode_names import NAME_BY_MODE, map_entry
from estimator_ext._tf_private import members as tf_private
from estimator_ext.export.errors import Failure, Kind, tagged

ModeKeys = tf_private.tf_estimator.ModeKeys  # tf.estimator.ModeKeys, also on TF 2.16+

#: The order modes are exported in; the first present one saves the variables,
#: as in TF (TRAIN graphs hold every variable a checkpoint has, optimizer slots included).
EXPORT_ORDER = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)

# The TF-free names must be TF's own values.
assert set(NAME_BY_MODE) == {ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT}
_NAMES = NAME_BY_MODE

_NEAR_MISSES = {
    "predict": ModeKeys.PREDICT,
    "prediction": ModeKeys.PREDICT,
    "predictions": ModeKeys.PREDICT,
    "serve": ModeKeys.PREDICT,
    "serving": ModeKeys.PREDICT,
    "serving_default": ModeKeys.PREDICT,
    "inference": ModeKeys.PREDICT,
    "training": ModeKeys.TRAIN,
    "fit": ModeKeys.TRAIN,
    "evaluate": ModeKeys.EVAL,
    "evaluation": ModeKeys.EVAL,
    "test": ModeKeys.EVAL,
    "validation": ModeKeys.EVAL,
}


def _suggestion(key: Any) -> str:
    if isinstance(key, str):
        lowered = key.strip().lower()
        meant = _NEAR_MISSES.get(lowered)
        if meant is None:
            close = difflib.get_close_matches(
                lowered, list(_NAMES) + list(_NEAR_MISSES), n=1, cutoff=0.75
            )
            if close:
                meant = close[0] if close[0] in _NAMES else _NEAR_MISSES[close[0]]
        if meant is not None:
            return f" Did you mean {_NAMES[meant]} ({meant!r})?"
    return ""


def validate_receiver_map(input_receiver_fn_map: Any) -> dict[str, Callable[[], Any]]:
    """Returns the map's receiver fns keyed by mode, in export order.

    Raises:
      TypeError: the map is not a mapping, or a receiver fn is not callable.
      ValueError: the map is empty, a key is not a ModeKeys value, or a value is None;
        tagged ``Kind.NO_MODES`` when no entry at all names a mode to export.
    """
    if not isinstance(input_receiver_fn_map, Mapping):
        raise TypeError(
            "input_receiver_fn_map must be a dict of tf.estimator.ModeKeys to receiver fns, "
            f"received {type(input_receiver_fn_map).__name__}. Example: "
            "{tf.estimator.ModeKeys.PREDICT: serving_input_receiver_fn}."
        )
    if not input_receiver_fn_map:
        raise tagged(
            ValueError(
                "input_receiver_fn_map is empty: nothing to export. Map at least one of "
                "tf.estimator.ModeKeys.TRAIN, EVAL, PREDICT to a receiver fn."
            ),
            Failure(Kind.NO_MODES),
        )
    # With no usable entry there is nothing to export at all: TF's own failure case too.
    usable = any(key in _NAMES and fn is not None for key, fn in input_receiver_fn_map.items())

    def bad_entry_error(message: str) -> BaseException:
        error = ValueError(message)
        return error if usable else tagged(error, Failure(Kind.NO_MODES))

    for key, receiver_fn in input_receiver_fn_map.items():
        if key not in _NAMES:
            raise bad_entry_error(
                f"input_receiver_fn_map has key {key!r}, which is not a tf.estimator.ModeKeys "
                f"value.{_suggestion(key)} Valid keys: ModeKeys.TRAIN ('train'), "
                "ModeKeys.EVAL ('eval'), ModeKeys.PREDICT ('infer')."
            )
        if receiver_fn is None:
            raise bad_entry_error(
                f"{map_entry(key)} is None. Pass a function that "
                "returns an input receiver for that mode, or leave the key out."
            )
        if not callable(receiver_fn):
            raise TypeError(
                f"{map_entry(key)} must be a function taking no "
                f"arguments that returns an input receiver; received {type(receiver_fn).__name__}."
            )
        _check_takes_no_arguments(key, receiver_fn)
    return {
        mode: input_receiver_fn_map[mode] for mode in EXPORT_ORDER if mode in input_receiver_fn_map
    }


def _check_takes_no_arguments(mode: str, receiver_fn: Callable[[], Any]) -> None:
    try:
        signature = inspect.signature(receiver_fn)
    except (TypeError, ValueError):  # builtins and some C callables have none: let the call decide
        return
    try:
        signature.bind()
    except TypeError:
        raise TypeError(
            f"{map_entry(mode)} must be callable with no arguments, but its signature is "
            f"{signature}. Bind the arguments first, e.g. functools.partial(fn, ...) or a lambda."
        ) from None
