"""multi_export, patch() / unpatch() / patched(), the legacy tf.contrib names, eager placeholders.

Real TensorFlow throughout: a tiny LinearClassifier is trained once per module and
exported through the decorated / patched methods; exports are read back with TF's own
loader and compared with ``estimator.predict``. Fresh interpreters check patch() before
and after TensorFlow is imported, and the contract's legacy sample runs both after
``patch()`` and unmodified through ``python -m estimator_ext run``.
"""

from __future__ import annotations

import inspect
import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from estimator_ext import patching
from estimator_ext.patching import legacy, tf_entry_points
from tests.support import data, estimator_namespaces
from tests.support.data import MK

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LEGACY_SCRIPT = os.path.join(REPO_ROOT, "examples", "legacy_contrib_script.py")
METHOD_PARAMETERS = [
    "self",
    "export_dir_base",
    "input_receiver_fn_map",
    "assets_extra",
    "as_text",
    "checkpoint_path",
    "strip_default_attrs",
    "warmup_requests",
]
SUBPROCESS_TIMEOUT = 240
#: TensorFlow 2.16 and later ship no tf.estimator: there patch() brings it back, and unpatch()
#: removes it again (tests/conftest.py gives this process one for the whole run).
TF_WITHOUT_ESTIMATOR = estimator_namespaces.tensorflow_lacks_estimator()

# Tests here patch on purpose; tests/conftest.py's never_leave_patched unpatches after each.
pytestmark = pytest.mark.patches


# --- classes at module level, so pickle finds them by qualified name ---


@estimator_ext.multi_export
class DecoratedLinear(tf.estimator.LinearClassifier):
    pass


class MixinLinear(estimator_ext.MultiExportMixin, tf.estimator.LinearClassifier):
    pass


def tiny_model_fn(features, labels, mode):
    weight = tf.compat.v1.get_variable(
        "w", shape=[1, 1], initializer=tf.compat.v1.zeros_initializer()
    )
    prediction = tf.matmul(features["x1"], weight)
    loss = None if labels is None else tf.reduce_mean(tf.square(prediction - labels))
    train_op = None
    if mode == tf.estimator.ModeKeys.TRAIN:
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step()
        )
    return tf.estimator.EstimatorSpec(
        mode, predictions={"y": prediction}, loss=loss, train_op=train_op
    )


@estimator_ext.multi_export
class DecoratedCustom(tf.estimator.Estimator):
    def __init__(self, model_dir=None):
        super().__init__(model_fn=tiny_model_fn, model_dir=model_dir)


# --- fixtures ---


@pytest.fixture
def trained_dir(trained_linear_classifier):
    """The shared trained LinearClassifier's model_dir (tests/conftest.py); read-only."""
    return trained_linear_classifier.model_dir


def every_estimator_class():
    """Every Estimator class in tf.estimator and tf.compat.v1.estimator, by public name."""
    found = {}
    for namespace_name, namespace in (
        ("tf.estimator", tf.estimator),
        ("tf.compat.v1.estimator", tf.compat.v1.estimator),
    ):
        for name in dir(namespace):
            value = getattr(namespace, name)
            if isinstance(value, type) and issubclass(value, tf.compat.v1.estimator.Estimator):
                found[f"{namespace_name}.{name}"] = value
    return found


