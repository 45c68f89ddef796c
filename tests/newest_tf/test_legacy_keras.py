"""Legacy Keras: canned estimators under Keras 3 fail when built, with the fix; custom model_fn
estimators keep working; ``estimator-ext run`` chooses tf-keras for the script."""

from __future__ import annotations

import importlib.util
import json
import os
import textwrap

import pytest

from estimator_ext._tf_private import legacy_keras
from estimator_ext.cli import run_script
from tests.newest_tf.support import only_newest, run_fresh_python

TF_KERAS_INSTALLED = importlib.util.find_spec("tf_keras") is not None


def test_the_message_names_the_variable_tf_keras_and_the_release_to_install():
    message = legacy_keras.legacy_keras_message("tf.estimator.LinearClassifier")
    assert message.startswith("tf.estimator.LinearClassifier builds tf.keras layers")
    assert "TF_USE_LEGACY_KERAS=1" in message and "tf-keras" in message
    assert "custom model_fn work under Keras 3" in message


def test_keras_2_leaves_the_canned_classes_alone():
    import tensorflow as tf

    if legacy_keras.is_keras_3():
        pytest.skip("tf.keras is Keras 3 in this process (TF_USE_LEGACY_KERAS unset)")
    for cls in (tf.estimator.LinearClassifier, tf.estimator.DNNRegressor):
        assert not hasattr(cls.__init__, "refuses_under_keras_3")


KERAS_3_SCRIPT = """
    import json, os
    import numpy as np
    import estimator_ext
    import tensorflow as tf
    import tensorflow_estimator  # its top level is tf.compat.v1's API
    from tensorflow_estimator.python.estimator.api._v2 import estimator as tf_estimator
    from estimator_ext._tf_private.legacy_keras import LegacyKerasRequiredError
    refused = {}
    column = tf.feature_column.numeric_column("x")
    for name, make in {
        "tf.estimator.LinearClassifier": lambda: tf_estimator.LinearClassifier([column]),
        "tf.estimator.DNNRegressor": lambda: tf_estimator.DNNRegressor([2], [column]),
        "tf.estimator.DNNLinearCombinedClassifier":
            lambda: tf_estimator.DNNLinearCombinedClassifier(linear_feature_columns=[column]),
        "tf.estimator.BaselineClassifier": lambda: tf_estimator.BaselineClassifier(),
        "tf.compat.v1.estimator.BaselineClassifier":
            lambda: tensorflow_estimator.estimator.BaselineClassifier(),
    }.items():
        try:
            make()
        except LegacyKerasRequiredError as error:
            refused[name] = str(error)

    def model_fn(features, labels, mode):  # plain TF ops: no Keras at all
        weight = tf.compat.v1.get_variable("w", [1, 1], initializer=tf.zeros_initializer())
        prediction = tf.matmul(features["x"], weight)[:, 0]
        if mode == tf_estimator.ModeKeys.PREDICT:
            return tf_estimator.EstimatorSpec(mode, predictions={"y": prediction})
        loss = tf.reduce_mean(tf.square(prediction - labels))
        step = tf.compat.v1.train.get_global_step()
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss, step)
        return tf_estimator.EstimatorSpec(mode, loss=loss, train_op=train_op,
                                          predictions={"y": prediction})

    x = np.linspace(0, 1, 8, dtype=np.float32).reshape(8, 1)
    def input_fn():
        return tf.data.Dataset.from_tensor_slices(({"x": x}, 2 * x[:, 0])).repeat().batch(8)
    estimator = tf_estimator.Estimator(model_fn, model_dir=os.path.join(WORKDIR, "model"))
    estimator.train(input_fn, steps=5)
    spec = {"x": tf.TensorSpec([None, 1], tf.float32, name="x")}
    def serving_receiver_fn():
        x_input = tf.compat.v1.placeholder(tf.float32, [None, 1], name="x")
        return tf_estimator.export.ServingInputReceiver({"x": x_input}, {"x": x_input})
    export = estimator_ext.export_all_saved_models(estimator, os.path.join(WORKDIR, "exports"), {
        "train": estimator_ext.build_raw_supervised_input_receiver_fn(
            spec, tf.TensorSpec([None], tf.float32)),
        "infer": serving_receiver_fn,
    })
    served = tf.saved_model.load(export, tags=["serve"]).signatures["serving_default"](
        x=tf.constant(x))["y"].numpy()
    predicted = [row["y"] for row in estimator.predict(
        lambda: tf.data.Dataset.from_tensor_slices({"x": x}).batch(8))]
    print(json.dumps({"keras": tf.keras.__version__, "refused": refused,
                      "modes": sorted(export.keys()),
                      "max_difference": float(np.max(np.abs(served - np.array(predicted))))}))
"""


@only_newest
def test_under_keras_3_canned_estimators_refuse_and_a_custom_model_fn_exports(tmp_path):
    code = f"WORKDIR = {str(tmp_path)!r}\n" + textwrap.dedent(KERAS_3_SCRIPT)
    result = run_fresh_python(code, str(tmp_path), TF_USE_LEGACY_KERAS="0")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["keras"].startswith("3.")
    assert sorted(report["refused"]) == [  # the v1 Baseline* build no Keras: they work
        "tf.estimator.BaselineClassifier",  # V2: a Keras optimizer
        "tf.estimator.DNNLinearCombinedClassifier",
        "tf.estimator.DNNRegressor",
        "tf.estimator.LinearClassifier",
    ]
    for name, message in report["refused"].items():
        assert message.startswith(name) and "TF_USE_LEGACY_KERAS=1" in message
        assert "tf-keras" in message and "pip install" in message
    assert report["modes"] == ["infer", "train"] and report["max_difference"] == 0.0


# --- estimator-ext run chooses the legacy Keras for the script ---


def test_legacy_keras_is_chosen_only_when_unset_and_installed():
    environ: dict[str, str] = {}
    with run_script.legacy_keras_chosen(environ) as chosen:
        assert chosen is TF_KERAS_INSTALLED
        assert environ.get("TF_USE_LEGACY_KERAS") == ("1" if TF_KERAS_INSTALLED else None)
    assert environ == {}  # removed again
    for users_choice in ("0", "1", "false"):
        environ = {"TF_USE_LEGACY_KERAS": users_choice}
        with run_script.legacy_keras_chosen(environ) as chosen:
            assert chosen is False and environ == {"TF_USE_LEGACY_KERAS": users_choice}
        assert environ == {"TF_USE_LEGACY_KERAS": users_choice}


def test_run_gives_the_script_the_variable_and_restores_the_environment(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    script = tmp_path / "show.py"
    script.write_text("import os\nprint(os.environ.get('TF_USE_LEGACY_KERAS'))\n")
    assert run_script.run_script(str(script), []) == 0
    assert capsys.readouterr().out.strip() == ("1" if TF_KERAS_INSTALLED else "None")
    assert "TF_USE_LEGACY_KERAS" not in os.environ
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "0")  # the user's choice wins
    assert run_script.run_script(str(script), []) == 0
    assert capsys.readouterr().out.strip() == "0"
