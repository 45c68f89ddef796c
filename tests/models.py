"""Custom model_fns for tests, each switchable into the shapes users reported trouble with.

``make_model_fn(**options)`` returns a small regression model_fn over the support data set
(features x1, x2, color; float label). Options turn on: partitioned variables, a custom
Scaffold saver or a tf.train.Checkpoint as saver, a vocabulary-file lookup table with a
custom local_init_op that forgets the table initializers, a model_fn that mutates its
features dict, SparseTensor predictions, and Keras metrics next to tf.compat.v1.metrics.
"""

from __future__ import annotations

import tensorflow as tf

MK = tf.estimator.ModeKeys


def make_model_fn(
    partitioned: bool = False,
    saver: str = "default",
    vocabulary_file: str = "",
    forget_table_init: bool = False,
    mutate_features: bool = False,
    sparse_prediction: bool = False,
    keras_metrics: bool = False,
    extra_predict_variable: bool = False,
    loss_in_modes: tuple = (MK.TRAIN, MK.EVAL),
):
    def model_fn(features, labels, mode, params=None):
        if mutate_features:
            features["x_sum"] = features.pop("x1") + features["x2"]
            x1 = features["x_sum"] - features["x2"]
        else:
            x1 = features["x1"]
        inputs = tf.concat([x1, features["x2"]], axis=1)
        partitioner = tf.compat.v1.fixed_size_partitioner(2) if partitioned else None
        weights = tf.compat.v1.get_variable(
            "weights", shape=[2, 1], initializer=tf.compat.v1.zeros_initializer(), partitioner=partitioner
        )
        bias = tf.compat.v1.get_variable("bias", shape=[1], initializer=tf.compat.v1.zeros_initializer())
        prediction = tf.matmul(inputs, weights) + bias
        if vocabulary_file:
            table = tf.compat.v1.lookup.StaticHashTable(
                tf.compat.v1.lookup.TextFileInitializer(
                    vocabulary_file,
                    tf.string,
                    tf.compat.v1.lookup.TextFileIndex.WHOLE_LINE,
                    tf.int64,
                    tf.compat.v1.lookup.TextFileIndex.LINE_NUMBER,
                ),
                default_value=-1,
            )
            color_id = table.lookup(tf.reshape(features["color"], [-1, 1]))
            color_weight = tf.compat.v1.get_variable("color_weight", shape=[], initializer=tf.compat.v1.zeros_initializer())
            prediction = prediction + color_weight * tf.cast(color_id, tf.float32)
        if extra_predict_variable and mode == MK.PREDICT:
            prediction = prediction + tf.compat.v1.get_variable("only_in_predict", shape=[1])
        predictions = {"prediction": prediction}
        if vocabulary_file:
            predictions["color_id"] = color_id
        # The custom local_init_op is given in PREDICT only (a serving scaffold): training with
        # it would fail TF's own readiness check, so users notice it only after exporting.
        scaffold = _scaffold(saver, forget_table_init and mode == MK.PREDICT)
        if mode == MK.PREDICT:
            spec = tf.estimator.EstimatorSpec(mode, predictions=predictions, scaffold=scaffold)
            return _with_sparse(spec) if sparse_prediction else spec
        loss = tf.compat.v1.losses.mean_squared_error(labels, prediction) if mode in loss_in_modes else None
        metrics = {"rmse": tf.compat.v1.metrics.root_mean_squared_error(labels, prediction)}
        if keras_metrics:
            keras_mae = tf.keras.metrics.MeanAbsoluteError(name="keras_mae")
            keras_mae.update_state(labels, prediction)
            metrics["keras_mae"] = keras_mae
        train_op = None
        if mode == MK.TRAIN and loss is not None:
            train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
                loss, global_step=tf.compat.v1.train.get_global_step()
            )
        spec = tf.estimator.EstimatorSpec(
            mode, predictions=predictions, loss=loss, train_op=train_op, eval_metric_ops=metrics, scaffold=scaffold
        )
        return _with_sparse(spec) if sparse_prediction and mode != MK.TRAIN else spec

    return model_fn


def _with_sparse(spec):
    """The spec with a SparseTensor prediction (and, in EVAL, a SparseTensor loss).

    TF 2.15's EstimatorSpec refuses both at construction (even through ``_replace``), but
    specs assembled without that check (TF 1.x allowed them; code that rebuilds specs as
    tuples still does) reach exporters, and TF's aborts the whole export on them.
    """
    dense = spec.predictions["prediction"]
    fields = spec._asdict()
    fields["predictions"] = dict(spec.predictions, sparse=tf.sparse.from_dense(tf.cast(dense > 0, tf.int64)))
    if spec.mode == MK.EVAL:
        fields["loss"] = tf.sparse.from_dense(tf.reshape(spec.loss, [1]))
    return tuple.__new__(type(spec), [fields[name] for name in type(spec)._fields])


def _scaffold(saver: str, forget_table_init: bool) -> tf.compat.v1.train.Scaffold:
    local_init_op = None
    if forget_table_init:
        # A custom local_init_op that initializes local variables but not the lookup tables.
        local_init_op = tf.compat.v1.local_variables_initializer()
    if saver == "default":
        return tf.compat.v1.train.Scaffold(local_init_op=local_init_op)
    if saver == "custom":
        custom = tf.compat.v1.train.Saver(sharded=True, max_to_keep=2, name="custom_saver")
        return tf.compat.v1.train.Scaffold(saver=custom, local_init_op=local_init_op)
    if saver == "checkpoint":
        variables = {v.op.name.replace("/", "_"): v for v in tf.compat.v1.global_variables()}
        return tf.compat.v1.train.Scaffold(saver=tf.train.Checkpoint(**variables), local_init_op=local_init_op)
    raise ValueError(saver)
