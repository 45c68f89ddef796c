"""How the SavedModel's variables are written (estimator_ext/strategies.py) and the
checkpoint is found and checked against (estimator_ext/_checkpoint.py).

Each strategy is taken by model construction and, for parity, also forced by passing
``strategies.WriteOptions(strategy=...)`` to the export:

* "copy": a TRAIN-including export of a plain model saves exactly the checkpoint's tensors;
* "stream": a PREDICT-only (or EVAL-first) export saves a strict subset (no Adagrad slots);
* "restore-save": lookup tables (MutableHashTable saveables), custom savers,
  tf.train.Checkpoint savers.

Every path must give the same export: PREDICT outputs equal ``estimator.predict`` and the
exported tensors equal the checkpoint's. Plus the metadata checks' errors (nothing left on
disk) and how the checkpoint to export is found.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from estimator_ext.variables import catalog as catalogs
from estimator_ext.variables import checkpoint as checkpoints
from estimator_ext.variables import strategies, stream
from tests.support import data
from tests.support.data import MK

ALL_MODES = (MK.TRAIN, MK.EVAL, MK.PREDICT)
#: What the PREDICT graph of adagrad_model_fn saves: the checkpoint less the Adagrad slots.
PREDICT_VARIABLES = {
    "color_embedding",
    "global_step",
    "hidden/bias",
    "hidden/kernel",
    "output/bias",
    "output/kernel",
}


def adagrad_model_fn(features, labels, mode, params):
    """A small regression model with a partitioned embedding, trained with Adagrad.

    Adagrad adds an accumulator per variable, so the checkpoint holds more tensors than
    the PREDICT (and EVAL) graphs need: exporting those alone must stream a subset.
    """
    color_ids = tf.strings.to_hash_bucket_fast(tf.reshape(features["color"], [-1]), 6)
    embedding = tf.compat.v1.get_variable(
        "color_embedding",
        [6, 3],
        initializer=tf.compat.v1.random_normal_initializer(seed=1),
        partitioner=tf.compat.v1.fixed_size_partitioner(3),
    )
    inputs = tf.concat(
        [features["x1"], features["x2"], tf.nn.embedding_lookup(embedding, color_ids)], axis=1
    )
    units = params.get("predict_hidden_units", 4) if mode == MK.PREDICT else 4
    hidden = tf.compat.v1.layers.dense(inputs, units, activation=tf.nn.relu, name="hidden")
    prediction = tf.compat.v1.layers.dense(hidden, 1, name="output")
    predictions = {"prediction": prediction}
    if mode == MK.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    loss = tf.compat.v1.losses.mean_squared_error(labels, prediction)
    metrics = {"rmse": tf.compat.v1.metrics.root_mean_squared_error(labels, prediction)}
    train_op = None
    if mode == MK.TRAIN:
        train_op = tf.compat.v1.train.AdagradOptimizer(0.1).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step()
        )
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions, loss=loss, train_op=train_op, eval_metric_ops=metrics
    )


def _adagrad_estimator(model_dir, **params):
    config = tf.estimator.RunConfig(save_checkpoints_steps=10, keep_checkpoint_max=5)
    return tf.estimator.Estimator(
        adagrad_model_fn, model_dir=model_dir, params=params, config=config
    )


@pytest.fixture(scope="module")
def adagrad(tmp_path_factory):
    """Trained 20 steps with a checkpoint every 10: an older and a latest checkpoint."""
    estimator = _adagrad_estimator(str(tmp_path_factory.mktemp("adagrad") / "model"))
    estimator.train(data.input_fn(data.TARGET), steps=20)
    return estimator


def _export(estimator, export_base, modes=ALL_MODES, **kwargs):
    return estimator_ext.export_all_saved_models(
        estimator, str(export_base), data.receiver_map(tf.float32, modes), **kwargs
    )


def _forced(strategy):
    """The export argument that forces ``strategy`` for the saving mode's variables."""
    return {"_write_options": strategies.WriteOptions(strategy=strategy)}


