"""estimator_ext.inspect.describe: a SavedModel described from its proto, checked against
what TensorFlow's own loaders and ``saved_model_cli`` see in the same export.

Exports are real (a tiny LinearClassifier trained once for the module); every error path
checks the message and that describing wrote nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

import estimator_ext
from estimator_ext import cli, inspect
from estimator_ext.serving.description import VARIABLE_OPS
from estimator_ext.storage.files import gfile
from tests.support import data

SUBPROCESS_TIMEOUT = 240


@pytest.fixture(scope="module")
def exports(tmp_path_factory, trained_linear_classifier):
    """(binary export, text export) of the shared trained LinearClassifier, all modes."""
    root = tmp_path_factory.mktemp("inspect")
    estimator = trained_linear_classifier
    binary = estimator_ext.export_all_saved_models(estimator, str(root / "pb"), data.receiver_map())
    text = estimator_ext.export_all_saved_models(
        estimator, str(root / "pbtxt"), data.receiver_map(), as_text=True
    )
    return str(binary), str(text)


def loaded_meta_graph(export_dir, tags):
    """The MetaGraphDef and graph TF's TF1 loader restores for ``tags``."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.load(session, tags, export_dir)
    return meta_graph, graph


def test_describe_matches_what_the_loader_restores(exports):
    export, _ = exports
    description = inspect.describe(export)
    assert description["export_dir"] == export
    assert [meta["tags"] for meta in description["meta_graphs"]] == [["train"], ["eval"], ["serve"]]
    for meta in description["meta_graphs"]:
        meta_graph, graph = loaded_meta_graph(export, meta["tags"])
        assert sorted(meta["signatures"]) == sorted(meta_graph.signature_def)
        assert (
            meta["tensorflow_version"]
            == meta_graph.meta_info_def.tensorflow_version
            == tf.__version__
        )
        for key, signature in meta["signatures"].items():
            assert signature["method_name"] == meta_graph.signature_def[key].method_name
            for kind in ("inputs", "outputs"):
                tensors = signature[kind]
                assert sorted(tensors) == sorted(getattr(meta_graph.signature_def[key], kind))
                for info in tensors.values():
                    tensor = graph.get_tensor_by_name(info["name"])
                    assert info["dtype"] == tensor.dtype.name
                    assert info["shape"] == tensor.shape.as_list()
        with graph.as_default():
            collected = tf.compat.v1.global_variables() + tf.compat.v1.local_variables()
        variable_ops = [op for op in graph.get_operations() if op.type in VARIABLE_OPS]
        assert meta["variables"]["count"] == len(variable_ops) >= len(collected) > 0
    assert [meta["has_train_op"] for meta in description["meta_graphs"]] == [True, False, False]
    assert json.loads(json.dumps(description)) == description  # JSON-able as it is


def test_describe_agrees_with_saved_model_cli(exports):
    export, _ = exports
    description = inspect.describe(export)
    shown = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "saved_model_cli"),
            "show",
            "--dir",
            export,
            "--tag_set",
            "serve",
        ],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert shown.returncode == 0, shown.stderr
    keys = sorted(
        line.split('"')[1]
        for line in shown.stdout.splitlines()
        if line.startswith("SignatureDef key")
    )
    (serve,) = [meta for meta in description["meta_graphs"] if meta["tags"] == ["serve"]]
    assert keys == sorted(serve["signatures"]) and "serving_default" in keys


def test_text_and_binary_exports_are_described_alike(exports):
    binary, text = exports
    assert os.path.exists(os.path.join(text, "saved_model.pbtxt"))
    binary_graphs = inspect.describe(binary)["meta_graphs"]
    assert inspect.describe(text)["meta_graphs"] == binary_graphs


def test_variables_on_disk_and_in_each_graph(exports):
    export, _ = exports
    description = inspect.describe(export)
    variables_dir = os.path.join(export, "variables")
    on_disk = sorted(os.listdir(variables_dir))
    assert description["variables"] == {
        "files": len(on_disk),
        "bytes": sum(os.path.getsize(os.path.join(variables_dir, name)) for name in on_disk),
    }
    assert description["assets"] == [] and description["assets_extra"] == []
    checkpoint = tf.train.load_checkpoint(os.path.join(variables_dir, "variables"))
    by_tags = {tuple(meta["tags"]): meta for meta in description["meta_graphs"]}
    # TRAIN saves what the checkpoint holds: the model's weights, the step and the optimizer's.
    assert by_tags[("train",)]["variables"]["bytes"] == sum(
        checkpoint.get_tensor(name).nbytes for name in checkpoint.get_variable_to_shape_map()
    )


