"""Issue 7: cases users reported against TF's exporter, each with a real model.

Each test says what TF's built-in does and what we do instead.
"""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.saved_model import loader_impl

import estimator_ext
from tests.support import data
from tests.support.data import MK


def _custom(tmp_path, steps=5, model_dir=None, **options):
    estimator = tf.estimator.Estimator(
        data.make_model_fn(**options), model_dir=model_dir or str(tmp_path / "model")
    )
    if steps:
        estimator.train(data.input_fn(data.TARGET), steps=steps)
    return estimator


def _serve(export, rows=slice(0, 6)):
    return data.run_signature(export, ["serve"], "serving_default", data.features_np(rows))


def _reference_predictions(estimator, rows=slice(0, 6)):
    return np.stack([row["prediction"] for row in data.estimator_predictions(estimator, rows)])


# 2. checkpoints -------------------------------------------------------------------------------


def test_checkpoint_path_directory_resolves_to_its_latest_checkpoint(
    tmp_path, trained_custom_regressor
):
    estimator = trained_custom_regressor
    export = estimator_ext.export_all_saved_models(
        estimator,
        str(tmp_path / "exports"),
        data.receiver_map(tf.float32, [MK.PREDICT]),
        checkpoint_path=estimator.model_dir,
    )
    np.testing.assert_allclose(
        _serve(export)["prediction"], _reference_predictions(estimator), rtol=1e-6
    )


def test_overridden_latest_checkpoint_is_honoured(tmp_path):
    estimator = _custom(tmp_path, steps=2)
    first = estimator.latest_checkpoint()
    estimator.train(data.input_fn(data.TARGET), steps=5)

    class PinnedEstimator(tf.estimator.Estimator):
        def latest_checkpoint(self):
            return first

    pinned = PinnedEstimator(data.make_model_fn(), model_dir=estimator.model_dir)
    export = estimator_ext.export_all_saved_models(
        pinned, str(tmp_path / "exports"), data.receiver_map(tf.float32, [MK.PREDICT])
    )
    rows = data.features_np(slice(0, 6))
    expected = list(
        estimator.predict(
            lambda: tf.data.Dataset.from_tensor_slices(rows).batch(6), checkpoint_path=first
        )
    )
    np.testing.assert_allclose(
        _serve(export)["prediction"], np.stack([row["prediction"] for row in expected]), rtol=1e-6
    )


@pytest.mark.parametrize("source", ["prefix", "directory", "saved_model_variables"])
def test_warm_start_checkpoint_is_used_without_a_checkpoint(
    tmp_path, source, trained_custom_regressor
):
    trained = trained_custom_regressor
    if source == "prefix":
        warm_start_from = trained.latest_checkpoint()
    elif source == "directory":
        warm_start_from = trained.model_dir
    else:
        saved = estimator_ext.export_all_saved_models(
            trained, str(tmp_path / "saved"), data.receiver_map(tf.float32, [MK.PREDICT])
        )
        warm_start_from = os.path.join(saved, "variables")
    fresh = tf.estimator.Estimator(
        data.make_model_fn(), model_dir=str(tmp_path / "fresh"), warm_start_from=warm_start_from
    )
    assert fresh.latest_checkpoint() is None
    export = estimator_ext.export_all_saved_models(
        fresh, str(tmp_path / "exports"), data.receiver_map(tf.float32, [MK.PREDICT])
    )
    np.testing.assert_allclose(
        _serve(export)["prediction"], _reference_predictions(trained), rtol=1e-6
    )


# 3. tf.train.Checkpoint as Scaffold.saver ------------------------------------------------------


def test_object_checkpoint_as_scaffold_saver_exports_with_parity(
    tmp_path, trained_object_checkpoint_regressor
):
    estimator = trained_object_checkpoint_regressor
    export = estimator_ext.export_all_saved_models(
        estimator, str(tmp_path / "exports"), data.receiver_map(tf.float32)
    )
    data.assert_predict_parity(estimator, export)
    data.assert_eval_parity(estimator, export, data.TARGET)
    data.assert_train_trains(export, data.TARGET)


# 4. a custom local_init_op that forgets tables_initializer() ------------------------------------


