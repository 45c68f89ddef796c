"""The parse spec of a serve graph, as the warmup writer reads it from a GraphDef.

Graphs are built with TensorFlow's own parse ops (V2 as tf.io.parse_example builds it, the
V1 op through tf.raw_ops); the end-to-end cases are in tests/serving/test_warmup.py.
"""

from __future__ import annotations

import tensorflow as tf

from estimator_ext.serving.signature import _parse_spec

SPEC = {
    "age": tf.io.FixedLenFeature([1], tf.float32),
    "clicks": tf.io.FixedLenFeature([2], tf.int64),
    "tags": tf.io.VarLenFeature(tf.string),
}


def test_parse_example_v2_behind_an_identity_gives_every_feature_and_dtype() -> None:
    with tf.Graph().as_default() as graph:
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="examples")
        tf.io.parse_example(tf.identity(serialized), SPEC)
    spec = _parse_spec(graph.as_graph_def(), "examples:0")
    assert spec == {"age": tf.float32, "clicks": tf.int64, "tags": tf.string}


def test_parse_example_v1_op_is_read_too() -> None:
    with tf.Graph().as_default() as graph:
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="examples")
        tf.raw_ops.ParseExample(
            serialized=serialized,
            names=tf.constant([], tf.string),
            sparse_keys=[tf.constant("tags")],
            dense_keys=[tf.constant("age")],
            dense_defaults=[tf.constant([0.0])],
            sparse_types=[tf.string],
            dense_shapes=[[1]],
        )
    assert _parse_spec(graph.as_graph_def(), "examples") == {"tags": tf.string, "age": tf.float32}


def test_an_input_no_parse_op_reads_has_no_spec() -> None:
    with tf.Graph().as_default() as graph:
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="examples")
        other = tf.compat.v1.placeholder(tf.string, [None], name="other")
        tf.io.parse_example(other, SPEC)
        tf.strings.length(serialized)
    assert _parse_spec(graph.as_graph_def(), "examples:0") is None