def run_fresh_python(code: str, cwd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def last_json_line(stdout: str):
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


# --- multi_export ---


def test_multi_export_returns_the_same_class_with_the_real_signature():
    cls = type("Plain", (tf.estimator.LinearClassifier,), {})
    assert estimator_ext.multi_export(cls) is cls
    assert list(inspect.signature(cls.export_all_saved_models).parameters) == METHOD_PARAMETERS
    parameters = inspect.signature(cls.export_all_saved_models).parameters
    assert [parameters[name].default for name in METHOD_PARAMETERS[3:]] == [
        None,
        False,
        None,
        False,
        None,
    ]
    assert cls.export_all_saved_models.__name__ == "export_all_saved_models"
    assert "one SavedModel" in inspect.getdoc(cls.export_all_saved_models).replace("ONE", "one")
    estimator = cls(data.feature_columns())
    assert (
        list(inspect.signature(estimator.export_all_saved_models).parameters)
        == METHOD_PARAMETERS[1:]
    )
    assert isinstance(estimator, tf.estimator.LinearClassifier) and type(estimator) is cls


def test_multi_export_twice_changes_nothing():
    cls = estimator_ext.multi_export(type("Twice", (tf.estimator.DNNClassifier,), {}))
    before = dict(cls.__dict__)
    assert estimator_ext.multi_export(cls) is cls
    assert dict(cls.__dict__) == before
    assert cls.__dict__["export_all_saved_models"] is patching.EXPORT_METHOD


def test_multi_export_on_a_mixin_class_changes_nothing():
    before = dict(MixinLinear.__dict__)
    assert estimator_ext.multi_export(MixinLinear) is MixinLinear
    assert dict(MixinLinear.__dict__) == before
    assert (
        MixinLinear.export_all_saved_models
        is estimator_ext.MultiExportMixin.export_all_saved_models
    )


def test_multi_export_keeps_a_method_the_class_defines_itself():
    def own_method(self, *args):
        return "own"

    cls = type("Own", (tf.estimator.LinearClassifier,), {"export_all_saved_models": own_method})
    assert estimator_ext.multi_export(cls) is cls
    assert cls.__dict__["export_all_saved_models"] is own_method


@pytest.mark.parametrize(
    "not_a_class, expected",
    [
        (type("NotAnEstimator", (), {}), "not one"),
        (dict, "not one"),
        (tf.keras.Model, "not one"),
        (object(), "instance of object"),
    ],
)
def test_multi_export_refuses_what_is_not_an_estimator_class(not_a_class, expected):
    with pytest.raises(TypeError, match="tf.estimator.Estimator") as raised:
        estimator_ext.multi_export(not_a_class)
    assert expected in str(raised.value)


def test_decorated_estimator_exports_all_modes_with_predict_parity(trained_dir, tmp_path):
    estimator = DecoratedLinear(data.feature_columns(), model_dir=trained_dir)
    export = estimator.export_all_saved_models(str(tmp_path / "exports"), data.receiver_map())
    assert sorted(export.keys()) == sorted([MK.TRAIN, MK.EVAL, MK.PREDICT])
    data.assert_predict_parity(estimator, export)
    # Called through the class, as an unbound method, it is the same export.
    again = DecoratedLinear.export_all_saved_models(
        estimator, str(tmp_path / "again"), data.receiver_map(modes=[MK.PREDICT])
    )
    data.assert_predict_parity(estimator, again)


def test_mixin_and_decorator_together_export(trained_dir, tmp_path):
    combined = estimator_ext.multi_export(
        type("Both", (estimator_ext.MultiExportMixin, tf.estimator.LinearClassifier), {})
    )
    estimator = combined(data.feature_columns(), model_dir=trained_dir)
    export = estimator.export_all_saved_models(
        str(tmp_path), data.receiver_map(modes=[MK.EVAL, MK.PREDICT])
    )
    data.assert_predict_parity(estimator, export)
    data.assert_eval_parity(estimator, export)


def test_decorated_classes_and_instances_pickle(tmp_path):
    assert pickle.loads(pickle.dumps(DecoratedLinear)) is DecoratedLinear
    assert pickle.loads(pickle.dumps(DecoratedCustom)) is DecoratedCustom
    estimator = DecoratedCustom(model_dir=str(tmp_path))
    restored = pickle.loads(pickle.dumps(estimator))
    assert type(restored) is DecoratedCustom
    assert restored.model_dir == estimator.model_dir
    assert (
        list(inspect.signature(restored.export_all_saved_models).parameters)
        == METHOD_PARAMETERS[1:]
    )
    # Canned estimators hold a local model_fn and never pickled; their class and config do.
    canned = DecoratedLinear(data.feature_columns(), model_dir=str(tmp_path))
    assert pickle.loads(pickle.dumps(canned.config)).model_dir == canned.config.model_dir


# --- patch() / unpatch() in this process (TensorFlow already imported) ---


def test_patch_decorates_every_estimator_class_of_both_namespaces():
    record = estimator_ext.patch()
    classes = every_estimator_class()
    assert {
        "tf.estimator.LinearClassifier",
        "tf.estimator.DNNLinearCombinedRegressor",
        "tf.estimator.BaselineEstimator",
        "tf.compat.v1.estimator.DNNClassifier",
        "tf.estimator.Estimator",
        "tf.compat.v1.estimator.Estimator",
    } <= set(classes)
    for public_name, cls in classes.items():
        assert cls.__dict__.get("export_all_saved_models") is patching.EXPORT_METHOD, public_name
        assert f"{public_name}.export_all_saved_models" in record
    assert "tf.contrib" in record and "tf.compat.v1.placeholder" in record
    assert record.pending == ()


def test_patched_canned_estimators_and_model_to_estimator_export(trained_dir, tmp_path):
    with estimator_ext.patched():
        linear = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=trained_dir)
        export = linear.export_all_saved_models(
            str(tmp_path / "linear"), data.receiver_map(modes=[MK.TRAIN, MK.PREDICT])
        )
        data.assert_predict_parity(linear, export)
        data.assert_train_trains(export)

        inputs = {name: tf.keras.Input(shape=(1,), name=name) for name in ("x1", "x2")}
        output = tf.keras.layers.Dense(1, name="score")(
            tf.keras.layers.Concatenate()(list(inputs.values()))
        )
        model = tf.keras.Model(inputs=inputs, outputs=output)
        model.compile(optimizer="sgd", loss="mse")
        keras_estimator = tf.keras.estimator.model_to_estimator(
            keras_model=model, model_dir=str(tmp_path / "keras")
        )
        # TF 2.15's model_to_estimator returns a plain tf.estimator.Estimator: patched too.
        assert type(keras_estimator) is tf.estimator.Estimator
        specs = {name: data.FEATURE_SPECS[name] for name in ("x1", "x2")}
        keras_export = keras_estimator.export_all_saved_models(
            str(tmp_path / "keras_export"), {MK.PREDICT: data.raw_serving_receiver_fn(specs)}
        )
        got = data.run_signature(
            keras_export, ["serve"], "serving_default", {"x1": data.X1[:8], "x2": data.X2[:8]}
        )
        expected = list(
            keras_estimator.predict(
                lambda: tf.data.Dataset.from_tensor_slices(
                    {"x1": data.X1[:8], "x2": data.X2[:8]}
                ).batch(8)
            )
        )
        np.testing.assert_allclose(
            got["score"], np.stack([row["score"] for row in expected]), rtol=1e-5
        )


