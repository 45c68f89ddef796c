"""Issue 6, item 3: the disk refuses a write, or the checkpoint disappears, mid-export.

Each failure must give an error that names the file (or checkpoint) and the reason,
leave nothing behind (no temporary, no integer-named directory, no base the export
created, an existing base exactly as it was), and leave the checkpoint untouched
(the autouse fixture hashes it around every test; tests that delete parts of a
checkpoint use a private copy and check the parts they did not delete).

* File-size limit: the export runs in a child process of the worker with
  ``RLIMIT_FSIZE`` lowered and SIGXFSZ ignored, so the first write past the limit fails
  with EFBIG ("File too large"), at the variables, at saved_model.pb or at assets.extra.
* Read-only base: tests run as root, for whom ``chmod`` stops nothing; the base is made
  immutable with ``chattr +i`` (``conftest.read_only_directory``), ``chmod 0555`` when
  not root.
* Vanishing checkpoint: a receiver fn deletes checkpoint files before the variables
  are written (TRAIN's receiver runs first), or after (EVAL's).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import subprocess

import pytest
import tensorflow as tf

import estimator_ext
from tests.support import data, tree_audit
from tests.support.directories import copy_model_dir, read_only_directory

MK = data.MK

FSIZE_CASES = {
    # case: (request arguments, the file whose write fails)
    # PREDICT-only from a V2 checkpoint: the subset of byte ranges goes straight to variables.data.
    "variables-stream": (dict(limit=8000, modes=[MK.PREDICT]), "variables/variables.data"),
    "variables-copy": (dict(limit=8000, modes=list(data.ALL_MODES)), "variables/variables.data"),
    "saved-model-pb": (
        dict(limit=20000, modes=list(data.ALL_MODES), limit_after_variables=True),
        "saved_model.pb",
    ),
    "assets-extra": (dict(limit=200_000, modes=[MK.TRAIN], big_asset=True), "assets.extra/big.bin"),
}


@pytest.mark.parametrize("case", sorted(FSIZE_CASES))
@pytest.mark.parametrize("base_exists", [False, True], ids=["new-base", "existing-base"])
def test_file_size_limit_fails_cleanly(case, base_exists, worker, model_dir, tmp_path, estimator):
    """RLIMIT_FSIZE makes one write fail (the variables: streamed, or copied;
    saved_model.pb; a large assets.extra file): an OutOfRangeError naming
    the file and "File too large", and nothing left: a base the export created is gone,
    an existing base holds exactly its earlier export."""
    arguments, failing_file = FSIZE_CASES[case]
    arguments = dict(arguments)
    base = str(tmp_path / "sandbox" / "exports")
    os.makedirs(os.path.dirname(base))
    if base_exists:
        estimator_ext.export_all_saved_models(estimator, base, data.adam_receiver_map([MK.PREDICT]))
    assets_extra = None
    if arguments.pop("big_asset", False):
        big = tmp_path / "big.bin"
        big.write_bytes(b"\x00" * 300_000)
        assets_extra = {"big.bin": str(big)}
    before = tree_audit.snapshot(str(tmp_path), dir_mtimes=False)

    outcome = worker.call(
        "export_with_fsize_limit",
        model_dir=model_dir,
        base=base,
        assets_extra=assets_extra,
        **arguments,
    )

    assert "error" in outcome, outcome
    assert outcome["error"]["type"] == "OutOfRangeError", outcome["error"]
    message = outcome["error"]["message"]
    assert "File too large" in message and failing_file in message, message
    assert tree_audit.diff(before, tree_audit.snapshot(str(tmp_path), dir_mtimes=False)) == []


def test_read_only_base_fails_cleanly(estimator, sandbox):
    """An existing base that refuses new entries: a PermissionDeniedError naming the
    temporary it could not create; the base and its earlier export are unchanged."""
    base = os.path.join(sandbox, "exports")
    earlier = estimator_ext.export_all_saved_models(
        estimator, base, data.adam_receiver_map([MK.PREDICT])
    )
    before = tree_audit.snapshot(sandbox)
    with read_only_directory(base):
        with pytest.raises(tf.errors.PermissionDeniedError, match=r"\.estimator_ext-tmp-"):
            estimator_ext.export_all_saved_models(estimator, base, data.adam_receiver_map())
    assert tree_audit.diff(before, tree_audit.snapshot(sandbox)) == []
    assert tree_audit.export_problems(earlier) == []


def test_missing_base_under_a_read_only_parent_fails_cleanly(estimator, sandbox):
    """``export_dir_base`` is missing and its parent refuses new entries: an error
    naming the directory it could not create, and nothing created anywhere."""
    parent = os.path.join(sandbox, "shared")
    os.makedirs(parent)
    before = tree_audit.snapshot(sandbox)
    with read_only_directory(parent):
        with pytest.raises(tf.errors.PermissionDeniedError, match="shared/exports"):
            estimator_ext.export_all_saved_models(
                estimator, os.path.join(parent, "exports", "v1"), data.adam_receiver_map()
            )
    assert tree_audit.diff(before, tree_audit.snapshot(sandbox)) == []


@pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root for chattr +i inside the exporting process"
)
def test_base_turning_read_only_mid_export_leaves_only_a_stale_temporary(
    worker, model_dir, tmp_path
):
    """The base turns immutable after the variables were written (the PREDICT receiver
    runs ``chattr +i``): publishing fails with PermissionError naming the rename. The
    temporary's contents are removed, but its now empty directory cannot be unlinked from
    an immutable base: it is the one thing left, hidden, never integer-named, and
    ``clean_stale_temporaries`` removes it once the base is writable and its process gone."""
    base = str(tmp_path / "exports")
    os.makedirs(base)
    try:
        outcome = worker.call("export_freezing_base_mid_export", model_dir=model_dir, base=base)
    finally:
        subprocess.run(["chattr", "-i", base], check=True)
    assert outcome.get("error", {}).get("type") == "PermissionError", outcome
    assert "Operation not permitted" in outcome["error"]["message"]
    left = os.listdir(base)
    assert len(left) == 1 and left[0].startswith(".estimator_ext-tmp-"), left
    assert os.listdir(os.path.join(base, left[0])) == []
    assert estimator_ext.clean_stale_temporaries(base, older_than=0) == [
        os.path.join(base, left[0])
    ]
    assert os.listdir(base) == []


def _deleting_receiver(receiver_fn, model_dir: str, patterns):
    def receiver():
        for pattern in patterns:
            for path in glob.glob(os.path.join(model_dir, pattern)):
                os.remove(path)
        return receiver_fn()

    return receiver


@pytest.mark.parametrize(
    "modes, deleted",
    [
        (data.ALL_MODES, "model.ckpt-*.index"),
        (data.ALL_MODES, "model.ckpt-*.[id][na]*"),  # index and data files
        ((MK.PREDICT,), "model.ckpt-*.[id][na]*"),
    ],
    ids=["index-before-copy", "all-before-copy", "all-before-stream"],
)
def test_checkpoint_vanishing_before_the_variables_are_written(modes, deleted, model_dir, tmp_path):
    """The first mode's receiver fn deletes checkpoint files before the variables are
    written: a NotFoundError saying the checkpoint disappeared and which files are
    missing; nothing left; the files not deleted are untouched."""
    private = copy_model_dir(model_dir, str(tmp_path / "model"))
    estimator = data.make_adam_estimator(private)
    checkpoint = tf.train.latest_checkpoint(private)
    receivers = data.adam_receiver_map(modes)
    first = modes[0]
    receivers[first] = _deleting_receiver(receivers[first], private, [deleted])
    base = str(tmp_path / "exports")
    before = tree_audit.snapshot(private)
    with pytest.raises(
        tf.errors.NotFoundError, match="disappeared while it was being exported"
    ) as raised:
        estimator_ext.export_all_saved_models(estimator, base, receivers)
    assert checkpoint in str(raised.value) and "now missing" in str(raised.value)
    assert not os.path.exists(base)
    after = tree_audit.snapshot(private, dir_mtimes=False)
    removed = set(before) - set(after)
    assert removed and all(fnmatch.fnmatch(path, deleted) for path in removed)
    for path in after:  # what the test did not delete is as it was
        if before[path][0] == "file":
            assert after[path] == before[path], path


def test_checkpoint_data_vanishing_while_its_index_stays(model_dir, tmp_path):
    """Only the data files vanish: a ValueError naming the checkpoint, nothing left."""
    private = copy_model_dir(model_dir, str(tmp_path / "model"))
    receivers = data.adam_receiver_map()
    receivers[MK.TRAIN] = _deleting_receiver(receivers[MK.TRAIN], private, ["model.ckpt-*.data-*"])
    base = str(tmp_path / "exports")
    with pytest.raises(ValueError, match="has an index but no data files"):
        estimator_ext.export_all_saved_models(data.make_adam_estimator(private), base, receivers)
    assert not os.path.exists(base)


def test_checkpoint_vanishing_after_the_variables_were_written_still_exports(model_dir, tmp_path):
    """EVAL's receiver deletes the whole checkpoint after TRAIN wrote the variables: the
    export already holds its own copy of them, so it completes, and loads in every mode
    with the values the checkpoint had (compared with the shared, intact checkpoint)."""
    private = copy_model_dir(model_dir, str(tmp_path / "model"))
    receivers = data.adam_receiver_map()
    receivers[MK.EVAL] = _deleting_receiver(receivers[MK.EVAL], private, ["model.ckpt-*"])
    export = estimator_ext.export_all_saved_models(
        data.make_adam_estimator(private), str(tmp_path / "exports"), receivers
    )
    assert glob.glob(os.path.join(private, "model.ckpt-*")) == []
    loaded = tree_audit.load_every_mode(export, tf.train.latest_checkpoint(model_dir))
    assert sorted(loaded) == [("eval",), ("serve",), ("train",)]
