"""Every canned estimator (and model_to_estimator) exports all three modes with parity.

For each: PREDICT outputs equal ``estimator.predict``; EVAL metrics after running the
update ops over the data set equal ``estimator.evaluate``; the TRAIN graph's train op
lowers the loss and moves ``global_step``; every tag set loads with the TF1 loader and
with ``tf.saved_model.load``.
"""

import os

import pytest
import tensorflow as tf

import estimator_ext
from tests.support import data
from tests.support.data import MK


def _linear(model_dir):
    return tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)


def _linear_regressor(model_dir):
    return tf.estimator.LinearRegressor(data.feature_columns(), model_dir=model_dir)


def _dnn(model_dir):
    return tf.estimator.DNNClassifier(
        [4], data.dense_feature_columns(), model_dir=model_dir, optimizer=data.dnn_optimizer()
    )


def _dnn_regressor(model_dir):
    return tf.estimator.DNNRegressor(
        [4], data.dense_feature_columns(), model_dir=model_dir, optimizer=data.dnn_optimizer()
    )


def _combined(model_dir):
    return tf.estimator.DNNLinearCombinedClassifier(
        model_dir=model_dir,
        linear_feature_columns=data.feature_columns(),
        dnn_feature_columns=data.dense_feature_columns(),
        dnn_hidden_units=[4],
    )


def _combined_regressor(model_dir):
    return tf.estimator.DNNLinearCombinedRegressor(
        model_dir=model_dir,
        linear_feature_columns=data.feature_columns(),
        dnn_feature_columns=data.dense_feature_columns(),
        dnn_hidden_units=[4],
    )


def _baseline(model_dir):
    return tf.estimator.BaselineClassifier(model_dir=model_dir)


def _baseline_regressor(model_dir):
    return tf.estimator.BaselineRegressor(model_dir=model_dir)


def _linear_v1_partitioned(model_dir):
    columns = data.feature_columns() + [
        tf.feature_column.categorical_column_with_hash_bucket("color", 8)
    ]
    return tf.compat.v1.estimator.LinearClassifier(
        columns[:2] + columns[3:],
        model_dir=model_dir,
        partitioner=tf.compat.v1.fixed_size_partitioner(2),
    )


def _dnn_vocabulary_file(model_dir):
    vocabulary = os.path.join(os.path.dirname(model_dir), "colors.txt")
    with open(vocabulary, "w") as handle:
        handle.write("red\ngreen\nblue\n")
    return tf.estimator.DNNClassifier(
        [4],
        data.dense_feature_columns(vocabulary),
        model_dir=model_dir,
        optimizer=data.dnn_optimizer(),
    )


def _keras(model_dir):
    inputs = {
        name: tf.keras.Input(shape=(1,), name=name, dtype=tf.float32) for name in ("x1", "x2")
    }
    hidden = tf.keras.layers.Dense(4, activation="relu")(
        tf.keras.layers.Concatenate()(list(inputs.values()))
    )
    output = tf.keras.layers.Dense(1, name="score")(hidden)
    model = tf.keras.Model(inputs=inputs, outputs=output)
    model.compile(optimizer="sgd", loss="mse")
    return tf.keras.estimator.model_to_estimator(keras_model=model, model_dir=model_dir)


CLASSIFIERS = {
    "linear": _linear,
    "dnn": _dnn,
    "combined": _combined,
    "baseline": _baseline,
    "linear_v1_partitioned": _linear_v1_partitioned,
    "dnn_vocabulary_file": _dnn_vocabulary_file,
}
REGRESSORS = {
    "linear_regressor": _linear_regressor,
    "dnn_regressor": _dnn_regressor,
    "combined_regressor": _combined_regressor,
    "baseline_regressor": _baseline_regressor,
}


class Trained:
    def __init__(self, estimator, export, labels, label_dtype):
        self.estimator, self.export, self.labels, self.label_dtype = (
            estimator,
            export,
            labels,
            label_dtype,
        )


def _train_and_export(factory, tmp_path_factory, labels, label_dtype, trained=None):
    """Trains ``factory``'s estimator 10 steps and exports it; ``trained``: a shared model
    (tests/conftest.py) of the same kind, exported instead of training another."""
    base = tmp_path_factory.mktemp("canned")
    estimator = trained
    if estimator is None:
        estimator = factory(str(base / "model"))
        estimator.train(data.input_fn(labels), steps=10)
    export = estimator_ext.export_all_saved_models(
        estimator, str(base / "exports"), data.receiver_map(label_dtype)
    )
    return Trained(estimator, export, labels, label_dtype)


