"""Repeated exports reuse the graphs: parity with a fresh export, and every rebuild trigger.

A plan's later exports write the graphs its first export built (no receiver or model_fn
call). Each one is compared with a fresh ``export_all_saved_models`` of the same
checkpoint: the same tags, signatures, graph nodes and variables, read back with TF's own
loader; its serve graph gives ``estimator.predict``, its eval graph ``evaluate``, its train
op trains. Then each change that must rebuild the graphs is shown to rebuild them: the
model_fn below counts its calls, and ONE INFO record says why.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import estimator_ext
from estimator_ext.export import plan as planning
from estimator_ext.export.reuse import GraphReuse
from estimator_ext.export.write import write_plan
from tests.support import data
from tests.support.data import MK

REBUILD = "Building the export's graphs again"


class CountingModelFn:
    """A real model_fn (tests/support/data.py's) that counts how often it is called."""

    def __init__(self, model_fn):
        self.model_fn = model_fn
        self.calls = 0

    def __call__(self, features, labels, mode, params):
        self.calls += 1
        return self.model_fn(features, labels, mode, params)


@pytest.fixture(scope="module")
def vocabulary_model(tmp_path_factory):
    """(estimator with a lookup table over an asset file, its counting model_fn, vocabulary):
    trained in two rounds, so its model_dir holds several checkpoints."""
    root = tmp_path_factory.mktemp("vocabulary_model")
    vocabulary = root / "colors.txt"
    vocabulary.write_text("red\ngreen\nblue\n")
    counting = CountingModelFn(data.make_model_fn(vocabulary_file=str(vocabulary)))
    estimator = tf.estimator.Estimator(
        counting, model_dir=str(root / "model"), params={"learning_rate": 0.1}
    )
    estimator.train(data.input_fn(data.TARGET), steps=3)
    estimator.train(data.input_fn(data.TARGET), steps=3)
    tf.compat.v1.summary.FileWriterCache.clear()
    return estimator, counting, str(vocabulary)


def checkpoints(estimator):
    return list(tf.train.get_checkpoint_state(estimator.model_dir).all_model_checkpoint_paths)


def saved_model(export_dir):
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as handle:
        proto.ParseFromString(handle.read())
    return proto


def file_tree(export_dir, folder):
    root = os.path.join(export_dir, folder)
    found = {}
    for path in data.listing(root) if os.path.exists(root) else []:
        if os.path.isfile(os.path.join(root, path)):
            with open(os.path.join(root, path), "rb") as handle:
                found[path] = handle.read()
    return found


def assert_same_export(reused, fresh):
    """Same tags, signatures, nodes, savers and collections; same variables and assets.

    Two builds of one graph differ only in generated names (a hash table's shared_name,
    a cond's function names), so the nodes are compared by name, not byte for byte.
    """
    ours, theirs = saved_model(reused), saved_model(fresh)
    assert len(ours.meta_graphs) == len(theirs.meta_graphs)
    for mine, other in zip(ours.meta_graphs, theirs.meta_graphs):
        assert mine.meta_info_def.tags == other.meta_info_def.tags
        assert mine.signature_def == other.signature_def
        assert mine.saver_def == other.saver_def
        assert sorted(mine.collection_def) == sorted(other.collection_def)
        assert {node.name for node in mine.graph_def.node} == {
            node.name for node in other.graph_def.node
        }
    variables = [
        tf.train.load_checkpoint(os.path.join(export, "variables", "variables"))
        for export in (reused, fresh)
    ]
    shapes = [reader.get_variable_to_shape_map() for reader in variables]
    assert shapes[0] == shapes[1]
    for name in shapes[0]:
        np.testing.assert_array_equal(variables[0].get_tensor(name), variables[1].get_tensor(name))
    for folder in ("assets", "assets.extra"):
        assert file_tree(reused, folder) == file_tree(fresh, folder), folder


def test_canned_estimator_reused_export_equals_a_fresh_one(trained_linear_classifier, tmp_path):
    estimator = trained_linear_classifier
    first, latest = checkpoints(estimator)[0], checkpoints(estimator)[-1]
    notes = tmp_path / "notes.txt"
    notes.write_text("notes")
    receivers = data.receiver_map()
    plan = estimator_ext.plan_export(
        estimator, str(tmp_path / "plan"), receivers, assets_extra={"docs/notes.txt": str(notes)}
    )
    built = plan.export(first)
    assert plan.stored_bytes == os.path.getsize(os.path.join(built, "saved_model.pb"))
    reused = plan.export(latest)
    fresh = estimator_ext.export_all_saved_models(
        estimator,
        str(tmp_path / "fresh"),
        receivers,
        assets_extra={"docs/notes.txt": str(notes)},
        checkpoint_path=latest,
    )
    assert reused.tags_by_mode == fresh.tags_by_mode
    assert reused.variables_strategy == fresh.variables_strategy == "copy"
    with open(os.path.join(built, "saved_model.pb"), "rb") as first_pb:
        with open(os.path.join(reused, "saved_model.pb"), "rb") as reused_pb:
            assert reused_pb.read() == first_pb.read()  # the stored bytes, written again
    assert_same_export(reused, fresh)
    data.assert_predict_parity(estimator, reused)
    data.assert_eval_parity(estimator, reused)
    data.assert_train_trains(reused)


def test_lookup_table_and_assets_reused_export_equals_a_fresh_one(vocabulary_model, tmp_path):
    estimator, counting, _ = vocabulary_model
    first, latest = checkpoints(estimator)[0], checkpoints(estimator)[-1]
    receivers = data.receiver_map(tf.float32)
    plan = estimator_ext.plan_export(estimator, str(tmp_path / "plan"), receivers)
    plan.export(first)
    calls = counting.calls
    reused = plan.export(latest)
    assert counting.calls == calls  # no model_fn call
    fresh = estimator_ext.export_all_saved_models(
        estimator, str(tmp_path / "fresh"), receivers, checkpoint_path=latest
    )
    assert list(file_tree(reused, "assets")) == ["colors.txt"]
    assert_same_export(reused, fresh)
    data.assert_predict_parity(estimator, reused)
    data.assert_eval_parity(estimator, reused, labels=data.TARGET)
    data.assert_train_trains(reused, labels=data.TARGET)


# --- what rebuilds the graphs -----------------------------------------------------------------


def primed(estimator, tmp_path, receivers, **options):
    """A GraphReuse holding the graphs of one export of ``estimator``, and that plan."""
    plan = planning.plan_export("test", estimator, str(tmp_path / "e"), receivers, **options)
    reuse = GraphReuse()
    write_plan(plan, checkpoints(estimator)[0], reuse)
    assert reuse.built is not None
    return reuse, plan


def rebuild_records(caplog):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(REBUILD)]


