"""TF Serving warmup requests: the file TF Serving would replay, read back and replayed here.

The warmup file is parsed with tensorflow-serving-api's own protos and replayed by this
module's :func:`replay_with_loader` (TF's TF1 loader, not the exporter's replay); its
outputs must equal ``estimator.predict`` on the same rows. Failures must name the request
and leave nothing on disk.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

import estimator_ext
from estimator_ext import cli
from tests.support import data
from tests.support.data import MK

ROWS = slice(0, 6)
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def feature_dicts(rows: slice = ROWS) -> list[dict[str, Any]]:
    """One feature dict per row, as a user writes them (plain lists, str values)."""
    return [
        {"x1": [float(x1[0])], "x2": [float(x2[0])], "color": [str(color[0])]}
        for x1, x2, color in zip(data.X1[rows], data.X2[rows], data.COLOR[rows])
    ]


def mixed_requests(rows: slice = ROWS) -> list[Any]:
    """Every accepted form, alternating: feature dicts, tf.train.Example, serialized bytes."""
    serialized = data.serialized_examples(rows)
    requests: list[Any] = []
    for index, features in enumerate(feature_dicts(rows)):
        form = index % 3
        if form == 0:
            requests.append(features)
        elif form == 1:
            requests.append(tf.train.Example.FromString(serialized[index]))
        else:
            requests.append(serialized[index])
    return requests


def read_warmup_logs(export_dir: str) -> list[Any]:
    path = os.path.join(export_dir, WARMUP_FILE)
    return [
        prediction_log_pb2.PredictionLog.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(path)
    ]


def replay_with_loader(export_dir: str) -> tuple[list[str], list[dict[str, np.ndarray]]]:
    """Each warmup record run the way TF Serving runs it: (log types, outputs per record)."""
    logs = read_warmup_logs(export_dir)
    kinds, results = [], []
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        for log in logs:
            kind = log.WhichOneof("log_type")
            request = getattr(log, kind).request
            signature = meta_graph.signature_def[request.model_spec.signature_name]
            if kind in ("classify_log", "regress_log"):
                examples = [
                    example.SerializeToString() for example in request.input.example_list.examples
                ]
                feed = {signature.inputs["inputs"].name: examples}
            else:
                feed = {
                    signature.inputs[key].name: tf.make_ndarray(proto)
                    for key, proto in request.inputs.items()
                }
            fetches = {key: info.name for key, info in signature.outputs.items()}
            kinds.append(kind)
            results.append(session.run(fetches, feed_dict=feed))
    return kinds, results


def predictions(estimator: Any, rows: slice = ROWS) -> list[dict[str, np.ndarray]]:
    return data.estimator_predictions(estimator, rows)


@pytest.fixture
def classifier(trained_linear_classifier):
    """The shared trained LinearClassifier (tests/conftest.py); read-only."""
    return trained_linear_classifier


@pytest.fixture
def regressor(trained_linear_regressor):
    """The shared trained LinearRegressor (tests/conftest.py); read-only."""
    return trained_linear_regressor


def parsing_map() -> dict[str, Any]:
    return {MK.PREDICT: data.parsing_serving_receiver_fn()}


# --- the file, read back and replayed, equals estimator.predict ---


def test_classifier_gets_classification_requests_equal_to_predict(classifier, tmp_path):
    export = estimator_ext.export_all_saved_models(
        classifier, str(tmp_path / "exports"), parsing_map(), warmup_requests=mixed_requests()
    )
    logs = read_warmup_logs(export)
    assert len(logs) == 6
    for log in logs:
        assert log.WhichOneof("log_type") == "classify_log"
        assert log.classify_log.request.model_spec.signature_name == "serving_default"
        assert len(log.classify_log.request.input.example_list.examples) == 1
    # a feature dict was encoded as the very Example the user could have written
    assert logs[0].classify_log.request.input.example_list.examples[
        0
    ] == tf.train.Example.FromString(data.serialized_examples(slice(0, 1))[0])
    _, results = replay_with_loader(export)
    expected = predictions(classifier)
    for result, want in zip(results, expected):
        np.testing.assert_allclose(result["scores"][0], want["probabilities"], rtol=1e-5, atol=1e-6)
        assert list(result["classes"][0]) == [b"0", b"1"]


def test_regressor_gets_regression_requests_equal_to_predict(regressor, tmp_path):
    export = estimator_ext.export_all_saved_models(
        regressor, str(tmp_path / "exports"), parsing_map(), warmup_requests=mixed_requests()
    )
    kinds, results = replay_with_loader(export)
    assert kinds == ["regress_log"] * 6
    assert all(
        log.regress_log.request.model_spec.signature_name == "serving_default"
        for log in read_warmup_logs(export)
    )
    expected = predictions(regressor)
    got = np.array([result["outputs"].ravel()[0] for result in results])
    np.testing.assert_allclose(
        got, [row["predictions"][0] for row in expected], rtol=1e-5, atol=1e-6
    )


def test_raw_tensor_receiver_gets_predict_requests_equal_to_predict(classifier, tmp_path):
    requests = feature_dicts()
    requests[1] = {
        key: np.asarray([values]) for key, values in requests[1].items()
    }  # already a batch of 1
    export = estimator_ext.export_all_saved_models(
        classifier, str(tmp_path / "exports"), data.receiver_map(), warmup_requests=requests
    )
    logs = read_warmup_logs(export)
    assert all(
        log.predict_log.request.model_spec.signature_name == "serving_default" for log in logs
    )
    assert set(logs[0].predict_log.request.inputs) == {"x1", "x2", "color"}
    kinds, results = replay_with_loader(export)
    assert kinds == ["predict_log"] * 6
    expected = predictions(classifier)
    for result, want in zip(results, expected):
        compared = [key for key in result if key in want]
        assert {"probabilities", "logits", "class_ids"} <= set(compared), compared
        for key in compared:
            if want[key].dtype.kind in "SUO":
                np.testing.assert_array_equal(result[key][0], want[key])
            else:
                np.testing.assert_allclose(
                    result[key][0], want[key], rtol=1e-5, atol=1e-6, err_msg=key
                )


def test_predict_signature_of_serialized_examples_gets_predict_requests(tmp_path):
    def model_fn(features, labels, mode):
        weight = tf.compat.v1.get_variable(
            "weight", [], initializer=tf.compat.v1.constant_initializer(3.0)
        )
        doubled = features["x1"] * weight
        tf.compat.v1.train.get_or_create_global_step()
        return tf.estimator.EstimatorSpec(
            mode,
            predictions={"y": doubled},
            export_outputs={"serving_default": tf.estimator.export.PredictOutput({"y": doubled})},
        )

    estimator = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / "model"))
    with tf.Graph().as_default():
        tf.compat.v1.get_variable("weight", [], initializer=tf.compat.v1.constant_initializer(3.0))
        step = tf.compat.v1.train.get_or_create_global_step()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().save(
                session, str(tmp_path / "model" / "model.ckpt"), global_step=step
            )
    receiver_fn = tf.estimator.export.build_parsing_serving_input_receiver_fn(
        {"x1": tf.io.FixedLenFeature([1], tf.float32)}
    )
    export = estimator_ext.export_all_saved_models(
        estimator,
        str(tmp_path / "exports"),
        {MK.PREDICT: receiver_fn},
        warmup_requests=[{"x1": [2.0]}, {"x1": np.float32(-1.5)}],
    )
    kinds, results = replay_with_loader(export)
    assert kinds == ["predict_log", "predict_log"]
    assert list(read_warmup_logs(export)[0].predict_log.request.inputs) == ["examples"]
    np.testing.assert_allclose([result["y"].ravel()[0] for result in results], [6.0, -4.5])


# --- errors: the message names the request and the fix, and nothing is left on disk ---


def assert_nothing_exported(base: Any) -> None:
    assert not os.path.exists(base) or data.listing(str(base)) == [], data.listing(str(base))


def test_a_record_the_model_cannot_serve_fails_the_export_and_publishes_nothing(
    classifier, tmp_path
):
    requests = feature_dicts()
    requests[3] = {"x1": [0.5, 0.25], "x2": [0.1], "color": ["red"]}  # x1 is FixedLenFeature([1])
    base = tmp_path / "exports"
    with pytest.raises(ValueError) as raised:
        estimator_ext.export_all_saved_models(
            classifier, str(base), parsing_map(), warmup_requests=requests
        )
    message = str(raised.value)
    assert "warmup_requests[3]" in message and "'x1': [0.5, 0.25]" in message, message
    assert "Number of float values != expected" in message and "nothing was exported" in message, (
        message
    )
    assert_nothing_exported(base)


def test_a_bad_raw_record_fails_the_export_and_an_existing_base_keeps_only_its_exports(
    classifier, tmp_path
):
    base = tmp_path / "exports"
    first = estimator_ext.export_all_saved_models(classifier, str(base), data.receiver_map())
    requests = feature_dicts()
    requests[2] = {"x1": [[0.5, 0.25]], "x2": [0.1], "color": ["red"]}  # shape [1, 2] for [None, 1]
    with pytest.raises(ValueError, match=r"warmup_requests\[2\].*cannot be served"):
        estimator_ext.export_all_saved_models(
            classifier, str(base), data.receiver_map(), warmup_requests=requests
        )
    assert os.listdir(base) == [os.path.basename(first)]


def test_more_than_1000_requests_is_a_value_error(classifier, tmp_path):
    base = tmp_path / "exports"
    with pytest.raises(ValueError, match=r"1001 requests.*at most 1000"):
        estimator_ext.export_all_saved_models(
            classifier, str(base), parsing_map(), warmup_requests=feature_dicts(slice(0, 1)) * 1001
        )
    assert_nothing_exported(base)


def test_an_example_for_a_raw_tensor_receiver_is_refused(classifier, tmp_path):
    base = tmp_path / "exports"
    requests = feature_dicts(slice(0, 2)) + [
        tf.train.Example.FromString(data.serialized_examples(slice(0, 1))[0])
    ]
    with pytest.raises(ValueError) as raised:
        estimator_ext.export_all_saved_models(
            classifier, str(base), data.receiver_map(), warmup_requests=requests
        )
    message = str(raised.value)
    assert "warmup_requests[2] is a tf.train.Example" in message and "raw tensors" in message, (
        message
    )
    assert (
        "color string [-1, 1]" in message and "build_parsing_serving_input_receiver_fn" in message
    ), message
    assert_nothing_exported(base)


@pytest.mark.parametrize(
    "warmup_requests, error_type, fragment",
    [
        ({"x1": [0.5]}, TypeError, "Wrap a single request in a list"),
        ([], ValueError, "warmup_requests is empty"),
        ([42], TypeError, "warmup_requests[0] has type int (42)"),
        (
            [b"\xff\xff not an example"],
            ValueError,
            "warmup_requests[0] is 17 bytes that are not a serialized",
        ),
        ([{"x1": None}], TypeError, "warmup_requests[0]['x1'] is None"),
        (
            [{"x1": [0.5], "x2": [0.1], "colour": ["red"]}],
            ValueError,
            "warmup_requests[0] has feature 'colour', which the serving receiver does not parse "
            "(it parses: color, x1, x2)",
        ),
        (
            [{"x1": ["half"], "x2": [0.1], "color": ["red"]}],
            ValueError,
            "warmup_requests[0]['x1'] holds ['half'], which are not numbers",
        ),
        (
            [{"x1": [0.5], "x2": [0.1], "color": [7]}],
            ValueError,
            "warmup_requests[0]['color'] holds the number 7",
        ),
    ],
)
def test_malformed_requests_are_refused_before_anything_is_written(
    classifier, tmp_path, warmup_requests, error_type, fragment
):
    base = tmp_path / "exports"
    with pytest.raises(error_type) as raised:
        estimator_ext.export_all_saved_models(
            classifier, str(base), parsing_map(), warmup_requests=warmup_requests
        )
    assert fragment in str(raised.value), str(raised.value)
    assert_nothing_exported(base)


def test_raw_receiver_needs_every_input(classifier, tmp_path):
    base = tmp_path / "exports"
    with pytest.raises(
        ValueError, match=r"warmup_requests\[0\] must give every input.*missing: color"
    ):
        estimator_ext.export_all_saved_models(
            classifier,
            str(base),
            data.receiver_map(),
            warmup_requests=[{"x1": [0.5], "x2": [0.1]}],
        )
    assert_nothing_exported(base)


def test_warmup_without_a_serve_graph_or_clashing_with_assets_extra_is_refused(
    classifier, tmp_path
):
    base = tmp_path / "exports"
    with pytest.raises(ValueError, match="no ModeKeys.PREDICT entry"):
        estimator_ext.export_all_saved_models(
            classifier,
            str(base),
            data.receiver_map(modes=[MK.EVAL]),
            warmup_requests=feature_dicts(),
        )
    handmade = tmp_path / "handmade_warmup"
    handmade.write_bytes(b"")
    with pytest.raises(ValueError, match="both write assets.extra/tf_serving_warmup_requests"):
        estimator_ext.export_all_saved_models(
            classifier,
            str(base),
            parsing_map(),
            warmup_requests=feature_dicts(),
            assets_extra={"tf_serving_warmup_requests": str(handmade)},
        )
    assert_nothing_exported(base)


def test_missing_serving_api_names_the_install_command(classifier, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis", None)
    base = tmp_path / "exports"
    with pytest.raises(
        ImportError, match=r"pip install --no-deps tensorflow-serving-api==2\.15\.1"
    ):
        estimator_ext.export_all_saved_models(
            classifier, str(base), parsing_map(), warmup_requests=feature_dicts()
        )
    assert_nothing_exported(base)


# --- pass-through: MultiExportMixin, AllModesExporter ---


def test_mixin_passes_warmup_requests_through(classifier, tmp_path):
    class WarmClassifier(estimator_ext.MultiExportMixin, tf.estimator.LinearClassifier):
        pass

    estimator = WarmClassifier(data.feature_columns(), model_dir=classifier.model_dir)
    export = estimator.export_all_saved_models(
        str(tmp_path / "exports"), parsing_map(), warmup_requests=feature_dicts()
    )
    kinds, _ = replay_with_loader(export)
    assert kinds == ["classify_log"] * 6


def test_all_modes_exporter_passes_warmup_requests_through_and_checks_them_when_built(
    classifier, tmp_path
):
    receivers = dict(data.receiver_map(modes=[MK.TRAIN]), **parsing_map())
    exporter = estimator_ext.AllModesExporter(
        "all_modes", receivers, warmup_requests=iter(mixed_requests())
    )
    export_path = str(tmp_path / "export" / "all_modes")
    for _ in range(2):  # a generator given once warms up every export
        export = exporter.export(classifier, export_path, classifier.latest_checkpoint(), {}, False)
        kinds, results = replay_with_loader(export)
        assert kinds == ["classify_log"] * 6
        np.testing.assert_allclose(
            results[0]["scores"][0], predictions(classifier)[0]["probabilities"], rtol=1e-5
        )
    with pytest.raises(ValueError, match="1001 requests"):
        estimator_ext.AllModesExporter(
            "all_modes", receivers, warmup_requests=feature_dicts(slice(0, 1)) * 1001
        )
    with pytest.raises(ValueError, match="no ModeKeys.PREDICT entry"):
        estimator_ext.AllModesExporter(
            "all_modes", data.receiver_map(modes=[MK.EVAL]), warmup_requests=feature_dicts()
        )


# --- the CLI: export --warmup FILE ---

FACTORY_MODULE = textwrap.dedent("""
    import tensorflow as tf
    from tests.support import data


    def make_estimator(model_dir=None):
        return tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)


    RECEIVERS = {"infer": data.parsing_serving_receiver_fn()}
