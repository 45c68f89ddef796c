"""convert_serve_only: an export's serve graph as a single-graph TF2 SavedModel (issue 23 item 3).

Real exports of a seeded LinearClassifier whose ``color`` column reads a vocabulary FILE
(an asset and a lookup table), converted, then loaded with TensorFlow's TF2 loader without
``tags=`` and compared, signature by signature, with ``estimator.predict`` on the same
rows: the parsing ``serving_default`` (one input: serialized tf.Examples) and the raw
receiver's (three inputs). A custom ``model_fn`` that outputs its table lookups checks that
the table reads the converted model's own ``assets/`` once the export and the vocabulary
are gone. Keras 3's ``TFSMLayer`` loads the results in a child process without
``TF_USE_LEGACY_KERAS`` (skipped unless keras >= 3 is installed), and so do the docs'
Keras 3 blocks (``<!-- tested-in: keras3 -->`` in docs/api.md and docs/cli.md), each after
its page's first script made the models it loads. Every error path checks its message and
that nothing is left on disk.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import types
import uuid

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from estimator_ext.serving.convert import (
    NoServeGraphError,
    OutputInsideExportError,
    SparseSignatureInputError,
    convert_serve_only,
)
from estimator_ext.serving.saved_model_file import NotASavedModelError, read_saved_model
from tests.support import data, doc_blocks
from tests.support.gcs_server import GCS_MISSING, GCS_SKIP_REASON
from tests.support.s3server import S3_MISSING, S3_SKIP_REASON
from tests.support.stores import STORES, object_store

MK = tf.estimator.ModeKeys
ROWS = slice(0, 12)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPO_ROOT_PATH = pathlib.Path(REPO_ROOT)
CHILD_TIMEOUT = 300

#: A classification or regression signature's output, and the estimator.predict key it equals.
PREDICTION_KEY = {"scores": "probabilities", "classes": "all_classes", "outputs": "logistic"}


def _seeded_config() -> tf.estimator.RunConfig:
    return tf.estimator.RunConfig(tf_random_seed=0)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A LinearClassifier over a vocabulary file, trained 20 steps, and two exports: the
    parsing one (serving_default: serialized tf.Examples) and the raw one (x1, x2, color)."""
    root = tmp_path_factory.mktemp("convert")
    vocabulary = root / "colors.txt"
    vocabulary.write_text("red\ngreen\nblue\n")
    estimator = tf.estimator.LinearClassifier(
        data.feature_columns(str(vocabulary)),
        model_dir=str(root / "model"),
        config=_seeded_config(),
    )
    estimator.train(data.input_fn(), steps=20)
    supervised = data.receiver_map(modes=(MK.TRAIN,))[MK.TRAIN]
    parsing = estimator_ext.export_all_saved_models(
        estimator,
        str(root / "parsing"),
        {MK.TRAIN: supervised, MK.EVAL: supervised, MK.PREDICT: data.parsing_serving_receiver_fn()},
    )
    raw = estimator_ext.export_all_saved_models(estimator, str(root / "raw"), data.receiver_map())
    tf.compat.v1.summary.FileWriterCache.clear()
    return types.SimpleNamespace(
        estimator=estimator,
        parsing=str(parsing),
        raw=str(raw),
        expected=data.estimator_predictions(estimator, ROWS),
    )


def signature_inputs(signature: tf.types.experimental.ConcreteFunction) -> dict[str, tf.Tensor]:
    """The rows ROWS as the signature's inputs: serialized tf.Examples, or the features."""
    _, names = signature.structured_input_signature
    if set(names) <= {"inputs", "examples"}:
        return {name: tf.constant(data.serialized_examples(ROWS)) for name in names}
    return {name: tf.constant(value) for name, value in data.features_np(ROWS).items()}


def assert_outputs_equal_predict(outputs, expected, signature_key: str) -> None:
    """Every output equals estimator.predict's column of the same meaning, row by row."""
    assert outputs, f"{signature_key} has no outputs"
    # A classification or regression signature names its outputs its own way.
    renamed = PREDICTION_KEY if set(outputs) <= set(PREDICTION_KEY) else {}
    for key, value in outputs.items():
        prediction_key = renamed.get(key, key)
        assert prediction_key in expected[0], (signature_key, key, sorted(expected[0]))
        want = np.stack([row[prediction_key] for row in expected])
        got = np.asarray(value).reshape(want.shape)
        message = f"{signature_key}/{key}"
        if want.dtype.kind in "SUO":
            np.testing.assert_array_equal(got.astype(bytes), want.astype(bytes), err_msg=message)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=message)


