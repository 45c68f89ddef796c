"""The function form: ``estimator_ext.export_all_saved_models(estimator, ...)`` for any Estimator.

No subclass needed: this exports a stock ``tf.estimator.DNNRegressor`` and then uses each
of the three graphs of the one SavedModel:

* TRAIN (TF1 loader, tag ``train``): runs the exported train op a few times; the loss drops
  and ``global_step`` moves.
* EVAL (TF1 loader, tag ``eval``): runs the metric update ops over the data; the metric
  values equal ``estimator.evaluate`` on the same data.
* PREDICT (``tf.saved_model.load``, tag ``serve``): feeds serialized ``tf.Example``s, as TF
  Serving would; the predictions equal ``estimator.predict``.

The TRAIN/EVAL receivers come from the training ``input_fn`` itself
(``build_supervised_input_receiver_fn_from_input_fn``), the PREDICT one parses
``tf.Example``s (``build_parsing_serving_input_receiver_fn``).

Run: ``python examples/function_form.py`` (writes to a temporary directory; exits 1 on a
parity failure).
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from quiet_tf import quiet_tensorflow

quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import estimator_ext  # noqa: E402

MK = tf.estimator.ModeKeys
FEATURE_NAMES = ("x1", "x2")


def make_data(rows: int = 200, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """y = 3*x1 - 2*x2 + 1 + noise, x uniform in [0, 1): small and learnable in seconds."""
    rng = np.random.default_rng(seed)
    features = {name: rng.random(rows, dtype=np.float32) for name in FEATURE_NAMES}
    noise = rng.normal(0.0, 0.05, rows).astype(np.float32)
    labels = (3 * features["x1"] - 2 * features["x2"] + 1 + noise).reshape(-1, 1)
    return features, labels


def input_fn(
    features: dict[str, np.ndarray], labels: np.ndarray, batch_size: int = 32, repeat: bool = True
) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if repeat:
        dataset = dataset.shuffle(len(labels), seed=0).repeat()
    return dataset.batch(batch_size)


def serialize_examples(features: dict[str, np.ndarray]) -> list[bytes]:
    """One serialized tf.Example per row, as a client of TF Serving would send."""
    rows = len(next(iter(features.values())))
    return [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    name: tf.train.Feature(
                        float_list=tf.train.FloatList(value=[float(features[name][row])])
                    )
                    for name in FEATURE_NAMES
                }
            )
        ).SerializeToString()
        for row in range(rows)
    ]


def run_train_graph(
    export_dir: str, features: dict[str, np.ndarray], labels: np.ndarray, steps: int
) -> tuple[float, float, int, int]:
    """Runs the exported train op ``steps`` times; returns loss and global_step before and after."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["train"], export_dir)
        signature = meta_graph.signature_def["train"]
        feed = _feed(graph, signature, features, labels)
        loss = graph.get_tensor_by_name(signature.outputs["loss"].name)
        train_op = tf.compat.v1.get_collection("saved_model_train_op")[0]
        global_step = tf.compat.v1.train.get_global_step(graph)
        loss_before, step_before = session.run([loss, global_step], feed)
        for _ in range(steps):
            session.run(train_op, feed)
        loss_after, step_after = session.run([loss, global_step], feed)
    return float(loss_before), float(loss_after), int(step_before), int(step_after)


