"""Every error of issue 2 item 8: the message names the argument and the fix, and
``export_dir_base`` holds nothing new afterwards (it is not even created)."""

import re

import pytest
import tensorflow as tf

import estimator_ext
from tests.support import data
from tests.support.data import MK


@pytest.fixture
def export_base(tmp_path):
    """A base that exists with one unrelated file: afterwards it must hold exactly that."""
    base = tmp_path / "exports"
    base.mkdir()
    (base / "keep.txt").write_text("not ours")
    yield str(base)
    assert data.listing(str(base)) == ["keep.txt"]


def expect(error, pattern, call):
    with pytest.raises(error, match=pattern) as info:
        call()
    return str(info.value)


def test_empty_map(trained_linear_classifier, export_base):
    expect(
        ValueError,
        "input_receiver_fn_map is empty",
        lambda: estimator_ext.export_all_saved_models(trained_linear_classifier, export_base, {}),
    )


def test_none_receiver_names_the_mode(trained_linear_classifier, export_base):
    receivers = dict(data.receiver_map(), **{MK.EVAL: None})
    message = expect(
        ValueError,
        re.escape("input_receiver_fn_map['eval'] (ModeKeys.EVAL) is None"),
        lambda: estimator_ext.export_all_saved_models(
            trained_linear_classifier, export_base, receivers
        ),
    )
    assert "leave the key out" in message


@pytest.mark.parametrize(
    "key, meant",
    [
        ("predict", "ModeKeys.PREDICT"),
        ("serve", "ModeKeys.PREDICT"),
        ("training", "ModeKeys.TRAIN"),
        ("evaluate", "ModeKeys.EVAL"),
    ],
)
def test_near_miss_keys_name_the_mode_meant(trained_linear_classifier, export_base, key, meant):
    receivers = {key: data.receiver_map()[MK.PREDICT]}
    message = expect(
        ValueError,
        f"has key '{key}', which is not a tf.estimator.ModeKeys value",
        lambda: estimator_ext.export_all_saved_models(
            trained_linear_classifier, export_base, receivers
        ),
    )
    assert f"Did you mean {meant}" in message


def test_unknown_key(trained_linear_classifier, export_base):
    receivers = {
        "bogus": data.receiver_map()[MK.PREDICT],
        MK.PREDICT: data.receiver_map()[MK.PREDICT],
    }
    message = expect(
        ValueError,
        "has key 'bogus'",
        lambda: estimator_ext.export_all_saved_models(
            trained_linear_classifier, export_base, receivers
        ),
    )
    assert (
        "Valid keys: ModeKeys.TRAIN ('train'), ModeKeys.EVAL ('eval'), ModeKeys.PREDICT ('infer')"
        in message
    )


def test_no_checkpoint_says_where_it_looked(tmp_path, export_base):
    model_dir = str(tmp_path / "untrained")
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)
    message = expect(
        ValueError,
        "No checkpoint found",
        lambda: estimator_ext.export_all_saved_models(estimator, export_base, data.receiver_map()),
    )
    assert model_dir in message and "checkpoint_path=" in message


def test_missing_checkpoint_path(trained_linear_classifier, export_base, tmp_path):
    missing = str(tmp_path / "model.ckpt-999")
    message = expect(
        ValueError,
        re.escape(f"checkpoint_path={missing!r} does not exist"),
        lambda: estimator_ext.export_all_saved_models(
            trained_linear_classifier, export_base, data.receiver_map(), checkpoint_path=missing
        ),
    )
    assert "without '.index'" in message


def test_checkpoint_path_directory_without_checkpoint(
    trained_linear_classifier, export_base, tmp_path
):
    empty = tmp_path / "empty"
    empty.mkdir()
    expect(
        ValueError,
        "is a directory with no checkpoint in it",
        lambda: estimator_ext.export_all_saved_models(
            trained_linear_classifier,
            export_base,
            data.receiver_map(),
            checkpoint_path=str(empty),
        ),
    )


def test_not_an_estimator_is_a_type_error(export_base):
    expect(
        TypeError,
        "`estimator` must be a tf.estimator.Estimator.*received Sequential",
        lambda: estimator_ext.export_all_saved_models(
            tf.keras.Sequential(), export_base, data.receiver_map()
        ),
    )


