"""The receiver builders under the contract's names, and SupervisedInputReceiver made public."""

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from tests.support import data
from tests.support.data import MK


def test_supervised_input_receiver_is_public_and_is_tfs():
    from tensorflow_estimator.python.estimator.export import export_lib

    assert estimator_ext.SupervisedInputReceiver is export_lib.SupervisedInputReceiver


def test_raw_builder_accepts_tensor_specs_and_graph_tensors():
    with tf.Graph().as_default():
        from_specs = estimator_ext.build_raw_supervised_input_receiver_fn(
            data.FEATURE_SPECS,
            tf.TensorSpec([None, 1], tf.int64, name="label"),
            default_batch_size=4,
        )()
    assert sorted(from_specs.receiver_tensors) == ["color", "label", "x1", "x2"]
    assert from_specs.features["x1"].shape.as_list() == [4, 1]
    with tf.Graph().as_default():
        placeholder = tf.compat.v1.placeholder(tf.float32, [None, 3], name="dense")
        receiver = estimator_ext.build_raw_supervised_input_receiver_fn(placeholder, placeholder)
    with pytest.raises(ValueError, match="Features and labels must have distinct keys"):
        estimator_ext.build_raw_supervised_input_receiver_fn({"a": placeholder}, {"a": placeholder})
    assert callable(receiver)


def test_receiver_from_input_fn_exports_train_and_eval_with_parity(
    trained_linear_classifier, tmp_path
):
    estimator = trained_linear_classifier
    receiver_fn = estimator_ext.build_supervised_input_receiver_fn_from_input_fn(data.input_fn())
    export = estimator_ext.export_all_saved_models(
        estimator, str(tmp_path / "exports"), {MK.TRAIN: receiver_fn, MK.EVAL: receiver_fn}
    )
    assert list(export.keys()) == [MK.TRAIN, MK.EVAL]
    data.assert_eval_parity(estimator, export)
    data.assert_train_trains(export)


def test_receiver_from_input_fn_passes_arguments_and_rejects_non_callables():
    def input_fn(scale):
        return {"x": tf.constant([[1.0]]) * scale}, tf.constant([[1]])

    with tf.Graph().as_default():
        receiver = estimator_ext.build_supervised_input_receiver_fn_from_input_fn(
            input_fn, scale=2.0
        )()
    assert receiver.features["x"].dtype == tf.float32
    with pytest.raises(TypeError, match="`input_fn` must be a callable"):
        estimator_ext.build_supervised_input_receiver_fn_from_input_fn(np.zeros(3))
