"""``patch(builtin=True)``: TF's ``Estimator.experimental_export_all_saved_models`` runs through us.

Real TensorFlow throughout: a canned LinearClassifier is trained once; the same call is made
to TF's own (unpatched) method and to the patched one, and the two SavedModels are read back
with TF's loader. Routing is proven by behaviour, not by a marker: a failing export leaves
``temp-*`` behind with TF's method and nothing with ours.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import estimator_ext
from estimator_ext import patching
from estimator_ext._tf_private import module_paths
from tests.support import data
from tests.support.data import MK

# Tests here patch on purpose; tests/conftest.py's never_leave_patched unpatches after each.
pytestmark = pytest.mark.patches

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBPROCESS_TIMEOUT = 240
BUILTIN = "experimental_export_all_saved_models"
ESTIMATOR_BASE = tf.compat.v1.estimator.Estimator  # the class that defines BUILTIN
TF_METHOD = ESTIMATOR_BASE.__dict__[BUILTIN]


@pytest.fixture
def trained_dir(trained_linear_classifier):
    """The shared trained LinearClassifier's model_dir (tests/conftest.py); read-only."""
    return trained_linear_classifier.model_dir


def classifier(model_dir):
    return tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)


def tfma_like_map():
    """What TFMA's export_eval_savedmodel passes: EVAL, PREDICT, and a None entry."""
    supervised = data.receiver_map(modes=[MK.EVAL])[MK.EVAL]
    return {MK.TRAIN: None, MK.EVAL: supervised, MK.PREDICT: data.parsing_serving_receiver_fn()}


def read_saved_model(export_dir):
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as proto:
        saved_model.ParseFromString(proto.read())
    return saved_model


def describe(export_dir):
    """tags -> signature key -> (method name, input keys, output keys)."""
    described = {}
    for meta_graph in read_saved_model(export_dir).meta_graphs:
        described[tuple(sorted(meta_graph.meta_info_def.tags))] = {
            key: (signature.method_name, sorted(signature.inputs), sorted(signature.outputs))
            for key, signature in meta_graph.signature_def.items()
        }
    return described


def variable_names(export_dir):
    prefix = os.path.join(export_dir, "variables", "variables")
    return sorted(name for name, _ in tf.train.list_variables(prefix))