""")


@pytest.fixture
def cli_setup(classifier, tmp_path, monkeypatch):
    (tmp_path / "warm_model.py").write_text(FACTORY_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "warm_model", raising=False)
    yield tmp_path
    sys.modules.pop("warm_model", None)


def run_export(capsys, classifier, base, warmup_file):
    status = cli.main(
        [
            "export",
            "--estimator",
            "warm_model:make_estimator",
            "--receivers",
            "warm_model:RECEIVERS",
            "--model-dir",
            classifier.model_dir,
            "--warmup",
            str(warmup_file),
            str(base),
        ]
    )
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_warmup_from_a_tfrecord_of_examples(classifier, cli_setup, capsys):
    warmup_file = cli_setup / "requests.tfrecord"
    with tf.io.TFRecordWriter(str(warmup_file)) as writer:
        for record in data.serialized_examples(ROWS):
            writer.write(record)
    status, out, err = run_export(capsys, classifier, cli_setup / "exports", warmup_file)
    assert status == 0, err
    kinds, results = replay_with_loader(out.strip())
    assert kinds == ["classify_log"] * 6
    expected = predictions(classifier)
    for result, want in zip(results, expected):
        np.testing.assert_allclose(result["scores"][0], want["probabilities"], rtol=1e-5, atol=1e-6)


def test_cli_warmup_from_json_lines(classifier, cli_setup, capsys):
    warmup_file = cli_setup / "requests.jsonl"
    warmup_file.write_text("\n".join(json.dumps(features) for features in feature_dicts()) + "\n\n")
    status, out, err = run_export(capsys, classifier, cli_setup / "exports", warmup_file)
    assert status == 0, err
    logs = read_warmup_logs(out.strip())
    assert len(logs) == 6
    first = logs[0].classify_log.request.input.example_list.examples[0]
    assert first == tf.train.Example.FromString(data.serialized_examples(slice(0, 1))[0])


def test_cli_warmup_errors_are_one_line_and_leave_nothing(classifier, cli_setup, capsys):
    base = cli_setup / "exports"
    bad_json = cli_setup / "bad.jsonl"
    bad_json.write_text('{"x1": [0.5], "x2": [0.1], "color": ["red"]}\n[1, 2]\n')
    status, out, err = run_export(capsys, classifier, base, bad_json)
    assert (status, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert "line 2 is a JSON list" in err, err
    unservable = cli_setup / "unservable.jsonl"
    unservable.write_text('{"x1": [0.5, 1.5], "x2": [0.1], "color": ["red"]}\n')
    status, out, err = run_export(capsys, classifier, base, unservable)
    last_line = err.strip().splitlines()[-1]  # after the export's progress lines
    assert (status, out) == (1, "") and "Traceback" not in err, err
    assert last_line.startswith(
        "estimator-ext export: error: export failed: ValueError: warmup_requests[0]"
    ), err
    assert "cannot be served" in last_line, err
    status, out, err = run_export(capsys, classifier, base, cli_setup / "missing.tfrecord")
    assert status == 2 and "is not a file" in err, err
    assert_nothing_exported(base)
