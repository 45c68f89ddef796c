"""Progress records on the ``estimator_ext`` logger (estimator_ext/_progress.py).

At most one record a second while bytes are written, plus a final one; the copy that
reports them gives byte-identical files, locally (os.sendfile) and on a filesystem with
a scheme (ram://, through tf.io.gfile.copy), and refuses to overwrite.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from estimator_ext import _progress


def _messages(caplog, prefix):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


def test_progress_is_logged_at_most_once_per_interval_and_at_the_end(caplog):
    now = [0.0]
    progress = _progress.ProgressLog(
        "Writing variables", 4 << 20, interval=1.0, clock=lambda: now[0]
    )
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        for when in (0.2, 0.9, 1.0, 1.5, 2.4, 3.1):
            now[0] = when
            progress.advance(512 << 10)
        progress.finish()
    assert _messages(caplog, "Writing") == [
        "Writing variables: 1.5 MiB of 4.0 MiB (38%)",
        "Writing variables: 2.5 MiB of 4.0 MiB (62%)",
        "Writing variables: 3.0 MiB of 4.0 MiB (75%)",
    ]


def test_nothing_to_write_logs_one_complete_record(caplog):
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        _progress.ProgressLog("Writing variables", 0).finish()
    assert _messages(caplog, "Writing") == ["Writing variables: 0.0 MiB of 0.0 MiB (100%)"]


@pytest.fixture
def files(tmp_path):
    rng = np.random.RandomState(7)
    sources = []
    for index, size in enumerate((3 << 20, 0, 12345)):
        path = tmp_path / f"source-{index}"
        path.write_bytes(rng.bytes(size))
        sources.append(str(path))
    return sources


def test_local_copy_is_byte_identical_and_reports_each_slice(files, tmp_path, caplog):
    pairs = [(source, str(tmp_path / f"copy-{i}")) for i, source in enumerate(files)]
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        copied = _progress.copy_files(pairs, interval=0.0, slice_bytes=1 << 20)
    assert copied == sum(os.path.getsize(source) for source in files)
    for source, destination in pairs:
        with open(source, "rb") as want, open(destination, "rb") as got:
            assert got.read() == want.read()
    messages = _messages(caplog, "Copying variables")
    assert len(messages) >= 4  # three 1 MiB slices of the first file, ..., the final record
    assert messages[-1] == "Copying variables: 3.0 MiB of 3.0 MiB (100%)"


def test_copy_to_a_filesystem_with_a_scheme_goes_through_gfile(files, caplog):
    pairs = [(source, f"ram://progress-test/copy-{i}") for i, source in enumerate(files)]
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        _progress.copy_files(pairs)
    for source, destination in pairs:
        with open(source, "rb") as want, tf.io.gfile.GFile(destination, "rb") as got:
            assert got.read() == want.read()
        tf.io.gfile.remove(destination)
    assert _messages(caplog, "Copying variables")[-1].endswith("(100%)")


def test_copy_refuses_an_existing_destination_and_a_missing_source(files, tmp_path):
    existing = tmp_path / "existing"
    existing.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        _progress.copy_files([(files[0], str(existing))])
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(tf.errors.NotFoundError):
        _progress.copy_files([(str(tmp_path / "missing"), str(tmp_path / "never"))])
    assert not (tmp_path / "never").exists()


def test_an_export_logs_each_mode_graph_built_and_the_bytes_written(tmp_path, caplog):
    import estimator_ext
    from tests import subset_model

    estimator = subset_model.make_estimator(str(tmp_path / "model"), rows=16)
    subset_model.train(estimator)
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        estimator_ext.export_all_saved_models(
            estimator, str(tmp_path / "exports"), subset_model.receiver_map()
        )
    assert _messages(caplog, "Built the") == ["Built the 'infer' (ModeKeys.PREDICT) graph (1 of 1)"]
    assert _messages(caplog, "Writing variables")[-1].endswith("(100%)")