def test_tables_work_after_loading_despite_a_forgetful_local_init_op(tmp_path):
    vocabulary = tmp_path / "colors.txt"
    vocabulary.write_text("red\ngreen\nblue\n")
    reference = _custom(tmp_path, vocabulary_file=str(vocabulary))
    forgetful = tf.estimator.Estimator(
        data.make_model_fn(vocabulary_file=str(vocabulary), forget_table_init=True),
        model_dir=reference.model_dir,
    )
    export = estimator_ext.export_all_saved_models(
        forgetful, str(tmp_path / "exports"), data.receiver_map(tf.float32)
    )
    outputs = _serve(export)
    np.testing.assert_array_equal(
        outputs["color_id"].ravel(), [0, 1, 2, 0, 0, 1]
    )  # red green blue red red green
    np.testing.assert_allclose(outputs["prediction"], _reference_predictions(reference), rtol=1e-6)
    builtin = forgetful.experimental_export_all_saved_models(
        str(tmp_path / "builtin"), data.receiver_map(tf.float32, [MK.PREDICT])
    )
    with pytest.raises(tf.errors.FailedPreconditionError, match="Table not initialized"):
        _serve(builtin)  # what TF's exporter writes, for contrast


# 5. SparseTensor predictions and loss ----------------------------------------------------------


def test_sparse_outputs_are_left_out_with_a_warning(tmp_path, caplog, trained_custom_regressor):
    reference = trained_custom_regressor
    sparse = tf.estimator.Estimator(
        data.make_model_fn(sparse_prediction=True), model_dir=reference.model_dir
    )
    with caplog.at_level(logging.WARNING, logger="estimator_ext"):
        export = estimator_ext.export_all_saved_models(
            sparse, str(tmp_path / "exports"), data.receiver_map(tf.float32)
        )
    warnings = [record.getMessage() for record in caplog.records]
    assert any(
        "Leaving predictions sparse out of the 'infer'" in message for message in warnings
    ), warnings
    assert any("Leaving loss loss out of the 'eval'" in message for message in warnings), warnings
    signatures = {
        tuple(mg.meta_info_def.tags): mg.signature_def
        for mg in loader_impl.parse_saved_model(export).meta_graphs
    }
    assert "sparse" not in signatures[("serve",)]["serving_default"].outputs
    assert "loss" not in signatures[("eval",)]["eval"].outputs
    np.testing.assert_allclose(
        _serve(export)["prediction"], _reference_predictions(reference), rtol=1e-6
    )
    data.assert_eval_parity(reference, export, data.TARGET)
    with pytest.raises((TypeError, ValueError)):
        sparse.experimental_export_all_saved_models(
            str(tmp_path / "builtin"), data.receiver_map(tf.float32)
        )


# 6. a model_fn that mutates its features dict --------------------------------------------------


def test_mutating_model_fn_does_not_corrupt_receivers_or_other_modes(tmp_path):
    estimator = _custom(tmp_path, mutate_features=True)
    export = estimator_ext.export_all_saved_models(
        estimator, str(tmp_path / "exports"), data.receiver_map(tf.float32)
    )
    for meta_graph in loader_impl.parse_saved_model(export).meta_graphs:
        for signature in meta_graph.signature_def.values():
            assert {"x1", "x2", "color"} <= set(signature.inputs), meta_graph.meta_info_def.tags
    data.assert_predict_parity(estimator, export)
    data.assert_eval_parity(estimator, export, data.TARGET)
    data.assert_train_trains(export, data.TARGET)


# 7. exporting twice, and after training, in one process ----------------------------------------


def test_export_twice_and_after_training_in_one_process(tmp_path):
    estimator = _custom(tmp_path)
    receivers = data.receiver_map(tf.float32)
    first = estimator_ext.export_all_saved_models(estimator, str(tmp_path / "exports"), receivers)
    second = estimator_ext.export_all_saved_models(estimator, str(tmp_path / "exports"), receivers)
    estimator.train(data.input_fn(data.TARGET), steps=3)
    third = estimator_ext.export_all_saved_models(estimator, str(tmp_path / "exports"), receivers)
    assert len({first, second, third}) == 3
    data.assert_predict_parity(estimator, third)


def test_model_fn_that_registers_its_own_main_op(tmp_path, trained_custom_regressor):
    inner = data.make_model_fn()

    def model_fn(features, labels, mode):
        tf.compat.v1.add_to_collection(
            tf.compat.v1.saved_model.MAIN_OP_KEY, tf.no_op(name="users_main_op")
        )
        return inner(features, labels, mode)

    trained = trained_custom_regressor
    estimator = tf.estimator.Estimator(model_fn, model_dir=trained.model_dir)
    export = estimator_ext.export_all_saved_models(
        estimator, str(tmp_path / "exports"), data.receiver_map(tf.float32)
    )
    data.assert_predict_parity(trained, export)