SERVING = data.raw_serving_receiver_fn(data.FEATURE_SPECS)
SUPERVISED = data.receiver_map(tf.float32)[MK.EVAL]
RECEIVERS = {MK.EVAL: SUPERVISED, MK.PREDICT: SERVING}


def estimator_like(estimator, counting, **changes):
    """A new Estimator on the same model_dir, with ``changes`` to model_fn, params or config."""
    arguments = {
        "model_fn": counting,
        "model_dir": estimator.model_dir,
        "params": estimator.params,
    }
    arguments.update(changes)
    return tf.estimator.Estimator(**arguments)


def test_nothing_changed_reuses_without_a_model_fn_call(vocabulary_model, tmp_path, caplog):
    estimator, counting, _ = vocabulary_model
    reuse, plan = primed(estimator, tmp_path, RECEIVERS)
    calls = counting.calls
    same_estimator = estimator_like(estimator, counting)  # equal params and config
    plan = planning.plan_with_options("test", same_estimator, plan.export_dir_base, plan.options)
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        write_plan(plan, checkpoints(estimator)[-1], reuse)
    assert counting.calls == calls and rebuild_records(caplog) == []


def rebuild_cases(estimator, counting, vocabulary, tmp_path):
    """What changed -> (the plan of the next export, a fragment of the logged reason, the
    counting model_fn that export calls)."""
    base = str(tmp_path / "e")
    notes = tmp_path / "notes.txt"
    notes.write_text("notes")

    def planned(target=estimator, receivers=RECEIVERS, **options):
        return planning.plan_export("test", target, base, receivers, **options)

    other_fn = CountingModelFn(counting.model_fn)
    seed = tf.estimator.RunConfig(model_dir=estimator.model_dir, tf_random_seed=7)
    other_serving = data.raw_serving_receiver_fn(data.FEATURE_SPECS)
    warmup = [{"x1": [1.0], "x2": [2.0], "color": ["red"]}]
    cases = {
        "model_fn": (planned(estimator_like(estimator, other_fn)), "model_fn is another"),
        "params": (planned(estimator_like(estimator, counting, params={"x": 1})), "params"),
        "config": (planned(estimator_like(estimator, counting, config=seed)), "tf_random_seed"),
        "receiver": (
            planned(receivers={MK.EVAL: SUPERVISED, MK.PREDICT: other_serving}),
            "receiver fn of 'infer'",
        ),
        "modes": (planned(receivers={MK.PREDICT: SERVING}), "modes changed"),
        "strip_default_attrs": (planned(strip_default_attrs=True), "strip_default_attrs"),
        "as_text": (planned(as_text=True), "as_text"),
        "assets_extra": (planned(assets_extra={"notes.txt": str(notes)}), "assets_extra"),
        "warmup": (planned(warmup_requests=warmup), "warmup_requests"),
    }
    return {
        case: (plan, reason, other_fn if case == "model_fn" else counting)
        for case, (plan, reason) in cases.items()
    }


