"""TFMA's (and so TFX's) own export entry point goes through estimator_ext while
``estimator_ext.patch(builtin=True)`` is active.

``tfma.export.export_eval_savedmodel`` calls TensorFlow's
``Estimator.experimental_export_all_saved_models``. The proof that the patched call
reaches estimator_ext is behaviour, not a marker: an export that fails leaves nothing in
``export_dir_base`` while patched, whereas TensorFlow's own method, called the same way
without the patch (or under a plain ``patch()``), leaves its ``temp-*`` directory behind.
What a patched export publishes is then analysed by TFMA with ``evaluate``'s numbers.
"""

from __future__ import annotations

import inspect
import os
import pathlib
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

import estimator_ext
from tests.support import data, tfma_support
from tests.support import tfma_models as models

needs_builtin = pytest.mark.skipif(
    "builtin" not in inspect.signature(estimator_ext.patch).parameters,
    reason="estimator_ext.patch() has no builtin= parameter in this tree (issue 10, item 2: "
    "routing Estimator.experimental_export_all_saved_models through estimator_ext)",
)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tf.estimator.Estimator:
    model_dir = os.fspath(tmp_path_factory.mktemp("classifier") / "model")
    return tfma_support.train(models.linear_classifier(model_dir), "flag")


@pytest.fixture
def builtin_patch() -> Iterator[None]:
    estimator_ext.patch(builtin=True)
    try:
        yield
    finally:
        estimator_ext.unpatch()


def _failing_receiver_fn() -> Any:
    # Fails while the graphs are built: after the temporary directory exists (TF's
    # SavedModelBuilder makes temp-* first; estimator_ext its hidden temporary).
    raise RuntimeError("the EVAL receiver failed on purpose")


def _missing_asset(tmp_path: pathlib.Path) -> dict[str, Any]:
    return {"assets_extra": {"vocabulary.txt": os.fspath(tmp_path / "no-such-file.txt")}}


def _export_through_tfma(
    classifier: tf.estimator.Estimator, base: str, failure: str, tmp_path: pathlib.Path
) -> Any:
    """``tfma.export.export_eval_savedmodel`` as TFX's Trainer calls it, made to fail."""
    arguments: dict[str, Any] = {
        "estimator": classifier,
        "export_dir_base": base,
        "eval_input_receiver_fn": tfma_support.parsing_eval_receiver_fn(label_key="flag"),
        "serving_input_receiver_fn": tfma_support.serving_receiver_fn(),
    }
    if failure == "missing assets_extra source":
        arguments.update(_missing_asset(tmp_path))
    else:
        arguments["eval_input_receiver_fn"] = _failing_receiver_fn
    return tfma.export.export_eval_savedmodel(**arguments)


def _left_in(base: str) -> list[str]:
    return data.listing(base) if os.path.exists(base) else []


FAILURES = ["missing assets_extra source", "receiver raises"]
#: What each failure raises: estimator_ext checks assets_extra before it writes anything
#: (ValueError); TF copies them last, after the SavedModel is written (NotFoundError).
OUR_ERROR = {"missing assets_extra source": ValueError, "receiver raises": RuntimeError}
TF_ERROR = {"missing assets_extra source": tf.errors.NotFoundError, "receiver raises": RuntimeError}


@needs_builtin
@pytest.mark.parametrize("failure", FAILURES)
def test_failed_export_leaves_nothing_while_patched(
    tmp_path: pathlib.Path,
    classifier: tf.estimator.Estimator,
    builtin_patch: None,
    failure: str,
) -> None:
    base = os.fspath(tmp_path / "exports")
    with pytest.raises(OUR_ERROR[failure]) as raised:
        _export_through_tfma(classifier, base, failure, tmp_path)
    if failure == "missing assets_extra source":
        assert "no-such-file.txt" in str(raised.value) and "vocabulary.txt" in str(raised.value)
    else:
        assert "the EVAL receiver failed on purpose" in str(raised.value)
    assert _left_in(base) == []


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize(
    "patching", ["unpatched", "plain patch()", pytest.param("after unpatch()", marks=needs_builtin)]
)
def test_tensorflows_own_export_leaves_temp_dirs(
    tmp_path: pathlib.Path,
    classifier: tf.estimator.Estimator,
    patching: str,
    failure: str,
) -> None:
    """The control: the same failing call on TF's method leaves temp-* behind. A plain
    patch() leaves the built-in alone, and unpatch() restores it."""
    base = os.fspath(tmp_path / "exports")
    if patching == "plain patch()":
        estimator_ext.patch()
    elif patching == "after unpatch()":
        estimator_ext.patch(builtin=True)
        estimator_ext.unpatch()
    try:
        with pytest.raises(TF_ERROR[failure]):
            _export_through_tfma(classifier, base, failure, tmp_path)
    finally:
        estimator_ext.unpatch()
    left = os.listdir(base)
    assert len(left) == 1 and left[0].startswith("temp-"), left


def _tags_and_signatures(export_dir: str) -> dict[str, list[str]]:
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    return {
        ",".join(sorted(meta_graph.meta_info_def.tags)): sorted(meta_graph.signature_def)
        for meta_graph in saved_model.meta_graphs
    }


@needs_builtin
def test_tfma_analyses_a_patched_export(
    tmp_path: pathlib.Path,
    data_path: str,
    classifier: tf.estimator.Estimator,
) -> None:
    base = os.fspath(tmp_path / "exports")
    arguments: dict[str, Callable[[], Any]] = {
        "eval_input_receiver_fn": tfma_support.parsing_eval_receiver_fn(label_key="flag"),
        "serving_input_receiver_fn": tfma_support.serving_receiver_fn(),
    }
    builtin_export = tfma.export.export_eval_savedmodel(
        estimator=classifier, export_dir_base=os.fspath(tmp_path / "builtin"), **arguments
    )
    estimator_ext.patch(builtin=True)
    try:
        export_dir = tfma.export.export_eval_savedmodel(
            estimator=classifier, export_dir_base=base, **arguments
        )
    finally:
        estimator_ext.unpatch()

    assert isinstance(export_dir, bytes), type(export_dir)  # TF 2.15's contract for this name
    export_dir = export_dir.decode()
    assert os.listdir(base) == [os.path.basename(export_dir)]
    assert _tags_and_signatures(export_dir) == _tags_and_signatures(builtin_export.decode())
    tfma_support.assert_tfma_matches_evaluate(
        classifier, "flag", export_dir, data_path, os.fspath(tmp_path / "tfma")
    )