def test_patch_twice_is_idempotent():
    first = estimator_ext.patch()
    snapshot = {cls: dict(cls.__dict__) for cls in every_estimator_class().values()}
    contrib = tf.contrib
    second = estimator_ext.patch()
    assert second is first
    assert {cls: dict(cls.__dict__) for cls in every_estimator_class().values()} == snapshot
    assert tf.contrib is contrib
    assert inspect.isfunction(tf.compat.v1.placeholder.__wrapped__), "placeholder wrapped twice"


def test_unpatch_restores_exactly_what_was_there():
    classes = every_estimator_class()
    before = {cls: dict(cls.__dict__) for cls in classes.values()}
    placeholder = tf.compat.v1.placeholder
    from tensorflow.python.ops import array_ops

    array_ops_placeholder = array_ops.placeholder
    parsing_v2 = tf.estimator.export.build_parsing_serving_input_receiver_fn
    parsing_v1 = tf.compat.v1.estimator.export.build_parsing_serving_input_receiver_fn
    assert not hasattr(tf, "contrib")

    record = estimator_ext.patch()
    names = list(record)
    assert estimator_ext.unpatch() == tuple(names)

    assert {cls: dict(cls.__dict__) for cls in classes.values()} == before
    assert all(patching.METHOD_NAME not in cls.__dict__ for cls in classes.values())
    assert not hasattr(tf, "contrib") and not hasattr(tf.compat.v1, "contrib")
    assert (
        "tensorflow.contrib" not in sys.modules
        and "tensorflow.contrib.estimator" not in sys.modules
    )
    assert (
        tf.compat.v1.placeholder is placeholder and array_ops.placeholder is array_ops_placeholder
    )
    assert tf.estimator.export.build_parsing_serving_input_receiver_fn is parsing_v2
    assert tf.compat.v1.estimator.export.build_parsing_serving_input_receiver_fn is parsing_v1
    with pytest.raises(RuntimeError, match="eager"):
        tf.compat.v1.placeholder(tf.float32)
    assert estimator_ext.unpatch() == ()  # a second unpatch has nothing to undo


