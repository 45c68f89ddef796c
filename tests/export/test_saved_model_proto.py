"""saved_model.pb from serialized meta graphs is TF's SavedModelBuilder's file, byte for byte.

Each mode's graph is built twice the same way: once added to estimator_ext's
``SerializedSavedModel`` (write.py's path), once to TensorFlow's own
``tf.compat.v1.saved_model.Builder`` as write.py used to add it. The two directories hold
the same ``saved_model.pb`` (and ``.pbtxt``) bytes and the same ``assets/``: for a model
with a vocabulary asset, plus two more asset paths of the same base name (one the same
file's content, one different: the builder suffixes it) and one missing file.
"""

from __future__ import annotations

import os
import re

import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from estimator_ext._tf_private import members as tf_private
from estimator_ext.export import write
from estimator_ext.export.mode_graph import build_mode_graph, drop_unimportable_saveables
from estimator_ext.export.saved_model_proto import (
    SerializedSavedModel,
    _str_escapes_quotes,
    _text,
    _varint,
)
from tests.support import data
from tests.support.data import MK


@pytest.fixture(scope="module")
def asset_model(tmp_path_factory):
    """(estimator whose graphs name four asset paths, their directory)."""
    root = tmp_path_factory.mktemp("asset_model")
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "c").mkdir()
    vocabulary = root / "a" / "colors.txt"
    vocabulary.write_text("red\ngreen\nblue\n")
    (root / "b" / "colors.txt").write_text("red\ngreen\nblue\n")  # same content
    (root / "c" / "colors.txt").write_text("cyan\nmagenta\n")  # same name, other content
    model_fn = data.make_model_fn(vocabulary_file=str(vocabulary))

    def with_more_assets(features, labels, mode, params):
        spec = model_fn(features, labels, mode, params)
        for path in (root / "b" / "colors.txt", root / "c" / "colors.txt", root / "absent.txt"):
            tf.compat.v1.add_to_collection(
                tf.compat.v1.GraphKeys.ASSET_FILEPATHS, tf.constant(str(path))
            )
        return spec

    estimator = tf.estimator.Estimator(
        with_more_assets, model_dir=str(root / "model"), params={"learning_rate": 0.1}
    )
    estimator.train(data.input_fn(data.TARGET), steps=2)
    tf.compat.v1.summary.FileWriterCache.clear()
    return estimator, root


def _write_both(estimator, receiver_map, ours_dir, theirs_dir, strip_default_attrs, as_text):
    ours = SerializedSavedModel(ours_dir)
    theirs = tf_private.SavedModelBuilder(theirs_dir)
    tf_private.mark_variables_written(theirs)
    for mode, receiver_fn in receiver_map.items():
        with tf.Graph().as_default():
            write._add_meta_graph(
                ours, build_mode_graph(estimator, mode, receiver_fn), strip_default_attrs
            )
        with tf.Graph().as_default():
            mode_graph = build_mode_graph(estimator, mode, receiver_fn)
            drop_unimportable_saveables(mode_graph.graph)
            tf_private.add_train_op(theirs, mode_graph.train_op)
            theirs.add_meta_graph(
                tags=mode_graph.tags,
                signature_def_map=mode_graph.signature_def_map,
                assets_collection=mode_graph.assets_collection,
                main_op=mode_graph.main_op,
                saver=mode_graph.saver,
                strip_default_attrs=strip_default_attrs,
            )
    if as_text and not _str_escapes_quotes():
        # protobuf 5 (TF 2.18-2.20): TensorFlow's builder writes a .pbtxt that does not parse
        # (test_text_format_parses_back_whatever_protobuf_str_does_with_quotes); ours is the
        # text of the same SavedModel as its binary file, which is compared instead.
        with open(theirs.save(False), "rb") as handle:
            expected = saved_model_pb2.SavedModel.FromString(handle.read())
        return ours, ours.content(as_text), _text(expected).encode("utf-8")
    theirs_file = theirs.save(as_text)
    with open(theirs_file, "rb") as handle:
        return ours, ours.content(as_text), handle.read()