CASES = [
    "model_fn",
    "params",
    "config",
    "receiver",
    "modes",
    "strip_default_attrs",
    "as_text",
    "assets_extra",
    "warmup",
]


@pytest.mark.parametrize("case", CASES)
def test_each_change_rebuilds_with_one_info_record(vocabulary_model, tmp_path, caplog, case):
    estimator, counting, vocabulary = vocabulary_model
    reuse, _ = primed(estimator, tmp_path, RECEIVERS)
    plan, reason, counter = rebuild_cases(estimator, counting, vocabulary, tmp_path)[case]
    calls = counter.calls
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        export = write_plan(plan, checkpoints(estimator)[-1], reuse)
    records = rebuild_records(caplog)
    assert len(records) == 1 and reason in records[0], records
    assert counter.calls - calls == len(plan.options.modes)  # every mode built again
    assert reuse.built is not None and os.path.isdir(export)
    # ... and the rebuilt graphs are reused from then on
    calls = counter.calls
    write_plan(plan, checkpoints(estimator)[-1], reuse)
    assert counter.calls == calls


def test_a_changed_asset_file_rebuilds(vocabulary_model, tmp_path, caplog):
    estimator, counting, vocabulary = vocabulary_model
    reuse, plan = primed(estimator, tmp_path, RECEIVERS)
    stat = os.stat(vocabulary)
    os.utime(vocabulary, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    calls = counting.calls
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        write_plan(plan, checkpoints(estimator)[-1], reuse)
    records = rebuild_records(caplog)
    assert len(records) == 1 and vocabulary in records[0], records
    assert counting.calls - calls == 2


def test_a_checkpoint_the_stored_graphs_do_not_fit_rebuilds(
    vocabulary_model, trained_custom_regressor, tmp_path, caplog
):
    estimator, counting, _ = vocabulary_model
    reuse, plan = primed(estimator, tmp_path, RECEIVERS)
    other_model = trained_custom_regressor.latest_checkpoint()  # no color_weight
    calls = counting.calls
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        with pytest.raises(ValueError, match="color_weight"):
            write_plan(plan, other_model, reuse)
    records = rebuild_records(caplog)
    assert len(records) == 1 and "do not fit the stored graphs" in records[0], records
    assert counting.calls > calls  # it did rebuild; the rebuilt graph then failed the check
    assert os.listdir(tmp_path / "e") == [os.listdir(tmp_path / "e")[0]]  # nothing new left


def test_restore_save_graphs_are_built_for_every_export(
    trained_object_checkpoint_regressor, tmp_path, caplog
):
    estimator = trained_object_checkpoint_regressor
    plan = estimator_ext.plan_export(estimator, str(tmp_path), data.receiver_map(tf.float32))
    plan.export()
    assert plan.stored_bytes == 0
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        export = plan.export()
    records = rebuild_records(caplog)
    assert len(records) == 1 and "restore-save" in records[0], records
    assert export.variables_strategy == "restore-save"
    data.assert_predict_parity(estimator, export)


def test_reuse_graphs_false_builds_every_export(vocabulary_model, tmp_path):
    estimator, counting, _ = vocabulary_model
    plan = estimator_ext.plan_export(estimator, str(tmp_path / "p"), RECEIVERS, reuse_graphs=False)
    exporter = estimator_ext.AllModesExporter("all", RECEIVERS, reuse_graphs=False)
    exports = (plan.export, lambda: exporter.export(estimator, str(tmp_path / "x"), None, None, 0))
    for export in exports:
        calls = counting.calls
        export()
        export()
        assert counting.calls - calls == 4
    assert plan.stored_bytes == 0 and not plan.reuse_graphs
    with pytest.raises(TypeError, match=r"^plan_export: `reuse_graphs` must be True or False"):
        estimator_ext.plan_export(estimator, str(tmp_path), RECEIVERS, reuse_graphs="no")


def test_all_modes_exporter_reuses_by_default(vocabulary_model, tmp_path):
    estimator, counting, _ = vocabulary_model
    exporter = estimator_ext.AllModesExporter("all", RECEIVERS, exports_to_keep=1)
    calls = counting.calls
    for checkpoint in checkpoints(estimator)[-2:]:
        last = exporter.export(estimator, str(tmp_path), checkpoint, None, False)
    assert counting.calls - calls == 2  # the first export's two modes only
    assert os.listdir(tmp_path) == [os.path.basename(last)]
    data.assert_predict_parity(estimator, last)
