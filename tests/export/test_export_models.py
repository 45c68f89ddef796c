"""Custom model_fn estimators and the model shapes TF's exporter gets wrong, with parity.

Covered here (issue 2, item 10): a custom model_fn; a vocabulary-file lookup table (its
file lands in assets/); partitioned variables; a custom Scaffold saver; LinearSDCA, whose
TRAIN graph TF's built-in writes so that it does not load.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from tests.support import data
from tests.support.data import MK

CASES = {
    "custom": dict(),
    "partitioned": dict(partitioned=True),
    "custom_saver": dict(saver="custom"),
    "vocabulary_file": dict(vocabulary_file=True),
}


@pytest.fixture(scope="module")
def vocabulary_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "colors.txt"
    path.write_text("red\ngreen\nblue\n")
    return str(path)


def train_custom(tmp_path_factory, vocabulary_file="", steps=10, **options):
    base = tmp_path_factory.mktemp("custom")
    estimator = tf.estimator.Estimator(
        data.make_model_fn(vocabulary_file=vocabulary_file, **options),
        model_dir=str(base / "model"),
    )
    estimator.train(data.input_fn(data.TARGET), steps=steps)
    return estimator, base


@pytest.fixture(scope="module")
def exports(tmp_path_factory, vocabulary_file):
    """name -> (estimator, export), each trained and exported once, on first use."""
    cache = {}

    def get(name):
        if name not in cache:
            options = dict(CASES[name])
            if options.pop("vocabulary_file", False):
                options["vocabulary_file"] = vocabulary_file
            estimator, base = train_custom(tmp_path_factory, **options)
            receivers = data.receiver_map(tf.float32)
            cache[name] = (
                estimator,
                estimator_ext.export_all_saved_models(estimator, str(base / "exports"), receivers),
            )
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(CASES))
def test_predict_parity(exports, name):
    estimator, export = exports(name)
    data.assert_predict_parity(estimator, export)


@pytest.mark.parametrize("name", sorted(CASES))
def test_eval_parity(exports, name):
    estimator, export = exports(name)
    assert "rmse" in data.assert_eval_parity(estimator, export, data.TARGET)


@pytest.mark.parametrize("name", sorted(CASES))
def test_train_op_trains(exports, name):
    _, export = exports(name)
    data.assert_train_trains(export, data.TARGET)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loads_with_tf2_loader_in_every_mode(exports, name):
    _, export = exports(name)
    for tags in (["train"], ["eval"], ["serve"]):
        assert tf.saved_model.load(export, tags=tags).signatures


def test_vocabulary_file_is_an_asset_and_lookups_work_after_loading(exports):
    _, export = exports("vocabulary_file")
    assert os.listdir(os.path.join(export, "assets")) == ["colors.txt"]
    outputs = data.run_signature(
        export, ["serve"], "serving_default", data.features_np(slice(0, 3))
    )
    np.testing.assert_array_equal(outputs["color_id"].ravel(), [0, 1, 2])


def test_partitioned_variables_are_saved_as_checkpoint_tensors(exports):
    estimator, export = exports("partitioned")
    exported_reader = tf.train.load_checkpoint(os.path.join(export, "variables", "variables"))
    checkpoint_reader = tf.train.load_checkpoint(estimator.latest_checkpoint())
    assert exported_reader.get_variable_to_shape_map()["weights"] == [2, 1]
    np.testing.assert_array_equal(
        exported_reader.get_tensor("weights"), checkpoint_reader.get_tensor("weights")
    )


def test_custom_saver_is_the_one_the_export_restores_with(exports):
    _, export = exports("custom_saver")
    from tensorflow.python.saved_model import loader_impl

    for meta_graph in loader_impl.parse_saved_model(export).meta_graphs:
        assert meta_graph.saver_def.filename_tensor_name.startswith("custom_saver"), (
            meta_graph.meta_info_def.tags
        )


# --- LinearSDCA -----------------------------------------------------------------------------

SDCA_SPECS = {
    "x1": data.FEATURE_SPECS["x1"],
    "x2": data.FEATURE_SPECS["x2"],
    "example_id": tf.TensorSpec([None], tf.string, name="example_id"),
}


def _sdca_features(rows=slice(None)):
    return {
        "x1": data.X1[rows],
        "x2": data.X2[rows],
        "example_id": np.array([str(i) for i in range(data.ROWS)])[rows],
    }


@pytest.fixture(scope="module")
def sdca(tmp_path_factory):
    base = tmp_path_factory.mktemp("sdca")
    optimizer = tf.estimator.experimental.LinearSDCA(
        example_id_column="example_id", symmetric_l2_regularization=0.1
    )
    columns = [tf.feature_column.numeric_column("x1"), tf.feature_column.numeric_column("x2")]
    estimator = tf.estimator.LinearClassifier(
        columns, optimizer=optimizer, model_dir=str(base / "model")
    )

    def input_fn():
        dataset = (
            tf.data.Dataset.from_tensor_slices((_sdca_features(), data.LABEL)).repeat().batch(8)
        )
        return tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()

    estimator.train(input_fn, steps=1)
    supervised = estimator_ext.build_raw_supervised_input_receiver_fn(
        SDCA_SPECS, tf.TensorSpec([None, 1], tf.int64, name="label")
    )
    receivers = {
        MK.TRAIN: supervised,
        MK.EVAL: supervised,
        MK.PREDICT: data.raw_serving_receiver_fn(SDCA_SPECS),
    }
    return (
        estimator,
        receivers,
        estimator_ext.export_all_saved_models(estimator, str(base / "exports"), receivers),
    )


def test_sdca_train_graph_loads_and_its_train_op_trains(sdca):
    _, _, export = sdca
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["train"], export)
        signature = meta_graph.signature_def["train"]
        feed = {
            graph.get_tensor_by_name(signature.inputs[key].name): value
            for key, value in dict(_sdca_features(), label=data.LABEL).items()
        }
        loss = graph.get_tensor_by_name(signature.outputs["loss"].name)
        (train_op,) = graph.get_collection("saved_model_train_op")
        global_step = tf.compat.v1.train.get_global_step(graph)
        loss_before, step_before = session.run([loss, global_step], feed)
        for _ in range(5):
            session.run(train_op, feed)
        loss_after, step_after = session.run([loss, global_step], feed)
    assert step_after == step_before + 5
    assert loss_after < loss_before


def test_sdca_predict_and_eval_parity(sdca):
    estimator, _, export = sdca
    rows = slice(0, 10)
    features = _sdca_features(rows)
    outputs = data.run_signature(export, ["serve"], "serving_default", features)
    expected = list(
        estimator.predict(lambda: tf.data.Dataset.from_tensor_slices(features).batch(10))
    )
    np.testing.assert_allclose(
        outputs["logits"], np.stack([row["logits"] for row in expected]), rtol=1e-5
    )
    for tags in (["train"], ["eval"], ["serve"]):
        assert tf.saved_model.load(export, tags=tags).signatures
