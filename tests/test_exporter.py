"""AllModesExporter inside a real local tf.estimator.train_and_evaluate run.

One module-scoped run (a LinearClassifier, 20 steps, a checkpoint every 4 steps,
throttle_secs=0) evaluates and exports five times; the tests read what it left on disk:
each export comes from the checkpoint TF evaluated, only the newest 3 remain, and the
newest loads in all three modes with PREDICT == estimator.predict, EVAL ==
estimator.evaluate, and a TRAIN graph whose train op trains. Further tests call
``export()`` directly on the trained estimator for garbage collection corner cases,
failures, and argument checks.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import tensorflow as tf

from estimator_ext import AllModesExporter
from estimator_ext.storage.listing import integer_named_exports
from tests.support.data import XY_LABELS as LABELS
from tests.support.data import XY_ROWS as ROWS
from tests.support.data import xy_eval_input_fn as eval_input_fn
from tests.support.data import xy_receiver_fn_map as receiver_fn_map
from tests.support.data import xy_serving_receiver_fn as serving_receiver_fn
from tests.support.data import xy_supervised_receiver_fn as supervised_receiver_fn
from tests.support.data import xy_train_input_fn as train_input_fn

MK = tf.estimator.ModeKeys

MAX_STEPS = 20
KEEP = 3

RECEIVERS = receiver_fn_map()


def make_estimator(model_dir):
    return tf.estimator.LinearClassifier(
        [tf.feature_column.numeric_column("x", shape=[2])],
        model_dir=str(model_dir),
        config=tf.estimator.RunConfig(
            save_checkpoints_steps=4, tf_random_seed=1, log_step_count_steps=1000
        ),
    )


class RecordingExporter(AllModesExporter):
    """The real exporter, noting what TF passed and what each call left on disk."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        result = super().export(
            estimator, export_path, checkpoint_path, eval_result, is_the_final_export
        )
        self.calls.append(
            {
                "export_path": export_path,
                "checkpoint_path": checkpoint_path,
                "evaluated_step": int(eval_result["global_step"]),
                "exported_step": exported_global_step(result),
                "result": result,
                "listing": sorted(tf.io.gfile.listdir(export_path)),
            }
        )
        return result


def exported_global_step(export_dir):
    return int(
        tf.train.load_variable(os.path.join(export_dir, "variables", "variables"), "global_step")
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("tae_model")
    estimator = make_estimator(model_dir)
    exporter = RecordingExporter("all_modes", RECEIVERS, exports_to_keep=KEEP)
    started = time.monotonic()
    eval_metrics, export_results = tf.estimator.train_and_evaluate(
        estimator,
        tf.estimator.TrainSpec(train_input_fn, max_steps=MAX_STEPS),
        tf.estimator.EvalSpec(
            eval_input_fn, steps=1, exporters=[exporter], throttle_secs=0, start_delay_secs=0
        ),
    )
    return {
        "model_dir": str(model_dir),
        "estimator": estimator,
        "exporter": exporter,
        "eval_metrics": eval_metrics,
        "export_results": export_results,
        "seconds": time.monotonic() - started,
    }


# --- loading helpers ------------------------------------------------------------------------


def run_signature(export_dir, tags, signature_key, feeds, output_keys, before=()):
    """Loads the tag set with the TF1 loader; runs ``before`` output keys, then ``output_keys``."""
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, tags, export_dir)
        signature = meta_graph.signature_def[signature_key]
        feed_dict = {
            graph.get_tensor_by_name(signature.inputs[name].name): value
            for name, value in feeds.items()
        }

        def fetch(keys):
            return session.run(
                {key: graph.get_tensor_by_name(signature.outputs[key].name) for key in keys},
                feed_dict,
            )

        if before:
            fetch(before)
        return fetch(output_keys)


def newest_export(run_info):
    return run_info["exporter"].calls[-1]["result"]


# --- the train_and_evaluate run -------------------------------------------------------------


def test_every_evaluation_is_exported_from_the_checkpoint_tf_evaluated(run):
    calls = run["exporter"].calls
    assert len(calls) >= 4, f"expected an export after each of >= 4 evaluations, got {len(calls)}"
    expected_path = os.path.join(run["model_dir"], "export", "all_modes")
    for call in calls:
        assert call["export_path"] == expected_path
        assert call["exported_step"] == call["evaluated_step"]
        assert call["checkpoint_path"].endswith(f"model.ckpt-{call['evaluated_step']}")
        assert os.path.dirname(call["result"]) == expected_path
        assert os.path.basename(call["result"]).isdigit()
    steps = [call["exported_step"] for call in calls]
    assert steps == sorted(steps) and steps[-1] == MAX_STEPS
    # train_and_evaluate hands back what the exporter returned for the last evaluation.
    assert [str(result) for result in run["export_results"]] == [str(calls[-1]["result"])]
    assert run["eval_metrics"]["global_step"] == MAX_STEPS


