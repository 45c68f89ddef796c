"""Exports made on TF 2.15 load on the newest TensorFlow with the same numbers (issue 23, item 4).

Two exports are made here, in the TF 2.15 venv, with estimator_ext: a canned LinearClassifier's
(tf.Example parsing in serve) and a custom model_fn's with a vocabulary-file lookup table. One
reader, tests/forward/read_export.py (TensorFlow and NumPy only), then reads both twice: with
this venv's Python and with the newest TensorFlow's, each in one isolated child (``python -I``,
so neither estimator_ext nor tensorflow_estimator is importable there). It calls every signature
of the serve, eval and train meta graphs through ``tf.saved_model.load(tags=...)``; through
the compat.v1 loader in a Session it runs every serve signature, the EVAL metrics (update ops
batch by batch, then the values) and one run of the train op (the loss before and after, and
every variable after). Every number of the newest side must equal TF 2.15's; and TF 2.15's
must equal the estimator's (``predict``, ``evaluate``), so the comparison is of real numbers.

The newest side's interpreter comes from ``ESTIMATOR_EXT_FORWARD_PYTHON`` (``make forward``
makes that venv and sets it; ``.ci/run`` runs ``make forward``). Without it the test is skipped
with that reason, and fails under CI (``CI`` set), where it must run. ``make test`` and the
nox sessions leave this folder out (marker ``forward``).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest

from tests.forward import read_export

pytestmark = pytest.mark.forward

#: The environment variable naming the newest TensorFlow's Python interpreter.
FORWARD_PYTHON_VARIABLE = "ESTIMATOR_EXT_FORWARD_PYTHON"
READER = pathlib.Path(read_export.__file__).resolve()
#: One child reads both exports: a TensorFlow import, six loads of each export, a few runs.
READ_TIMEOUT_S = 400
#: The exports, in the order of the reader's request (each a fixture below).
EXPORTS = ("canned_export", "custom_export")
#: Equal up to float rounding of kernels that may differ across TensorFlow releases (the
#: releases measured so far agree exactly: max abs difference 0, issue 23).
RTOL, ATOL = 1e-6, 1e-6


@pytest.fixture(scope="module")
def newest_python() -> str:
    python = os.environ.get(FORWARD_PYTHON_VARIABLE, "")
    if not python:
        reason = (
            f"{FORWARD_PYTHON_VARIABLE} is not set: it names the Python of a venv with the newest "
            "TensorFlow (`make forward` makes one and runs this test with it)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the forward-loading test, but {reason}")
        pytest.skip(reason)
    return python


def _child_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "TF_USE_LEGACY_KERAS")
    }
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def read_with(python: str, request: dict[str, Any], directory: pathlib.Path) -> dict[str, Any]:
    """Runs the reader with ``python`` on ``request``; its response (see read_export.py)."""
    request_path = directory / "request.json"
    response_path = directory / "response.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    completed = subprocess.run(
        [python, "-I", str(READER), str(request_path), str(response_path)],
        cwd=directory,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=READ_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, (
        f"{python} {READER.name} exited {completed.returncode}\n{completed.stderr[-4000:]}"
    )
    return json.loads(response_path.read_text(encoding="utf-8"))


def _encoded(features: dict[str, np.ndarray], labels: np.ndarray | None = None) -> dict:
    values = dict(features, **({} if labels is None else {"label": labels}))
    return {key: read_export.encode(value) for key, value in values.items()}


def make_request(export_dir: str, labels: np.ndarray, serve: dict[str, np.ndarray]) -> dict:
    """Four eval batches of 16 rows (the estimator's evaluate), a 32-row train batch."""
    from tests.support import data

    return {
        "export_dir": export_dir,
        "serve": {key: read_export.encode(value) for key, value in serve.items()},
        "eval_batches": [
            _encoded(data.features_np(slice(start, start + 16)), labels[start : start + 16])
            for start in range(0, data.ROWS, 16)
        ],
        "train": _encoded(data.features_np(slice(0, 32)), labels[:32]),
    }


@pytest.fixture(scope="module")
def canned_export(trained_linear_classifier: Any, tmp_path_factory: pytest.TempPathFactory):
    """A LinearClassifier's export: tf.Example parsing in serve (classification, regression and
    predict signatures), raw features and an int label in train and eval."""
    import estimator_ext
    from tests.support import data

    receivers = data.receiver_map()
    receivers[data.MK.PREDICT] = data.parsing_serving_receiver_fn()
    base = tmp_path_factory.mktemp("forward_canned")
    export_dir = str(
        estimator_ext.export_all_saved_models(trained_linear_classifier, str(base), receivers)
    )
    examples = np.array(data.serialized_examples(slice(0, 12)), dtype=object)
    request = make_request(export_dir, data.LABEL, {"inputs": examples, "examples": examples})
    return request, estimator_numbers(trained_linear_classifier, data.LABEL, "predict")


@pytest.fixture(scope="module")
def custom_export(tmp_path_factory: pytest.TempPathFactory):
    """A custom model_fn's export with a vocabulary-file lookup table (an asset the newest side
    must find in the export's own assets/), raw features in every mode, a float label."""
    import tensorflow as tf

    import estimator_ext
    from tests.support import data

    base = tmp_path_factory.mktemp("forward_custom")
    vocabulary = base / "colors.txt"
    vocabulary.write_text("red\ngreen\nblue\n")
    estimator = tf.estimator.Estimator(
        data.make_model_fn(vocabulary_file=str(vocabulary)), model_dir=str(base / "model")
    )
    estimator.train(data.input_fn(data.TARGET), steps=10)
    tf.compat.v1.summary.FileWriterCache.clear()
    receivers = data.receiver_map(tf.float32)
    export_dir = str(
        estimator_ext.export_all_saved_models(estimator, str(base / "exports"), receivers)
    )
    numbers = estimator_numbers(estimator, data.TARGET, "serving_default")
    vocabulary.unlink()  # from here on, the export must read its own copy in assets/
    request = make_request(export_dir, data.TARGET, data.features_np(slice(0, 12)))
    return request, numbers


def estimator_numbers(estimator: Any, labels: np.ndarray, predict_signature: str) -> dict:
    """What the estimator itself gives on the request's rows, keyed as the reader's outputs:
    ``v1/serve/<predict_signature>/<key>`` for predict, ``v1/eval/value/<metric>`` for
    evaluate (over the same four batches of 16)."""
    from tests.support import data

    predictions = data.estimator_predictions(estimator, slice(0, 12))
    numbers = {
        f"v1/serve/{predict_signature}/{key}": np.stack([row[key] for row in predictions])
        for key in predictions[0]
    }
    evaluated = estimator.evaluate(data.eval_input_fn(labels, 16))
    numbers.update(
        {
            f"v1/eval/value/{name}": value
            for name, value in evaluated.items()
            if name != "global_step"
        }
    )
    return numbers


def _assert_tf215_numbers_are_the_estimators(
    outputs: dict[str, np.ndarray], estimator_numbers: dict[str, np.ndarray]
) -> None:
    compared = [name for name in estimator_numbers if name in outputs]
    assert any(name.startswith("v1/serve/") for name in compared), (sorted(outputs), compared)
    assert any(name.startswith("v1/eval/value/") for name in compared), (sorted(outputs), compared)
    for name in compared:
        want = np.asarray(estimator_numbers[name])
        got = outputs[name].reshape(want.shape)
        if want.dtype.kind in "SUO":
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=name)
    assert outputs["v1/train/loss_after"] < outputs["v1/train/loss_before"], "the train op trains"


