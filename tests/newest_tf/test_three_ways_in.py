"""Parity through the three ways in, on every supported TensorFlow (2.16-2.21 included).

LinearClassifier, DNNClassifier, DNNLinearCombinedClassifier and a custom model_fn each train,
evaluate and predict, then export through the function, the mixin and ``patch()``; every
export's serve outputs equal ``estimator.predict``, its EVAL metrics equal ``evaluate`` and its
train op trains (tests/support/data.py's checks, as tests/export/test_export_canned.py uses
them for the function). BoostedTrees* are not in tensorflow-estimator 2.15.0: their error is
tested last.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from estimator_ext.patching import estimator_namespace
from tests.support import data


def _linear(model_dir, cls=None):
    cls = cls or tf.estimator.LinearClassifier
    return cls(data.feature_columns(), model_dir=model_dir)


def _dnn(model_dir, cls=None):
    cls = cls or tf.estimator.DNNClassifier
    return cls(
        [4], data.dense_feature_columns(), model_dir=model_dir, optimizer=data.dnn_optimizer()
    )


def _combined(model_dir, cls=None):
    cls = cls or tf.estimator.DNNLinearCombinedClassifier
    return cls(
        model_dir=model_dir,
        linear_feature_columns=data.feature_columns(),
        dnn_feature_columns=data.dense_feature_columns(),
        dnn_hidden_units=[4],
    )


def _custom(model_dir, cls=None):
    cls = cls or tf.estimator.Estimator
    return cls(data.make_model_fn(), model_dir=model_dir)


#: name -> (factory(model_dir, cls=None), the class it builds, labels, label dtype)
MODELS = {
    "linear": (_linear, lambda: tf.estimator.LinearClassifier, data.LABEL, tf.int64),
    "dnn": (_dnn, lambda: tf.estimator.DNNClassifier, data.LABEL, tf.int64),
    "combined": (
        _combined,
        lambda: tf.estimator.DNNLinearCombinedClassifier,
        data.LABEL,
        tf.int64,
    ),
    "custom": (_custom, lambda: tf.estimator.Estimator, data.TARGET, tf.float32),
}
WAYS_IN = ("function", "mixin", "patch")


def _export(way_in, name, estimator, export_dir_base, label_dtype):
    receivers = data.receiver_map(label_dtype)
    if way_in == "function":
        return estimator_ext.export_all_saved_models(estimator, export_dir_base, receivers)
    if way_in == "mixin":
        factory, base_class, _, _ = MODELS[name]
        mixin_class = type(f"Mixin{name}", (estimator_ext.MultiExportMixin, base_class()), {})
        with_mixin = factory(estimator.model_dir, mixin_class)  # same checkpoint
        return with_mixin.export_all_saved_models(export_dir_base, receivers)
    with estimator_ext.patched():
        return estimator.export_all_saved_models(export_dir_base, receivers)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """name -> (estimator trained 10 steps, labels); trained once per module."""
    cache = {}

    def get(name):
        if name not in cache:
            factory, _, labels, _ = MODELS[name]
            estimator = factory(str(tmp_path_factory.mktemp(name) / "model"))
            estimator.train(data.input_fn(labels), steps=10)
            cache[name] = estimator, labels
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(MODELS))
def test_it_trains_evaluates_and_predicts(name, trained):
    estimator, labels = trained(name)
    assert estimator.get_variable_value("global_step") == 10
    metrics = estimator.evaluate(data.eval_input_fn(labels))
    assert metrics["global_step"] == 10 and np.isfinite(metrics["loss"])
    assert len(data.estimator_predictions(estimator, slice(0, 4))) == 4


@pytest.mark.parametrize("way_in", WAYS_IN)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_way_in_exports_with_parity(name, way_in, trained, tmp_path):
    estimator, labels = trained(name)
    label_dtype = MODELS[name][3]
    export = _export(way_in, name, estimator, str(tmp_path / "exports"), label_dtype)
    assert sorted(export.keys()) == ["eval", "infer", "train"]
    data.assert_predict_parity(estimator, export)
    assert data.assert_eval_parity(estimator, export, labels)
    data.assert_train_trains(export, labels)


def test_boosted_trees_raise_saying_where_they_went():
    """tensorflow-estimator 2.15.0 has no BoostedTrees*: missing on TensorFlow 2.15 too."""
    assert not hasattr(tf.estimator, "BoostedTreesClassifier")
    for namespace in estimator_namespace.build_estimator_namespaces().values():
        with pytest.raises(AttributeError, match="BoostedTreesClassifier does not exist") as info:
            namespace.BoostedTreesClassifier  # noqa: B018
        assert "TensorFlow Decision Forests" in str(info.value)
        assert "missing on TensorFlow 2.15 as well" in str(info.value)