def test_garbage_collection_keeps_the_newest_exports_and_no_temporaries(run):
    calls = run["exporter"].calls
    for index, call in enumerate(calls):
        newest = [os.path.basename(c["result"]) for c in calls[: index + 1]][-KEEP:]
        assert call["listing"] == sorted(newest), f"after export {index + 1}: {call['listing']}"
    on_disk = sorted(os.listdir(os.path.join(run["model_dir"], "export", "all_modes")))
    assert on_disk == sorted(os.path.basename(c["result"]) for c in calls[-KEEP:])
    for name in on_disk:
        export_dir = os.path.join(run["model_dir"], "export", "all_modes", name)
        assert sorted(os.listdir(export_dir)) == ["saved_model.pb", "variables"]


def test_newest_export_predict_matches_estimator_predict(run):
    export_dir = newest_export(run)
    assert (
        exported_global_step(export_dir)
        == MAX_STEPS
        == run["estimator"].get_variable_value("global_step")
    )
    expected = list(
        run["estimator"].predict(
            lambda: tf.data.Dataset.from_tensor_slices({"x": ROWS}).batch(len(ROWS))
        )
    )
    served = run_signature(
        export_dir, ["serve"], "predict", {"x": ROWS}, ["probabilities", "logits", "class_ids"]
    )
    np.testing.assert_allclose(
        served["probabilities"], np.stack([p["probabilities"] for p in expected]), rtol=1e-6
    )
    np.testing.assert_allclose(
        served["logits"], np.stack([p["logits"] for p in expected]), rtol=1e-6
    )
    np.testing.assert_array_equal(served["class_ids"], np.stack([p["class_ids"] for p in expected]))
    default = run_signature(
        export_dir, ["serve"], "serving_default", {"x": ROWS}, ["probabilities"]
    )
    np.testing.assert_allclose(default["probabilities"], served["probabilities"], rtol=1e-6)


def test_newest_export_eval_matches_estimator_evaluate(run):
    expected = run["estimator"].evaluate(eval_input_fn, steps=1)
    metric_names = ["accuracy", "auc", "average_loss"]
    got = run_signature(
        newest_export(run),
        ["eval"],
        "eval",
        {"x": ROWS, "label": LABELS},
        ["loss"] + [f"metrics/{name}/value" for name in metric_names],
        before=[f"metrics/{name}/update_op" for name in metric_names],
    )
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    for name in metric_names:
        assert got[f"metrics/{name}/value"] == pytest.approx(expected[name], rel=1e-5), name


def test_newest_export_train_op_trains(run):
    export_dir = newest_export(run)
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["train"], export_dir)
        signature = meta_graph.signature_def["train"]
        feed_dict = {
            graph.get_tensor_by_name(signature.inputs["x"].name): ROWS,
            graph.get_tensor_by_name(signature.inputs["label"].name): LABELS,
        }
        loss = graph.get_tensor_by_name(signature.outputs["loss"].name)
        train_op = tf.compat.v1.get_collection("saved_model_train_op")[0]
        global_step = tf.compat.v1.train.get_global_step(graph)
        loss_before, step_before = session.run([loss, global_step], feed_dict)
        for _ in range(10):
            session.run(train_op, feed_dict)
        loss_after, step_after = session.run([loss, global_step], feed_dict)
    assert step_before == MAX_STEPS and step_after == MAX_STEPS + 10
    assert loss_after < loss_before


def test_exports_load_with_tf2_loader_in_all_three_modes(run):
    for tags in (["train"], ["eval"], ["serve"]):
        loaded = tf.saved_model.load(newest_export(run), tags=tags)
        assert loaded.signatures, tags


# --- export() called directly: garbage collection corner cases, failures -------------------


@pytest.fixture()
def export_path(tmp_path):
    return str(tmp_path / "export" / "all_modes")


def make_entries(export_path, names, files=(), incomplete=()):
    """Directories that look like complete exports (a saved_model.pb), files, and
    integer-named directories without saved_model.pb (a copy-publish in progress)."""
    for name in names:
        os.makedirs(os.path.join(export_path, name))
        if name.isdigit():
            with open(os.path.join(export_path, name, "saved_model.pb"), "wb") as handle:
                handle.write(b"")
    for name in incomplete:
        os.makedirs(os.path.join(export_path, name, "variables"))
    for name in files:
        with open(os.path.join(export_path, name), "w") as handle:
            handle.write("not an export")