def _decoded(outputs: dict[str, Any]) -> dict[str, np.ndarray]:
    return {name: read_export.decode(value) for name, value in outputs.items()}


@pytest.fixture(scope="module")
def read_on_both(
    newest_python: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Both exports read by TF 2.15 and by the newest TensorFlow, one child each."""
    exports = [request.getfixturevalue(name) for name in EXPORTS]
    read_request = {"exports": [export_request for export_request, _ in exports]}
    responses, seconds = {}, {}
    for side, python in (("tf215", sys.executable), ("newest", newest_python)):
        started = time.monotonic()
        responses[side] = read_with(python, read_request, tmp_path_factory.mktemp(side))
        seconds[side] = time.monotonic() - started
    return {
        "responses": responses,
        "seconds": seconds,
        "estimator_numbers": [numbers for _, numbers in exports],
    }


def test_the_newest_side_is_pure_newest_tensorflow(read_on_both: dict[str, Any]) -> None:
    tf215, newest = read_on_both["responses"]["tf215"], read_on_both["responses"]["newest"]
    assert tf215["tensorflow"].startswith("2.15."), tf215["tensorflow"]
    newest_minor = tuple(int(part) for part in newest["tensorflow"].split(".")[:2])
    assert newest_minor >= (2, 16), (
        f"{FORWARD_PYTHON_VARIABLE} runs TensorFlow {newest['tensorflow']}; it must name a venv "
        "with the newest TensorFlow (2.16 or later)"
    )
    assert tf215["imported"] == [] and newest["imported"] == [], (tf215, newest["imported"])


@pytest.mark.parametrize("export_index", range(len(EXPORTS)), ids=EXPORTS)
def test_a_tf215_export_gives_the_same_numbers_on_the_newest_tensorflow(
    export_index: int, read_on_both: dict[str, Any]
) -> None:
    responses = read_on_both["responses"]
    expected = _decoded(responses["tf215"]["exports"][export_index])
    got = _decoded(responses["newest"]["exports"][export_index])
    _assert_tf215_numbers_are_the_estimators(
        expected, read_on_both["estimator_numbers"][export_index]
    )
    for prefix in ("tf2/serve/", "tf2/eval/", "tf2/train/", "v1/serve/", "v1/eval/update/"):
        assert any(name.startswith(prefix) for name in expected), (prefix, sorted(expected))
    assert sorted(got) == sorted(expected)
    differences = {}
    for name, want in expected.items():
        if want.dtype.kind == "O":
            np.testing.assert_array_equal(got[name], want, err_msg=name)
        else:
            assert got[name].shape == want.shape, (name, got[name].shape, want.shape)
            np.testing.assert_allclose(got[name], want, rtol=RTOL, atol=ATOL, err_msg=name)
            if want.size:
                difference = np.abs(got[name].astype(np.float64) - want.astype(np.float64))
                differences[name] = float(difference.max())
    print(
        f"{EXPORTS[export_index]}: {len(expected)} outputs of TF "
        f"{responses['tf215']['tensorflow']} equal TF {responses['newest']['tensorflow']}'s; "
        f"max abs difference {max(differences.values()):.1e} (both exports read in "
        f"{read_on_both['seconds']['tf215']:.0f} s and {read_on_both['seconds']['newest']:.0f} s)"
    )