def test_mode_without_loss(tmp_path, export_base):
    def predict_only_model_fn(features, labels, mode):
        # Ignores the mode it is asked for: always a PREDICT spec, so TRAIN/EVAL get no loss.
        prediction = tf.compat.v1.layers.dense(features["x1"], 1)
        return tf.estimator.EstimatorSpec(MK.PREDICT, predictions={"y": prediction})

    estimator = _trained_from(tmp_path, data.make_model_fn(), predict_only_model_fn)
    expect(
        ValueError,
        re.escape("The model_fn returned no loss in 'eval' (ModeKeys.EVAL) mode"),
        lambda: estimator_ext.export_all_saved_models(
            estimator, export_base, data.receiver_map(tf.float32, [MK.EVAL, MK.PREDICT])
        ),
    )


def test_predict_without_outputs(tmp_path, export_base):
    def empty_predictions_model_fn(features, labels, mode):
        tf.compat.v1.get_variable("bias", shape=[1])
        tf.compat.v1.get_variable("weights", shape=[2, 1])
        return tf.estimator.EstimatorSpec(mode, predictions={})

    estimator = _trained_from(tmp_path, data.make_model_fn(), empty_predictions_model_fn)
    expect(
        ValueError,
        re.escape(
            "The model_fn returned no outputs that can be served in 'infer' (ModeKeys.PREDICT) mode"
        ),
        lambda: estimator_ext.export_all_saved_models(
            estimator, export_base, data.receiver_map(tf.float32, [MK.PREDICT])
        ),
    )


@pytest.mark.parametrize(
    "modes", [(MK.TRAIN, MK.PREDICT), (MK.PREDICT,)], ids=["checked", "saving"]
)
def test_variables_missing_from_checkpoint_are_listed(tmp_path, export_base, modes):
    estimator = _trained_from(
        tmp_path, data.make_model_fn(), data.make_model_fn(extra_predict_variable=True)
    )
    message = expect(
        ValueError,
        re.escape(
            "The 'infer' (ModeKeys.PREDICT) graph needs variables the checkpoint cannot supply"
        ),
        lambda: estimator_ext.export_all_saved_models(
            estimator, export_base, data.receiver_map(tf.float32, modes)
        ),
    )
    assert "only_in_predict" in message


def test_supervised_mode_with_a_receiver_without_labels(trained_linear_classifier, export_base):
    receivers = {MK.TRAIN: data.receiver_map()[MK.PREDICT]}
    message = expect(
        ValueError,
        re.escape(
            "input_receiver_fn_map['train'] (ModeKeys.TRAIN) returned a receiver without labels"
        ),
        lambda: estimator_ext.export_all_saved_models(
            trained_linear_classifier, export_base, receivers
        ),
    )
    assert "build_raw_supervised_input_receiver_fn" in message


def test_receiver_returning_the_wrong_type(trained_linear_classifier, export_base):
    receivers = {MK.PREDICT: lambda: {"x1": 1.0}}
    expect(
        TypeError,
        re.escape(
            "input_receiver_fn_map['infer'] (ModeKeys.PREDICT) returned dict, "
            "expected an input receiver"
        ),
        lambda: estimator_ext.export_all_saved_models(
            trained_linear_classifier, export_base, receivers
        ),
    )


def test_nothing_created_when_the_base_did_not_exist(trained_linear_classifier, tmp_path):
    base = tmp_path / "new" / "nested" / "exports"
    receivers = dict(data.receiver_map(), **{MK.EVAL: lambda: 42})
    with pytest.raises(TypeError):
        estimator_ext.export_all_saved_models(trained_linear_classifier, str(base), receivers)
    assert not (tmp_path / "new").exists()


def _trained_from(tmp_path, train_model_fn, export_model_fn):
    """An estimator whose checkpoint comes from ``train_model_fn`` and graphs from
    ``export_model_fn``."""
    model_dir = str(tmp_path / "model")
    tf.estimator.Estimator(train_model_fn, model_dir=model_dir).train(
        data.input_fn(data.TARGET), steps=2
    )
    return tf.estimator.Estimator(export_model_fn, model_dir=model_dir)
