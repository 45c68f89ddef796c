"""The estimator_ext demo: one SavedModel holding the TRAIN, EVAL and PREDICT graphs of an Iris
classifier.

Run it with ``make demo`` (which creates the venv first) or ``python examples/demo.py``.

1. Trains a ``LinearClassifier`` on Iris (150 rows, examples/data/iris.csv) through
   ``estimator_ext.MultiExportMixin``.
2. Exports TRAIN, EVAL and PREDICT into ``demo_output/exports/<timestamp>/``.
3. Prints each meta graph of the export: its tags and its signatures' inputs and outputs.
   PREDICT's receiver parses serialized ``tf.Example``s, so ``serving_default`` is the
   classifier head's own classification signature.
4. Predicts one row from the export (loaded with ``tf.saved_model.load``, a serialized
   ``tf.Example`` fed to ``serving_default``) and prints it beside ``estimator.predict``
   on the same row; exits 1 if they disagree.

estimator_ext's warnings (through the ``estimator_ext`` logger) are printed in line with
the output; a run prints none.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from typing import Any

from quiet_tf import quiet_tensorflow

quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from iris_data import FEATURE_NAMES, Iris, load_iris  # noqa: E402
from saved_model_summary import describe_saved_model  # noqa: E402

import estimator_ext  # noqa: E402

MK = tf.estimator.ModeKeys
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_EXPORT_BASE = os.path.join(REPO_ROOT, "demo_output", "exports")


class IrisClassifier(estimator_ext.MultiExportMixin, tf.estimator.LinearClassifier):
    """A canned LinearClassifier that also has ``export_all_saved_models``."""


def train_input_fn(features: dict[str, np.ndarray], labels: np.ndarray) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    return dataset.shuffle(150, seed=0).repeat().batch(32)


def eval_input_fn(features: dict[str, np.ndarray], labels: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(150)


def feature_columns() -> list[Any]:
    return [tf.feature_column.numeric_column(name) for name in FEATURE_NAMES]


def receiver_fn_by_mode() -> dict[str, object]:
    """TRAIN/EVAL take raw features and labels; PREDICT (serving) parses ``tf.Example``s.

    The parsing receiver takes one string tensor of serialized ``tf.Example``s, which is
    what the classifier head's own default serving output (its classification
    signature) is built for: so ``serving_default`` is the head's classification
    signature (``classes`` and ``scores``), as TF Serving's classify API expects.
    """
    feature_specs = {name: tf.TensorSpec([None], tf.float32, name=name) for name in FEATURE_NAMES}
    label_spec = tf.TensorSpec([None], tf.int64, name="label")  # the species index
    supervised_receiver_fn = estimator_ext.build_raw_supervised_input_receiver_fn(
        feature_specs, label_spec
    )
    serving_receiver_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(
        tf.feature_column.make_parse_example_spec(feature_columns())
    )
    return {
        MK.TRAIN: supervised_receiver_fn,
        MK.EVAL: supervised_receiver_fn,
        MK.PREDICT: serving_receiver_fn,
    }


def print_meta_graphs(export_dir: str) -> None:
    meta_graphs = describe_saved_model(export_dir)
    print(f"\nThe export holds {len(meta_graphs)} meta graphs:")
    for meta_graph in meta_graphs:
        train_op = "  (train op in saved_model_train_op)" if meta_graph["has_train_op"] else ""
        print(f"\n  tags {meta_graph['tags']}{train_op}")
        for signature_name, signature in meta_graph["signatures"].items():
            print(f"    signature {signature_name!r}")
            print(_format_tensors("      inputs : ", signature["inputs"]))
            print(_format_tensors("      outputs: ", signature["outputs"]))


def _format_tensors(label: str, tensors: dict[str, str], width: int = 110) -> str:
    """``label`` then ``key dtype shape`` items, wrapped between items, never inside one."""
    lines, line = [], label
    for index, (key, description) in enumerate(tensors.items()):
        item = f"{key} {description}" + ("," if index < len(tensors) - 1 else "")
        if line.strip() and len(line) + 1 + len(item) > width and line != label:
            lines.append(line)
            line = " " * len(label)
        line += ("" if line.endswith(" ") else " ") + item
    lines.append(line)
    return "\n".join(lines)


def serialized_example(row: dict[str, float]) -> bytes:
    """One row as a serialized ``tf.train.Example``, what TF Serving's clients send."""
    feature = {
        name: tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        for name, value in row.items()
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def predict_from_export(export_dir: str, row: dict[str, float]) -> np.ndarray:
    """Class probabilities for one row from the export's ``serving_default`` signature.

    That signature is the classifier head's classification output: it takes serialized
    ``tf.Example``s as ``inputs`` and returns each class's probability as ``scores``.
    """
    loaded = tf.saved_model.load(export_dir, tags=["serve"])
    serve = loaded.signatures["serving_default"]
    outputs = serve(inputs=tf.constant([serialized_example(row)]))
    return outputs["scores"].numpy()[0]


def predict_with_estimator(estimator: tf.estimator.Estimator, row: dict[str, float]) -> np.ndarray:
    def one_row_input_fn() -> tf.data.Dataset:
        features = {name: np.array([value], np.float32) for name, value in row.items()}
        return tf.data.Dataset.from_tensor_slices(features).batch(1)

    prediction = next(estimator.predict(one_row_input_fn, yield_single_examples=True))
    return prediction["probabilities"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--export-dir-base",
        default=DEFAULT_EXPORT_BASE,
        help="where the timestamped export goes (default: demo_output/exports)",
    )
    parser.add_argument("--steps", type=int, default=400, help="training steps")
    parser.add_argument("--row", type=int, default=120, help="which Iris row to predict (0-149)")
    args = parser.parse_args(argv)
    # estimator_ext logs through the "estimator_ext" logger and never prints; show its
    # warnings in line with the demo's output.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stdout, format="  [%(name)s %(levelname)s] %(message)s"
    )

    iris = load_iris()
    print(
        f"Iris: {len(iris.labels)} rows, features {', '.join(FEATURE_NAMES)}; "
        f"classes {', '.join(iris.class_names)}"
    )

    with tempfile.TemporaryDirectory(prefix="estimator_ext_demo_model_") as model_dir:
        classifier = IrisClassifier(
            feature_columns=feature_columns(),
            n_classes=3,
            model_dir=model_dir,
            # A callable, not an optimizer object: each graph (train, then each exported
            # mode) needs its own optimizer, and an object can only serve one graph.
            optimizer=lambda: tf.keras.optimizers.legacy.Ftrl(learning_rate=0.5),
            config=tf.estimator.RunConfig(tf_random_seed=0, save_summary_steps=None),
        )
        classifier.train(lambda: train_input_fn(iris.features, iris.labels), steps=args.steps)
        metrics = classifier.evaluate(lambda: eval_input_fn(iris.features, iris.labels))
        print(
            f"Trained {args.steps} steps: accuracy {metrics['accuracy']:.3f}, "
            f"loss {metrics['average_loss']:.3f} (on the 150 rows)"
        )

        export_dir = classifier.export_all_saved_models(args.export_dir_base, receiver_fn_by_mode())
        print(f"\nExported {', '.join(export_dir.keys())} to {export_dir}")
        print(
            f"  variables written once, from the {export_dir.saved_variables_mode!r} graph "
            f"({export_dir.variables_strategy or 'default'} strategy)"
        )
        print_meta_graphs(export_dir)

        row = iris.row(args.row)
        from_export = predict_from_export(export_dir, row)
        from_estimator = predict_with_estimator(classifier, row)

    print(
        f"\nRow {args.row}: "
        + ", ".join(f"{name}={value:g}" for name, value in row.items())
        + f" (true class: {iris.class_names[iris.labels[args.row]]})"
    )
    export_text = _format_probabilities(from_export, iris)
    estimator_text = _format_probabilities(from_estimator, iris)
    print(f"  export (tf.saved_model.load, serving_default): {export_text}")
    print(f"  estimator.predict                            : {estimator_text}")
    max_difference = float(np.max(np.abs(from_export - from_estimator)))
    if max_difference > 1e-5:
        print(f"parity: FAILED (max abs difference {max_difference:.2e})")
        return 1
    print(f"parity: OK (max abs difference {max_difference:.1e})")
    return 0


def _format_probabilities(probabilities: np.ndarray, iris: Iris) -> str:
    best = int(np.argmax(probabilities))
    listed = " ".join(f"{name} {p:.4f}" for name, p in zip(iris.class_names, probabilities))
    return f"{listed} -> {iris.class_names[best]}"


if __name__ == "__main__":
    sys.exit(main())
