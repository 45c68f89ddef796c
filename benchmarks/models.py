"""The benchmark's models, their receivers, and cheap checkpoints for them.

* ``linear``: a small canned ``LinearClassifier`` trained for a few steps; exporting it
  is dominated by graph building.
* ``embedding``: a custom model_fn with one big float embedding (``rows`` x 64) trained
  with Adagrad, so the checkpoint holds the embedding and its accumulator: twice the
  embedding's size. The checkpoint is written directly (initialise the TRAIN graph the
  model_fn builds, save it with the Estimator's kind of Saver) instead of training on
  millions of rows; the graph is the model_fn's own, so every export sees exactly the
  variables it would after real training.
* ``many``: a custom model_fn with many partitioned embedding columns (``columns`` tables
  of ``partitions`` partitions each), a three-layer DNN and Adagrad, so the checkpoint
  holds ``2 * columns * partitions`` partition variables (each partition and its
  accumulator) plus the DNN's and the global step: the shape of a real recommender
  model's checkpoint, at small sizes. Written the same cheap way.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import tensorflow as tf

MK = tf.estimator.ModeKeys
EMBEDDING_DIM = 64
IDS_PER_ROW = 4
GIB = 1024**3


def rows_for_checkpoint_gib(checkpoint_gib: float) -> int:
    """Embedding rows giving a checkpoint of ``checkpoint_gib`` GiB (embedding + accumulator)."""
    return int(checkpoint_gib * GIB / 2 / (EMBEDDING_DIM * 4))


def embedding_model_fn(
    features: dict[str, tf.Tensor], labels: Any, mode: str, params: dict[str, Any]
) -> tf.estimator.EstimatorSpec:
    embedding = tf.compat.v1.get_variable(
        "embedding",
        [params["rows"], EMBEDDING_DIM],
        initializer=tf.compat.v1.random_uniform_initializer(-0.05, 0.05),
    )
    pooled = tf.reduce_mean(tf.nn.embedding_lookup(embedding, features["ids"]), axis=1)
    logits = tf.compat.v1.layers.dense(pooled, 1, name="logits")
    return _binary_head(mode, logits, labels)


def _binary_head(mode: str, logits: Any, labels: Any) -> tf.estimator.EstimatorSpec:
    """The benchmark models' shared head: a sigmoid, its loss and AUC, Adagrad."""
    predictions = {"probability": tf.sigmoid(logits), "logits": logits}
    if mode == MK.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    loss = tf.compat.v1.losses.sigmoid_cross_entropy(labels, logits)
    optimizer = tf.compat.v1.train.AdagradOptimizer(0.05)
    train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    metrics = {"auc": tf.compat.v1.metrics.auc(labels, tf.sigmoid(logits))}
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions, loss=loss, train_op=train_op, eval_metric_ops=metrics
    )


def embedding_estimator(model_dir: str, rows: int) -> tf.estimator.Estimator:
    return tf.estimator.Estimator(embedding_model_fn, model_dir=model_dir, params={"rows": rows})


def write_embedding_checkpoint(model_dir: str, rows: int) -> str:
    """Writes ``model_dir/model.ckpt-1`` for the embedding model without training; returns it."""
    return _write_initial_checkpoint(embedding_estimator(model_dir, rows), model_dir)


def _write_initial_checkpoint(estimator: tf.estimator.Estimator, model_dir: str) -> str:
    """Writes ``model_dir/model.ckpt-1`` from the TRAIN graph of ``estimator``'s model_fn
    (an ``ids`` feature), initialised, not trained; returns it."""
    tf.io.gfile.makedirs(model_dir)
    with tf.Graph().as_default() as graph:
        tf.compat.v1.train.create_global_step(graph)
        features = {"ids": tf.compat.v1.placeholder(tf.int64, [None, IDS_PER_ROW], name="ids")}
        labels = tf.compat.v1.placeholder(tf.float32, [None, 1], name="label")
        estimator.model_fn(features, labels, MK.TRAIN, estimator.config)
        saver = tf.compat.v1.train.Saver(sharded=True)  # what the Estimator's Scaffold uses
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, os.path.join(model_dir, "model.ckpt"), global_step=1)


