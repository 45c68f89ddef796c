"""The one tiny-data module of the tests: data sets, models, receivers, and parity checks.

Everything here runs real TensorFlow on real checkpoints and SavedModels on disk. The
parity helpers read exports back with TF's own TF1 loader, never with estimator_ext.
Child processes (the cluster tasks, the reliability worker) import it too: they run with
the checkout on PYTHONPATH. Sections:

* the mixed data set (x1, x2, color; a binary label and a float target), its input_fns,
  feature columns and receivers: the canned-estimator tests;
* ``make_model_fn``: custom regression model_fns over the mixed data set, switchable into
  the shapes users reported trouble with;
* the xy data set (one two-wide feature ``x``): the exporter, filesystem and cluster tests;
* the Adam model (``make_adam_estimator``): the reliability tests and their worker;
* reading exports back and comparing them with the estimator.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable

import numpy as np
import tensorflow as tf

import estimator_ext
from estimator_ext.export.receivers import _as_graph_tensors

MK = tf.estimator.ModeKeys

# --- a tiny, deterministic data set: two numeric features, a categorical one, a binary label ---

ROWS = 64
_rng = np.random.RandomState(0)
X1 = _rng.uniform(-1, 1, size=(ROWS, 1)).astype(np.float32)
X2 = _rng.uniform(-1, 1, size=(ROWS, 1)).astype(np.float32)
COLOR = np.array([["red"], ["green"], ["blue"], ["red"]] * (ROWS // 4))
LABEL = ((X1 + 0.5 * X2 + (COLOR == "red") * 0.3) > 0).astype(np.int64)
TARGET = (2.0 * X1 - X2 + 0.1).astype(np.float32)


def features_np(rows: slice = slice(None)) -> dict[str, np.ndarray]:
    return {"x1": X1[rows], "x2": X2[rows], "color": COLOR[rows]}


def input_fn(
    labels: np.ndarray = LABEL, batch_size: int = 16, repeat: bool = True
) -> Callable[[], Any]:
    """An input_fn over the data set; it returns tensors, not a Dataset, because
    TF 2.15's BaselineClassifier/Regressor (V2) cannot initialise with a Dataset input."""

    def fn() -> Any:
        dataset = tf.data.Dataset.from_tensor_slices((features_np(), labels))
        dataset = dataset.repeat().batch(batch_size) if repeat else dataset.batch(batch_size)
        return tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()

    return fn


def eval_input_fn(labels: np.ndarray = LABEL, batch_size: int = 16) -> Callable[[], Any]:
    return input_fn(labels, batch_size, repeat=False)


#: TensorFlow minor, e.g. (2, 15).
TF_MINOR = tuple(int(part) for part in tf.__version__.split(".")[:2])
#: tensorflow-estimator 2.12 and 2.13 call ``inspect.getargspec`` (gone in Python 3.11)
#: when a canned DNN estimator is given its optimizer by name, as by default: training
#: raises AttributeError (fixed in 2.14, tensorflow/estimator#85). docs/versions.md.
OPTIMIZER_BY_NAME_BROKEN = TF_MINOR < (2, 14) and sys.version_info >= (3, 11)


def dnn_optimizer() -> Any:
    """The canned DNN estimators' default optimizer: by name where that works, else a
    callable making what the name stands for (``tf.keras.optimizers.legacy.Adagrad()``;
    a callable, not an instance, because a Keras optimizer cannot move to the next graph;
    the documented workaround)."""
    if OPTIMIZER_BY_NAME_BROKEN:
        return lambda: tf.keras.optimizers.legacy.Adagrad()
    return "Adagrad"


def feature_columns(color_vocabulary_file: str | None = None) -> list[Any]:
    if color_vocabulary_file:
        color = tf.feature_column.categorical_column_with_vocabulary_file(
            "color", color_vocabulary_file
        )
    else:
        color = tf.feature_column.categorical_column_with_vocabulary_list(
            "color", ["red", "green", "blue"]
        )
    return [tf.feature_column.numeric_column("x1"), tf.feature_column.numeric_column("x2"), color]


def dense_feature_columns(color_vocabulary_file: str | None = None) -> list[Any]:
    """For DNNs, which need the categorical column wrapped."""
    numeric, numeric2, color = feature_columns(color_vocabulary_file)
    return [numeric, numeric2, tf.feature_column.indicator_column(color)]