def call_export(exporter, run_info, export_path):
    checkpoint = run_info["estimator"].latest_checkpoint()
    return exporter.export(
        run_info["estimator"], export_path, checkpoint, {"global_step": MAX_STEPS}, False
    )


def test_gc_only_touches_integer_named_directories(run, export_path):
    temp_name = ".estimator_ext-tmp-1000000000-host-1-abc"  # an export in progress elsewhere
    make_entries(
        export_path,
        ["1000000001", "1000000002", "1000000003", temp_name, "notes", "0x12"],
        files=["1000000004"],
    )
    exporter = AllModesExporter("all_modes", {MK.PREDICT: serving_receiver_fn}, exports_to_keep=2)
    result = call_export(exporter, run, export_path)
    new_name = os.path.basename(result)
    assert sorted(os.listdir(export_path)) == sorted(
        ["1000000003", new_name, temp_name, "notes", "0x12", "1000000004"]
    )
    assert [version for version, _ in integer_named_exports(export_path)] == [
        1000000003,
        int(new_name),
    ]


def test_gc_neither_counts_nor_deletes_incomplete_versions(run, export_path):
    # 1000000005 has no saved_model.pb: another writer's copy-publish in progress (or a
    # dead writer's partial version, for clean_stale_temporaries). It must not count
    # as one of the 2 kept, nor be deleted.
    make_entries(export_path, ["1000000001", "1000000002", "1000000003"], incomplete=["1000000005"])
    exporter = AllModesExporter("all_modes", {MK.PREDICT: serving_receiver_fn}, exports_to_keep=2)
    result = call_export(exporter, run, export_path)
    assert sorted(os.listdir(export_path)) == sorted(
        ["1000000003", "1000000005", os.path.basename(result)]
    )


def test_exports_to_keep_none_keeps_every_export(run, export_path):
    make_entries(export_path, [str(1000000000 + i) for i in range(6)])
    exporter = AllModesExporter(
        "all_modes", {MK.PREDICT: serving_receiver_fn}, exports_to_keep=None
    )
    first = call_export(exporter, run, export_path)
    second = call_export(exporter, run, export_path)
    assert int(os.path.basename(second)) > int(os.path.basename(first))
    assert len(integer_named_exports(export_path)) == 8


def test_gc_never_deletes_the_export_just_written(run, export_path):
    # A directory from a clock that ran ahead is "newer" than ours; keeping 1 must not
    # delete the export this call produced.
    make_entries(export_path, ["1000000001", "9999999999"])
    exporter = AllModesExporter("all_modes", {MK.PREDICT: serving_receiver_fn}, exports_to_keep=1)
    result = call_export(exporter, run, export_path)
    assert sorted(os.listdir(export_path)) == sorted(["9999999999", os.path.basename(result)])
    assert os.path.isfile(os.path.join(result, "saved_model.pb"))


def test_failed_export_raises_and_deletes_nothing(run, export_path):
    make_entries(export_path, ["1000000001", "1000000002", "1000000003"])
    before = sorted(os.listdir(export_path))

    def broken_receiver_fn():
        raise RuntimeError("receiver exploded")

    exporter = AllModesExporter(
        "all_modes",
        {MK.TRAIN: supervised_receiver_fn, MK.PREDICT: broken_receiver_fn},
        exports_to_keep=1,
    )
    with pytest.raises(RuntimeError, match="receiver exploded"):
        call_export(exporter, run, export_path)
    assert sorted(os.listdir(export_path)) == before


def test_failed_export_into_missing_directory_leaves_nothing(run, tmp_path):
    export_path = str(tmp_path / "model" / "export" / "all_modes")

    def broken_receiver_fn():
        raise RuntimeError("receiver exploded")

    exporter = AllModesExporter("all_modes", {MK.PREDICT: broken_receiver_fn})
    with pytest.raises(RuntimeError, match="receiver exploded"):
        call_export(exporter, run, export_path)
    assert os.listdir(tmp_path) == []