def assert_one_serve_graph(output_dir: str, signature_keys) -> None:
    meta_graphs = read_saved_model(output_dir).meta_graphs
    assert [list(graph.meta_info_def.tags) for graph in meta_graphs] == [["serve"]]
    kept = {key for key in meta_graphs[0].signature_def if not key.startswith("__")}
    assert kept == set(signature_keys)


def serve_signature_keys(export_dir: str) -> set[str]:
    (serve,) = [
        graph
        for graph in read_saved_model(export_dir).meta_graphs
        if list(graph.meta_info_def.tags) == ["serve"]
    ]
    return set(serve.signature_def)


# --- what the converted model holds and computes ---


@pytest.mark.parametrize("export", ["parsing", "raw"])
def test_every_signature_loads_without_tags_and_equals_predict(export, classifier, tmp_path):
    export_dir = getattr(classifier, export)
    output_dir = str(tmp_path / "converted")

    assert convert_serve_only(export_dir, output_dir) == output_dir

    keys = serve_signature_keys(export_dir)
    assert "serving_default" in keys and len(keys) >= 2
    assert_one_serve_graph(output_dir, keys)
    loaded = tf.saved_model.load(output_dir)  # no tags=
    assert set(loaded.signatures.keys()) == keys
    for key in sorted(keys):
        signature = loaded.signatures[key]
        inputs = signature_inputs(signature)
        if export == "parsing":
            assert len(inputs) == 1, (key, sorted(inputs))  # the one-input signatures
        else:
            assert sorted(inputs) == ["color", "x1", "x2"], key  # the multi-input ones
        outputs = {name: value.numpy() for name, value in signature(**inputs).items()}
        assert_outputs_equal_predict(outputs, classifier.expected, key)
    assert sorted(os.listdir(os.path.join(output_dir, "assets"))) == ["colors.txt"]
    assert not os.path.exists(os.path.join(output_dir, "assets.extra"))
    assert sorted(os.listdir(tmp_path)) == ["converted"], "a temporary was left beside it"


def test_a_store_without_rename_gets_it_by_copy_publish(classifier):
    """ram:// (as gs:// and s3://) has no atomic directory rename: the model is copied from
    its temporary with saved_model.pb last, and neither the temporary nor the claim stays."""
    parent = f"ram://convert-{uuid.uuid4().hex}/models"
    output_dir = convert_serve_only(classifier.raw, parent + "/model")
    assert output_dir == parent + "/model"
    assert tf.io.gfile.listdir(parent) == ["model"]
    assert_one_serve_graph(output_dir, serve_signature_keys(classifier.raw))
    signature = tf.saved_model.load(output_dir).signatures["serving_default"]
    outputs = signature(**signature_inputs(signature))
    assert_outputs_equal_predict(
        {key: value.numpy() for key, value in outputs.items()}, classifier.expected, "ram://"
    )
    with pytest.raises(FileExistsError, match="already exists"):
        convert_serve_only(classifier.raw, output_dir)
    assert tf.io.gfile.listdir(parent) == ["model"]


@pytest.fixture(scope="module", params=STORES)
def store(request, tmp_path_factory):
    """Each object store's server on 127.0.0.1 (tests/support/stores.py); stopped after."""
    if request.param == "s3" and S3_MISSING:
        pytest.skip(S3_SKIP_REASON)
    if request.param == "gs" and GCS_MISSING:
        pytest.skip(GCS_SKIP_REASON)
    with object_store(request.param, str(tmp_path_factory.mktemp(request.param))) as server:
        yield server


