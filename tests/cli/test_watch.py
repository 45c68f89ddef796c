"""``estimator-ext export --watch``: a child process watches a model_dir this test trains into.

Each test starts the real CLI (``python -m estimator_ext``) and trains the estimator here,
so new checkpoints appear while it watches. The user module it loads carries two real
hooks, switched on by environment variables, in its TRAIN receiver (called only when the
graphs are built, that is on the first export and on a rebuild):

* ``WATCH_DELETE=<prefix>``: the first call deletes that checkpoint's files, in the middle
  of its export (after its index was read, before its variables are copied);
* ``WATCH_SLOW=<marker file>``: the first call creates the marker, then sleeps, so a
  signal sent on seeing the marker arrives mid-export.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import tensorflow as tf

from tests.support import data

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 240

WATCH_MODULE = """
import glob, os, time
import tensorflow as tf
import estimator_ext

SPECS = {
    "x1": tf.TensorSpec([None, 1], tf.float32, name="x1"),
    "x2": tf.TensorSpec([None, 1], tf.float32, name="x2"),
    "color": tf.TensorSpec([None, 1], tf.string, name="color"),
}
_SUPERVISED = estimator_ext.build_raw_supervised_input_receiver_fn(
    SPECS, tf.TensorSpec([None, 1], tf.int64, name="label"))
_CALLS = []


def make_estimator(model_dir=None):
    columns = [
        tf.feature_column.numeric_column("x1"),
        tf.feature_column.numeric_column("x2"),
        tf.feature_column.categorical_column_with_vocabulary_list(
            "color", ["red", "green", "blue"]
        ),
    ]
    return tf.estimator.LinearClassifier(columns, model_dir=model_dir)


def train_receiver():
    _CALLS.append(None)
    if len(_CALLS) == 1:
        doomed = os.environ.get("WATCH_DELETE")
        if doomed:
            for path in glob.glob(doomed + ".*"):
                os.remove(path)
        marker = os.environ.get("WATCH_SLOW")
        if marker:
            open(marker, "w").close()
            time.sleep(120)
    return _SUPERVISED()


def serving_receiver():
    placeholders = {
        name: tf.compat.v1.placeholder(spec.dtype, spec.shape, name=name)
        for name, spec in SPECS.items()
    }
    return tf.estimator.export.ServingInputReceiver(placeholders, placeholders)


