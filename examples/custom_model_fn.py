"""A custom ``model_fn`` Estimator exported with all three modes, a vocabulary asset and extra
assets.

The model: a logistic regression on one number ``x`` plus a per-colour bias, the colour
looked up in a vocabulary file (a ``tf.lookup`` table, so the file becomes a SavedModel
asset). Its PREDICT mode has two signatures: ``serving_default`` (the probability) and
``logit``. The export also carries a model card in ``assets.extra/docs/`` (nested
destinations are allowed; absolute ones or ones with ``..`` are refused) and is written
with ``strip_default_attrs=True``.

Then the export is loaded back: its files, its serve signatures, and one batch of
predictions beside ``estimator.predict`` on the same rows.

Run: ``python examples/custom_model_fn.py`` (temporary directory; exits 1 on a parity failure).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from quiet_tf import quiet_tensorflow

quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import estimator_ext  # noqa: E402

MK = tf.estimator.ModeKeys
COLOURS = ("red", "green", "blue")


def model_fn(features, labels, mode, params):
    """logit = w * x + bias[colour]; trained with plain gradient descent."""
    colour_table = tf.compat.v1.lookup.StaticHashTable(
        tf.compat.v1.lookup.TextFileInitializer(
            params["vocabulary_file"],
            key_dtype=tf.string,
            key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            value_dtype=tf.int64,
            value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        ),
        default_value=0,
    )
    colour_ids = colour_table.lookup(features["colour"])
    weight = tf.compat.v1.get_variable("weight", [], initializer=tf.compat.v1.zeros_initializer())
    colour_bias = tf.compat.v1.get_variable(
        "colour_bias", [len(COLOURS)], initializer=tf.compat.v1.zeros_initializer()
    )
    logit = weight * features["x"] + tf.gather(colour_bias, colour_ids)
    probability = tf.sigmoid(logit)
    predictions = {"probability": probability, "logit": logit}

    if mode == MK.PREDICT:
        return tf.estimator.EstimatorSpec(
            mode,
            predictions=predictions,
            export_outputs={
                tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY: tf.estimator.export.PredictOutput(
                    {"probability": probability}
                ),
                "logit": tf.estimator.export.PredictOutput({"logit": logit}),
            },
        )

    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logit))
    accuracy = tf.compat.v1.metrics.accuracy(labels, tf.cast(probability > 0.5, tf.float32))
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.5).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step()
    )
    return tf.estimator.EstimatorSpec(
        mode,
        predictions=predictions,
        loss=loss,
        train_op=train_op,
        eval_metric_ops={"accuracy": accuracy},
    )


def make_data(rows: int = 300, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Label 1 when x plus the colour's offset (red -1, green 0, blue +1) is positive, with
    noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, rows).astype(np.float32)
    colour_index = rng.integers(0, len(COLOURS), rows)
    offset = np.array([-1.0, 0.0, 1.0], np.float32)[colour_index]
    labels = (x + offset + rng.normal(0.0, 0.3, rows) > 0).astype(np.float32)
    return {"x": x, "colour": np.array(COLOURS)[colour_index]}, labels


def receiver_fn_by_mode() -> dict:
    feature_specs = {
        "x": tf.TensorSpec([None], tf.float32, name="x"),
        "colour": tf.TensorSpec([None], tf.string, name="colour"),
    }
    supervised = estimator_ext.build_raw_supervised_input_receiver_fn(
        feature_specs, tf.TensorSpec([None], tf.float32, name="label")
    )

    def serving_receiver_fn() -> tf.estimator.export.ServingInputReceiver:
        inputs = {
            "x": tf.compat.v1.placeholder(tf.float32, [None], name="x"),
            "colour": tf.compat.v1.placeholder(tf.string, [None], name="colour"),
        }
        return tf.estimator.export.ServingInputReceiver(inputs, inputs)

    return {MK.TRAIN: supervised, MK.EVAL: supervised, MK.PREDICT: serving_receiver_fn}


def list_files(directory: str) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(root, name), directory)
        for root, _, names in os.walk(directory)
        for name in names
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--export-dir-base",
        default=None,
        help="where the timestamped export goes (default: a temporary directory)",
    )
    parser.add_argument("--steps", type=int, default=200, help="training steps")
    args = parser.parse_args(argv)

    features, labels = make_data()
    with tempfile.TemporaryDirectory(prefix="estimator_ext_custom_model_fn_") as work_dir:
        vocabulary_file = os.path.join(work_dir, "colours.txt")
        with open(vocabulary_file, "w", encoding="utf-8") as vocabulary:
            vocabulary.write("\n".join(COLOURS) + "\n")
        model_card = os.path.join(work_dir, "model_card.md")
        with open(model_card, "w", encoding="utf-8") as card:
            card.write("# colour-logistic\nlogit = w * x + bias[colour]\n")

        estimator = tf.estimator.Estimator(
            model_fn,
            model_dir=os.path.join(work_dir, "model"),
            params={"vocabulary_file": vocabulary_file},
            config=tf.estimator.RunConfig(tf_random_seed=0, save_summary_steps=None),
        )

        def train_input_fn() -> tf.data.Dataset:
            return tf.data.Dataset.from_tensor_slices((features, labels)).repeat().batch(50)

        estimator.train(train_input_fn, steps=args.steps)
        metrics = estimator.evaluate(
            lambda: tf.data.Dataset.from_tensor_slices((features, labels)).batch(300)
        )
        print(f"custom model_fn trained {args.steps} steps: accuracy {metrics['accuracy']:.3f}")

        export_dir = estimator_ext.export_all_saved_models(
            estimator,
            args.export_dir_base or os.path.join(work_dir, "exports"),
            receiver_fn_by_mode(),
            assets_extra={"docs/model_card.md": model_card},
            strip_default_attrs=True,
        )
        print(f"Exported {', '.join(export_dir.keys())} to {export_dir}")
        exported_files = list_files(export_dir)
        print("Files: " + ", ".join(exported_files))

        loaded = tf.saved_model.load(export_dir, tags=["serve"])
        print(
            "serve signatures: "
            + ", ".join(
                f"{name} -> {sorted(loaded.signatures[name].structured_outputs)}"
                for name in sorted(loaded.signatures)
            )
        )
        rows = {
            "x": np.array([-1.5, 0.2, 0.2, 0.8], np.float32),
            "colour": np.array(["blue", "red", "green", "purple"]),
        }  # purple: not in the vocabulary, so id 0
        from_export = loaded.signatures["serving_default"](
            x=tf.constant(rows["x"]), colour=tf.constant(rows["colour"])
        )["probability"].numpy()
        from_estimator = np.array(
            [
                prediction["probability"]
                for prediction in estimator.predict(
                    lambda: tf.data.Dataset.from_tensor_slices(rows).batch(4)
                )
            ]
        )

    print(
        "rows:              "
        + "  ".join(f"{colour}/{x:+.1f}" for colour, x in zip(rows["colour"], rows["x"]))
    )
    print("export:            " + "  ".join(f"{p:.4f}" for p in from_export))
    print("estimator.predict: " + "  ".join(f"{p:.4f}" for p in from_estimator))
    assets_ok = {"assets/colours.txt", "assets.extra/docs/model_card.md"} <= set(exported_files)
    parity_ok = bool(np.allclose(from_export, from_estimator, rtol=1e-5, atol=1e-6))
    print(f"assets: {'OK' if assets_ok else 'FAILED'}")
    print(f"parity: {'OK' if parity_ok else 'FAILED'}")
    return 0 if assets_ok and parity_ok else 1


if __name__ == "__main__":
    sys.exit(main())