@pytest.mark.parametrize(
    "strip_default_attrs, as_text", [(False, False), (True, False), (False, True)]
)
def test_same_file_and_assets_as_tf_builder(asset_model, tmp_path, strip_default_attrs, as_text):
    estimator, root = asset_model
    receiver_map = data.receiver_map(tf.float32)
    ours_dir, theirs_dir = str(tmp_path / "ours"), str(tmp_path / "theirs")
    ours, content, expected = _write_both(
        estimator, receiver_map, ours_dir, theirs_dir, strip_default_attrs, as_text
    )

    assert content == expected
    assert sorted(os.listdir(os.path.join(ours_dir, "assets"))) == ["colors.txt", "colors.txt_1"]
    for name in ("colors.txt", "colors.txt_1"):
        with open(os.path.join(ours_dir, "assets", name), "rb") as mine:
            with open(os.path.join(theirs_dir, "assets", name), "rb") as tfs:
                assert mine.read() == tfs.read()
    assert ours.asset_sources == {
        "colors.txt": str(root / "b" / "colors.txt"),
        "colors.txt_1": str(root / "c" / "colors.txt"),
        "absent.txt": str(root / "absent.txt"),
    }


def _bad_calls(x, saver, signature):
    """(what is wrong, the add_meta_graph keyword arguments, the message expected)."""
    no_dtype = tf.compat.v1.saved_model.build_signature_def({"x": meta_graph_pb2.TensorInfo()})
    no_dtype.inputs["x"].name = "x:0"
    return [
        ("asset", {"assets_collection": [x]}, "scalar string constant"),
        ("reserved", {"signature_def_map": {"__saved_model_init_op": signature}}, "reserved"),
        (
            "unnamed",
            {
                "signature_def_map": {
                    "s": tf.compat.v1.saved_model.build_signature_def(
                        {"x": meta_graph_pb2.TensorInfo()}
                    )
                }
            },
            "signature 's', input 'x' names no tensor",
        ),
        ("dtype", {"signature_def_map": {"s": no_dtype}}, "signature 's', input 'x' has no dtype"),
        ("main_op", {"main_op": x}, "main_op must be an Operation"),
        ("train_op", {"train_op": "step"}, "train_op must be a Tensor or Operation"),
    ]


def test_errors_name_what_is_wrong_and_write_nothing(tmp_path):
    export_dir = tmp_path / "export"
    saved_model = SerializedSavedModel(str(export_dir))
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        saver = tf.compat.v1.train.Saver([tf.Variable(1.0)], sharded=True, allow_empty=True)
        signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": x * 2})
        for _, kwargs, message in _bad_calls(x, saver, signature):
            kwargs.setdefault("signature_def_map", {})
            with pytest.raises(ValueError, match=re.escape(message)):
                saved_model.add_meta_graph(["serve"], saver=saver, **kwargs)
        tf.compat.v1.add_to_collection(tf.compat.v1.saved_model.MAIN_OP_KEY, tf.no_op())
        with pytest.raises(ValueError, match="already has a main op in the collection"):
            saved_model.add_meta_graph(["serve"], {}, saver, main_op=tf.no_op())
    assert saved_model.content() == b"\x08\x01"  # nothing added: only the schema version
    assert not export_dir.exists()


@pytest.mark.parametrize("value", [1, 127, 128, 300, 2**21, 2**35 + 5])
def test_varint_is_protobufs(value):
    from tensorflow.core.framework import tensor_shape_pb2

    encoded = tensor_shape_pb2.TensorShapeProto.Dim(size=value).SerializeToString()
    assert encoded == b"\x08" + _varint(value)


def test_modes_written_in_order(asset_model, tmp_path):
    estimator, _ = asset_model
    receiver_map = {MK.PREDICT: data.receiver_map(tf.float32)[MK.PREDICT]}
    ours, content, expected = _write_both(
        estimator, receiver_map, str(tmp_path / "ours"), str(tmp_path / "theirs"), False, False
    )
    assert content == expected


def test_text_format_parses_back_whatever_protobuf_str_does_with_quotes():
    """protobuf 5's str() (TF 2.18-2.20) leaves a '"' in a bytes field unescaped; the
    variables collection's SaveSliceInfo bytes hold one whenever a name is 34 bytes long,
    and such a .pbtxt failed every loader. Our text parses back on every protobuf."""
    from google.protobuf import text_format

    saved_model = saved_model_pb2.SavedModel()
    collection = saved_model.meta_graphs.add().collection_def["variables"]
    collection.bytes_list.value.extend([b'\n"linear/linear_model/bias_weights:0', b"\x00\xff\\'"])
    parsed = saved_model_pb2.SavedModel()
    text_format.Parse(_text(saved_model), parsed)
    assert parsed == saved_model
    if not _str_escapes_quotes():  # what TensorFlow's builder writes there does not parse
        with pytest.raises(text_format.ParseError, match="has no field named"):
            text_format.Parse(str(saved_model), saved_model_pb2.SavedModel())