FEATURE_SPECS = {
    "x1": tf.TensorSpec([None, 1], tf.float32, name="x1"),
    "x2": tf.TensorSpec([None, 1], tf.float32, name="x2"),
    "color": tf.TensorSpec([None, 1], tf.string, name="color"),
}


def receiver_map(
    label_dtype: tf.DType = tf.int64, modes: Iterable[str] = (MK.TRAIN, MK.EVAL, MK.PREDICT)
):
    """Raw receivers for every mode: features (and labels for TRAIN/EVAL) fed directly."""
    supervised = estimator_ext.build_raw_supervised_input_receiver_fn(
        FEATURE_SPECS, tf.TensorSpec([None, 1], label_dtype, name="label")
    )
    serving = raw_serving_receiver_fn(FEATURE_SPECS)
    by_mode = {MK.TRAIN: supervised, MK.EVAL: supervised, MK.PREDICT: serving}
    return {mode: by_mode[mode] for mode in modes}


def raw_serving_receiver_fn(specs: Mapping[str, tf.TensorSpec]):
    def receiver_fn():
        placeholders = {
            name: tf.compat.v1.placeholder(spec.dtype, spec.shape, name=name)
            for name, spec in specs.items()
        }
        return tf.estimator.export.ServingInputReceiver(placeholders, placeholders)

    return receiver_fn


def parsing_serving_receiver_fn():
    feature_spec = {
        "x1": tf.io.FixedLenFeature([1], tf.float32),
        "x2": tf.io.FixedLenFeature([1], tf.float32),
        "color": tf.io.FixedLenFeature([1], tf.string),
    }
    return tf.estimator.export.build_parsing_serving_input_receiver_fn(feature_spec)


def serialized_examples(rows: slice) -> list[bytes]:
    examples = []
    for x1, x2, color in zip(X1[rows], X2[rows], COLOR[rows]):
        feature = {
            "x1": tf.train.Feature(float_list=tf.train.FloatList(value=x1)),
            "x2": tf.train.Feature(float_list=tf.train.FloatList(value=x2)),
            "color": tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[c.encode() for c in color])
            ),
        }
        examples.append(
            tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
        )
    return examples


# --- custom model_fns over the mixed data set ---
#
# ``make_model_fn(**options)`` returns a small regression model_fn (features x1, x2, color;
# float label). Options turn on: partitioned variables, a custom Scaffold saver or a
# tf.train.Checkpoint as saver, a vocabulary-file lookup table with a custom local_init_op
# that forgets the table initializers, a model_fn that mutates its features dict,
# SparseTensor predictions, and Keras metrics next to tf.compat.v1.metrics.


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
            "weights",
            shape=[2, 1],
            initializer=tf.compat.v1.zeros_initializer(),
            partitioner=partitioner,
        )
        bias = tf.compat.v1.get_variable(
            "bias", shape=[1], initializer=tf.compat.v1.zeros_initializer()
        )
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
            color_weight = tf.compat.v1.get_variable(
                "color_weight", shape=[], initializer=tf.compat.v1.zeros_initializer()
            )
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
        loss = (
            tf.compat.v1.losses.mean_squared_error(labels, prediction)
            if mode in loss_in_modes
            else None
        )
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
            mode,
            predictions=predictions,
            loss=loss,
            train_op=train_op,
            eval_metric_ops=metrics,
            scaffold=scaffold,
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
    fields["predictions"] = dict(
        spec.predictions, sparse=tf.sparse.from_dense(tf.cast(dense > 0, tf.int64))
    )
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
        return tf.compat.v1.train.Scaffold(
            saver=tf.train.Checkpoint(**variables), local_init_op=local_init_op
        )
    raise ValueError(saver)


# --- the xy data set: one two-wide feature "x", a binary label ---


XY_ROWS = np.random.RandomState(0).normal(size=(64, 2)).astype(np.float32)
XY_LABELS = (XY_ROWS.sum(axis=1, keepdims=True) > 0).astype(np.int64)


def xy_train_input_fn():
    return tf.data.Dataset.from_tensor_slices(({"x": XY_ROWS}, XY_LABELS)).repeat().batch(16)


def xy_eval_input_fn():
    # One batch holding every row, so the EVAL graph run once on the same rows
    # must give exactly estimator.evaluate's metrics.
    return tf.data.Dataset.from_tensor_slices(({"x": XY_ROWS}, XY_LABELS)).batch(len(XY_ROWS))