def test_an_object_store_gets_the_model_and_nothing_else(classifier, store):
    """Converted into s3:// or gs:// in a child (this file as a script: tensorflow-io's S3
    plugin aborts at interpreter exit, see tests/storage/test_filesystems.py), loaded back
    from the store: the bucket holds the model's files only, and it predicts as the
    estimator does; a second conversion to the same place is refused."""
    prefix = f"convert-{uuid.uuid4().hex[:8]}"
    job = {"export_dir": classifier.raw, "output_dir": f"{store.root}/{prefix}/model"}
    child = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "convert-child", json.dumps(job)],
        env=dict(store.env(), PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["output_dir"] == job["output_dir"]
    assert "already exists" in report["again"], report["again"]
    keys = store.keys(f"{prefix}/")
    assert f"{prefix}/model/saved_model.pb" in keys
    assert all(key.startswith(f"{prefix}/model/") for key in keys), keys  # no temporary, claim
    outputs = {key: np.asarray(value) for key, value in report["outputs"].items()}
    outputs["classes"] = outputs["classes"].astype(bytes)
    outputs["all_classes"] = outputs["all_classes"].astype(bytes)
    assert_outputs_equal_predict(outputs, classifier.expected, store.name)


def _convert_child(job: dict[str, str]) -> None:
    """The child of test_an_object_store_gets_the_model_and_nothing_else: prints JSON."""
    if job["output_dir"].startswith("s3://"):
        import tensorflow_io  # noqa: F401  (registers the s3:// filesystem)
    output_dir = convert_serve_only(job["export_dir"], job["output_dir"])
    try:
        convert_serve_only(job["export_dir"], job["output_dir"])
        again = "converted twice"
    except FileExistsError as error:
        again = str(error)
    signature = tf.saved_model.load(output_dir).signatures["serving_default"]
    outputs = signature(**signature_inputs(signature))
    report = {
        "output_dir": output_dir,
        "again": again,
        "outputs": {
            key: [
                [item.decode() if isinstance(item, bytes) else item for item in row]
                for row in value.numpy().tolist()
            ]
            for key, value in outputs.items()
        },
    }
    print(json.dumps(report), flush=True)


def test_the_lookup_table_reads_the_converted_models_own_asset(tmp_path):
    """The table's vocabulary is the converted model's assets/ copy: it still works once
    the export, its vocabulary file and the converted model's first directory are gone."""
    vocabulary = tmp_path / "colors.txt"
    vocabulary.write_text("red\ngreen\nblue\n")
    estimator = tf.estimator.Estimator(
        data.make_model_fn(vocabulary_file=str(vocabulary)),
        model_dir=str(tmp_path / "model"),
        config=_seeded_config(),
    )
    estimator.train(data.input_fn(data.TARGET), steps=5)
    tf.compat.v1.summary.FileWriterCache.clear()
    expected = data.estimator_predictions(estimator, ROWS)
    assert {row["color_id"][0] for row in expected} == {0, 1, 2}
    export_dir = str(
        estimator_ext.export_all_saved_models(
            estimator, str(tmp_path / "exports"), data.receiver_map(tf.float32)
        )
    )
    convert_serve_only(export_dir, str(tmp_path / "first"))
    shutil.rmtree(tmp_path / "exports")
    vocabulary.unlink()
    moved = str(tmp_path / "moved")
    os.rename(tmp_path / "first", moved)

    loaded = tf.saved_model.load(moved)
    outputs = loaded.signatures["serving_default"](
        **signature_inputs(loaded.signatures["serving_default"])
    )
    assert sorted(outputs) == ["color_id", "prediction"]
    assert_outputs_equal_predict(
        {key: value.numpy() for key, value in outputs.items()}, expected, "serving_default"
    )
    assert (tmp_path / "moved" / "assets" / "colors.txt").read_text() == "red\ngreen\nblue\n"


# --- Keras 3 ---


def _keras_version() -> str | None:
    try:
        return importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return None


KERAS_VERSION = _keras_version()
needs_keras_3 = pytest.mark.skipif(
    KERAS_VERSION is None or int(KERAS_VERSION.split(".")[0]) < 3,
    reason=f"needs Keras 3 (keras >= 3) for keras.layers.TFSMLayer; installed: keras "
    f"{KERAS_VERSION or '(none)'}",
)

#: Run in a child without TF_USE_LEGACY_KERAS, so ``import keras`` is Keras 3 whatever the
#: suite's own process chose: the calls docs/api.md shows.
KERAS_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import tensorflow as tf

    assert int(keras.__version__.split(".")[0]) >= 3, keras.__version__
    job = json.loads(sys.argv[1])
    rows = np.load(job["inputs"])


    class MultiInputTFSMLayer(keras.layers.TFSMLayer):
        # A signature with several inputs takes them by name.
        def call(self, inputs):
            return self.call_endpoint_fn(**inputs)


    one_input = keras.layers.TFSMLayer(job["parsing"], call_endpoint="serving_default")
    multi_input = MultiInputTFSMLayer(job["raw"], call_endpoint="serving_default")
    results = {}
    for key, value in one_input(tf.constant(rows["examples"])).items():
        results["parsing/" + key] = value.numpy()
    features = {name: rows[name] for name in ("x1", "x2", "color")}
    for key, value in multi_input(features).items():
        results["raw/" + key] = value.numpy()
    # strings come back as object arrays of bytes: saved as bytes, no pickle needed
    np.savez(
        job["output"],
        **{
            key: value.astype(bytes) if value.dtype == object else value
            for key, value in results.items()
        },
    )
    print(keras.__version__, tf.__version__)
    """
)


@needs_keras_3
def test_keras_3_tfsmlayer_loads_one_and_multi_input_signatures(classifier, tmp_path):
    parsing = convert_serve_only(classifier.parsing, str(tmp_path / "parsing"))
    raw = convert_serve_only(classifier.raw, str(tmp_path / "raw"))
    features = data.features_np(ROWS)
    np.savez(
        tmp_path / "rows.npz",
        examples=np.array(data.serialized_examples(ROWS), dtype=bytes),
        x1=features["x1"],
        x2=features["x2"],
        color=features["color"].astype(bytes),
    )
    job = {
        "parsing": parsing,
        "raw": raw,
        "inputs": str(tmp_path / "rows.npz"),
        "output": str(tmp_path / "outputs.npz"),
    }
    env = {key: value for key, value in os.environ.items() if key != "TF_USE_LEGACY_KERAS"}
    env.update(PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    child = subprocess.run(
        [sys.executable, "-c", KERAS_CHILD, json.dumps(job)],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    assert child.stdout.split()[0].startswith("3."), child.stdout
    outputs = np.load(tmp_path / "outputs.npz")
    for prefix, keys in (("parsing/", {"classes", "scores"}), ("raw/", None)):
        got = {
            name[len(prefix) :]: outputs[name] for name in outputs.files if name.startswith(prefix)
        }
        if keys is not None:
            assert set(got) == keys
        assert_outputs_equal_predict(got, classifier.expected, prefix + "serving_default")


#: The docs' Keras 3 blocks (``<!-- tested-in: keras3 -->``): each runs in the directory
#: where its page's first script (the one the page's blocks continue) ran first.
KERAS_3_DOC_SCRIPTS = [
    (page, script)
    for page in (REPO_ROOT_PATH / "docs" / "api.md", REPO_ROOT_PATH / "docs" / "cli.md")
    for script in doc_blocks.markdown_scripts(page, suite="keras3")
]


def test_the_docs_show_keras_3_blocks_for_one_and_several_inputs():
    pages = {page.name for page, _ in KERAS_3_DOC_SCRIPTS}
    assert pages == {"api.md", "cli.md"}
    assert any("MultiInputTFSMLayer" in script.code for _, script in KERAS_3_DOC_SCRIPTS)


@needs_keras_3
@pytest.mark.parametrize(
    "page, script",
    KERAS_3_DOC_SCRIPTS,
    ids=[script.test_id for _, script in KERAS_3_DOC_SCRIPTS],
)
def test_keras_3_doc_blocks_run(page, script, tmp_path):
    (first, *_) = doc_blocks.markdown_scripts(page)
    # Through `estimator-ext run`, the documented way to run Estimator code on TensorFlow
    # 2.16+ (tf.estimator restored, legacy Keras chosen); on 2.15 it changes nothing here.
    (tmp_path / "first_script.py").write_text(first.code + "\n", encoding="utf-8")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")]))
    made = subprocess.run(
        [sys.executable, "-m", "estimator_ext", "run", "first_script.py"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert made.returncode == 0, doc_blocks.failure_report(first, made)
    env = {key: value for key, value in os.environ.items() if key != "TF_USE_LEGACY_KERAS"}
    completed = doc_blocks.run_script(script, tmp_path, timeout=CHILD_TIMEOUT, env=env)
    assert completed.returncode == 0, doc_blocks.failure_report(script, completed)


# --- errors: the message names the argument and the fix; nothing is left on disk ---


def test_an_export_dir_that_does_not_exist(tmp_path):
    with pytest.raises(NotASavedModelError, match=r"export_dir '.*missing' does not exist"):
        convert_serve_only(str(tmp_path / "missing"), str(tmp_path / "out"))
    assert data.listing(str(tmp_path)) == []


def test_a_directory_of_exports_names_the_newest(classifier, tmp_path):
    base = os.path.dirname(classifier.raw)
    with pytest.raises(NotASavedModelError) as raised:
        convert_serve_only(base, str(tmp_path / "out"))
    message = str(raised.value)
    assert "is not a SavedModel" in message and f"the newest is {classifier.raw!r}" in message
    assert "Give the directory of one export" in message
    assert data.listing(str(tmp_path)) == []


def test_an_export_without_a_serve_graph(classifier, tmp_path):
    export_dir = estimator_ext.export_all_saved_models(
        classifier.estimator,
        str(tmp_path / "exports"),
        data.receiver_map(modes=(MK.TRAIN, MK.EVAL)),
    )
    before = data.listing(str(tmp_path))
    with pytest.raises(NoServeGraphError) as raised:
        convert_serve_only(export_dir, str(tmp_path / "out" / "model"))
    message = str(raised.value)
    assert "export_dir" in message and "no meta graph tagged exactly 'serve'" in message
    assert "train; eval" in message and "a receiver for tf.estimator.ModeKeys.PREDICT" in message
    assert data.listing(str(tmp_path)) == before


def test_an_output_dir_that_exists_is_left_as_it_was(classifier, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="output_dir .* already exists.*remove it first"):
        convert_serve_only(classifier.raw, str(tmp_path / "out"))
    assert data.listing(str(tmp_path)) == ["out", os.path.join("out", "keep.txt")]


def test_an_output_dir_inside_the_export(classifier):
    before = data.listing(classifier.raw)
    with pytest.raises(OutputInsideExportError, match="output_dir .* is inside the export"):
        convert_serve_only(classifier.raw, os.path.join(classifier.raw, "converted"))
    assert data.listing(classifier.raw) == before


@pytest.mark.parametrize("argument", ["export_dir", "output_dir"])
def test_a_path_that_is_not_a_path(argument, classifier, tmp_path):
    arguments = {"export_dir": classifier.raw, "output_dir": str(tmp_path / "out")}
    arguments[argument] = None
    with pytest.raises(TypeError, match=f"{argument} must be a non-empty directory path"):
        convert_serve_only(**arguments)
    assert data.listing(str(tmp_path)) == []


def test_a_sparse_signature_input_is_refused_with_the_fix(tmp_path):
    """TF 2.15's tf.saved_model.save cannot bind a TF1 sparse input to a TF2 signature
    (measured: a TypeError from deep inside), so it is refused before anything is written."""

    def model_fn(features, labels, mode):
        weight = tf.compat.v1.get_variable("w", [1], initializer=tf.compat.v1.ones_initializer())
        total = tf.sparse.reduce_sum(features["tags"], axis=1, keepdims=True) * weight
        step = tf.compat.v1.train.get_or_create_global_step()
        return tf.estimator.EstimatorSpec(
            mode,
            predictions={"total": total},
            loss=tf.reduce_mean(total),
            train_op=tf.compat.v1.assign_add(step, 1),
        )

    def receiver_fn():
        tags = tf.compat.v1.sparse_placeholder(tf.float32, [None, None], name="tags")
        return tf.estimator.export.ServingInputReceiver({"tags": tags}, {"tags": tags})

    estimator = tf.estimator.Estimator(model_fn, model_dir=str(tmp_path / "model"))
    estimator.train(
        lambda: ({"tags": tf.sparse.from_dense(tf.ones([2, 3]))}, tf.ones([2, 1])), steps=1
    )
    tf.compat.v1.summary.FileWriterCache.clear()
    export_dir = estimator_ext.export_all_saved_models(
        estimator, str(tmp_path / "exports"), {MK.PREDICT: receiver_fn}
    )
    before = data.listing(str(tmp_path))
    with pytest.raises(SparseSignatureInputError) as raised:
        convert_serve_only(export_dir, str(tmp_path / "out"))
    message = str(raised.value)
    assert "export_dir" in message and "serving_default/tags" in message, message
    assert "build_parsing_serving_input_receiver_fn" in message, message
    assert data.listing(str(tmp_path)) == before


def test_a_process_without_eager_execution_is_told_to_convert_elsewhere(classifier, tmp_path):
    """tf.saved_model.save needs eager execution: a TF1-style process gets the error (in a
    child, as disabling eager execution cannot be undone)."""
    script = textwrap.dedent(
        """
        import sys
        import tensorflow as tf
        from estimator_ext.serving.convert import convert_serve_only

        tf.compat.v1.disable_eager_execution()
        try:
            convert_serve_only(sys.argv[1], sys.argv[2])
        except RuntimeError as error:
            print(error)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script, classifier.raw, str(tmp_path / "out")],
        env=dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    assert "convert_serve_only needs eager execution" in child.stdout, child.stdout
    assert "estimator-ext convert --serve-only EXPORT OUT" in child.stdout
    assert data.listing(str(tmp_path)) == []