def _exported_tensors(export):
    reader = tf.train.load_checkpoint(os.path.join(export, "variables", "variables"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _checkpoint_tensors(prefix, names=None):
    reader = tf.train.load_checkpoint(prefix)
    names = reader.get_variable_to_shape_map() if names is None else names
    return {name: reader.get_tensor(name) for name in names}


def _assert_same_tensors(got, want):
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def _variables_dir(export):
    return sorted(os.listdir(os.path.join(export, "variables")))


# --- the strategy each kind of export takes, and parity on it --------------------------------


def test_train_export_of_a_plain_model_copies_the_checkpoint(adagrad, tmp_path):
    export = _export(adagrad, tmp_path)
    assert export.variables_strategy == strategies.COPY
    checkpoint = adagrad.latest_checkpoint()
    assert _variables_dir(export) == ["variables.data-00000-of-00001", "variables.index"]
    with (
        open(checkpoint + ".index", "rb") as want,
        open(os.path.join(export, "variables", "variables.index"), "rb") as got,
    ):
        assert got.read() == want.read()
    _assert_same_tensors(_exported_tensors(export), _checkpoint_tensors(checkpoint))
    data.assert_predict_parity(adagrad, export)
    data.assert_eval_parity(adagrad, export, data.TARGET)
    data.assert_train_trains(export, data.TARGET)


def test_training_on_leaves_a_copied_export_alone(tmp_path):
    estimator = _adagrad_estimator(str(tmp_path / "model"))
    estimator.train(data.input_fn(data.TARGET), steps=10)
    checkpoint = estimator.latest_checkpoint()
    export = _export(estimator, tmp_path / "exports")
    assert export.variables_strategy == strategies.COPY
    before = _exported_tensors(export)
    # Training on writes new checkpoint files and deletes old ones (keep_checkpoint_max=5):
    # the export, a copy of the old files, must not change.
    estimator.train(data.input_fn(data.TARGET), steps=60)
    assert not os.path.exists(checkpoint + ".index")
    _assert_same_tensors(_exported_tensors(export), before)


def test_copy_writes_identical_independent_files(adagrad, tmp_path):
    export = _export(adagrad, tmp_path)
    assert export.variables_strategy == strategies.COPY
    exported_data = os.path.join(export, "variables", "variables.data-00000-of-00001")
    checkpoint_data = adagrad.latest_checkpoint() + ".data-00000-of-00001"
    assert not os.path.samefile(exported_data, checkpoint_data)
    assert os.stat(exported_data).st_nlink == 1  # no hard link to the checkpoint's inode
    with open(exported_data, "rb") as got, open(checkpoint_data, "rb") as want:
        assert got.read() == want.read()


def test_predict_only_export_streams_only_what_predict_needs(adagrad, tmp_path):
    export = _export(adagrad, tmp_path, modes=(MK.PREDICT,))
    assert export.variables_strategy == strategies.STREAM
    exported = _exported_tensors(export)
    assert set(exported) == PREDICT_VARIABLES  # no Adagrad accumulators
    _assert_same_tensors(
        exported, _checkpoint_tensors(adagrad.latest_checkpoint(), PREDICT_VARIABLES)
    )
    # Streamed shards are merged into the usual layout and their directory removed.
    assert [name for name in _variables_dir(export) if not name.startswith("variables.data-")] == [
        "variables.index"
    ]
    data.assert_predict_parity(adagrad, export)


def test_streamed_partitions_restore_through_the_modes_sharded_saver(adagrad, tmp_path):
    export = _export(adagrad, tmp_path, modes=(MK.PREDICT,))
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        tf.compat.v1.saved_model.loader.load(session, ["serve"], export)
        partitions = [
            v
            for v in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
            if v.name.startswith("color_embedding/")
        ]
        assert len(partitions) == 3
        restored = np.concatenate(session.run(sorted(partitions, key=lambda v: v.name)))
    np.testing.assert_array_equal(
        restored,
        tf.train.load_checkpoint(adagrad.latest_checkpoint()).get_tensor("color_embedding"),
    )


def test_eval_first_export_streams_and_predict_is_checked_against_it(adagrad, tmp_path):
    export = _export(adagrad, tmp_path, modes=(MK.EVAL, MK.PREDICT))
    assert export.saved_variables_mode == MK.EVAL
    assert export.variables_strategy == strategies.STREAM
    assert set(_exported_tensors(export)) == PREDICT_VARIABLES
    data.assert_predict_parity(adagrad, export)
    data.assert_eval_parity(adagrad, export, data.TARGET)


def test_predict_only_subset_is_copied_byte_for_byte_into_one_data_file(adagrad, tmp_path):
    export = _export(adagrad, tmp_path, modes=(MK.PREDICT,))
    assert _variables_dir(export) == ["variables.data-00000-of-00001", "variables.index"]
    reader = tf.train.load_checkpoint(adagrad.latest_checkpoint())
    assert sum(reader.get_tensor(name).nbytes for name in PREDICT_VARIABLES) == os.path.getsize(
        os.path.join(export, "variables", "variables.data-00000-of-00001")
    )


def _write_v1_checkpoint(prefix, directory):
    """The checkpoint at ``prefix`` rewritten in the V1 (single file, no index) format."""
    reader = tf.train.load_checkpoint(prefix)
    os.makedirs(directory)
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        variables = [
            tf.compat.v1.Variable(reader.get_tensor(name), name=name)
            for name in reader.get_variable_to_shape_map()
        ]
        session.run(tf.compat.v1.global_variables_initializer())
        saver = tf.compat.v1.train.Saver(variables, write_version=tf.compat.v1.train.SaverDef.V1)
        return saver.save(session, os.path.join(directory, "model.ckpt"), write_meta_graph=False)


def test_v1_checkpoint_subset_streams_in_many_small_shards_merged_into_one(adagrad, tmp_path):
    """A V1 checkpoint has no index to copy byte ranges from: RestoreV2 -> SaveV2 shards."""
    v1_checkpoint = _write_v1_checkpoint(adagrad.latest_checkpoint(), str(tmp_path / "v1"))
    assert not os.path.exists(v1_checkpoint + ".index")
    tiny_shards = strategies.WriteOptions(stream_group_bytes=16)  # every tensor and partition alone
    export = _export(
        adagrad,
        tmp_path / "exports",
        modes=(MK.PREDICT,),
        checkpoint_path=v1_checkpoint,
        _write_options=tiny_shards,
    )
    assert export.variables_strategy == strategies.STREAM
    data_files = [name for name in _variables_dir(export) if name.startswith("variables.data-")]
    assert len(data_files) == 8  # 3 embedding partitions + 4 dense tensors + global_step
    _assert_same_tensors(
        _exported_tensors(export),
        _checkpoint_tensors(adagrad.latest_checkpoint(), PREDICT_VARIABLES),
    )
    data.assert_predict_parity(adagrad, export)


@pytest.mark.parametrize(
    "modes, strategy",
    [
        (ALL_MODES, strategies.STREAM),
        (ALL_MODES, strategies.RESTORE_SAVE),
        ((MK.PREDICT,), strategies.RESTORE_SAVE),
    ],
    ids=["all-modes-streamed", "all-modes-restore-save", "predict-restore-save"],
)
def test_every_strategy_writes_the_same_variables(adagrad, tmp_path, modes, strategy):
    natural = _export(adagrad, tmp_path / "natural", modes=modes)
    forced = _export(adagrad, tmp_path / "forced", modes=modes, **_forced(strategy))
    assert forced.variables_strategy == strategy != natural.variables_strategy
    _assert_same_tensors(_exported_tensors(forced), _exported_tensors(natural))
    data.assert_predict_parity(adagrad, forced)
    if MK.EVAL in modes:
        data.assert_eval_parity(adagrad, forced, data.TARGET)


def test_forcing_a_strategy_that_cannot_apply_is_refused_and_leaves_nothing(adagrad, tmp_path):
    base = tmp_path / "exports"
    with pytest.raises(ValueError, match=r"strategy 'copy' cannot apply.*needs 'stream'"):
        _export(adagrad, base, modes=(MK.PREDICT,), **_forced(strategies.COPY))
    assert not base.exists()
    with pytest.raises(ValueError, match="strategy must be one of"):
        strategies.WriteOptions(strategy="hardlink")
    for size in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="stream_group_bytes must be a positive int"):
            strategies.WriteOptions(stream_group_bytes=size)


# --- restore-save: what metadata cannot describe ----------------------------------------------


def table_model_fn(features, labels, mode):
    """A linear model plus a MutableHashTable of per-colour offsets filled while training."""
    table = tf.lookup.experimental.MutableHashTable(
        tf.string, tf.float32, default_value=0.0, name="color_offsets"
    )
    inputs = tf.concat([features["x1"], features["x2"]], axis=1)
    prediction = tf.compat.v1.layers.dense(inputs, 1, name="linear")
    prediction += tf.reshape(table.lookup(tf.reshape(features["color"], [-1])), [-1, 1])
    predictions = {"prediction": prediction}
    if mode == MK.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    loss = tf.compat.v1.losses.mean_squared_error(labels, prediction)
    step = tf.compat.v1.train.get_global_step()
    offsets = tf.cast(step, tf.float32) * tf.constant([0.01, 0.02, 0.03])
    insert = table.insert(tf.constant(["red", "green", "blue"]), offsets)
    train_op = tf.group(
        tf.compat.v1.train.AdagradOptimizer(0.1).minimize(loss, global_step=step), insert
    )
    metrics = {"rmse": tf.compat.v1.metrics.root_mean_squared_error(labels, prediction)}
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions, loss=loss, train_op=train_op, eval_metric_ops=metrics
    )


