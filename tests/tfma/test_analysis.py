"""TFMA 0.46.0 analyses estimator_ext's exports, and its numbers are ``estimator.evaluate``'s.

Each case exports with ``estimator_ext.export_all_saved_models(estimator, base,
{EVAL: <a TFMA receiver>, PREDICT: <a serving receiver>, ...})``, then runs
``tfma.run_model_analysis`` over a TFRecord of tf.Examples with the export as an
EvalSavedModel, overall and sliced by ``color``. Every metric of the model's
``eval_metric_ops`` and head must equal ``estimator.evaluate`` on the same rows (all rows,
then each color's rows), and no metric may be missing on either side; ``loss`` and
``global_step``, which evaluate adds and TFMA cannot see, are left out.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Callable

import pytest
import tensorflow as tf

import estimator_ext
from tests.support import tfma_models as models
from tests.support import tfma_support
from tests.support.tfma_support import MK


@pytest.fixture(scope="module")
def custom_estimator(tmp_path_factory: pytest.TempPathFactory) -> tf.estimator.Estimator:
    """Trained once with dict labels; the labels=None cases export the same checkpoint."""
    model_dir = os.fspath(tmp_path_factory.mktemp("custom") / "model")
    return tfma_support.train(models.custom_estimator(model_dir), "dict")


def _export(
    estimator: tf.estimator.Estimator,
    base: str,
    eval_receiver_fn: Callable[[], Any],
    with_train: bool = False,
) -> str:
    receiver_fn_map = {MK.EVAL: eval_receiver_fn, MK.PREDICT: tfma_support.serving_receiver_fn()}
    if with_train:
        receiver_fn_map[MK.TRAIN] = estimator_ext.build_raw_supervised_input_receiver_fn(
            tfma_support.data.FEATURE_SPECS, tf.TensorSpec([None, 1], tf.int64, name="flag")
        )
    export_dir = estimator_ext.export_all_saved_models(estimator, base, receiver_fn_map)
    assert sorted(os.listdir(base)) == [os.path.basename(export_dir)]
    return os.fspath(export_dir)


def test_canned_classifier_with_tfma_parsing_receiver(
    tmp_path: pathlib.Path,
    data_path: str,
) -> None:
    estimator = tfma_support.train(models.linear_classifier(os.fspath(tmp_path / "model")), "flag")
    receiver_fn = tfma_support.parsing_eval_receiver_fn(label_key="flag")
    export_dir = _export(estimator, os.fspath(tmp_path / "export"), receiver_fn, with_train=True)

    by_slice = tfma_support.assert_tfma_matches_evaluate(
        estimator, "flag", export_dir, data_path, os.fspath(tmp_path / "tfma")
    )
    # The head's metrics are all there, and not trivially perfect on these noisy labels.
    assert {"accuracy", "auc", "precision", "recall", "average_loss", "label/mean"} <= set(
        by_slice[()]
    )
    assert 0.5 < by_slice[()]["accuracy"] < 1.0


def test_canned_regressor_with_tfma_parsing_receiver(
    tmp_path: pathlib.Path,
    data_path: str,
) -> None:
    estimator = tfma_support.train(models.linear_regressor(os.fspath(tmp_path / "model")), "target")
    receiver_fn = tfma_support.parsing_eval_receiver_fn(label_key="target")
    export_dir = _export(estimator, os.fspath(tmp_path / "export"), receiver_fn)

    by_slice = tfma_support.assert_tfma_matches_evaluate(
        estimator, "target", export_dir, data_path, os.fspath(tmp_path / "tfma")
    )
    assert {"average_loss", "label/mean", "prediction/mean"} <= set(by_slice[()])


def test_custom_model_fn_with_hand_built_receiver_and_dict_labels(
    tmp_path: pathlib.Path,
    data_path: str,
    custom_estimator: tf.estimator.Estimator,
) -> None:
    receiver_fn = tfma_support.hand_built_eval_receiver_fn(with_labels=True)
    export_dir = _export(custom_estimator, os.fspath(tmp_path / "export"), receiver_fn)

    by_slice = tfma_support.assert_tfma_matches_evaluate(
        custom_estimator, "dict", export_dir, data_path, os.fspath(tmp_path / "tfma")
    )
    assert sorted(by_slice[()]) == ["flag_accuracy", "flag_auc", "mae", "mean_score", "rmse"]


@pytest.mark.parametrize("receiver", ["tfma_parsing", "hand_built"])
def test_labels_none_where_the_model_allows_it(
    tmp_path: pathlib.Path,
    data_path: str,
    custom_estimator: tf.estimator.Estimator,
    receiver: str,
) -> None:
    if receiver == "tfma_parsing":
        receiver_fn = tfma_support.parsing_eval_receiver_fn(label_key=None)
    else:
        receiver_fn = tfma_support.hand_built_eval_receiver_fn(with_labels=False)
    export_dir = _export(custom_estimator, os.fspath(tmp_path / "export"), receiver_fn)

    by_slice = tfma_support.assert_tfma_matches_evaluate(
        custom_estimator, "none", export_dir, data_path, os.fspath(tmp_path / "tfma")
    )
    assert sorted(by_slice[()]) == ["mean_probability", "mean_score"]
