"""What a serve graph's ``serving_default`` signature takes, read from the SavedModel proto.

TF Serving runs a signature with the API its method names (Classify, Regress, Predict).
To write requests it can run, the warmup writer needs three facts about the exported
serve graph: that request kind, which input (if any) is fed serialized tf.Examples, and
the parse spec (feature name -> dtype) of the ParseExample ops reading that input, so a
feature dict can be encoded as the very tf.Example the receiver parses. All are read from
``saved_model.pb`` (public generated protos, no session, no private loader).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

SERVING_SIGNATURE_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
SERVE_TAGS = (tf.saved_model.SERVING,)
_PARSE_OPS = ("ParseExampleV2", "ParseExample", "ParseSingleExample")
_PASS_THROUGH_OPS = ("Identity", "IdentityN", "StopGradient")


@dataclasses.dataclass(frozen=True)
class ServingSignature:
    """What a warmup record must fit: the exported ``serving_default`` signature.

    ``kind`` is ``'classify'``, ``'regress'`` or ``'predict'`` (the request TF Serving
    runs it with); ``examples_input`` the input key fed serialized tf.Examples, None for
    a receiver of raw tensors; ``parse_spec`` feature name -> dtype, as the serve graph
    parses them, None when no parse op reads the Example input.
    """

    kind: str
    signature: Any
    examples_input: str | None
    parse_spec: dict[str, tf.DType] | None


def read_serving_signature(export_dir: str) -> ServingSignature:
    """The ``serving_default`` signature of the serve meta graph, read from the proto."""
    from estimator_ext.serving.saved_model_file import read_saved_model

    saved_model = read_saved_model(export_dir)
    meta_graph = next(
        graph
        for graph in saved_model.meta_graphs
        if set(graph.meta_info_def.tags) == set(SERVE_TAGS)
    )
    signature = meta_graph.signature_def[SERVING_SIGNATURE_KEY]
    kind = _request_kind(signature)
    examples_input = (
        "inputs" if kind != "predict" else _predict_examples_input(signature, meta_graph)
    )
    parse_spec = None
    if examples_input is not None:
        parse_spec = _parse_spec(meta_graph.graph_def, signature.inputs[examples_input].name)
    return ServingSignature(kind, signature, examples_input, parse_spec)


def _request_kind(signature: Any) -> str:
    inputs = signature.inputs
    takes_examples = (
        list(inputs) == ["inputs"] and inputs["inputs"].dtype == tf.string.as_datatype_enum
    )
    if takes_examples and signature.method_name == tf.saved_model.CLASSIFY_METHOD_NAME:
        return "classify"
    if takes_examples and signature.method_name == tf.saved_model.REGRESS_METHOD_NAME:
        return "regress"
    return "predict"


def _predict_examples_input(signature: Any, meta_graph: Any) -> str | None:
    """The one string input that a parse op reads, or None (a raw-tensor receiver)."""
    if len(signature.inputs) != 1:
        return None
    key, info = next(iter(signature.inputs.items()))
    if info.dtype != tf.string.as_datatype_enum:
        return None
    return key if _parse_spec(meta_graph.graph_def, info.name) is not None else None


def _parse_spec(graph_def: Any, tensor_name: str) -> dict[str, tf.DType] | None:
    """Feature name -> dtype of every parse op reading ``tensor_name``; None if none does."""
    nodes = {node.name: node for node in graph_def.node}
    source = _node_name(tensor_name)
    spec: dict[str, tf.DType] = {}
    found = False
    for node in graph_def.node:
        if node.op not in _PARSE_OPS or _resolve(nodes, node.input[0]) != source:
            continue
        found = True
        for key, dtype in _parsed_features(nodes, node):
            spec[key] = dtype
    return spec if found else None


def _parsed_features(nodes: Mapping[str, Any], node: Any) -> list[tuple[str, tf.DType]]:
    def types_of(attr: str) -> list[tf.DType]:
        return [tf.as_dtype(dtype) for dtype in node.attr[attr].list.type]

    def keys_of(input_names: Sequence[str]) -> list[str]:
        keys: list[str] = []
        for input_name in input_names:
            value = tf.make_ndarray(nodes[_resolve(nodes, input_name)].attr["value"].tensor)
            keys.extend(key.decode("utf-8") for key in np.ravel(value))
        return keys

    if node.op == "ParseExampleV2":
        sparse, dense, ragged = (
            keys_of([node.input[2]]),
            keys_of([node.input[3]]),
            keys_of([node.input[4]]),
        )
        ragged_types = types_of("ragged_value_types")
    elif node.op == "ParseExample":
        sparse_count, dense_count = node.attr["Nsparse"].i, node.attr["Ndense"].i
        sparse = keys_of(node.input[2 : 2 + sparse_count])
        dense = keys_of(node.input[2 + sparse_count : 2 + sparse_count + dense_count])
        ragged, ragged_types = [], []
    else:  # ParseSingleExample keeps its keys in attributes
        sparse = [key.decode("utf-8") for key in node.attr["sparse_keys"].list.s]
        dense = [key.decode("utf-8") for key in node.attr["dense_keys"].list.s]
        ragged, ragged_types = [], []
    return (
        list(zip(sparse, types_of("sparse_types")))
        + list(zip(dense, types_of("Tdense")))
        + list(zip(ragged, ragged_types))
    )


def _node_name(tensor_name: str) -> str:
    return tensor_name.lstrip("^").split(":")[0]


def _resolve(nodes: Mapping[str, Any], tensor_name: str) -> str:
    """The node behind ``tensor_name``, looking through identities."""
    name = _node_name(tensor_name)
    seen = set()
    while (
        name in nodes
        and nodes[name].op in _PASS_THROUGH_OPS
        and nodes[name].input
        and name not in seen
    ):
        seen.add(name)
        name = _node_name(nodes[name].input[0])
    return name