@pytest.fixture(scope="module")
def restore_save_estimators(tmp_path_factory, trained_object_checkpoint_regressor):
    base = tmp_path_factory.mktemp("restore_save")
    found = {
        "mutable_hash_table": tf.estimator.Estimator(table_model_fn, model_dir=str(base / "table")),
        "custom_saver": tf.estimator.Estimator(
            data.make_model_fn(saver="custom"), model_dir=str(base / "custom")
        ),
    }
    for estimator in found.values():
        estimator.train(data.input_fn(data.TARGET), steps=5)
    found["checkpoint_saver"] = trained_object_checkpoint_regressor  # shared, read-only
    return found


@pytest.mark.parametrize("name", ["mutable_hash_table", "custom_saver", "checkpoint_saver"])
@pytest.mark.parametrize("modes", [ALL_MODES, (MK.PREDICT,)], ids=["all-modes", "predict"])
def test_tables_and_custom_savers_restore_then_save(restore_save_estimators, tmp_path, name, modes):
    estimator = restore_save_estimators[name]
    export = _export(estimator, tmp_path, modes=modes)
    assert export.variables_strategy == strategies.RESTORE_SAVE
    data.assert_predict_parity(estimator, export)
    if MK.EVAL in modes:
        data.assert_eval_parity(estimator, export, data.TARGET)
    with pytest.raises(ValueError, match="cannot apply"):
        _export(estimator, tmp_path / "forced", modes=modes, **_forced(strategies.STREAM))
    assert not (tmp_path / "forced").exists()