def test_unpatch_keeps_what_existed_before_patch():
    sentinel = object()
    tf.estimator.BaselineRegressor.export_all_saved_models = sentinel
    try:
        record = estimator_ext.patch()
        assert "tf.estimator.BaselineRegressor.export_all_saved_models" not in record
        assert tf.estimator.BaselineRegressor.__dict__["export_all_saved_models"] is sentinel
        estimator_ext.unpatch()
        assert tf.estimator.BaselineRegressor.__dict__["export_all_saved_models"] is sentinel
    finally:
        del tf.estimator.BaselineRegressor.export_all_saved_models


def test_an_existing_tf_contrib_is_left_alone():
    existing = type(sys)("someone_elses_contrib")
    tf.contrib = existing
    try:
        record = estimator_ext.patch()
        assert tf.contrib is existing and "tf.contrib" not in record
        estimator_ext.unpatch()
        assert tf.contrib is existing
    finally:
        del tf.contrib


def test_decorating_a_patched_class_makes_the_method_permanent():
    cls = type("LaterDecorated", (tf.estimator.LinearRegressor,), {})
    estimator_ext.patch()
    # Inherited from the patched base class only: the decorator still gives it its own.
    assert "export_all_saved_models" not in cls.__dict__
    estimator_ext.multi_export(cls)
    estimator_ext.unpatch()
    assert cls.__dict__["export_all_saved_models"] is patching.EXPORT_METHOD
    assert "export_all_saved_models" not in tf.estimator.LinearRegressor.__dict__


def test_patched_estimators_with_mixin_or_decorator_still_construct():
    with estimator_ext.patched():
        # Estimator.__init__ refuses subclasses that override Estimator's members; the
        # patched Estimator now has the method, and these classes must still construct.
        assert isinstance(MixinLinear(data.feature_columns()), MixinLinear)
        assert isinstance(DecoratedLinear(data.feature_columns()), DecoratedLinear)
        assert isinstance(DecoratedCustom(), DecoratedCustom)
        # Documented limitation: a subclass with its own, different method of that name.
        own = type(
            "OwnMethod", (tf.estimator.Estimator,), {"export_all_saved_models": lambda self: None}
        )
        with pytest.raises(ValueError, match="cannot override"):
            own(model_fn=tiny_model_fn)
    own(model_fn=tiny_model_fn)  # unpatched, it is fine again


def test_patched_context_manager_nests():
    with estimator_ext.patched() as record:
        assert patching.is_patched() and hasattr(tf, "contrib")
        with estimator_ext.patched() as inner:
            assert inner is record
        assert patching.is_patched(), "the inner block must not undo the outer patch"
    assert not patching.is_patched() and not hasattr(tf, "contrib")


