"""The tiny two-feature classification data and receivers shared by the exporter,
filesystem and cluster tests (the cluster's processes import it too: they run with the
checkout on PYTHONPATH)."""

import numpy as np
import tensorflow as tf

import estimator_ext

MK = tf.estimator.ModeKeys

ROWS = np.random.RandomState(0).normal(size=(64, 2)).astype(np.float32)
LABELS = (ROWS.sum(axis=1, keepdims=True) > 0).astype(np.int64)


def train_input_fn():
    return tf.data.Dataset.from_tensor_slices(({"x": ROWS}, LABELS)).repeat().batch(16)


def eval_input_fn():
    # One batch holding every row, so the EVAL graph run once on the same rows
    # must give exactly estimator.evaluate's metrics.
    return tf.data.Dataset.from_tensor_slices(({"x": ROWS}, LABELS)).batch(len(ROWS))


def serving_receiver_fn():
    x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
    return tf.estimator.export.ServingInputReceiver({"x": x}, {"x": x})


supervised_receiver_fn = estimator_ext.build_raw_supervised_input_receiver_fn(
    {"x": tf.TensorSpec([None, 2], tf.float32, name="x")},
    tf.TensorSpec([None, 1], tf.int64, name="label"),
)


def receiver_fn_map():
    return {MK.TRAIN: supervised_receiver_fn, MK.EVAL: supervised_receiver_fn, MK.PREDICT: serving_receiver_fn}