def leftovers(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def test_patched_builtin_matches_tf_own_export(trained_dir, tmp_path):
    estimator = classifier(trained_dir)
    theirs = estimator.experimental_export_all_saved_models(str(tmp_path / "tf"), tfma_like_map())
    record = estimator_ext.patch(builtin=True)
    assert patching.BUILTIN_METHOD_NAME == BUILTIN
    assert f"tf.compat.v1.estimator.Estimator.{BUILTIN}" in record
    ours = estimator.experimental_export_all_saved_models(str(tmp_path / "ours"), tfma_like_map())

    assert type(theirs) is bytes and type(ours) is bytes
    their_dir, our_dir = theirs.decode(), ours.decode()
    assert os.path.dirname(our_dir) == str(tmp_path / "ours")
    # The None TRAIN entry is skipped by both: EVAL and PREDICT only, with TF's signatures.
    assert sorted(describe(our_dir)) == [("eval",), ("serve",)]
    assert describe(our_dir) == describe(their_dir)
    assert variable_names(our_dir) == variable_names(their_dir)
    # TF strips default attributes on this path; so do we.
    assert read_saved_model(our_dir).meta_graphs[0].meta_info_def.stripped_default_attrs
    data.assert_eval_parity(estimator, our_dir)
    got = data.run_signature(
        our_dir, ["serve"], "predict", {"examples": data.serialized_examples(slice(0, 8))}
    )
    want = data.estimator_predictions(estimator, slice(0, 8))
    np.testing.assert_allclose(
        got["probabilities"], np.stack([row["probabilities"] for row in want]), rtol=1e-5
    )


def test_every_mode_and_keyword_arguments_and_the_class_call(trained_dir, tmp_path):
    estimator = classifier(trained_dir)
    receivers = dict(
        data.receiver_map(modes=[MK.TRAIN, MK.EVAL]),
        **{MK.PREDICT: data.parsing_serving_receiver_fn()},
    )
    theirs = estimator.experimental_export_all_saved_models(
        export_dir_base=str(tmp_path / "tf"), input_receiver_fn_map=receivers
    )
    with estimator_ext.patched(builtin=True):
        ours = tf.estimator.Estimator.experimental_export_all_saved_models(
            estimator,
            export_dir_base=str(tmp_path / "ours"),
            input_receiver_fn_map=receivers,
            checkpoint_path=estimator.latest_checkpoint(),
            as_text=False,
        )
    assert type(ours) is bytes
    assert describe(ours.decode()) == describe(theirs.decode())
    assert sorted(describe(ours.decode())) == [("eval",), ("serve",), ("train",)]
    data.assert_train_trains(ours.decode())


def test_a_failing_export_leaves_nothing_where_tf_leaves_temp(trained_dir, tmp_path):
    estimator = classifier(trained_dir)
    missing = str(tmp_path / "missing.txt")
    their_base, our_base = str(tmp_path / "tf"), str(tmp_path / "ours")
    with pytest.raises(tf.errors.NotFoundError):
        estimator.experimental_export_all_saved_models(
            their_base, tfma_like_map(), assets_extra={"notes.txt": missing}
        )
    assert [name for name in leftovers(their_base) if name.startswith("temp-")], (
        "TF's own method no longer leaves temp-* behind: this test cannot tell them apart"
    )

    does_not_exist = r"assets_extra\['notes.txt'\] = .*does not exist"
    with estimator_ext.patched(builtin=True), pytest.raises(ValueError, match=does_not_exist):
        estimator.experimental_export_all_saved_models(
            our_base, tfma_like_map(), assets_extra={"notes.txt": missing}
        )
    assert leftovers(our_base) == []


def test_a_failure_in_the_middle_leaves_nothing(trained_dir, tmp_path):
    """A receiver that fails after the first mode's variables are written: nothing remains."""

    def broken_serving_receiver():
        raise RuntimeError("serving receiver broke")

    receivers = {
        MK.EVAL: data.receiver_map(modes=[MK.EVAL])[MK.EVAL],
        MK.PREDICT: broken_serving_receiver,
    }
    estimator = classifier(trained_dir)
    with pytest.raises(RuntimeError, match="serving receiver broke"):
        estimator.experimental_export_all_saved_models(str(tmp_path / "tf"), receivers)
    assert [name for name in leftovers(str(tmp_path / "tf")) if name.startswith("temp-")]
    with estimator_ext.patched(builtin=True), pytest.raises(RuntimeError, match="receiver broke"):
        estimator.experimental_export_all_saved_models(str(tmp_path / "ours"), receivers)
    assert leftovers(str(tmp_path / "ours")) == []


def test_a_map_of_only_none_is_refused_and_leaves_nothing(trained_dir, tmp_path):
    base = str(tmp_path / "ours")
    all_none = r"every receiver fn in input_receiver_fn_map is None \(keys \['eval', 'infer'\]\)"
    with estimator_ext.patched(builtin=True), pytest.raises(ValueError, match=all_none):
        classifier(trained_dir).experimental_export_all_saved_models(
            base, {MK.EVAL: None, MK.PREDICT: None}
        )
    assert not os.path.exists(base)


def test_a_bad_key_is_our_error(trained_dir, tmp_path):
    """TF ignores keys that are not ModeKeys values; ours names them (None entries aside)."""
    base = str(tmp_path / "ours")
    not_a_mode = "'predict', which is not a tf.estimator.ModeKeys"
    with estimator_ext.patched(builtin=True), pytest.raises(ValueError, match=not_a_mode):
        classifier(trained_dir).experimental_export_all_saved_models(
            base, {"predict": data.parsing_serving_receiver_fn(), MK.TRAIN: None}
        )
    assert not os.path.exists(base)


def test_unpatch_restores_tf_method_exactly():
    record = estimator_ext.patch(builtin=True)
    wrapper = ESTIMATOR_BASE.__dict__[BUILTIN]
    assert wrapper is not TF_METHOD and wrapper.__wrapped__ is TF_METHOD
    # The patched method looks like TF's own to inspect, help() and IDEs.
    assert inspect.signature(wrapper) == inspect.signature(TF_METHOD)
    assert wrapper.__name__ == BUILTIN and wrapper.__doc__ == TF_METHOD.__doc__
    # Subclasses inherit it; none got a copy of its own.
    assert tf.estimator.LinearClassifier.experimental_export_all_saved_models is not None
    assert BUILTIN not in tf.estimator.Estimator.__dict__
    assert BUILTIN not in tf.estimator.LinearClassifier.__dict__
    assert f"tf.compat.v1.estimator.Estimator.{BUILTIN}" in estimator_ext.unpatch()
    assert ESTIMATOR_BASE.__dict__[BUILTIN] is TF_METHOD
    assert len(record) == 0


def test_a_plain_patch_leaves_the_builtin_alone():
    record = estimator_ext.patch()
    assert not record.builtin
    assert ESTIMATOR_BASE.__dict__[BUILTIN] is TF_METHOD
    assert not any(BUILTIN in name for name in record)
    assert estimator_ext.patch() is record  # and a second plain patch() does not add it
    assert ESTIMATOR_BASE.__dict__[BUILTIN] is TF_METHOD


def test_builtin_added_to_an_active_plain_patch_and_undone_with_it():
    record = estimator_ext.patch()
    assert estimator_ext.patch(builtin=True) is record and record.builtin
    assert ESTIMATOR_BASE.__dict__[BUILTIN] is not TF_METHOD
    assert estimator_ext.patch(builtin=True) is record  # idempotent
    assert sum(BUILTIN in name for name in record) == 1
    estimator_ext.patch()  # a plain patch() never removes it
    assert ESTIMATOR_BASE.__dict__[BUILTIN] is not TF_METHOD
    estimator_ext.unpatch()
    assert ESTIMATOR_BASE.__dict__[BUILTIN] is TF_METHOD


# --- fresh interpreters -------------------------------------------------------------------

SCRIPT = """
    import json, os, sys
    import tensorflow as tf
    workdir = sys.argv[1]
    spec = {"x": tf.io.FixedLenFeature([1], tf.float32)}
    rows = {"x": [[0.1], [0.9], [0.2], [0.8]]}
    estimator = tf.estimator.LinearClassifier(
        [tf.feature_column.numeric_column("x")], model_dir=os.path.join(workdir, "model"))
    estimator.train(lambda: tf.data.Dataset.from_tensors((rows, [[0], [1], [0], [1]])), steps=2)
    receivers = {"infer": tf.estimator.export.build_parsing_serving_input_receiver_fn(spec),
                 "train": None}
    export = estimator.experimental_export_all_saved_models(os.path.join(workdir, "ok"), receivers)
    try:
        estimator.experimental_export_all_saved_models(
            os.path.join(workdir, "failed"), receivers,
            assets_extra={"a.txt": os.path.join(workdir, "missing.txt")})
    except Exception as error:
        failure = type(error).__name__
    failed_dir = os.path.join(workdir, "failed")
    print(json.dumps({
        "type": type(export).__name__, "failure": failure,
        "left": sorted(os.listdir(failed_dir)) if os.path.isdir(failed_dir) else [],
    }))
"""


def run_cli(tmp_path, *options):
    script = tmp_path / "pipeline.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-m", "estimator_ext", "run", *options, str(script), str(tmp_path)],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    return json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])


def test_run_builtin_routes_the_script_through_estimator_ext(tmp_path):
    report = run_cli(tmp_path, "--builtin")
    assert report == {"type": "bytes", "failure": "ValueError", "left": []}


def test_run_without_builtin_leaves_tf_method_alone(tmp_path):
    report = run_cli(tmp_path)
    assert report["type"] == "bytes" and report["failure"] == "NotFoundError"
    assert [name for name in report["left"] if name.startswith("temp-")]


def test_patch_builtin_before_tensorflow_is_imported(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        import wrapt
        import estimator_ext
        record = estimator_ext.patch(builtin=True)
        assert "tensorflow" not in sys.modules
        import tensorflow as tf
        tf.estimator.Estimator  # loads the estimator module; the hook patches it
        base = sys.modules[{module_paths.ESTIMATOR_MODULE!r}].Estimator
        assert isinstance(base.__dict__["{BUILTIN}"], wrapt.FunctionWrapper)
        assert "tf.compat.v1.estimator.Estimator.{BUILTIN}" in record
        estimator_ext.unpatch()
        assert not isinstance(base.__dict__["{BUILTIN}"], wrapt.ObjectProxy)
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
