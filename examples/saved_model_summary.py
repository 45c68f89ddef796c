"""Reads a SavedModel's meta graphs (tags, signatures, train op) from its protocol buffer.

This is what ``saved_model_cli show --all`` prints, as plain Python data, without loading
any graph: the examples use it to show what one ``export_all_saved_models`` call wrote.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

TRAIN_OP_COLLECTION = "saved_model_train_op"


def read_saved_model(export_dir: str) -> saved_model_pb2.SavedModel:
    """The SavedModel proto of ``export_dir`` (``saved_model.pb`` or ``saved_model.pbtxt``)."""
    saved_model = saved_model_pb2.SavedModel()
    binary_path = os.path.join(export_dir, "saved_model.pb")
    if tf.io.gfile.exists(binary_path):
        with tf.io.gfile.GFile(binary_path, "rb") as proto_file:
            saved_model.ParseFromString(proto_file.read())
    else:
        with tf.io.gfile.GFile(os.path.join(export_dir, "saved_model.pbtxt"), "r") as proto_file:
            text_format.Parse(proto_file.read(), saved_model)
    return saved_model


def describe_tensor(tensor_info: Any) -> str:
    """``float32 [-1]``: dtype and shape (-1 for a free dimension, ``?`` for unknown rank)."""
    dtype = tf.dtypes.as_dtype(tensor_info.dtype).name
    shape = tensor_info.tensor_shape
    dims = "?" if shape.unknown_rank else "[" + ", ".join(str(dim.size) for dim in shape.dim) + "]"
    return f"{dtype} {dims}"


def describe_saved_model(export_dir: str) -> List[Dict[str, Any]]:
    """One dict per meta graph: ``tags``, ``has_train_op`` and ``signatures``.

    ``signatures`` maps each SignatureDef key to ``{"inputs": {key: "dtype shape"},
    "outputs": {key: "dtype shape"}}``, keys sorted.
    """
    described = []
    for meta_graph in read_saved_model(export_dir).meta_graphs:
        signatures = {}
        for name in sorted(meta_graph.signature_def):
            signature = meta_graph.signature_def[name]
            signatures[name] = {
                "inputs": {key: describe_tensor(signature.inputs[key]) for key in sorted(signature.inputs)},
                "outputs": {key: describe_tensor(signature.outputs[key]) for key in sorted(signature.outputs)},
            }
        described.append({
            "tags": list(meta_graph.meta_info_def.tags),
            "has_train_op": TRAIN_OP_COLLECTION in meta_graph.collection_def,
            "signatures": signatures,
        })
    return described