def test_table_contents_are_exported(restore_save_estimators, tmp_path):
    estimator = restore_save_estimators["mutable_hash_table"]
    export = _export(estimator, tmp_path, modes=(MK.PREDICT,))
    exported = _exported_tensors(export)
    order = np.argsort(exported["color_offsets-keys"])
    np.testing.assert_array_equal(
        exported["color_offsets-keys"][order], [b"blue", b"green", b"red"]
    )
    np.testing.assert_allclose(
        exported["color_offsets-values"][order], np.array([0.03, 0.02, 0.01]) * 4
    )  # inserted at step 4


# --- metadata checks ----------------------------------------------------------------------------


def test_the_checkpoints_metadata_is_read_once_per_export(adagrad, tmp_path, monkeypatch):
    prefixes = []
    original = catalogs.CheckpointCatalog.__init__

    def recording_init(self, prefix):
        prefixes.append(prefix)
        original(self, prefix)

    monkeypatch.setattr(catalogs.CheckpointCatalog, "__init__", recording_init)
    _export(adagrad, tmp_path / "all")
    _export(adagrad, tmp_path / "predict", modes=(MK.PREDICT,))
    assert prefixes == [adagrad.latest_checkpoint()] * 2


@pytest.mark.parametrize(
    "modes, source",
    [((MK.PREDICT,), "checkpoint"), ((MK.TRAIN, MK.PREDICT), "the exported variables")],
    ids=["saving-mode", "checked-mode"],
)
def test_shape_mismatch_names_the_mode_lists_the_variables_and_leaves_nothing(
    adagrad, tmp_path, modes, source
):
    checkpoint = adagrad.latest_checkpoint()
    mismatched = _adagrad_estimator(adagrad.model_dir, predict_hidden_units=5)
    base = tmp_path / "exports"
    with pytest.raises(ValueError) as raised:
        _export(mismatched, base, modes=modes)
    message = str(raised.value)
    assert message.startswith(
        "The 'infer' (ModeKeys.PREDICT) graph needs variables the checkpoint cannot supply"
    )
    assert re.search(
        rf"hidden/bias: graph float32\[5\], {re.escape(source)}.* float32\[4\]", message
    ), message
    assert re.search(r"hidden/kernel: graph float32\[5, 5\], .*float32\[5, 4\]", message), message
    assert re.search(r"output/kernel: graph float32\[5, 1\], .*float32\[4, 1\]", message), message
    assert not base.exists()
    _checkpoint_tensors(checkpoint)  # the checkpoint is intact