def test_a_failed_conversion_removes_its_temporary_and_the_parents_it_made(classifier, tmp_path):
    """A copy of the export whose variables are cut short fails to load: nothing of the
    conversion stays, not even the missing parents of output_dir it created."""
    broken = tmp_path / "broken"
    shutil.copytree(classifier.raw, broken)
    (data_file,) = [name for name in os.listdir(broken / "variables") if ".data-" in name]
    (broken / "variables" / data_file).write_bytes(b"")
    before = data.listing(str(tmp_path))
    with pytest.raises(tf.errors.OpError, match="Read less bytes"):  # TF: OutOfRangeError
        convert_serve_only(str(broken), str(tmp_path / "new" / "deeper" / "out"))
    assert data.listing(str(tmp_path)) == before


def _odd_keys_export(root, keys: tuple[str, ...]) -> str:
    """A one-variable custom model_fn whose receiver's feature keys are ``keys``."""

    def model_fn(features, labels, mode):
        weight = tf.compat.v1.get_variable("w", [1], initializer=tf.compat.v1.ones_initializer())
        total = tf.add_n([features[key] for key in keys]) * weight
        step = tf.compat.v1.train.get_or_create_global_step()
        return tf.estimator.EstimatorSpec(
            mode,
            predictions={"total": total},
            loss=tf.reduce_mean(total),
            train_op=tf.compat.v1.assign_add(step, 1),
        )

    def receiver_fn():
        tensors = {
            key: tf.compat.v1.placeholder(tf.float32, [None, 1], name=f"input_{number}")
            for number, key in enumerate(keys)
        }
        return tf.estimator.export.ServingInputReceiver(tensors, tensors)

    estimator = tf.estimator.Estimator(model_fn, model_dir=str(root / "model"))
    estimator.train(lambda: ({key: tf.ones([2, 1]) for key in keys}, tf.ones([2, 1])), steps=1)
    tf.compat.v1.summary.FileWriterCache.clear()
    return str(
        estimator_ext.export_all_saved_models(
            estimator, str(root / "exports"), {MK.PREDICT: receiver_fn}
        )
    )