def test_the_cli_prints_describe_and_format_description(exports, capsys):
    export, _ = exports
    assert cli.main(["inspect", export, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == inspect.describe(export)
    assert cli.main(["inspect", export]) == 0
    assert capsys.readouterr().out == inspect.format_description(inspect.describe(export)) + "\n"


def test_sparse_and_unknown_rank_tensors(tmp_path):
    """A SavedModel written with TF's public TF1 Builder: sparse inputs name their three
    tensors, unknown ranks and dimensions are None."""
    export = str(tmp_path / "sparse")
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        sparse = tf.compat.v1.sparse_placeholder(tf.int64, shape=[None, 3], name="ids")
        anything = tf.compat.v1.placeholder(tf.float32, shape=None, name="anything")
        total = tf.identity(tf.sparse.reduce_sum(sparse), name="total")
        signature = tf.compat.v1.saved_model.build_signature_def(
            inputs={
                "ids": tf.compat.v1.saved_model.build_tensor_info(sparse),
                "anything": tf.compat.v1.saved_model.build_tensor_info(anything),
            },
            outputs={"total": tf.compat.v1.saved_model.build_tensor_info(total)},
            method_name="tensorflow/serving/predict",
        )
        builder = tf.compat.v1.saved_model.Builder(export)
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map={"sum": signature}
        )
        builder.save()
    (meta,) = inspect.describe(export)["meta_graphs"]
    inputs = meta["signatures"]["sum"]["inputs"]
    assert inputs["ids"] == {
        "name": {
            "values": "ids/values:0",
            "indices": "ids/indices:0",
            "dense_shape": "ids/shape:0",
        },
        "dtype": "int64",
        "shape": [None, 3],
    }
    assert inputs["anything"] == {"name": "anything:0", "dtype": "float32", "shape": None}
    assert meta["variables"] == {"count": 0, "bytes": 0} and meta["has_train_op"] is False
    table = inspect.format_description(inspect.describe(export))
    assert "values=ids/values:0, indices=ids/indices:0, dense_shape=ids/shape:0" in table
    assert "<unknown>" in table


def test_describe_on_an_in_memory_filesystem(exports):
    """Read through tf.io.gfile: a ram:// copy describes as the local export does."""
    export, _ = exports
    ram_export = f"ram://inspect-{os.getpid()}/1"
    try:
        for relative, path in gfile.walk_files(export):
            destination = f"{ram_export}/{relative}"
            tf.io.gfile.makedirs(os.path.dirname(destination))
            tf.io.gfile.copy(path, destination)
        described = inspect.describe(ram_export)
        local = inspect.describe(export)
        assert described["meta_graphs"] == local["meta_graphs"]
        assert described["variables"] == local["variables"]
    finally:
        tf.io.gfile.rmtree(f"ram://inspect-{os.getpid()}")


# --- not a SavedModel: a named error, nothing written ---


@pytest.mark.parametrize(
    "target, error, fragments",
    [
        ("missing", inspect.NotASavedModelError, ["export_dir", "missing", "does not exist"]),
        (
            "a_file.txt",
            inspect.NotASavedModelError,
            ["export_dir", "is a file", "give the SavedModel's directory"],
        ),
        ("empty", inspect.NotASavedModelError, ["is not a SavedModel (no saved_model.pb in it)."]),
        (
            "corrupt",
            inspect.UnreadableSavedModelError,
            ["is not a readable SavedModel", "cannot parse saved_model.pb", "DecodeError"],
        ),
        (
            "corrupt_text",
            inspect.UnreadableSavedModelError,
            ["is not a readable SavedModel", "cannot parse saved_model.pbtxt", "ParseError"],
        ),
        (
            "base",
            inspect.NotASavedModelError,
            ["is not a SavedModel", "It holds 1 export(s); the newest is"],
        ),
    ],
)
def test_not_a_saved_model_is_a_named_error(target, error, fragments, exports, tmp_path):
    (tmp_path / "a_file.txt").write_text("not a model")
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "saved_model.pb").write_bytes(b"\x00garbage\xff" * 10)
    (tmp_path / "corrupt_text").mkdir()
    (tmp_path / "corrupt_text" / "saved_model.pbtxt").write_text("meta_graphs { not proto")
    export, _ = exports
    path = os.path.dirname(export) if target == "base" else str(tmp_path / target)
    before = data.listing(str(tmp_path)), data.listing(os.path.dirname(export))
    with pytest.raises(error) as raised:
        inspect.describe(path)
    for fragment in fragments:
        assert fragment in str(raised.value)
    if target == "base":
        assert repr(export) in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert (data.listing(str(tmp_path)), data.listing(os.path.dirname(export))) == before


def test_the_base_hint_skips_names_that_are_not_exports(tmp_path):
    """Only ASCII-digit directories holding a SavedModel count as exports."""
    for name in ("٣", "12", "7"):  # an Arabic-Indic digit, a directory without saved_model.pb
        (tmp_path / name).mkdir()
    (tmp_path / "7" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(inspect.NotASavedModelError, match="It holds 1 export") as raised:
        inspect.describe(tmp_path)
    assert raised.value.args[0].endswith(f"the newest is {str(tmp_path / '7')!r}.")


def test_argument_name_and_public_access():
    with pytest.raises(
        inspect.NotASavedModelError, match=r"^EXPORT_DIR 'nowhere' does not exist\.$"
    ):
        inspect.describe("nowhere", argument_name="EXPORT_DIR")
    assert estimator_ext.inspect is inspect
    assert "inspect" in dir(estimator_ext) and "inspect" not in estimator_ext.__all__
    assert "describe" in inspect.__all__ and "inspect --json" in inspect.describe.__doc__.replace(
        "``", ""
    )