def embedding_receivers() -> dict[str, Callable[[], Any]]:
    def supervised():
        ids = tf.compat.v1.placeholder(tf.int64, [None, IDS_PER_ROW], name="ids")
        label = tf.compat.v1.placeholder(tf.float32, [None, 1], name="label")
        return tf.estimator.experimental.build_raw_supervised_input_receiver_fn(
            {"ids": ids}, label
        )()

    def serving():
        ids = tf.compat.v1.placeholder(tf.int64, [None, IDS_PER_ROW], name="ids")
        return tf.estimator.export.ServingInputReceiver({"ids": ids}, {"ids": ids})

    return {MK.TRAIN: supervised, MK.EVAL: supervised, MK.PREDICT: serving}


# --- the small canned model -------------------------------------------------------------------

_rng = np.random.RandomState(0)
_AGE = _rng.uniform(18, 80, size=(256, 1)).astype(np.float32)
_LANGUAGE = np.array([["english"], ["french"], ["german"], ["spanish"]] * 64)
_LABEL = ((_AGE > 40) ^ (_LANGUAGE == "french")).astype(np.int64)


def _linear_columns():
    return [
        tf.feature_column.numeric_column("age"),
        tf.feature_column.categorical_column_with_vocabulary_list(
            "language", ["english", "french", "german", "spanish"]
        ),
    ]


def linear_estimator(model_dir: str) -> tf.estimator.Estimator:
    return tf.estimator.LinearClassifier(_linear_columns(), model_dir=model_dir)


def train_linear(model_dir: str) -> None:
    def input_fn():
        features = {"age": _AGE, "language": _LANGUAGE}
        return tf.data.Dataset.from_tensor_slices((features, _LABEL)).repeat().batch(32)

    linear_estimator(model_dir).train(input_fn, steps=20)


def linear_receivers() -> dict[str, Callable[[], Any]]:
    def placeholders():
        return {
            "age": tf.compat.v1.placeholder(tf.float32, [None, 1], name="age"),
            "language": tf.compat.v1.placeholder(tf.string, [None, 1], name="language"),
        }

    def supervised():
        label = tf.compat.v1.placeholder(tf.int64, [None, 1], name="label")
        return tf.estimator.experimental.build_raw_supervised_input_receiver_fn(
            placeholders(), label
        )()

    def serving():
        features = placeholders()
        return tf.estimator.export.ServingInputReceiver(features, features)

    return {MK.TRAIN: supervised, MK.EVAL: supervised, MK.PREDICT: serving}


# --- many partitioned variables ---------------------------------------------------------------

MANY_ROWS = 1000  # rows of each column's table
MANY_DIM = 8  # embedding width
MANY_HIDDEN = (64, 32)


def many_shape(partition_variables: int) -> tuple[int, int]:
    """(columns, partitions) giving ``partition_variables`` = 2 x columns x partitions."""
    partitions = 10 if partition_variables <= 1000 else 20
    return partition_variables // (2 * partitions), partitions


def many_model_fn(
    features: dict[str, tf.Tensor], labels: Any, mode: str, params: dict[str, Any]
) -> tf.estimator.EstimatorSpec:
    ids = features["ids"]
    pooled = []
    for column in range(params["columns"]):
        table = tf.compat.v1.get_variable(
            f"column_{column:04d}/embedding",
            [MANY_ROWS, MANY_DIM],
            initializer=tf.compat.v1.random_uniform_initializer(-0.05, 0.05),
            partitioner=tf.compat.v1.fixed_size_partitioner(params["partitions"]),
        )
        pooled.append(tf.reduce_mean(tf.nn.embedding_lookup(table, ids), axis=1))
    net = tf.concat(pooled, axis=1)
    for index, units in enumerate(MANY_HIDDEN):
        net = tf.compat.v1.layers.dense(net, units, tf.nn.relu, name=f"hidden_{index}")
    logits = tf.compat.v1.layers.dense(net, 1, name="logits")
    return _binary_head(mode, logits, labels)


def many_estimator(model_dir: str, partition_variables: int) -> tf.estimator.Estimator:
    columns, partitions = many_shape(partition_variables)
    params = {"columns": columns, "partitions": partitions}
    return tf.estimator.Estimator(many_model_fn, model_dir=model_dir, params=params)


def write_many_checkpoint(model_dir: str, partition_variables: int) -> str:
    """Writes ``model_dir/model.ckpt-1`` for the many-variables model; returns it."""
    return _write_initial_checkpoint(many_estimator(model_dir, partition_variables), model_dir)


#: The many-variables model takes the same ``ids`` feature as the embedding model.
many_receivers = embedding_receivers
