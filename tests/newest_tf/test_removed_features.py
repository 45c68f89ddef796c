"""What the stand-ins support on CPU, and the clear errors for what they cannot.

The stand-in functions are plain Python, so their contracts are tested on every TensorFlow;
on 2.16+ the same paths are also reached through tensorflow-estimator's own entry points
(``RunConfig``, ``train_and_evaluate``, TPUEstimator's private imports).
"""

from __future__ import annotations

import importlib
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from estimator_ext._tf_private import module_paths, removed_modules
from estimator_ext._tf_private.removed_modules import RemovedFeatureError
from tests.newest_tf.support import only_newest
from tests.support import data


def _stand_in(module_name: str) -> dict:
    return removed_modules.NAMES_BY_MODULE[module_name](module_name)


def _assert_names_the_feature_and_tensorflow_2_15(error: BaseException, feature: str) -> None:
    message = str(error)
    assert feature in message and "TensorFlow 2.15 is the last TensorFlow that has it" in message
    assert "pip install 'estimator-ext[cpu]'" in message


@pytest.mark.parametrize(
    "name", ["AdagradParameters", "FeatureConfig", "TableConfig", "TPUEmbedding"]
)
def test_tpu_embedding_classes_refuse_to_be_built(name):
    stand_in = _stand_in(module_paths.TPU_EMBEDDING_MODULE)
    with pytest.raises(RemovedFeatureError) as info:
        stand_in[name](0.1)
    _assert_names_the_feature_and_tensorflow_2_15(info.value, "TPUEstimator's TPU embedding")
    assert f"{module_paths.TPU_EMBEDDING_MODULE}.{name}" in str(info.value)
    with pytest.raises(RemovedFeatureError, match="EnqueueData.from_sparse_tensor"):
        stand_in["EnqueueData"].from_sparse_tensor(None)


def test_tpu_embedding_gradient_and_session_support_raise_naming_their_feature():
    gradient = _stand_in(module_paths.TPU_EMBEDDING_GRADIENT_MODULE)
    with pytest.raises(RemovedFeatureError) as info:
        gradient["create_dummy_table_variables"](None)
    _assert_names_the_feature_and_tensorflow_2_15(info.value, "TPUEstimator's TPU embedding")
    support = _stand_in(module_paths.TPU_SESSION_SUPPORT_MODULE)
    for call in (
        lambda: support["start_worker_watchdog"](None, shutdown_timeout=10),
        lambda: support["GracefulShutdownHook"]("ckpt", on_shutdown_hooks=[]),
        support["ResetComputation"],
    ):
        with pytest.raises(RemovedFeatureError) as info:
            call()
        _assert_names_the_feature_and_tensorflow_2_15(info.value, "worker watchdog")
        assert "TF_TPU_GRACEFUL_SHUTDOWN_MODE" in str(info.value)


def test_the_distribute_coordinator_entry_points_raise_and_plain_configs_do_not_use_it():
    stand_in = _stand_in(module_paths.DISTRIBUTE_COORDINATOR_MODULE)
    config = tf.compat.v1.estimator.RunConfig()
    assert stand_in["should_run_distribute_coordinator"](config) is False
    for name in ("train_and_evaluate", "estimator_train", "estimator_evaluate"):
        with pytest.raises(RemovedFeatureError) as info:
            stand_in[name](None, None, None)
        _assert_names_the_feature_and_tensorflow_2_15(info.value, "distribute-coordinator mode")


# --- through tensorflow-estimator's own entry points, on TensorFlow 2.16+ ---


@pytest.fixture
def tf_config_env(monkeypatch):
    def set_cluster(cluster, task):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))

    monkeypatch.delenv("TF_CONFIG", raising=False)
    return set_cluster


@only_newest
def test_a_strategy_on_one_machine_trains_evaluates_and_exports(tmp_path, tf_config_env):
    """RunConfig(train_distribute=...) runs the stand-in's init_run_config: local setup."""
    import estimator_ext

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    config = tf.estimator.RunConfig(train_distribute=strategy, eval_distribute=strategy)
    assert config.train_distribute is strategy and config.cluster_spec.as_dict() == {}
    estimator = tf.estimator.Estimator(
        data.make_model_fn(), model_dir=str(tmp_path / "model"), config=config
    )

    def dataset_fn():  # a strategy needs a Dataset, not tensors
        return tf.data.Dataset.from_tensor_slices((data.features_np(), data.TARGET)).batch(16)

    estimator.train(lambda: dataset_fn().repeat(), steps=3)
    assert estimator.get_variable_value("global_step") == 3
    assert estimator.evaluate(dataset_fn, steps=1)["global_step"] == 3
    export = estimator_ext.export_all_saved_models(
        tf.estimator.Estimator(data.make_model_fn(), model_dir=str(tmp_path / "model")),
        str(tmp_path / "exports"),
        data.receiver_map(tf.float32),
    )
    assert sorted(export.keys()) == ["eval", "infer", "train"]


@only_newest
def test_a_strategy_over_a_cluster_raises_naming_the_coordinator(tmp_path, tf_config_env):
    tf_config_env({"worker": ["localhost:1", "localhost:2"]}, {"type": "worker", "index": 0})
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with pytest.raises(RemovedFeatureError) as info:
        tf.estimator.RunConfig(train_distribute=strategy, model_dir=str(tmp_path / "model"))
    _assert_names_the_feature_and_tensorflow_2_15(info.value, "distribute-coordinator mode")
    assert os.listdir(tmp_path) == []  # nothing written


@only_newest
def test_plain_train_and_evaluate_takes_the_non_coordinator_path(tmp_path, tf_config_env):
    estimator = tf.estimator.Estimator(data.make_model_fn(), model_dir=str(tmp_path / "model"))
    train_spec = tf.estimator.TrainSpec(data.input_fn(data.TARGET), max_steps=4)
    eval_spec = tf.estimator.EvalSpec(
        data.eval_input_fn(data.TARGET), steps=1, throttle_secs=0, start_delay_secs=0
    )
    metrics, _ = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    assert metrics["global_step"] == 4 and np.isfinite(metrics["loss"])


@only_newest
def test_tpu_estimator_modules_import_and_their_embedding_classes_refuse():
    """Legacy code importing the deleted module gets the stand-in and a clear error."""
    tpu_embedding = importlib.import_module(module_paths.TPU_EMBEDDING_MODULE)
    with pytest.raises(RemovedFeatureError) as info:
        tpu_embedding.AdagradParameters(learning_rate=0.1)
    _assert_names_the_feature_and_tensorflow_2_15(info.value, "TPUEstimator's TPU embedding")
    assert tf.compat.v1.estimator.tpu.TPUEstimator  # the module imports