@pytest.fixture(scope="module")
def trained_by_name(tmp_path_factory, trained_linear_classifier, trained_linear_regressor):
    """name -> Trained, each estimator trained and exported once per module; the two linear
    ones are the suite's shared trained models (tests/conftest.py)."""
    cache = {}
    shared = {"linear": trained_linear_classifier, "linear_regressor": trained_linear_regressor}

    def get(name):
        if name not in cache:
            trained = shared.get(name)
            if name in CLASSIFIERS:
                cache[name] = _train_and_export(
                    CLASSIFIERS[name], tmp_path_factory, data.LABEL, tf.int64, trained
                )
            else:
                cache[name] = _train_and_export(
                    REGRESSORS[name], tmp_path_factory, data.TARGET, tf.float32, trained
                )
        return cache[name]

    return get


@pytest.fixture(params=sorted(CLASSIFIERS) + sorted(REGRESSORS))
def trained(request, trained_by_name):
    return trained_by_name(request.param)


def test_predict_parity(trained):
    data.assert_predict_parity(trained.estimator, trained.export)


def test_eval_parity(trained):
    compared = data.assert_eval_parity(trained.estimator, trained.export, trained.labels)
    assert compared


def test_train_op_trains(trained):
    data.assert_train_trains(trained.export, trained.labels)


def test_one_saved_model_with_three_tagged_meta_graphs(trained):
    assert set(trained.export.keys()) == {MK.TRAIN, MK.EVAL, MK.PREDICT}
    assert trained.export.saved_variables_mode == MK.TRAIN
    for tags in (["train"], ["eval"], ["serve"]):
        loaded = tf.saved_model.load(trained.export, tags=tags)
        assert loaded.signatures, tags
    serve = tf.saved_model.load(trained.export, tags=["serve"])
    assert "serving_default" in serve.signatures


def test_vocabulary_file_lands_in_assets(trained_by_name):
    trained = trained_by_name("dnn_vocabulary_file")
    assert os.listdir(os.path.join(trained.export, "assets")) == ["colors.txt"]


def test_partitioned_linear_weights_are_saved_whole(trained_by_name):
    trained = trained_by_name("linear_v1_partitioned")
    reader = tf.train.load_checkpoint(os.path.join(trained.export, "variables", "variables"))
    assert reader.get_variable_to_shape_map()["linear/linear_model/color/weights"] == [8, 1]


@pytest.fixture(scope="module")
def keras_trained(tmp_path_factory):
    specs = {name: data.FEATURE_SPECS[name] for name in ("x1", "x2")}
    base = tmp_path_factory.mktemp("keras")
    estimator = _keras(str(base / "model"))
    target = data.TARGET

    def keras_input_fn():
        features = {name: data.features_np()[name] for name in ("x1", "x2")}
        return tf.data.Dataset.from_tensor_slices((features, target)).repeat().batch(16)

    estimator.train(keras_input_fn, steps=10)
    supervised = estimator_ext.build_raw_supervised_input_receiver_fn(
        specs, tf.TensorSpec([None, 1], tf.float32, name="score")
    )
    receivers = {
        MK.TRAIN: supervised,
        MK.EVAL: supervised,
        MK.PREDICT: data.raw_serving_receiver_fn(specs),
    }
    export = estimator_ext.export_all_saved_models(estimator, str(base / "exports"), receivers)
    return estimator, export


def test_model_to_estimator_exports_all_modes_with_parity(keras_trained):
    estimator, export = keras_trained
    rows = {name: data.features_np(slice(0, 8))[name] for name in ("x1", "x2")}
    outputs = data.run_signature(export, ["serve"], "serving_default", rows)
    expected = list(estimator.predict(lambda: tf.data.Dataset.from_tensor_slices(rows).batch(8)))
    (key,) = outputs
    tf.debugging.assert_near(outputs[key].reshape(-1), [row[key][0] for row in expected])
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["train"], export)
        assert graph.get_collection("saved_model_train_op")
        assert "train" in meta_graph.signature_def


@pytest.mark.skipif(
    not data.OPTIMIZER_BY_NAME_BROKEN,
    reason="only tensorflow-estimator 2.12 and 2.13 on Python 3.11 (fixed in 2.14)",
)
def test_dnn_optimizer_by_name_fails_upstream_on_python_3_11_before_tf_2_14(tmp_path):
    """What docs/versions.md says: TF's own bug, before estimator_ext is involved; the
    workaround (an optimizer instance) is what the tests above use on these versions."""
    estimator = tf.estimator.DNNClassifier(
        [4], data.dense_feature_columns(), model_dir=str(tmp_path)
    )
    with pytest.raises(AttributeError, match="getargspec"):
        estimator.train(data.input_fn(), steps=1)