def test_threads_calling_patch_at_once_get_one_consistent_patch():
    barrier = threading.Barrier(8)
    records, errors = [], []

    def call_patch():
        try:
            barrier.wait()
            records.append(estimator_ext.patch())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=call_patch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(records) == 8 and all(record is records[0] for record in records)
    assert len(set(records[0])) == len(records[0]), "a change was applied twice"
    assert all(
        cls.__dict__.get("export_all_saved_models") is patching.EXPORT_METHOD
        for cls in every_estimator_class().values()
    )

    results = []
    barrier = threading.Barrier(8)

    def call_unpatch():
        barrier.wait()
        results.append(estimator_ext.unpatch())

    threads = [threading.Thread(target=call_unpatch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(result) > 0 for result in results) == [False] * 7 + [True]
    assert all(
        "export_all_saved_models" not in cls.__dict__ for cls in every_estimator_class().values()
    )


# --- legacy tf.contrib.estimator names ---


def test_legacy_contrib_names_are_estimator_ext_functions():
    with estimator_ext.patched():
        assert tf.contrib.estimator.export_all_saved_models is estimator_ext.export_all_saved_models
        assert (
            tf.contrib.estimator.build_raw_supervised_input_receiver_fn
            is estimator_ext.build_raw_supervised_input_receiver_fn
        )
        assert (
            tf.contrib.estimator.build_supervised_input_receiver_fn_from_input_fn
            is estimator_ext.build_supervised_input_receiver_fn_from_input_fn
        )
        assert (
            tf.contrib.estimator.export_saved_model_for_mode
            is tf_entry_points.export_saved_model_for_mode
        )
        assert tf.compat.v1.contrib is tf.contrib
        import tensorflow.contrib.estimator as contrib_estimator
        from tensorflow.contrib.estimator import export_all_saved_models  # noqa: F401  (import syntax works too)

        assert contrib_estimator is tf.contrib.estimator
        assert sorted(dir(tf.contrib.estimator)) == sorted(legacy.LEGACY_CONTRIB_ESTIMATOR_NAMES)


@pytest.mark.parametrize(
    "access, hint",
    [
        (lambda: tf.contrib.layers, ""),
        (
            lambda: tf.contrib.estimator.add_metrics,
            "TensorFlow 2 has it as tf.estimator.add_metrics.",
        ),
        (
            lambda: tf.contrib.estimator.stop_if_no_decrease_hook,
            "TensorFlow 2 has it as tf.estimator.experimental.stop_if_no_decrease_hook.",
        ),
        (lambda: tf.compat.v1.contrib.slim, ""),
    ],
)
def test_other_contrib_names_raise_attribute_error_naming_what_is_restored(access, hint):
    with estimator_ext.patched():
        with pytest.raises(AttributeError) as raised:
            access()
    message = str(raised.value)
    assert "estimator_ext only restores tf.contrib.estimator.export_all_saved_models" in message
    assert "tf.contrib.estimator.build_supervised_input_receiver_fn_from_input_fn" in message
    assert hint in message


def test_export_saved_model_for_mode_exports_one_mode(trained_dir, tmp_path):
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=trained_dir)
    with estimator_ext.patched():
        serving = tf.contrib.estimator.export_saved_model_for_mode(
            estimator,
            str(tmp_path / "serve"),
            data.raw_serving_receiver_fn(data.FEATURE_SPECS),
        )
        training = tf.contrib.estimator.export_saved_model_for_mode(
            estimator,
            str(tmp_path / "train"),
            data.receiver_map(modes=[MK.TRAIN])[MK.TRAIN],
            mode=MK.TRAIN,
        )
        with pytest.raises(ValueError, match="mode='predict' is not a tf.estimator.ModeKeys value"):
            tf.contrib.estimator.export_saved_model_for_mode(
                estimator, str(tmp_path / "bad"), lambda: None, mode="predict"
            )
        with pytest.raises(ValueError, match="input_receiver_fn is None"):
            tf.contrib.estimator.export_saved_model_for_mode(estimator, str(tmp_path / "bad"), None)
    assert serving.keys() == {MK.PREDICT} and training.keys() == {MK.TRAIN}
    data.assert_predict_parity(estimator, serving)
    data.assert_train_trains(training)
    assert not (tmp_path / "bad").exists()


# --- eager placeholders and templates as parsing specs ---


def test_placeholder_under_eager_returns_a_template_and_stays_a_placeholder_in_graphs():
    with estimator_ext.patched():
        template = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        assert template == tf.TensorSpec([None, 3], tf.float32, name="x")
        assert tf.compat.v1.placeholder(dtype=tf.int64) == tf.TensorSpec(None, tf.int64)
        with tf.Graph().as_default():
            placeholder = tf.compat.v1.placeholder(tf.string, [None], name="s")
            assert isinstance(placeholder, tf.Tensor) and placeholder.op.type == "Placeholder"
        assert inspect.signature(tf.compat.v1.placeholder).parameters.keys() == {
            "dtype",
            "shape",
            "name",
        }


def test_parsing_receiver_reads_templates_as_fixed_len_features(trained_dir, tmp_path):
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=trained_dir)
    with estimator_ext.patched():
        feature_spec = {
            "x1": tf.compat.v1.placeholder(tf.float32, [None, 1]),
            "x2": tf.io.FixedLenFeature([1], tf.float32),  # feature configs pass through
            "color": tf.compat.v1.placeholder(tf.string, [None, 1]),
        }
        receiver_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(feature_spec)
        export = estimator_ext.export_all_saved_models(
            estimator, str(tmp_path), {MK.PREDICT: receiver_fn}
        )
        with pytest.raises(ValueError, match=r"feature_spec\['x1'\].*not fully defined"):
            tf.estimator.export.build_parsing_serving_input_receiver_fn(
                {"x1": tf.compat.v1.placeholder(tf.float32, [None, None])}
            )()
    got = data.run_signature(
        export, ["serve"], "predict", {"examples": data.serialized_examples(slice(0, 8))}
    )
    expected = data.estimator_predictions(estimator, slice(0, 8))
    np.testing.assert_allclose(
        got["probabilities"], np.stack([row["probabilities"] for row in expected]), rtol=1e-5
    )