def test_check_against_lists_missing_and_mismatched_together():
    needed = {
        "a": ((2,), tf.float32),
        "b": ((3,), tf.float32),
        "c": (None, tf.int64),
        "d": ((1,), tf.float32),
    }
    available = {"b": ((3,), tf.float64), "c": ((7,), tf.int64), "d": ((1,), tf.float32)}
    with pytest.raises(ValueError) as raised:
        catalogs.check_against(MK.EVAL, needed, available, "checkpoint 'x'")
    message = str(raised.value)
    assert "'eval' (ModeKeys.EVAL)" in message
    assert "missing from checkpoint 'x': a" in message
    assert "b: graph float32[3], checkpoint 'x' float64[3]" in message
    assert "c:" not in message  # an unknown graph shape accepts any


def test_groups_respect_the_budget_and_keep_big_or_unsized_tensors_alone():
    def piece(name, nbytes):
        return stream._Slice(name, "", tf.float32, nbytes)

    slices = [
        piece("a", 10),
        piece("b", 10),
        piece("big", 100),
        piece("c", 5),
        piece("s", None),
        piece("d", 20),
        piece("e", 1),
    ]
    groups = stream._groups(slices, budget=25)
    assert [[item.key for item in group] for group in groups] == [
        ["big"],
        ["s"],
        ["a", "b", "c"],
        ["d", "e"],
    ]
    assert stream._groups([], budget=25) == []


# --- which checkpoint -----------------------------------------------------------------------


def _all_checkpoints(estimator):
    return list(tf.train.get_checkpoint_state(estimator.model_dir).all_model_checkpoint_paths)