def test_an_input_key_that_is_not_an_identifier_is_kept(tmp_path):
    export_dir = _odd_keys_export(tmp_path, ("x-1", "y"))
    output_dir = convert_serve_only(export_dir, str(tmp_path / "out"))
    (meta_graph,) = read_saved_model(output_dir).meta_graphs
    assert sorted(meta_graph.signature_def["serving_default"].inputs) == ["x-1", "y"]
    signature = tf.saved_model.load(output_dir).signatures["serving_default"]
    outputs = signature(**{"x-1": tf.constant([[1.0], [2.0]]), "y": tf.constant([[3.0], [4.0]])})
    np.testing.assert_array_equal(outputs["total"].numpy(), [[4.0], [6.0]])


def test_input_keys_tensorflow_cannot_save_are_named_with_the_fix(tmp_path):
    """TF 2.15's tf.saved_model.save refuses 'x-1' next to 'x y' (measured): the error
    names the keys and the fix, and the temporary it wrote into is gone."""
    export_dir = _odd_keys_export(tmp_path, ("x-1", "x y"))
    before = data.listing(str(tmp_path))
    try:
        convert_serve_only(export_dir, str(tmp_path / "out"))
    except ValueError as error:
        message = str(error)
        assert "serving_default/x y" in message and "serving_default/x-1" in message, message
        assert "not Python identifiers" in message and "Export again" in message, message
    else:  # a TensorFlow that saves them: then they must load back under the same keys
        (meta_graph,) = read_saved_model(str(tmp_path / "out")).meta_graphs
        assert sorted(meta_graph.signature_def["serving_default"].inputs) == ["x y", "x-1"]
        return
    assert data.listing(str(tmp_path)) == before


if __name__ == "__main__" and sys.argv[1:2] == ["convert-child"]:
    job = json.loads(sys.argv[2])
    if job["output_dir"].startswith("gs://"):
        from tests.support.gcs_server import loopback_problem

        problem = loopback_problem(dict(os.environ))
        if problem:  # never reach for Google's hosts: only behind the loopback proxy
            sys.exit(f"refusing gs:// outside the loopback test stack: {problem}")
    try:
        _convert_child(job)
    except BaseException:  # report, then skip the S3 plugin's crashing teardown
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)
