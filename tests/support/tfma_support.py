"""What the TFMA tests share: a seeded data set as a TFRecord of tf.Examples, the receivers
TFMA users write, a TFMA run, and the parity check against ``estimator.evaluate``.

The data are the main suite's features (``tests.support.data``: x1, x2, color) with labels of
our own: ``flag``, a binary label with 20% of its values flipped (seeded) so that no metric
is trivially 1.0, and ``target``, a noisy regression target. TFMA reads the TFRecord with
Apache Beam's DirectRunner in this process; ``estimator.evaluate`` reads the same rows
from NumPy, so the two sides share nothing but the numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma

from tests.support import data

MK = tf.estimator.ModeKeys

_rng = np.random.RandomState(10)
FLAG = np.where(_rng.uniform(size=(data.ROWS, 1)) < 0.2, 1 - data.LABEL, data.LABEL)
TARGET = (data.TARGET + _rng.normal(0.0, 0.3, size=(data.ROWS, 1))).astype(np.float32)

#: How every column is stored in the TFRecord, and how a receiver parses it back.
FEATURE_SPEC = {
    "x1": tf.io.FixedLenFeature([1], tf.float32),
    "x2": tf.io.FixedLenFeature([1], tf.float32),
    "color": tf.io.FixedLenFeature([1], tf.string),
}
LABEL_SPEC = {
    "flag": tf.io.FixedLenFeature([1], tf.int64),
    "target": tf.io.FixedLenFeature([1], tf.float32),
}
ALL_SPEC = {**FEATURE_SPEC, **LABEL_SPEC}

#: Names ``estimator.evaluate`` adds that are not metrics of the eval graph: ``loss`` is a
#: mean of per-batch losses and ``global_step`` the checkpoint's step; TFMA sees neither.
EVALUATE_ONLY = ("loss", "global_step")
#: What TFMA adds of its own.
TFMA_ONLY_PREFIX = "post_export_metrics/"

COLORS = ("red", "green", "blue")

SliceKey = tuple[tuple[str, Any], ...]


def write_examples(path: str) -> str:
    """Writes every row (features and both labels) as a tf.Example to a TFRecord at ``path``."""
    with tf.io.TFRecordWriter(path) as writer:
        for row in range(data.ROWS):
            feature = {
                "x1": _floats(data.X1[row]),
                "x2": _floats(data.X2[row]),
                "color": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[data.COLOR[row][0].encode()])
                ),
                "flag": tf.train.Feature(int64_list=tf.train.Int64List(value=FLAG[row])),
                "target": _floats(TARGET[row]),
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    return path


def _floats(values: np.ndarray) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


# --- labels and input_fns over NumPy, for train and evaluate ---


def labels_for(kind: str, rows: np.ndarray) -> Any:
    """The labels a model takes: ``flag``, ``target``, a dict of both, or ``none``."""
    by_kind = {
        "flag": lambda: FLAG[rows],
        "target": lambda: TARGET[rows],
        "dict": lambda: {"flag": FLAG[rows], "target": TARGET[rows]},
        "none": lambda: None,
    }
    return by_kind[kind]()


def rows_where(color: str | None = None) -> np.ndarray:
    """Indices of the rows of one color (every row for None), for evaluating one slice."""
    if color is None:
        return np.arange(data.ROWS)
    return np.flatnonzero(data.COLOR[:, 0] == color)


def input_fn(label_kind: str, rows: np.ndarray, repeat: bool) -> Callable[[], Any]:
    def fn() -> Any:
        features = {name: values[rows] for name, values in data.features_np().items()}
        labels = labels_for(label_kind, rows)
        elements = features if labels is None else (features, labels)
        dataset = tf.data.Dataset.from_tensor_slices(elements)
        dataset = dataset.repeat().batch(16) if repeat else dataset.batch(16)
        return tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()

    return fn


def train(
    estimator: tf.estimator.Estimator, label_kind: str, steps: int = 30
) -> tf.estimator.Estimator:
    estimator.train(input_fn(label_kind, rows_where(), repeat=True), steps=steps)
    return estimator


def evaluate(
    estimator: tf.estimator.Estimator, label_kind: str, color: str | None = None
) -> dict[str, float]:
    """``estimator.evaluate`` over the rows of ``color`` (all rows for None), minus
    EVALUATE_ONLY."""
    metrics = estimator.evaluate(input_fn(label_kind, rows_where(color), repeat=False), name=color)
    return {name: float(value) for name, value in metrics.items() if name not in EVALUATE_ONLY}


# --- receivers ---


def parsing_eval_receiver_fn(label_key: str | None) -> Callable[[], Any]:
    """TFMA's own builder: parses every column; the label is ``label_key``'s column (or none).

    The unused columns stay in the features, as they do for TFMA users who pass one spec.
    """
    spec = (
        dict(FEATURE_SPEC)
        if label_key is None
        else {**FEATURE_SPEC, label_key: LABEL_SPEC[label_key]}
    )
    return tfma.export.build_parsing_eval_input_receiver_fn(feature_spec=spec, label_key=label_key)


def hand_built_eval_receiver_fn(with_labels: bool) -> Callable[[], Any]:
    """A hand-built ``tfma.export.EvalInputReceiver``: receiver_tensors exactly
    ``{'examples': ...}``, features a dict, labels a dict of both labels (or None)."""

    def receiver_fn() -> Any:
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="input_example_tensor")
        parsed = tf.io.parse_example(serialized, ALL_SPEC)
        features = {name: parsed[name] for name in FEATURE_SPEC}
        labels = {name: parsed[name] for name in LABEL_SPEC} if with_labels else None
        return tfma.export.EvalInputReceiver(
            features=features, labels=labels, receiver_tensors={"examples": serialized}
        )

    return receiver_fn


def serving_receiver_fn() -> Callable[[], Any]:
    return tf.estimator.export.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)


# --- TFMA ---


def run_tfma(export_dir: str, data_path: str, output_path: str) -> dict[SliceKey, dict[str, float]]:
    """``tfma.run_model_analysis`` of the EvalSavedModel in ``export_dir`` over ``data_path``,
    overall and sliced by ``color``. Returns slice key -> metric name -> value, TFMA's own
    additions (``post_export_metrics/...``) left out."""
    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="eval")],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["color"])],
    )
    eval_shared_model = tfma.default_eval_shared_model(
        eval_saved_model_path=os.fspath(export_dir), eval_config=eval_config
    )
    result = tfma.run_model_analysis(
        eval_shared_model=eval_shared_model,
        eval_config=eval_config,
        data_location=data_path,
        output_path=output_path,
    )
    by_slice = {}
    for slice_key, metrics in result.slicing_metrics:
        values = metrics[""][""]  # no multi-output name, no sub key: an estimator's metrics
        by_slice[tuple(slice_key)] = {
            name: value["doubleValue"]
            for name, value in values.items()
            if not name.startswith(TFMA_ONLY_PREFIX)
        }
    return by_slice


def color_slice(color: str) -> SliceKey:
    return (("color", color),)


def assert_same_metrics(
    tfma_metrics: Mapping[str, float],
    expected: Mapping[str, float],
    where: str,
) -> None:
    """Same metric names, and every value equal within float tolerance."""
    assert sorted(tfma_metrics) == sorted(expected), (
        f"{where}: TFMA {sorted(tfma_metrics)} vs evaluate {sorted(expected)}"
    )
    for name, value in expected.items():
        np.testing.assert_allclose(
            tfma_metrics[name], value, rtol=1e-4, atol=1e-5, err_msg=f"{where}: {name}"
        )


def assert_tfma_matches_evaluate(
    estimator: tf.estimator.Estimator,
    label_kind: str,
    export_dir: str,
    data_path: str,
    output_path: str,
    colors: Sequence[str] = COLORS,
) -> dict[SliceKey, dict[str, float]]:
    """TFMA over the export equals ``estimator.evaluate`` overall and on each color's rows."""
    by_slice = run_tfma(export_dir, data_path, output_path)
    assert sorted(by_slice) == sorted([()] + [color_slice(color) for color in colors]), sorted(
        by_slice
    )
    assert_same_metrics(by_slice[()], evaluate(estimator, label_kind), "overall")
    for color in colors:
        assert_same_metrics(
            by_slice[color_slice(color)], evaluate(estimator, label_kind, color), f"color={color}"
        )
    return by_slice
