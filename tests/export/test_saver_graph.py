"""_saver_graph builds exactly the graph TF's ``Saver(sharded=True)`` builds, faster.

Each graph is built twice with the same seed, once with TF's Saver and once with
``default_saver``; every node (name, op, inputs, device, attributes) and the SaverDef
must be equal. Graphs the import cannot describe must get TF's own Saver.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from estimator_ext._tf_private import members as tf_private
from estimator_ext.export import saver_graph


def _partitioned_model(partitions=3, saver_first=False):
    tf.compat.v1.set_random_seed(0)
    graph = tf.compat.v1.get_default_graph()
    tf.compat.v1.train.create_global_step(graph)
    if saver_first:  # the model_fn's own Saver takes the "save" scope: ours is "save_1"
        tf.compat.v1.get_variable("early", [2])
        tf.compat.v1.train.Saver()
    ids = tf.compat.v1.placeholder(tf.int64, [None, 2])
    pooled = []
    for column in range(2):
        table = tf.compat.v1.get_variable(
            f"column_{column}/embedding",
            [7, 3],
            partitioner=tf.compat.v1.fixed_size_partitioner(partitions),
        )
        pooled.append(tf.reduce_mean(tf.nn.embedding_lookup(table, ids), axis=1))
    kernel = tf.compat.v1.get_variable("logits/kernel", [6, 1])
    logits = tf.matmul(tf.concat(pooled, 1), kernel)
    tf.compat.v1.get_variable("counts", [4], tf.int32, tf.compat.v1.zeros_initializer())
    tf.compat.v1.get_variable("vocabulary", [2], tf.string, tf.compat.v1.constant_initializer("a"))
    loss = tf.reduce_mean(logits)
    tf.compat.v1.train.AdagradOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step()
    )


def _plain_model():
    tf.compat.v1.set_random_seed(0)
    tf.compat.v1.get_variable("weights", [3, 2])
    tf.compat.v1.identity(tf.constant(1.0), name="Identity")  # a top-level name we also use


def _build(model, fast):
    with tf.Graph().as_default() as graph:
        model()
        saveables = saver_graph._plain_saveables(graph)
        if fast and saveables:  # the import itself, even where default_saver keeps TF's
            saver = saver_graph._imported_saver(graph, saveables)
        elif fast:
            saver = saver_graph.default_saver(graph)
        else:
            saver = tf.compat.v1.train.Saver(sharded=True, allow_empty=True)
    return graph, saver


def _nodes(graph):
    return {node.name: node for node in graph.as_graph_def().node}


def _meta_graph(graph, saver):
    """What the SavedModel builder stores for the graph, in a canonical node order."""
    with graph.as_default():
        meta_graph = saver.export_meta_graph()
    nodes = sorted(meta_graph.graph_def.node, key=lambda node: node.name)
    del meta_graph.graph_def.node[:]
    meta_graph.graph_def.node.extend(nodes)
    return meta_graph


MODELS = {
    "partitioned + Adagrad slots + int and string variables": _partitioned_model,
    "one partition each": lambda: _partitioned_model(partitions=1),
    "a Saver already in the graph": lambda: _partitioned_model(saver_first=True),
    "plain variable, a top-level op named Identity": _plain_model,
}


def test_the_import_is_used_on_every_supported_tensorflow():
    # Every supported minor (2.12-2.15) was compared node for node by the test below (the
    # nox matrix runs it on each). A new minor: add it to SAVER_NODES_VERIFIED only once
    # this file passes there.
    assert tf_private.saver_nodes_verified(), tf.__version__


@pytest.mark.parametrize("model", MODELS.values(), ids=MODELS.keys())
def test_the_imported_saver_is_node_for_node_tfs_saver(model):
    with tf.Graph().as_default() as graph:
        model()
        assert saver_graph._plain_saveables(graph), "the import path must be the one tested"
    tf_graph, tf_saver = _build(model, fast=False)
    our_graph, our_saver = _build(model, fast=True)
    assert our_saver.saver_def == tf_saver.saver_def
    theirs, ours = _nodes(tf_graph), _nodes(our_graph)
    assert sorted(ours) == sorted(theirs)
    different = [name for name in theirs if ours[name] != theirs[name]]
    assert not different, f"{different[0]}:\n{theirs[different[0]]}\nours:\n{ours[different[0]]}"
    assert _meta_graph(our_graph, our_saver) == _meta_graph(tf_graph, tf_saver)
    restore = our_saver.saver_def.restore_op_name
    assert our_graph.get_operation_by_name(restore).type == "NoOp"  # known to Python too


def test_the_imported_saver_saves_and_restores(tmp_path):
    prefix = str(tmp_path / "model")
    graph, saver = _build(_partitioned_model, fast=True)
    with tf.compat.v1.Session(graph=graph) as session:
        session.run(tf.compat.v1.global_variables_initializer())
        want = {v.op.name: session.run(v) for v in tf.compat.v1.global_variables()}
        saver.save(session, prefix, write_meta_graph=False, write_state=False)
    other_graph, tf_saver = _build(_partitioned_model, fast=False)
    with tf.compat.v1.Session(graph=other_graph) as session:
        tf_saver.restore(session, prefix)  # TF's own Saver reads what ours wrote
        got = {v.op.name: session.run(v) for v in tf.compat.v1.global_variables()}
    with tf.compat.v1.Session(graph=graph) as session:
        saver.restore(session, prefix)
        again = {v.op.name: session.run(v) for v in tf.compat.v1.global_variables()}
    assert sorted(got) == sorted(want) == sorted(again)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value)
        np.testing.assert_array_equal(again[name], value)


def _ref_variable_model():
    tf.compat.v1.get_variable("weights", [3], use_resource=False)


def _device_model():
    with tf.device("/cpu:0"):
        tf.compat.v1.get_variable("weights", [3])


def _table_model():
    tf.compat.v1.get_variable("weights", [3])
    tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1)  # a SAVEABLE_OBJECTS entry


def _caching_device_model():
    tf.compat.v1.get_variable("weights", [3], caching_device="/cpu:0")


FALLBACKS = {
    "reference variable": _ref_variable_model,
    "a variable with a device": _device_model,
    "a lookup table saveable": _table_model,
    "a caching device": _caching_device_model,
    "no variables": lambda: None,
}


@pytest.mark.parametrize("model", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_other_graphs_get_tfs_own_saver(model):
    with tf.Graph().as_default() as graph:
        model()
        assert not saver_graph._plain_saveables(graph)
    tf_graph, tf_saver = _build(model, fast=False)
    our_graph, our_saver = _build(model, fast=True)
    assert our_saver.saver_def == tf_saver.saver_def
    assert sorted(_nodes(our_graph)) == sorted(_nodes(tf_graph))
