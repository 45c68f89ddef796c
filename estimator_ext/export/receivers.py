"""Receiver builders under the contract's names, and the checks on what receivers return.

The builders are TensorFlow's own (``tf.estimator.experimental`` has two of them, and
``SupervisedInputReceiver`` is private in TF 2.15); this module makes them public under
the names ``tf.contrib.estimator`` users know and validates what a receiver fn returns
before the model_fn ever sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Union

import tensorflow as tf

from estimator_ext._mode_names import map_entry
from estimator_ext._tf_private import members as tf_private

SupervisedInputReceiver = tf_private.SupervisedInputReceiver
ReceiverFn = Callable[[], Any]  # returns a SupervisedInputReceiver (a private TF class, so untyped)

TensorOrDict = Union[tf.Tensor, tf.TensorSpec, Mapping[str, Union[tf.Tensor, tf.TensorSpec]]]


def _as_graph_tensors(value: TensorOrDict) -> TensorOrDict:
    """Turns ``tf.TensorSpec`` templates into placeholders of a throwaway graph.

    TF's builders read only dtype, shape and name from their templates, but insist on
    tensors; under eager execution (TF 2's default) nobody can create the placeholders
    the contract's sample uses, while a ``tf.TensorSpec`` can always be created.
    """
    if isinstance(value, Mapping):
        return {key: _as_graph_tensors(item) for key, item in value.items()}
    if isinstance(value, tf.TensorSpec):
        with tf.Graph().as_default():
            return tf.compat.v1.placeholder(value.dtype, value.shape, name=value.name)
    return value


def build_raw_supervised_input_receiver_fn(
    features: TensorOrDict,
    labels: TensorOrDict,
    default_batch_size: int | None = None,
) -> ReceiverFn:
    """Builds a TRAIN/EVAL receiver fn that feeds raw features and labels.

    Each call of the returned function creates placeholders shaped like ``features``
    and ``labels`` (a tensor or a dict of tensors, e.g. placeholders) in the current
    graph and returns a :class:`SupervisedInputReceiver` whose receiver tensors are
    all of them, so the exported ``train`` / ``eval`` signatures take the raw values.

    Args:
      features: a tensor, ``tf.TensorSpec`` or dict of feature name to those, shaped as
        the model_fn expects them; only dtype, shape and name are used.
      labels: likewise for the labels. Feature and label keys must be distinct.
      default_batch_size: fixes the first dimension; None (recommended) leaves it free.

    Raises:
      ValueError: if features and labels share a key.
    """
    return tf_private.build_raw_supervised_input_receiver_fn(
        _as_graph_tensors(features), _as_graph_tensors(labels), default_batch_size
    )


def build_supervised_input_receiver_fn_from_input_fn(
    input_fn: Callable[..., Any], **input_fn_args: Any
) -> ReceiverFn:
    """Builds a TRAIN/EVAL receiver fn whose inputs match what ``input_fn`` yields.

    ``input_fn`` is called once, in a throwaway graph, to learn the dtypes and shapes
    of its features and labels; the returned receiver fn then creates matching
    placeholders. ``input_fn_args`` are passed to ``input_fn`` as keyword arguments.
    """
    if not callable(input_fn):
        raise TypeError(
            "build_supervised_input_receiver_fn_from_input_fn: `input_fn` must be a "
            f"callable returning (features, labels) or a Dataset of them; received "
            f"{type(input_fn).__name__}."
        )
    return tf_private.build_supervised_input_receiver_fn_from_input_fn(input_fn, **input_fn_args)


def call_receiver_fn(mode: str, receiver_fn: Callable[[], Any]) -> Any:
    """Calls one mode's receiver fn and checks that it returned a receiver.

    Raises:
      TypeError: the result has no ``features`` / ``receiver_tensors``.
    """
    receiver = receiver_fn()
    if not hasattr(receiver, "features") or not hasattr(receiver, "receiver_tensors"):
        raise TypeError(
            f"{map_entry(mode)} returned {type(receiver).__name__}, "
            "expected an input receiver: a tf.estimator.export.ServingInputReceiver for "
            "PREDICT, or an estimator_ext.SupervisedInputReceiver for TRAIN and EVAL "
            "(build one with estimator_ext.build_raw_supervised_input_receiver_fn)."
        )
    return receiver


def receiver_labels(receiver: Any) -> Any | None:
    """The receiver's labels, or None for receivers that carry none (serving receivers)."""
    return getattr(receiver, "labels", None)


def receiver_tensors_dict(receiver: Any) -> dict[str, Any]:
    tensors = receiver.receiver_tensors
    return tensors if isinstance(tensors, dict) else {"input": tensors}