RECEIVERS = {"train": train_receiver, "eval": _SUPERVISED, "infer": serving_receiver}
"""


class Watcher:
    """``estimator-ext export --watch`` in a child process; its stdout lines as they come."""

    def __init__(self, cwd, model_dir, export_base, *options, env=None):
        environment = dict(
            os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2", **(env or {})
        )
        argv = [
            sys.executable,
            "-m",
            "estimator_ext",
            "export",
            "--estimator",
            "watch_model:make_estimator",
            "--receivers",
            "watch_model:RECEIVERS",
            "--model-dir",
            model_dir,
            "--watch",
            "--poll-interval",
            "0.2",
            *options,
            export_base,
        ]
        self.process = subprocess.Popen(
            argv,
            cwd=str(cwd),
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.stderr = ""
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self):
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def _read_stderr(self):
        self.stderr = self.process.stderr.read()

    def wait_for_exports(self, count):
        deadline = time.monotonic() + TIMEOUT
        while len(self.lines) < count:
            assert self.process.poll() is None or len(self.lines) >= count, self.finish()
            assert time.monotonic() < deadline, f"no export {count} in time: {self.lines}"
            time.sleep(0.1)

    def finish(self):
        """Waits for the child to end; its exit status, with stderr read whole."""
        try:
            status = self.process.wait(timeout=TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        for reader in self._readers:
            reader.join(timeout=10)
        return status


@pytest.fixture
def watched(tmp_path, monkeypatch):
    """(directory holding the user module, model_dir, export directory base, estimator)."""
    (tmp_path / "watch_model.py").write_text(WATCH_MODULE)
    model_dir = str(tmp_path / "model")
    estimator = tf.estimator.LinearClassifier(data.feature_columns(), model_dir=model_dir)
    estimator.train(data.input_fn(), steps=1)
    yield tmp_path, model_dir, str(tmp_path / "exports"), estimator
    tf.compat.v1.summary.FileWriterCache.clear()


def global_step(export_dir):
    return int(
        tf.train.load_variable(os.path.join(export_dir, "variables", "variables"), "global_step")
    )


def assert_only_complete_exports(export_base):
    """Nothing but integer-named directories holding saved_model.pb (no temporary left)."""
    names = os.listdir(export_base) if os.path.exists(export_base) else []
    for name in names:
        assert re.fullmatch(r"\d+", name), names
        assert os.path.exists(os.path.join(export_base, name, "saved_model.pb")), name
    return names


def test_watch_exports_each_new_checkpoint_once_reuses_graphs_and_stops_at_max_exports(watched):
    cwd, model_dir, export_base, estimator = watched
    watcher = Watcher(cwd, model_dir, export_base, "--max-exports", "3", "--exports-to-keep", "2")
    watcher.wait_for_exports(1)
    estimator.train(data.input_fn(), steps=1)
    watcher.wait_for_exports(2)
    estimator.train(data.input_fn(), steps=1)
    assert watcher.finish() == 0, watcher.stderr
    assert len(watcher.lines) == 3 and len(set(watcher.lines)) == 3, watcher.lines
    assert "3 exports, --max-exports" in watcher.stderr
    assert watcher.stderr.count("Reusing the graphs") == 2, watcher.stderr
    assert "Building the export's graphs again" not in watcher.stderr
    kept = assert_only_complete_exports(export_base)
    assert sorted(os.path.join(export_base, name) for name in kept) == sorted(watcher.lines[1:])
    steps = [global_step(path) for path in watcher.lines[1:]]
    checkpoints = tf.train.get_checkpoint_state(model_dir).all_model_checkpoint_paths
    assert steps == [int(path.rsplit("-", 1)[1]) for path in checkpoints[-2:]]
    data.assert_predict_parity(estimator, watcher.lines[-1])


def test_sigterm_mid_export_ends_cleanly_and_leaves_no_partial_export(watched):
    cwd, model_dir, export_base, _ = watched
    marker = cwd / "building"
    watcher = Watcher(cwd, model_dir, export_base, env={"WATCH_SLOW": str(marker)})
    deadline = time.monotonic() + TIMEOUT
    while not marker.exists():
        assert watcher.process.poll() is None, (watcher.finish(), watcher.stderr)
        assert time.monotonic() < deadline, "the export never started"
        time.sleep(0.1)
    assert any(name.startswith(".") for name in os.listdir(export_base))  # the temporary
    watcher.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert watcher.finish() == 0, watcher.stderr
    assert time.monotonic() - started < 60  # not after the receiver's 120 s sleep
    assert "SIGTERM" in watcher.stderr and "0 exported" in watcher.stderr, watcher.stderr
    assert watcher.lines == []
    assert assert_only_complete_exports(export_base) == []


def test_a_checkpoint_deleted_mid_export_is_skipped_and_the_watch_goes_on(watched):
    cwd, model_dir, export_base, estimator = watched
    state = tf.train.get_checkpoint_state(model_dir)
    kept = state.model_checkpoint_path
    estimator.train(data.input_fn(), steps=1)
    doomed = estimator.latest_checkpoint()
    watcher = Watcher(
        cwd, model_dir, export_base, "--max-exports", "1", env={"WATCH_DELETE": doomed}
    )
    deadline = time.monotonic() + TIMEOUT
    while os.path.exists(doomed + ".index"):
        assert watcher.process.poll() is None, (watcher.finish(), watcher.stderr)
        assert time.monotonic() < deadline, "the checkpoint was never deleted"
        time.sleep(0.1)
    # Training goes on from the checkpoint before the deleted one (as after a restart).
    tf.compat.v1.train.update_checkpoint_state(
        model_dir,
        kept,
        all_model_checkpoint_paths=list(state.all_model_checkpoint_paths) + [doomed],
    )
    estimator.train(data.input_fn(), steps=3)
    assert watcher.finish() == 0, watcher.stderr
    assert f"Skipped checkpoint {doomed}: it was deleted while it was exported" in watcher.stderr
    assert "1 exported, 1 skipped" in watcher.stderr, watcher.stderr
    assert len(watcher.lines) == 1
    assert global_step(watcher.lines[0]) == int(estimator.latest_checkpoint().rsplit("-", 1)[1])
    assert assert_only_complete_exports(export_base) == [os.path.basename(watcher.lines[0])]