# --- the contract's legacy sample ---


def _assert_legacy_output(stdout: str, workdir: str) -> None:
    lines = dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)
    export_dir = lines["export_dir"]
    weights = np.array(json.loads(lines["age weights"]))
    checkpoint = tf.train.load_checkpoint(os.path.join(workdir, "model"))
    np.testing.assert_array_equal(weights, checkpoint.get_tensor("linear/linear_model/age/weights"))
    assert np.any(weights != 0), "the classifier did not train"
    tag_sets = [sorted(meta.meta_info_def.tags) for meta in _saved_model(export_dir).meta_graphs]
    assert sorted(tag_sets) == [["serve"], ["train"]]


def _saved_model(export_dir):
    from tensorflow.python.saved_model import loader_impl

    return loader_impl.parse_saved_model(export_dir)


def test_legacy_sample_runs_after_patch(tmp_path, capsys, monkeypatch):
    import runpy

    monkeypatch.setattr(sys, "argv", [LEGACY_SCRIPT, str(tmp_path)])
    estimator_ext.patch()
    runpy.run_path(LEGACY_SCRIPT, run_name="__main__")
    _assert_legacy_output(capsys.readouterr().out, str(tmp_path))


def test_legacy_sample_runs_unmodified_through_the_run_entry_point(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-m", "estimator_ext", "run", LEGACY_SCRIPT, str(tmp_path)],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_legacy_output(result.stdout, str(tmp_path))


def test_legacy_sample_fails_without_the_patch(tmp_path):
    """The sample really needs estimator_ext: plain TensorFlow 2 stops at its first placeholder;
    TensorFlow 2.16+ already at its import of tensorflow_estimator (without estimator_ext's
    stand-ins for the modules those releases deleted)."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, LEGACY_SCRIPT, str(tmp_path)],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert result.returncode == 1
    if TF_WITHOUT_ESTIMATOR:
        assert "cannot import name 'estimator_training'" in result.stderr
    else:
        assert (
            "RuntimeError: tf.placeholder() is not compatible with eager execution" in result.stderr
        )


# --- fresh interpreters: before and after TensorFlow is imported ---

TRAIN_AND_EXPORT = """
    import numpy as np
    rows = {"x": np.arange(8, dtype=np.float32).reshape(8, 1) / 8}
    labels = (rows["x"] > 0.5).astype(np.int64)
    estimator = tf.estimator.LinearClassifier(
        [tf.feature_column.numeric_column("x")], model_dir=workdir + "/model"
    )
    estimator.train(
        lambda: tf.data.Dataset.from_tensor_slices((rows, labels)).repeat().batch(8), steps=3
    )
    spec = {"x": tf.compat.v1.placeholder(tf.float32, [None, 1], name="x")}
    receivers = {
        "train": tf.contrib.estimator.build_raw_supervised_input_receiver_fn(
            spec, tf.compat.v1.placeholder(tf.int64, [None, 1])
        ),
        "infer": tf.estimator.export.build_parsing_serving_input_receiver_fn(spec),
    }
    by_method = estimator.export_all_saved_models(workdir + "/method", receivers)
    by_contrib = tf.contrib.estimator.export_all_saved_models(
        estimator, workdir + "/contrib", receivers
    )
    restored = list(estimator_ext.unpatch())
    print(json.dumps({
        "modes": sorted(by_method.keys()), "contrib_modes": sorted(by_contrib.keys()),
        "restored": len(restored), "contrib_after_unpatch": hasattr(tf, "contrib"),
        "method_after_unpatch": hasattr(type(estimator), "export_all_saved_models"),
        "estimator_namespaces_restored": [
            name for name in restored if name in ("tf.estimator", "tf.compat.v1.estimator")
        ],
        "estimator_after_unpatch": hasattr(tf, "estimator"),
    }))
"""


def _check_fresh_run(report, patched_count_at_least=30):
    assert report["modes"] == ["infer", "train"] and report["contrib_modes"] == ["infer", "train"]
    assert report["restored"] >= patched_count_at_least
    assert report["contrib_after_unpatch"] is False and report["method_after_unpatch"] is False
    if TF_WITHOUT_ESTIMATOR:  # patch() brought tf.estimator back; unpatch() took it away again
        assert report["estimator_namespaces_restored"] == ["tf.estimator", "tf.compat.v1.estimator"]
        assert report["estimator_after_unpatch"] is False
    else:  # TensorFlow's own: left alone
        assert report["estimator_namespaces_restored"] == []
        assert report["estimator_after_unpatch"] is True


def test_patch_before_tensorflow_is_imported(tmp_path):
    """patching.py itself imports no TensorFlow; patch() waits for it with post-import hooks.

    ``import estimator_ext`` does not import TensorFlow (its __init__ loads every
    TensorFlow-backed name lazily), so patch() really runs before TensorFlow exists and
    applies itself through wrapt's post-import hooks when TensorFlow is imported.
    """
    result = run_fresh_python(
        textwrap.dedent(f"""
        import json, sys
        import estimator_ext
        from estimator_ext import patching
        from estimator_ext.patching import legacy, tf_entry_points
        assert "tensorflow" not in sys.modules, "import estimator_ext imported TensorFlow"
        record = estimator_ext.patch()
        assert "tensorflow" not in sys.modules, "patching imported TensorFlow"
        assert len(record) == 0 and "tensorflow" in record.pending
        import tensorflow as tf
        assert "tf.contrib" in record and hasattr(tf, "contrib")
        # tf.estimator is lazy
        assert "tensorflow_estimator.python.estimator.canned.linear" not in sys.modules
        method = tf.estimator.LinearClassifier.__dict__["export_all_saved_models"]
        assert method is patching.EXPORT_METHOD
        assert record.pending == ()
        workdir = {str(tmp_path)!r}
    """)
        + textwrap.dedent(TRAIN_AND_EXPORT),
        cwd=str(tmp_path),
    )
    _check_fresh_run(last_json_line(result.stdout))


def test_patch_right_after_import_estimator_ext(tmp_path):
    result = run_fresh_python(
        textwrap.dedent(f"""
        import json
        import estimator_ext
        record = estimator_ext.patch()
        import tensorflow as tf
        tf.estimator.LinearClassifier  # tf.estimator loads lazily; the hooks patch it as it loads
        assert record.pending == () and "tf.estimator.Estimator.export_all_saved_models" in record
        workdir = {str(tmp_path)!r}
    """)
        + textwrap.dedent(TRAIN_AND_EXPORT),
        cwd=str(tmp_path),
    )
    _check_fresh_run(last_json_line(result.stdout))


#: An estimator in use before estimator_ext.patch(): made through tf.estimator up to TF 2.15;
#: on 2.16+ through tensorflow-estimator's own API module, after ``import estimator_ext`` (which
#: makes it importable there).
IN_USE_BEFORE_PATCH = (
    """
    import estimator_ext
    import tensorflow as tf
    from tensorflow_estimator.python.estimator.api._v2 import estimator as tf_estimator
    existing = tf_estimator.LinearClassifier([tf.feature_column.numeric_column("x")])
    assert not hasattr(tf, "estimator")
    """
    if TF_WITHOUT_ESTIMATOR
    else """
    import tensorflow as tf
    existing = tf.estimator.LinearClassifier([tf.feature_column.numeric_column("x")])
    import estimator_ext
    """
)


def test_patch_after_tensorflow_and_estimators_are_in_use(tmp_path):
    result = run_fresh_python(
        textwrap.dedent(IN_USE_BEFORE_PATCH)
        + textwrap.dedent(f"""
        import json
        estimator_ext.patch()
        # instances made before patch() have it too
        assert callable(existing.export_all_saved_models)
        workdir = {str(tmp_path)!r}
    """)
        + textwrap.dedent(TRAIN_AND_EXPORT),
        cwd=str(tmp_path),
    )
    _check_fresh_run(last_json_line(result.stdout))
