"""``patch(builtin=True)`` keeps TF's messages: where TF 2.15's own
``Estimator.experimental_export_all_saved_models`` raises, ours raises the same class, and
its message starts with TF's leading sentence, with our detail after it.

Each case first runs TF's own (unpatched) method, to prove the sentence is TF's and to get
its class, then ours through the patch; ours must also leave nothing on disk (TF leaves
``temp-*`` in some of them). The function and the method keep their own wording.
"""

from __future__ import annotations

import os
import re

import pytest
import tensorflow as tf

import estimator_ext
from tests.support import data
from tests.support.data import MK

# Each test patches inside ``with estimator_ext.patched(builtin=True)``.
BUILTIN = "experimental_export_all_saved_models"


def tf_failure(call):
    """The exception TF's own (unpatched) method raises for ``call``."""
    assert not estimator_ext.patching.is_patched()
    with pytest.raises(Exception) as raised:
        call()
    return raised.value


def our_failure(call):
    with estimator_ext.patched(builtin=True), pytest.raises(Exception) as raised:
        call()
    return raised.value


def assert_same_case(theirs, ours, leading_sentence, detail):
    """Same class, ``leading_sentence`` first in both, then our ``detail`` (a regex)."""
    assert type(ours) is type(theirs), (type(theirs), ours)
    assert str(theirs).startswith(leading_sentence), str(theirs)
    assert str(ours).startswith(leading_sentence), str(ours)
    assert re.search(detail, str(ours)[len(leading_sentence) :]), str(ours)


def entries(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


# --- a variable in one mode only: TF's own test, called through the builtin route -------------


def _model_fn_with_predict_only_vars(features, labels, mode):
    """As in TF's test_export_all_saved_models_var_not_found: PREDICT has its own variable."""
    del features, labels
    if mode == MK.PREDICT:
        tf.Variable(1.0, name="only_in_predict")
    else:
        tf.Variable(1.0, name="otherwise")
    prediction = tf.constant(1.0)
    return tf.estimator.EstimatorSpec(
        mode,
        predictions=prediction,
        loss=tf.constant(1.0),
        train_op=tf.compat.v1.assign_add(tf.compat.v1.train.get_global_step(), 1),
        export_outputs={"test": tf.estimator.export.PredictOutput({"prediction": prediction})},
    )


def _x_y_input_fn():
    features = {"x": tf.constant([[1.0], [2.0]]), "y": tf.constant([[3.0], [4.0]])}
    return features, tf.constant([[1.0], [0.0]])


def _supervised_receiver_fn():
    features = {
        "x": tf.compat.v1.placeholder(tf.float32, [None, 1], name="x"),
        "y": tf.compat.v1.placeholder(tf.float32, [None, 1], name="y"),
    }
    labels = tf.compat.v1.placeholder(tf.float32, [None, 1], name="labels")
    return estimator_ext.SupervisedInputReceiver(features, labels, dict(features, labels=labels))


def _serving_receiver_fn():
    features = {
        "x": tf.compat.v1.placeholder(tf.float32, [None, 1], name="x"),
        "y": tf.compat.v1.placeholder(tf.float32, [None, 1], name="y"),
    }
    return tf.estimator.export.ServingInputReceiver(features, features)


def test_tf_own_var_not_found_test_passes_through_the_builtin_route(tmp_path):
    receivers = {
        MK.TRAIN: _supervised_receiver_fn,
        MK.EVAL: _supervised_receiver_fn,
        MK.PREDICT: _serving_receiver_fn,
    }
    estimator = tf.estimator.Estimator(
        model_fn=_model_fn_with_predict_only_vars, model_dir=str(tmp_path / "model")
    )
    estimator.train(input_fn=_x_y_input_fn, steps=1)
    their_base = os.path.join(os.fsencode(tmp_path), b"tf")  # bytes, as in TF's test
    our_base = os.path.join(os.fsencode(tmp_path), b"ours")
    err_regex = r"Could not load all requested variables[\w\W]*infer"  # TF's test's own regex

    theirs = tf_failure(
        lambda: estimator.experimental_export_all_saved_models(their_base, receivers)
    )
    with estimator_ext.patched(builtin=True):
        with pytest.raises(ValueError, match=err_regex) as raised:
            estimator.experimental_export_all_saved_models(our_base, receivers)
    assert_same_case(
        theirs,
        raised.value,
        "Could not load all requested variables from checkpoint.",
        r"'infer' \(ModeKeys.PREDICT\) graph needs variables .*only_in_predict",
    )
    assert entries(our_base) == []
    # The function keeps its own wording.
    with pytest.raises(ValueError) as raised:
        estimator_ext.export_all_saved_models(estimator, our_base, receivers)
    assert str(raised.value).startswith("The 'infer' (ModeKeys.PREDICT) graph needs variables")


# --- no checkpoint, and a checkpoint that is not one --------------------------------------------


def test_no_checkpoint(tmp_path):
    model_dir = str(tmp_path / "never_trained")
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)
    receivers = data.receiver_map()
    their_base, our_base = str(tmp_path / "tf"), str(tmp_path / "ours")
    theirs = tf_failure(
        lambda: estimator.experimental_export_all_saved_models(their_base, receivers)
    )
    ours = our_failure(lambda: estimator.experimental_export_all_saved_models(our_base, receivers))
    assert_same_case(
        theirs,
        ours,
        f"Couldn't find trained model at {model_dir}.",
        rf"^ {BUILTIN}: No checkpoint found to export: model_dir .* has none",
    )
    assert not os.path.exists(our_base)
    # The function keeps its own wording (and names itself).
    with pytest.raises(ValueError, match=r"^export_all_saved_models: No checkpoint found"):
        estimator_ext.export_all_saved_models(estimator, our_base, receivers)