def run_eval_graph(
    export_dir: str, features: dict[str, np.ndarray], labels: np.ndarray
) -> dict[str, float]:
    """Runs every metric's update op once over all rows, then reads the metric values."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["eval"], export_dir)
        signature = meta_graph.signature_def["eval"]
        feed = _feed(graph, signature, features, labels)
        update_ops = {
            key: graph.get_tensor_by_name(info.name)
            for key, info in signature.outputs.items()
            if key.endswith("/update_op")
        }
        session.run(update_ops, feed)
        value_names = {
            key[len("metrics/") : -len("/value")]: info.name
            for key, info in signature.outputs.items()
            if key.startswith("metrics/") and key.endswith("/value")
        }
        values = session.run(
            {name: graph.get_tensor_by_name(tensor) for name, tensor in value_names.items()}
        )
    return {name: float(value) for name, value in values.items()}


def _feed(graph: tf.Graph, signature, features: dict[str, np.ndarray], labels: np.ndarray) -> dict:
    values = dict(features, label=labels)
    return {
        graph.get_tensor_by_name(info.name): values[key] for key, info in signature.inputs.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--export-dir-base",
        default=None,
        help="where the timestamped export goes (default: a temporary directory)",
    )
    parser.add_argument("--steps", type=int, default=100, help="training steps")
    args = parser.parse_args(argv)

    features, labels = make_data()
    with tempfile.TemporaryDirectory(prefix="estimator_ext_function_form_") as work_dir:
        export_dir_base = args.export_dir_base or f"{work_dir}/exports"
        regressor = tf.estimator.DNNRegressor(
            hidden_units=[8],
            feature_columns=[tf.feature_column.numeric_column(name) for name in FEATURE_NAMES],
            model_dir=f"{work_dir}/model",
            optimizer=lambda: tf.keras.optimizers.legacy.Adam(learning_rate=0.05),
            config=tf.estimator.RunConfig(tf_random_seed=0, save_summary_steps=None),
        )
        regressor.train(lambda: input_fn(features, labels), steps=args.steps)
        evaluated = regressor.evaluate(
            lambda: input_fn(features, labels, len(labels), repeat=False)
        )
        print(
            f"DNNRegressor trained {args.steps} steps: average_loss {evaluated['average_loss']:.4f}"
        )

        feature_spec = {name: tf.io.FixedLenFeature([1], tf.float32) for name in FEATURE_NAMES}
        supervised_receiver_fn = estimator_ext.build_supervised_input_receiver_fn_from_input_fn(
            input_fn, features=features, labels=labels
        )
        export_dir = estimator_ext.export_all_saved_models(
            regressor,
            export_dir_base,
            {
                MK.TRAIN: supervised_receiver_fn,
                MK.EVAL: supervised_receiver_fn,
                MK.PREDICT: tf.estimator.export.build_parsing_serving_input_receiver_fn(
                    feature_spec
                ),
            },
        )
        print(f"Exported {', '.join(export_dir.keys())} to one SavedModel: {export_dir}")

        # TRAIN: the exported train op really trains.
        loss_before, loss_after, step_before, step_after = run_train_graph(
            export_dir, features, labels, 20
        )
        print(
            f"TRAIN graph: 20 runs of its train op: loss {loss_before:.4f} -> {loss_after:.4f}, "
            f"global_step {step_before} -> {step_after}"
        )

        # EVAL: the exported metrics equal estimator.evaluate on the same rows.
        exported_metrics = run_eval_graph(export_dir, features, labels)
        eval_ok = all(
            np.isclose(exported_metrics[name], evaluated[name], rtol=1e-5, atol=1e-6)
            for name in exported_metrics
        )
        print(
            "EVAL graph metrics: "
            + ", ".join(
                f"{name} {value:.5f} (evaluate: {evaluated[name]:.5f})"
                for name, value in sorted(exported_metrics.items())
            )
        )

        # PREDICT: serialized tf.Examples through the exported 'predict' signature.
        first_rows = {name: column[:5] for name, column in features.items()}
        serve = tf.saved_model.load(export_dir, tags=["serve"]).signatures["predict"]
        from_export = (
            serve(examples=tf.constant(serialize_examples(first_rows)))["predictions"]
            .numpy()
            .ravel()
        )
        from_estimator = np.array(
            [
                prediction["predictions"][0]
                for prediction in regressor.predict(
                    lambda: tf.data.Dataset.from_tensor_slices(first_rows).batch(5)
                )
            ]
        )
        print(
            "PREDICT (5 rows) export:            "
            + " ".join(f"{value:.4f}" for value in from_export)
        )
        print(
            "PREDICT (5 rows) estimator.predict: "
            + " ".join(f"{value:.4f}" for value in from_estimator)
        )

    train_ok = loss_after < loss_before and step_after == step_before + 20
    predict_ok = bool(np.allclose(from_export, from_estimator, rtol=1e-5, atol=1e-6))
    for check, ok in (
        ("TRAIN train op", train_ok),
        ("EVAL parity", eval_ok),
        ("PREDICT parity", predict_ok),
    ):
        print(f"{check}: {'OK' if ok else 'FAILED'}")
    return 0 if train_ok and eval_ok and predict_ok else 1


if __name__ == "__main__":
    sys.exit(main())