def xy_serving_receiver_fn():
    x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
    return tf.estimator.export.ServingInputReceiver({"x": x}, {"x": x})


xy_supervised_receiver_fn = estimator_ext.build_raw_supervised_input_receiver_fn(
    {"x": tf.TensorSpec([None, 2], tf.float32, name="x")},
    tf.TensorSpec([None, 1], tf.int64, name="label"),
)


def xy_receiver_fn_map():
    return {
        MK.TRAIN: xy_supervised_receiver_fn,
        MK.EVAL: xy_supervised_receiver_fn,
        MK.PREDICT: xy_serving_receiver_fn,
    }


# --- the Adam model: what every reliability test exports (also in their worker process) ---
#
# A custom model_fn (two features in one float tensor, a float label) trained with Adam, so
# the checkpoint holds optimizer slots: a TRAIN export copies the checkpoint files as they
# are ("copy"), while an EVAL- or PREDICT-only export writes a subset or restores and saves.
# ``params`` let a test make the model_fn fail in one mode, and a big zero-initialised
# variable makes the variables file large enough for file-size limits to bite.


ALL_MODES = (MK.TRAIN, MK.EVAL, MK.PREDICT)
TAGS_BY_MODE = {MK.TRAIN: ("train",), MK.EVAL: ("eval",), MK.PREDICT: ("serve",)}

#: A [BIG_ROWS, 64] float32 variable: 32 KB of variables (x3 with Adam's slots).
BIG_ROWS = 128
TRAIN_STEPS = 3

ADAM_FEATURES = np.array([[1.0, 2.0], [0.5, -1.0], [-2.0, 0.25]], dtype=np.float32)
ADAM_LABELS = np.array([[1.0], [0.0], [-1.0]], dtype=np.float32)


class ModelFnFailure(Exception):
    """Raised by adam_model_fn in the mode named by ``params['raise_in']``."""


def adam_model_fn(features, labels, mode, params):
    if params.get("raise_in") == mode:
        raise ModelFnFailure(f"model_fn refuses mode {mode}")
    inputs = features["x"]
    weights = tf.compat.v1.get_variable(
        "weights", [2, 1], initializer=tf.compat.v1.ones_initializer()
    )
    bias = tf.compat.v1.get_variable("bias", [1], initializer=tf.compat.v1.zeros_initializer())
    big = tf.compat.v1.get_variable(
        "big", [BIG_ROWS, 64], initializer=tf.compat.v1.zeros_initializer()
    )
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


def make_adam_estimator(model_dir: str, raise_in: str | None = None) -> tf.estimator.Estimator:
    config = tf.estimator.RunConfig(
        tf_random_seed=1, save_summary_steps=None, log_step_count_steps=None
    )
    return tf.estimator.Estimator(
        adam_model_fn, model_dir=model_dir, config=config, params={"raise_in": raise_in}
    )


def train_adam_estimator(model_dir: str) -> tf.estimator.Estimator:
    estimator = make_adam_estimator(model_dir)
    estimator.train(
        lambda: tf.data.Dataset.from_tensors(({"x": ADAM_FEATURES}, ADAM_LABELS)).repeat(),
        steps=TRAIN_STEPS,
    )
    # Close the cached summary writers now: their background flush would otherwise
    # modify the events file in model_dir later, in the middle of some test.
    tf.compat.v1.summary.FileWriterCache.clear()
    return estimator


def adam_feature_specs() -> dict[str, tf.TensorSpec]:
    return {"x": tf.TensorSpec([None, 2], tf.float32, name="x")}


def adam_supervised_receiver_fn() -> Callable[[], Any]:
    return estimator_ext.build_raw_supervised_input_receiver_fn(
        adam_feature_specs(), tf.TensorSpec([None, 1], tf.float32, name="label")
    )


def adam_serving_receiver_fn() -> Callable[[], Any]:
    return tf.estimator.export.build_raw_serving_input_receiver_fn(
        _as_graph_tensors(adam_feature_specs())
    )


def adam_receiver_map(modes=ALL_MODES) -> dict[str, Callable[[], Any]]:
    by_mode = {
        MK.TRAIN: adam_supervised_receiver_fn(),
        MK.EVAL: adam_supervised_receiver_fn(),
        MK.PREDICT: adam_serving_receiver_fn(),
    }
    return {mode: by_mode[mode] for mode in modes}


