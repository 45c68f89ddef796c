"""Issue 6, item 7: the checkpoint directory is byte-for-byte unchanged by any export.

Every test of this suite already runs under the autouse guard in conftest (a hash of
every file plus modes and mtimes of files and directories, before and after). Here the
guarantee is exercised on purpose, scenario by scenario: successful exports writing the
variables each way ("copy"; "stream"; text format;
extra assets; an explicit checkpoint path), and exports failing at each stage.

What "unchanged" covers: the set of entries, each file's bytes, size, mode and mtime,
each directory's mode and mtime (so even a file created and deleted again inside the
checkpoint directory would show). Not covered, on purpose: access times. The export
shares no inode with the checkpoint (the last test).
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

import pytest
import tensorflow as tf

import estimator_ext
from tests.support import data, tree_audit
from tests.support.directories import read_only_directory

MK = data.MK


class Failure(Exception):
    pass


def _raise():
    raise Failure("receiver failed")


def _receivers_failing_in(mode: str):
    receivers = data.adam_receiver_map()
    receivers[mode] = _raise
    return receivers


def _export_into_read_only_base(estimator, base, tmp_path):
    os.makedirs(base)
    with read_only_directory(base):
        estimator_ext.export_all_saved_models(estimator, base, data.adam_receiver_map())


SCENARIOS: dict[str, Callable] = {
    "all-modes": lambda est, base, tmp, model_dir: estimator_ext.export_all_saved_models(
        est, base, data.adam_receiver_map()
    ),
    "predict-only": lambda est, base, tmp, model_dir: estimator_ext.export_all_saved_models(
        est, base, data.adam_receiver_map([MK.PREDICT])
    ),
    "eval-only-as-text-stripped": lambda est, base, tmp, model_dir: (
        estimator_ext.export_all_saved_models(
            est, base, data.adam_receiver_map([MK.EVAL]), as_text=True, strip_default_attrs=True
        )
    ),
    "checkpoint-path-given": lambda est, base, tmp, model_dir: (
        estimator_ext.export_all_saved_models(
            est,
            base,
            data.adam_receiver_map(),
            checkpoint_path=tf.train.latest_checkpoint(model_dir),
        )
    ),
    "checkpoint-dir-given": lambda est, base, tmp, model_dir: estimator_ext.export_all_saved_models(
        est, base, data.adam_receiver_map(), checkpoint_path=model_dir
    ),
    "assets-extra-from-the-checkpoint-dir": lambda est, base, tmp, model_dir: (
        estimator_ext.export_all_saved_models(
            est,
            base,
            data.adam_receiver_map([MK.TRAIN]),
            assets_extra={"ckpt/checkpoint": os.path.join(model_dir, "checkpoint")},
        )
    ),
    "fails-model-fn-in-eval": lambda est, base, tmp, model_dir: (
        estimator_ext.export_all_saved_models(
            data.make_adam_estimator(model_dir, raise_in=MK.EVAL),
            base,
            data.adam_receiver_map(),
        )
    ),
    "fails-receiver-in-train": lambda est, base, tmp, model_dir: (
        estimator_ext.export_all_saved_models(est, base, _receivers_failing_in(MK.TRAIN))
    ),
    "fails-receiver-in-predict-after-variables": lambda est, base, tmp, model_dir: (
        estimator_ext.export_all_saved_models(est, base, _receivers_failing_in(MK.PREDICT))
    ),
    "fails-bad-assets-extra": lambda est, base, tmp, model_dir: (
        estimator_ext.export_all_saved_models(
            est,
            base,
            data.adam_receiver_map(),
            assets_extra={"../escape": os.path.join(model_dir, "checkpoint")},
        )
    ),
    "fails-read-only-base": lambda est, base, tmp, model_dir: _export_into_read_only_base(
        est, base, tmp
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_checkpoint_directory_is_unchanged(scenario, model_dir, estimator, tmp_path):
    """One export scenario, successful or failing: the checkpoint directory's snapshot
    (entries, bytes, modes, file and directory mtimes) is identical before and after."""
    before = tree_audit.snapshot(model_dir)
    try:
        SCENARIOS[scenario](estimator, str(tmp_path / "exports"), tmp_path, model_dir)
    except (Failure, data.ModelFnFailure, ValueError, tf.errors.OpError):
        assert scenario.startswith("fails-")
    else:
        assert not scenario.startswith("fails-")
    assert tree_audit.diff(before, tree_audit.snapshot(model_dir)) == []


@pytest.mark.parametrize("fails", [False, True], ids=["succeeds", "fails"])
def test_exporting_inside_the_model_dir_changes_only_the_export_base(fails, model_dir, tmp_path):
    """tf.estimator's exporters write to ``model_dir/export/<name>``. Exporting there (into a
    private copy of the model directory) changes nothing outside that base: checkpoint
    files, ``checkpoint`` state, events and graph are as they were; a failing export
    removes the ``export/<name>`` directories it created."""
    private = str(tmp_path / "model")
    shutil.copytree(model_dir, private)
    base = os.path.join(private, "export", "all_modes")
    before = tree_audit.snapshot(private)
    estimator = data.make_adam_estimator(private, raise_in=MK.PREDICT if fails else None)
    if fails:
        with pytest.raises(data.ModelFnFailure):
            estimator_ext.export_all_saved_models(estimator, base, data.adam_receiver_map())
        assert not os.path.exists(os.path.join(private, "export"))
        # Every entry as it was; only the model dir's own mtime moved (export/ came and went).
        changed = tree_audit.diff(before, tree_audit.snapshot(private))
        assert changed in ([], [f"changed .: {before['.']} -> {tree_audit.snapshot(private)['.']}"])
    else:
        export = estimator_ext.export_all_saved_models(estimator, base, data.adam_receiver_map())
        after = tree_audit.snapshot(private, exclude=[os.path.join(private, "export")])
        changed = tree_audit.diff(before, after)
        assert changed == [
            f"changed .: {before['.']} -> {after['.']}"
        ]  # only the model dir's mtime: export/ was added
        assert tf.train.latest_checkpoint(private) == os.path.join(
            private, f"model.ckpt-{data.TRAIN_STEPS}"
        )
        assert tree_audit.export_problems(export) == []


def test_copied_variables_share_no_inode_with_the_checkpoint(model_dir, estimator, tmp_path):
    """The "copy" strategy copies the checkpoint's files: the export's
    ``variables.data-*`` is a file of its own, so changing or deleting the export (``chmod``,
    ``touch``, ``rm``) never touches the checkpoint."""
    export = estimator_ext.export_all_saved_models(
        estimator, str(tmp_path / "exports"), data.adam_receiver_map()
    )
    assert export.variables_strategy == "copy"
    exported_data = os.path.join(export, "variables", "variables.data-00000-of-00001")
    checkpoint_data = tf.train.latest_checkpoint(model_dir) + ".data-00000-of-00001"
    assert not os.path.samefile(exported_data, checkpoint_data)
    assert os.stat(checkpoint_data).st_nlink == 1
    mode = os.stat(checkpoint_data).st_mode
    os.chmod(exported_data, 0o400)
    assert os.stat(checkpoint_data).st_mode == mode
    shutil.rmtree(export)
    assert os.path.exists(checkpoint_data)