def test_an_assets_extra_source_deleted_after_the_exporter_was_built_is_named(run, tmp_path):
    """The exporter checks its plan once, when built; a source removed before an export is
    reported as the argument it came from, before anything is written."""
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("a\nb\n")
    exporter = AllModesExporter("all_modes", RECEIVERS, assets_extra={"vocab.txt": str(vocabulary)})
    vocabulary.unlink()
    export_path = str(tmp_path / "model" / "export" / "all_modes")
    with pytest.raises(ValueError, match=r"assets_extra\['vocab.txt'\] = .* does not exist"):
        call_export(exporter, run, export_path)
    assert os.listdir(tmp_path) == []


def test_as_text_and_assets_extra_reach_the_export(run, export_path, tmp_path):
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("a\nb\n")
    exporter = AllModesExporter(
        "all_modes", RECEIVERS, assets_extra={"nested/vocab.txt": str(vocabulary)}, as_text=True
    )
    result = call_export(exporter, run, export_path)
    assert os.path.isfile(os.path.join(result, "saved_model.pbtxt"))
    assert not os.path.exists(os.path.join(result, "saved_model.pb"))
    with open(os.path.join(result, "assets.extra", "nested", "vocab.txt")) as handle:
        assert handle.read() == "a\nb\n"
    assert set(result.keys()) == {MK.TRAIN, MK.EVAL, MK.PREDICT}


# --- the interface TF expects, and argument checks -----------------------------------------


def test_is_a_tf_exporter_accepted_by_eval_spec():
    exporter = AllModesExporter("all_modes", RECEIVERS)
    assert isinstance(exporter, tf.estimator.Exporter)
    assert exporter.name == "all_modes" and exporter.exports_to_keep == 5
    spec = tf.estimator.EvalSpec(eval_input_fn, exporters=exporter)
    assert spec.exporters == (exporter,)
    assert AllModesExporter("keep_all", RECEIVERS, exports_to_keep=None).exports_to_keep is None
    assert (
        AllModesExporter("numpy_int", RECEIVERS, exports_to_keep=np.int64(2)).exports_to_keep == 2
    )


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "`name` must be a non-empty string"),
        ("   ", "`name` must be a non-empty string"),
        (None, "`name` must be a non-empty string"),
        (7, "`name` must be a non-empty string"),
        ("a/b", "must be a single directory name"),
        ("..", "must be a single directory name"),
    ],
)
def test_bad_name_is_refused(name, message):
    with pytest.raises(ValueError, match=message):
        AllModesExporter(name, RECEIVERS)


@pytest.mark.parametrize("exports_to_keep", [0, -1, 1.5, True, "3"])
def test_bad_exports_to_keep_is_refused(exports_to_keep):
    with pytest.raises(
        ValueError, match=r"`exports_to_keep` must be a positive int .* or None"
    ) as error:
        AllModesExporter("all_modes", RECEIVERS, exports_to_keep=exports_to_keep)
    assert repr(exports_to_keep) in str(error.value)


@pytest.mark.parametrize(
    "receiver_map, error_type, message",
    [
        ({}, ValueError, "input_receiver_fn_map is empty"),
        (
            {"predict": serving_receiver_fn},
            ValueError,
            r"Did you mean ModeKeys.PREDICT \('infer'\)",
        ),
        ({MK.PREDICT: None}, ValueError, r"input_receiver_fn_map\[.*ModeKeys.PREDICT.* is None"),
        ([serving_receiver_fn], TypeError, "input_receiver_fn_map must be a dict"),
    ],
)
def test_bad_receiver_map_is_refused_when_built(receiver_map, error_type, message):
    with pytest.raises(error_type, match=message):
        AllModesExporter("all_modes", receiver_map)


def test_bad_assets_extra_and_as_text_are_refused_when_built(tmp_path):
    source = tmp_path / "file.txt"
    source.write_text("x")
    with pytest.raises(ValueError, match="points outside assets.extra"):
        AllModesExporter("all_modes", RECEIVERS, assets_extra={"../escape.txt": str(source)})
    with pytest.raises(ValueError, match="does not exist"):
        AllModesExporter(
            "all_modes", RECEIVERS, assets_extra={"a.txt": str(tmp_path / "missing.txt")}
        )
    with pytest.raises(
        TypeError,
        match=r"^AllModesExporter: `as_text` must be True or False; received 'yes' \(str\)",
    ):
        AllModesExporter("all_modes", RECEIVERS, as_text="yes")
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_as_text_takes_numpy_booleans_as_export_all_saved_models_does():
    """One rule for boolean arguments (export_all_saved_models's): numpy booleans are
    booleans; the exporter stores a plain bool."""
    for flag, expected in ((np.True_, True), (np.bool_(False), False)):
        assert AllModesExporter("all_modes", RECEIVERS, as_text=flag)._options.as_text is expected
