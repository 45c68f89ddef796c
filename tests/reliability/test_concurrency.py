"""Issue 6, item 2: exports racing into one base.

The processes are forked by the worker and released together at a wall-clock moment
set in the future (a barrier across processes), so their exports fall into the same
seconds and compete for the same integer names. A loader-like watcher polls the base
every millisecond meanwhile and checks each integer-named directory when it appears.
"""

from __future__ import annotations

import collections
import errno
import os
import threading
import time

import tensorflow as tf

import estimator_ext
from estimator_ext.storage import names as naming
from estimator_ext.storage import paths
from estimator_ext.storage import publish as publishing
from tests.support import data, tree_audit

PROCESSES = 4
EXPORTS_EACH = 3


def test_four_processes_three_exports_each_give_twelve_distinct_complete_exports(
    worker, model_dir, tmp_path, checkpoint_prefix
):
    """4 processes x 3 exports at the same moment: 12 distinct integer-named exports, each
    returned to exactly one caller, complete whenever the watcher looked, loading in
    every mode with the checkpoint's values; no temporary left."""
    base = str(tmp_path / "exports")
    os.makedirs(base)
    report = worker.call(
        "concurrent_exports",
        timeout=180,
        model_dir=model_dir,
        base=base,
        processes=PROCESSES,
        exports_each=EXPORTS_EACH,
        start_in=1.0,
    )
    paths = []
    for outcome in report["outcomes"]:
        assert "result" in outcome, outcome
        paths += outcome["result"]["paths"]
    assert len(paths) == PROCESSES * EXPORTS_EACH
    assert len(set(paths)) == len(paths), collections.Counter(paths)
    assert sorted(os.listdir(base), key=int) == sorted(
        (os.path.basename(path) for path in paths), key=int
    )
    for name, problems in report["watcher"]["seen"].items():
        assert problems == [], f"the loader saw {name} incomplete: {problems}"
    assert len(report["watcher"]["seen"]) == len(paths)
    for path in paths:
        assert sorted(tree_audit.load_every_mode(path, checkpoint_prefix)) == [
            ("eval",),
            ("serve",),
            ("train",),
        ]
    collisions = sum(outcome["result"]["rename_collisions"] for outcome in report["outcomes"])
    seconds = {int(os.path.basename(path)) for path in paths}
    print(
        f"12 exports over integer names {min(seconds)}..{max(seconds)}, "
        f"rename collisions: {collisions}"
    )


def test_publish_race_never_merges_or_loses_an_export(worker, tmp_path):
    """8 processes x 40 publishes of prepared temporaries, released together: every
    temporary ends up alone in its own integer-named directory (each holds exactly the
    one file naming it), none is lost, none is left. Collisions on the rename itself
    (another process took the name between the existence check and the rename) are
    counted: that ENOTEMPTY/EEXIST path is the one under test."""
    base = str(tmp_path / "exports")
    os.makedirs(base)
    report = worker.call(
        "publish_stress", timeout=120, base=base, processes=8, publishes_each=40, start_in=0.5
    )
    published = {}
    collisions = 0
    for outcome in report["outcomes"]:
        assert "result" in outcome, outcome
        published.update(outcome["result"]["published"])
        collisions += outcome["result"]["rename_collisions"]
    assert len(published) == 8 * 40
    assert len(set(published.values())) == len(published)
    assert sorted(os.listdir(base)) == sorted(os.path.basename(path) for path in published.values())
    for token, path in published.items():
        assert os.listdir(path) == [token], (token, path)
    print(f"publish race: {len(published)} publishes, {collisions} rename collisions resolved")


def test_threads_exporting_at_once_get_distinct_complete_exports(
    estimator, tmp_path, checkpoint_prefix
):
    """Three threads of one process exporting twice each at the same moment (same pid:
    the temporaries differ by their random token): six distinct complete exports."""
    base = str(tmp_path / "exports")
    barrier = threading.Barrier(3)
    results, errors = [], []

    def export_twice():
        try:
            barrier.wait()
            for _ in range(2):
                results.append(
                    str(
                        estimator_ext.export_all_saved_models(
                            estimator, base, data.adam_receiver_map()
                        )
                    )
                )
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=export_twice) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert len(set(results)) == 6
    assert sorted(os.listdir(base)) == sorted(os.path.basename(path) for path in results)
    for path in results:
        assert sorted(tree_audit.load_every_mode(path, checkpoint_prefix)) == [
            ("eval",),
            ("serve",),
            ("train",),
        ]


def test_os_rename_refuses_an_existing_non_empty_directory(tmp_path):
    """The premise of the local publish: renaming a directory onto an existing
    non-empty one fails with ENOTEMPTY or EEXIST (and onto a file with ENOTDIR), so
    ``publishing.publish`` can never merge two exports; it moves to the next integer."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "a").write_text("a")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "b").write_text("b")
    a_file = tmp_path / "file"
    a_file.write_text("f")
    for target, errnos in ((taken, (errno.ENOTEMPTY, errno.EEXIST)), (a_file, (errno.ENOTDIR,))):
        try:
            os.rename(source, target)
        except OSError as error:
            assert error.errno in errnos
        else:  # pragma: no cover
            raise AssertionError(f"rename onto {target} succeeded")
    assert os.listdir(source) == ["a"] and os.listdir(taken) == ["b"]


def test_copy_publishing_on_ram_filesystem_never_merges_or_loses_an_export():
    """Without an atomic rename (``ram://``, like ``gs://`` and ``s3://``), 16 threads
    publishing at once by copy: each export gets its own integer name with exactly its
    own files (the claim protocol), and no claim or temporary is left. Before claims,
    exports collided on one name and the losers' cleanup deleted the winner's files."""
    base = f"ram://publish-race-{os.getpid()}-{time.time_ns()}"
    names = (
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
        "saved_model.pb",
    )
    temps = []
    for index in range(16):
        temp = paths.join(base, naming.temp_dir_name())
        tf.io.gfile.makedirs(paths.join(temp, "variables"))
        for name in names:
            with tf.io.gfile.GFile(paths.join(temp, name), "w") as handle:
                handle.write(f"{index}:{name}")
        temps.append(temp)
    barrier = threading.Barrier(len(temps))
    published, errors = {}, []

    def publish(index):
        barrier.wait()
        try:
            published[index] = publishing.publish(temps[index], base)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=publish, args=(index,)) for index in range(len(temps))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert len(set(published.values())) == len(temps)
        for index, export_dir in published.items():
            for name in names:
                with tf.io.gfile.GFile(paths.join(export_dir, name)) as handle:
                    assert handle.read() == f"{index}:{name}"
        assert sorted(name.rstrip("/") for name in tf.io.gfile.listdir(base)) == sorted(
            export_dir.rsplit("/", 1)[-1] for export_dir in published.values()
        )
    finally:
        tf.io.gfile.rmtree(base)