# 8. TPUEstimator(use_tpu=False) on CPU ---------------------------------------------------------


def _tpu_model_fn(features, labels, mode, params):
    spec = data.make_model_fn()(features, labels, mode)
    eval_metrics = None
    if mode == MK.EVAL:
        eval_metrics = (
            lambda labels, prediction: {
                "rmse": tf.compat.v1.metrics.root_mean_squared_error(labels, prediction)
            },
            [labels, spec.predictions["prediction"]],
        )
    return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
        mode=mode,
        loss=spec.loss,
        train_op=spec.train_op,
        predictions=spec.predictions,
        eval_metrics=eval_metrics,
    )


def test_tpu_estimator_on_cpu_exports_all_three_modes(tmp_path):
    estimator = tf.compat.v1.estimator.tpu.TPUEstimator(
        model_fn=_tpu_model_fn,
        model_dir=str(tmp_path / "model"),
        use_tpu=False,
        train_batch_size=16,
        eval_batch_size=16,
        predict_batch_size=16,
        config=tf.compat.v1.estimator.tpu.RunConfig(),
    )
    estimator.train(lambda params: data.input_fn(data.TARGET)(), steps=3)
    export = estimator_ext.export_all_saved_models(
        estimator, str(tmp_path / "exports"), data.receiver_map(tf.float32)
    )
    assert list(export.keys()) == [MK.TRAIN, MK.EVAL, MK.PREDICT]
    rows = data.features_np(slice(0, 16))
    expected = list(
        estimator.predict(
            lambda params: tf.data.Dataset.from_tensor_slices(rows).batch(params["batch_size"])
        )
    )
    np.testing.assert_allclose(
        _serve(export, slice(0, 16))["prediction"],
        np.stack([row["prediction"] for row in expected]),
        rtol=1e-6,
    )
    data.assert_train_trains(export, data.TARGET)
    evaluated = estimator.evaluate(
        lambda params: data.eval_input_fn(data.TARGET, params["batch_size"])(), steps=4
    )
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        signature = tf.compat.v1.saved_model.loader.load(session, ["eval"], export).signature_def[
            "eval"
        ]

        def feeds(rows):
            columns = dict(data.features_np(rows), label=data.TARGET[rows])
            return {
                graph.get_tensor_by_name(signature.inputs[k].name): v for k, v in columns.items()
            }

        for start in range(0, 64, 16):
            session.run(
                graph.get_tensor_by_name(signature.outputs["metrics/rmse/update_op"].name),
                feeds(slice(start, start + 16)),
            )
        rmse = session.run(graph.get_tensor_by_name(signature.outputs["metrics/rmse/value"].name))
    np.testing.assert_allclose(rmse, evaluated["rmse"], rtol=1e-5)


# 9. Keras Metric objects next to tf.compat.v1.metrics ------------------------------------------


def test_keras_and_v1_metrics_together_in_eval(tmp_path):
    estimator = _custom(tmp_path, keras_metrics=True)
    export = estimator_ext.export_all_saved_models(
        estimator, str(tmp_path / "exports"), data.receiver_map(tf.float32)
    )
    compared = data.assert_eval_parity(estimator, export, data.TARGET)
    assert {"rmse", "keras_mae"} <= set(compared)


# an optimizer object reused across graphs -----------------------------------------------------


def test_used_optimizer_object_gets_a_clear_error_and_a_fresh_instance_exports(tmp_path):
    def classifier():
        return tf.estimator.LinearClassifier(
            data.feature_columns(),
            model_dir=str(tmp_path / "model"),
            optimizer=tf.keras.optimizers.legacy.Ftrl(0.5),
        )

    trained = classifier()
    trained.train(data.input_fn(), steps=2)
    with pytest.raises(
        ValueError, match="optimizer object already built its weights.*optimizer=lambda"
    ) as info:
        estimator_ext.export_all_saved_models(
            trained, str(tmp_path / "exports"), data.receiver_map()
        )
    assert not (tmp_path / "exports").exists()
    assert isinstance(info.value.__cause__, RuntimeError)
    export = estimator_ext.export_all_saved_models(
        classifier(), str(tmp_path / "exports"), data.receiver_map()
    )
    data.assert_predict_parity(trained, export)
