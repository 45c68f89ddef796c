"""Shared test support: tiny data, receivers, and parity checks against the estimator itself.

Everything here runs real TensorFlow on real checkpoints and SavedModels on disk. The
parity helpers read exports back with TF's own TF1 loader, never with estimator_ext.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

import estimator_ext

MK = tf.estimator.ModeKeys

# --- a tiny, deterministic data set: two numeric features, a categorical one, a binary label ---

ROWS = 64
_rng = np.random.RandomState(0)
X1 = _rng.uniform(-1, 1, size=(ROWS, 1)).astype(np.float32)
X2 = _rng.uniform(-1, 1, size=(ROWS, 1)).astype(np.float32)
COLOR = np.array([["red"], ["green"], ["blue"], ["red"]] * (ROWS // 4))
LABEL = ((X1 + 0.5 * X2 + (COLOR == "red") * 0.3) > 0).astype(np.int64)
TARGET = (2.0 * X1 - X2 + 0.1).astype(np.float32)


def features_np(rows: slice = slice(None)) -> Dict[str, np.ndarray]:
    return {"x1": X1[rows], "x2": X2[rows], "color": COLOR[rows]}


def input_fn(labels: np.ndarray = LABEL, batch_size: int = 16, repeat: bool = True) -> Callable[[], Any]:
    """An input_fn over the data set; it returns tensors, not a Dataset, because
    TF 2.15's BaselineClassifier/Regressor (V2) cannot initialise with a Dataset input."""

    def fn() -> Any:
        dataset = tf.data.Dataset.from_tensor_slices((features_np(), labels))
        dataset = dataset.repeat().batch(batch_size) if repeat else dataset.batch(batch_size)
        return tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()

    return fn


def eval_input_fn(labels: np.ndarray = LABEL, batch_size: int = 16) -> Callable[[], Any]:
    return input_fn(labels, batch_size, repeat=False)


def feature_columns(color_vocabulary_file: Optional[str] = None) -> List[Any]:
    if color_vocabulary_file:
        color = tf.feature_column.categorical_column_with_vocabulary_file("color", color_vocabulary_file)
    else:
        color = tf.feature_column.categorical_column_with_vocabulary_list("color", ["red", "green", "blue"])
    return [tf.feature_column.numeric_column("x1"), tf.feature_column.numeric_column("x2"), color]


def dense_feature_columns(color_vocabulary_file: Optional[str] = None) -> List[Any]:
    """For DNNs, which need the categorical column wrapped."""
    numeric, numeric2, color = feature_columns(color_vocabulary_file)
    return [numeric, numeric2, tf.feature_column.indicator_column(color)]


FEATURE_SPECS = {
    "x1": tf.TensorSpec([None, 1], tf.float32, name="x1"),
    "x2": tf.TensorSpec([None, 1], tf.float32, name="x2"),
    "color": tf.TensorSpec([None, 1], tf.string, name="color"),
}


def receiver_map(label_dtype: tf.DType = tf.int64, modes: Iterable[str] = (MK.TRAIN, MK.EVAL, MK.PREDICT)):
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
            name: tf.compat.v1.placeholder(spec.dtype, spec.shape, name=name) for name, spec in specs.items()
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


def serialized_examples(rows: slice) -> List[bytes]:
    examples = []
    for x1, x2, color in zip(X1[rows], X2[rows], COLOR[rows]):
        feature = {
            "x1": tf.train.Feature(float_list=tf.train.FloatList(value=x1)),
            "x2": tf.train.Feature(float_list=tf.train.FloatList(value=x2)),
            "color": tf.train.Feature(bytes_list=tf.train.BytesList(value=[c.encode() for c in color])),
        }
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return examples


# --- reading exports back with TF's own loader ---


def _feed(signature: Any, graph: tf.Graph, values: Mapping[str, Any]) -> Dict[Any, Any]:
    return {graph.get_tensor_by_name(signature.inputs[key].name): value for key, value in values.items()}


def run_signature(export_dir: str, tags: Sequence[str], signature_key: str, inputs: Mapping[str, Any]) -> Dict[str, np.ndarray]:
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, list(tags), export_dir)
        signature = meta_graph.signature_def[signature_key]
        fetches = {key: graph.get_tensor_by_name(info.name) for key, info in signature.outputs.items()}
        return session.run(fetches, feed_dict=_feed(signature, graph, inputs))


def estimator_predictions(estimator: Any, rows: slice) -> List[Dict[str, np.ndarray]]:
    def predict_input_fn():
        return tf.data.Dataset.from_tensor_slices(features_np(rows)).batch(64)

    return list(estimator.predict(predict_input_fn))


def assert_predict_parity(estimator: Any, export_dir: str, signature_key: str = "serving_default", rows: slice = slice(0, 12)) -> None:
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
    assert compared, f"no output of {sorted(outputs)} matches estimator.predict's keys {sorted(expected[0])}"


def assert_eval_parity(estimator: Any, export_dir: str, labels: np.ndarray = LABEL, batch_size: int = 16) -> Dict[str, float]:
    """Running the eval graph's update ops over the data set gives estimator.evaluate's metrics."""
    expected = estimator.evaluate(eval_input_fn(labels, batch_size))
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["eval"], export_dir)
        signature = meta_graph.signature_def["eval"]
        updates, values = {}, {}
        for key, info in signature.outputs.items():
            if key.startswith("metrics/") and key.endswith("/update_op"):
                updates[key[len("metrics/"):-len("/update_op")]] = graph.get_tensor_by_name(info.name)
            elif key.startswith("metrics/") and key.endswith("/value"):
                values[key[len("metrics/"):-len("/value")]] = graph.get_tensor_by_name(info.name)
        assert values, f"no metrics in the eval signature: {sorted(signature.outputs)}"
        for start in range(0, len(labels), batch_size):
            rows = slice(start, start + batch_size)
            inputs = dict(features_np(rows), label=labels[rows])
            session.run(updates, feed_dict=_feed(signature, graph, inputs))
        got = session.run(values)
    compared = {name: got[name] for name in got if name in expected and name not in ("global_step",)}
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


def listing(path: str) -> List[str]:
    """Every file and directory below ``path``, relative, sorted (for "nothing left behind")."""
    found = []
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(root, name), path))
    return sorted(found)