def test_resolve_checkpoint_from_a_directory_a_prefix_and_a_saved_model(adagrad, tmp_path):
    older, latest = _all_checkpoints(adagrad)[0], adagrad.latest_checkpoint()
    assert older != latest
    assert checkpoints.resolve_checkpoint(adagrad, None) == latest
    assert checkpoints.resolve_checkpoint(adagrad, adagrad.model_dir) == latest
    assert checkpoints.resolve_checkpoint(adagrad, older) == older
    export = _export(adagrad, tmp_path, modes=(MK.PREDICT,))
    assert checkpoints.resolve_checkpoint(adagrad, str(export)) == os.path.join(
        export, "variables", "variables"
    )


def test_an_older_checkpoint_path_is_the_one_exported(adagrad, tmp_path):
    older = _all_checkpoints(adagrad)[0]
    export = _export(adagrad, tmp_path, modes=(MK.PREDICT,), checkpoint_path=older)
    _assert_same_tensors(_exported_tensors(export), _checkpoint_tensors(older, PREDICT_VARIABLES))
    assert not np.array_equal(
        _exported_tensors(export)["hidden/kernel"],
        _checkpoint_tensors(adagrad.latest_checkpoint())["hidden/kernel"],
    )


@pytest.mark.parametrize(
    "make_path, error, pattern",
    [
        (
            lambda tmp: str(tmp / "model.ckpt-999"),
            ValueError,
            r"checkpoint_path='.*model\.ckpt-999' does not exist: there is no checkpoint index",
        ),
        (
            lambda tmp: str(tmp),
            ValueError,
            r"checkpoint_path='.*' is a directory with no checkpoint in it",
        ),
        (
            lambda tmp: 7,
            TypeError,
            r"checkpoint_path must be a checkpoint prefix or directory as a string, received 7",
        ),
    ],
    ids=["missing-prefix", "empty-directory", "not-a-string"],
)
def test_bad_checkpoint_path_is_a_clear_error_and_leaves_nothing(
    adagrad, tmp_path, make_path, error, pattern
):
    empty = tmp_path / "empty"
    empty.mkdir()
    base = tmp_path / "exports"
    with pytest.raises(error, match=pattern):
        _export(adagrad, base, checkpoint_path=make_path(empty))
    assert not base.exists()
    assert os.listdir(empty) == []


def test_warm_start_checkpoint_is_the_fallback(adagrad, tmp_path):
    fresh = tf.estimator.Estimator(
        adagrad_model_fn,
        model_dir=str(tmp_path / "fresh"),
        params={},
        warm_start_from=adagrad.model_dir,
    )
    assert fresh.latest_checkpoint() is None
    assert checkpoints.resolve_checkpoint(fresh, None) == adagrad.latest_checkpoint()
    export = _export(fresh, tmp_path / "exports", modes=(MK.PREDICT,))
    data.assert_predict_parity(adagrad, export)


def test_no_checkpoint_anywhere_says_where_it_looked(tmp_path):
    fresh = tf.estimator.Estimator(adagrad_model_fn, model_dir=str(tmp_path / "fresh"), params={})
    with pytest.raises(
        ValueError, match=r"No checkpoint found to export: model_dir '.*fresh' has none"
    ):
        _export(fresh, tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


class _PinnedEstimator(tf.estimator.Estimator):
    """An estimator that pins the checkpoint it serves by overriding latest_checkpoint()."""

    pinned = None

    def latest_checkpoint(self):
        return self.pinned


def test_an_overridden_latest_checkpoint_is_honoured(adagrad, tmp_path):
    pinned = _PinnedEstimator(adagrad_model_fn, model_dir=adagrad.model_dir, params={})
    pinned.pinned = _all_checkpoints(adagrad)[0]
    assert checkpoints.resolve_checkpoint(pinned, None) == pinned.pinned
    export = _export(pinned, tmp_path, modes=(MK.PREDICT,))
    _assert_same_tensors(
        _exported_tensors(export), _checkpoint_tensors(pinned.pinned, PREDICT_VARIABLES)
    )
