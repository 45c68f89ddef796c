"""The tiny model every reliability test exports, shared by the tests and the worker process.

A custom model_fn (two features in one float tensor, a float label) trained with Adam, so
the checkpoint holds optimizer slots: a TRAIN export copies the checkpoint files as they
are ("copy"), while an EVAL- or PREDICT-only export restores and saves ("restore-save").
``params`` let a test make the model_fn fail in one mode, and a big zero-initialised
variable makes the variables file large enough for file-size limits to bite.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import numpy as np
import tensorflow as tf

import estimator_ext
from estimator_ext._receivers import _as_graph_tensors

MK = tf.estimator.ModeKeys
ALL_MODES = (MK.TRAIN, MK.EVAL, MK.PREDICT)
TAGS_BY_MODE = {MK.TRAIN: ("train",), MK.EVAL: ("eval",), MK.PREDICT: ("serve",)}

#: A [BIG_ROWS, 64] float32 variable: 32 KB of variables (x3 with Adam's slots).
BIG_ROWS = 128
TRAIN_STEPS = 3

FEATURES = np.array([[1.0, 2.0], [0.5, -1.0], [-2.0, 0.25]], dtype=np.float32)
LABELS = np.array([[1.0], [0.0], [-1.0]], dtype=np.float32)


class ModelFnFailure(Exception):
    """Raised by the model_fn in the mode named by ``params['raise_in']``."""


def model_fn(features, labels, mode, params):
    if params.get("raise_in") == mode:
        raise ModelFnFailure(f"model_fn refuses mode {mode}")
    inputs = features["x"]
    weights = tf.compat.v1.get_variable("weights", [2, 1], initializer=tf.compat.v1.ones_initializer())
    bias = tf.compat.v1.get_variable("bias", [1], initializer=tf.compat.v1.zeros_initializer())
    big = tf.compat.v1.get_variable("big", [BIG_ROWS, 64], initializer=tf.compat.v1.zeros_initializer())
    prediction = tf.matmul(inputs, weights) + bias + tf.reduce_mean(big)
    predictions = {"prediction": prediction}
    if mode == MK.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    loss = tf.reduce_mean(tf.square(prediction - labels))
    optimizer = tf.compat.v1.train.AdamOptimizer(0.1)
    train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(
        mode,
        loss=loss,
        train_op=train_op,
        predictions=predictions,
        eval_metric_ops={"mae": tf.compat.v1.metrics.mean_absolute_error(labels, prediction)},
    )


def make_estimator(model_dir: str, raise_in: Optional[str] = None) -> tf.estimator.Estimator:
    config = tf.estimator.RunConfig(tf_random_seed=1, save_summary_steps=None, log_step_count_steps=None)
    return tf.estimator.Estimator(model_fn, model_dir=model_dir, config=config, params={"raise_in": raise_in})


def train(model_dir: str) -> tf.estimator.Estimator:
    estimator = make_estimator(model_dir)
    estimator.train(lambda: tf.data.Dataset.from_tensors(({"x": FEATURES}, LABELS)).repeat(), steps=TRAIN_STEPS)
    # Close the cached summary writers now: their background flush would otherwise
    # modify the events file in model_dir later, in the middle of some test.
    tf.compat.v1.summary.FileWriterCache.clear()
    return estimator


def feature_specs() -> Dict[str, tf.TensorSpec]:
    return {"x": tf.TensorSpec([None, 2], tf.float32, name="x")}


def supervised_receiver_fn() -> Callable[[], Any]:
    return estimator_ext.build_raw_supervised_input_receiver_fn(
        feature_specs(), tf.TensorSpec([None, 1], tf.float32, name="label")
    )


def serving_receiver_fn() -> Callable[[], Any]:
    return tf.estimator.export.build_raw_serving_input_receiver_fn(_as_graph_tensors(feature_specs()))


def receiver_map(modes=ALL_MODES) -> Dict[str, Callable[[], Any]]:
    by_mode = {MK.TRAIN: supervised_receiver_fn(), MK.EVAL: supervised_receiver_fn(), MK.PREDICT: serving_receiver_fn()}
    return {mode: by_mode[mode] for mode in modes}
