"""The estimators the TFMA tests analyse: two canned ones and a custom model_fn.

``custom_model_fn`` takes its labels as a dict (``flag``, ``target``) and reports its own
``eval_metric_ops``. It also allows ``labels=None`` in EVAL, where it reports metrics of
its scores alone, as an unsupervised model does.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tests.support import data

MK = tf.estimator.ModeKeys


def linear_classifier(model_dir: str) -> tf.estimator.Estimator:
    return tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)


def linear_regressor(model_dir: str) -> tf.estimator.Estimator:
    return tf.estimator.LinearRegressor(data.feature_columns(), model_dir=model_dir)


def custom_estimator(model_dir: str) -> tf.estimator.Estimator:
    return tf.estimator.Estimator(custom_model_fn, model_dir=model_dir)


def custom_model_fn(
    features: dict[str, tf.Tensor],
    labels: dict[str, tf.Tensor] | None,
    mode: str,
) -> Any:
    is_red = tf.cast(tf.equal(features["color"], "red"), tf.float32)
    inputs = tf.concat([features["x1"], features["x2"], is_red], axis=1)
    weights = tf.compat.v1.get_variable(
        "weights", [3, 1], initializer=tf.compat.v1.zeros_initializer()
    )
    bias = tf.compat.v1.get_variable("bias", [1], initializer=tf.compat.v1.zeros_initializer())
    score = tf.matmul(inputs, weights) + bias
    probability = tf.sigmoid(score)
    predictions = {"score": score, "probability": probability}
    if mode == MK.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    if labels is None:
        loss = tf.reduce_mean(tf.square(score))
        metrics = {
            "mean_score": tf.compat.v1.metrics.mean(score),
            "mean_probability": tf.compat.v1.metrics.mean(probability),
        }
        return tf.estimator.EstimatorSpec(
            mode, predictions=predictions, loss=loss, eval_metric_ops=metrics
        )
    flag = tf.cast(labels["flag"], tf.float32)
    target = labels["target"]
    loss = tf.compat.v1.losses.mean_squared_error(
        target, score
    ) + tf.compat.v1.losses.sigmoid_cross_entropy(flag, score)
    metrics = {
        "rmse": tf.compat.v1.metrics.root_mean_squared_error(target, score),
        "mae": tf.compat.v1.metrics.mean_absolute_error(target, score),
        "flag_accuracy": tf.compat.v1.metrics.accuracy(
            labels["flag"], tf.cast(score > 0, tf.int64)
        ),
        "flag_auc": tf.compat.v1.metrics.auc(flag, probability),
        "mean_score": tf.compat.v1.metrics.mean(score),
    }
    train_op = None
    if mode == MK.TRAIN:
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step()
        )
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions, loss=loss, train_op=train_op, eval_metric_ops=metrics
    )