def test_a_checkpoint_path_that_is_no_checkpoint(trained_linear_classifier, tmp_path):
    estimator = trained_linear_classifier
    missing = str(tmp_path / "model.ckpt-12345")
    receivers = data.receiver_map()
    their_base, our_base = str(tmp_path / "tf"), str(tmp_path / "ours")
    theirs = tf_failure(
        lambda: estimator.experimental_export_all_saved_models(
            their_base, receivers, checkpoint_path=missing
        )
    )
    ours = our_failure(
        lambda: estimator.experimental_export_all_saved_models(
            our_base, receivers, checkpoint_path=missing
        )
    )
    assert_same_case(
        theirs,
        ours,
        f"The passed save_path is not a valid checkpoint: {missing}",
        rf"^\. {BUILTIN}: checkpoint_path=.* does not exist",
    )
    assert not os.path.exists(our_base)


# --- a map with no usable mode --------------------------------------------------------------


@pytest.mark.parametrize(
    "receiver_fn_map, detail",
    [
        (
            {MK.EVAL: None, MK.PREDICT: None},
            r"every receiver fn in input_receiver_fn_map is None \(keys \['eval', 'infer'\]\)",
        ),
        ({}, r"input_receiver_fn_map is empty: nothing to export"),
        (
            {"predict": data.parsing_serving_receiver_fn(), MK.TRAIN: None},
            r"has key 'predict', which is not a tf.estimator.ModeKeys value\. "
            r"Did you mean ModeKeys.PREDICT",
        ),
    ],
    ids=["all-none", "empty", "unknown-key"],
)
def test_no_usable_mode(trained_linear_classifier, tmp_path, receiver_fn_map, detail):
    estimator = trained_linear_classifier
    their_base, our_base = str(tmp_path / "tf"), str(tmp_path / "ours")
    theirs = tf_failure(
        lambda: estimator.experimental_export_all_saved_models(their_base, receiver_fn_map)
    )
    ours = our_failure(
        lambda: estimator.experimental_export_all_saved_models(our_base, receiver_fn_map)
    )
    assert_same_case(
        theirs,
        ours,
        f"No valid modes for exporting found. Got {receiver_fn_map.keys()}.",
        rf"^ {BUILTIN}: .*{detail}",
    )
    assert not os.path.exists(our_base)


def test_a_map_with_one_usable_mode_and_a_bad_key_is_still_our_plain_error(
    trained_linear_classifier, tmp_path
):
    """TF exports the usable mode and ignores the bad key; ours refuses it, in its own words."""
    receivers = {
        MK.PREDICT: data.parsing_serving_receiver_fn(),
        "training": data.receiver_map(modes=[MK.TRAIN])[MK.TRAIN],
    }
    base = str(tmp_path / "ours")
    ours = our_failure(
        lambda: trained_linear_classifier.experimental_export_all_saved_models(base, receivers)
    )
    assert type(ours) is ValueError
    assert str(ours).startswith(f"{BUILTIN}: input_receiver_fn_map has key 'training'")
    assert not os.path.exists(base)