# --- reading exports back with TF's own loader ---


def _feed(signature: Any, graph: tf.Graph, values: Mapping[str, Any]) -> dict[Any, Any]:
    return {
        graph.get_tensor_by_name(signature.inputs[key].name): value for key, value in values.items()
    }


def run_signature(
    export_dir: str, tags: Sequence[str], signature_key: str, inputs: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, list(tags), export_dir)
        signature = meta_graph.signature_def[signature_key]
        fetches = {
            key: graph.get_tensor_by_name(info.name) for key, info in signature.outputs.items()
        }
        return session.run(fetches, feed_dict=_feed(signature, graph, inputs))


def estimator_predictions(estimator: Any, rows: slice) -> list[dict[str, np.ndarray]]:
    def predict_input_fn():
        return tf.data.Dataset.from_tensor_slices(features_np(rows)).batch(64)

    return list(estimator.predict(predict_input_fn))


def assert_predict_parity(
    estimator: Any,
    export_dir: str,
    signature_key: str = "serving_default",
    rows: slice = slice(0, 12),
) -> None:
    """The serve graph's outputs equal estimator.predict on the same rows, key by key."""
    outputs = run_signature(export_dir, ["serve"], signature_key, features_np(rows))
    expected = estimator_predictions(estimator, rows)
    assert outputs, "the signature has no outputs"
    compared = 0
    for key, values in outputs.items():
        if key not in expected[0]:
            continue
        want = np.stack([row[key] for row in expected])
        got = values.reshape(want.shape) if values.size == want.size else values
        if want.dtype.kind in "SUO":
            np.testing.assert_array_equal(got, want, err_msg=key)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=key)
        compared += 1
    assert compared, (
        f"no output of {sorted(outputs)} matches estimator.predict's keys {sorted(expected[0])}"
    )


def assert_eval_parity(
    estimator: Any, export_dir: str, labels: np.ndarray = LABEL, batch_size: int = 16
) -> dict[str, float]:
    """Running the eval graph's update ops over the data set gives estimator.evaluate's metrics."""
    expected = estimator.evaluate(eval_input_fn(labels, batch_size))
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["eval"], export_dir)
        signature = meta_graph.signature_def["eval"]
        updates, values = {}, {}
        for key, info in signature.outputs.items():
            if key.startswith("metrics/") and key.endswith("/update_op"):
                updates[key[len("metrics/") : -len("/update_op")]] = graph.get_tensor_by_name(
                    info.name
                )
            elif key.startswith("metrics/") and key.endswith("/value"):
                values[key[len("metrics/") : -len("/value")]] = graph.get_tensor_by_name(info.name)
        assert values, f"no metrics in the eval signature: {sorted(signature.outputs)}"
        for start in range(0, len(labels), batch_size):
            rows = slice(start, start + batch_size)
            inputs = dict(features_np(rows), label=labels[rows])
            session.run(updates, feed_dict=_feed(signature, graph, inputs))
        got = session.run(values)
    compared = {
        name: got[name] for name in got if name in expected and name not in ("global_step",)
    }
    assert compared, f"no exported metric {sorted(got)} is among evaluate()'s {sorted(expected)}"
    for name, value in compared.items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=1e-6, err_msg=name)
    return compared


def assert_train_trains(export_dir: str, labels: np.ndarray = LABEL, steps: int = 20) -> None:
    """The train graph's train op lowers the loss on a batch and moves global_step."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["train"], export_dir)
        signature = meta_graph.signature_def["train"]
        train_ops = graph.get_collection("saved_model_train_op")
        assert len(train_ops) == 1, train_ops
        loss = graph.get_tensor_by_name(signature.outputs["loss"].name)
        global_step = tf.compat.v1.train.get_global_step(graph)
        feed = _feed(signature, graph, dict(features_np(slice(0, 32)), label=labels[:32]))
        loss_before, step_before = session.run([loss, global_step], feed)
        for _ in range(steps):
            session.run(train_ops[0], feed)
        loss_after, step_after = session.run([loss, global_step], feed)
    assert step_after == step_before + steps, (step_before, step_after)
    assert loss_after < loss_before, (loss_before, loss_after)


def listing(path: str) -> list[str]:
    """Every file and directory below ``path``, relative, sorted (for "nothing left behind")."""
    found = []
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(root, name), path))
    return sorted(found)
