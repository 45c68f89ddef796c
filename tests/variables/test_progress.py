"""Progress records on the ``estimator_ext`` logger (estimator_ext/progress_log.py).

At most one record a second while bytes are written, plus a final one; an export logs
each mode graph built and the bytes of variables written.
"""

from __future__ import annotations

import logging
import os

import pytest

from estimator_ext.variables import progress as progress_log


def _messages(caplog, prefix):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


def test_progress_is_logged_at_most_once_per_interval_and_at_the_end(caplog):
    now = [0.0]
    progress = progress_log.ProgressLog(
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
        progress_log.ProgressLog("Writing variables", 0).finish()
    assert _messages(caplog, "Writing") == ["Writing variables: 0.0 MiB of 0.0 MiB (100%)"]


def test_an_export_logs_each_mode_graph_built_and_the_bytes_written(
    tmp_path, caplog, trained_subset_model
):
    import estimator_ext
    from tests.support import subset_model

    estimator = trained_subset_model
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        estimator_ext.export_all_saved_models(
            estimator, str(tmp_path / "exports"), subset_model.receiver_map()
        )
    assert _messages(caplog, "Built the") == ["Built the 'infer' (ModeKeys.PREDICT) graph (1 of 1)"]
    assert _messages(caplog, "Writing variables")[-1].endswith("(100%)")


def test_update_to_never_goes_back_and_records_carry_their_figures(caplog):
    progress = progress_log.ProgressLog("Writing variables", 100, interval=0.0)
    with caplog.at_level(logging.INFO, logger="estimator_ext"):
        progress.update_to(60)
        progress.update_to(40)  # a late poll of a file already counted
        progress.finish()
    figures = [r.progress for r in caplog.records if hasattr(r, "progress")]
    assert figures == [
        progress_log.Progress("Writing variables", 60, 100),
        progress_log.Progress("Writing variables", 60, 100),
        progress_log.Progress("Writing variables", 60, 100),
    ]


@pytest.mark.parametrize("where", ["local", "ram"])
def test_the_copy_strategy_logs_while_one_large_file_copies(where, tmp_path, caplog):
    """A local checkpoint is copied chunk by chunk, each chunk counted (_local_copy); one
    on another file system goes through tf.io.gfile.copy, which reports nothing until it
    ends, so a watcher sees the local file grow. Either way: records during the copy."""
    import tensorflow as tf

    from estimator_ext.storage import local_copy
    from estimator_ext.variables import strategies
    from estimator_ext.variables.catalog import CheckpointCatalog

    root = str(tmp_path) if where == "local" else f"ram://progress-{os.getpid()}"
    try:
        prefix = f"{root}/ckpt/model"
        values = tf.random.stateless_uniform([48 << 20], seed=[1, 2])  # 192 MiB of float32
        tf.train.Checkpoint(big=tf.Variable(values)).write(prefix)
        catalog = CheckpointCatalog(prefix)
        (tmp_path / "export" / "variables").mkdir(parents=True)
        destination = str(tmp_path / "export" / "variables" / "variables")
        with caplog.at_level(logging.INFO, logger="estimator_ext"):
            strategies._copy_checkpoint(catalog, destination, progress_interval=0.0)
        figures = [r.progress for r in caplog.records if hasattr(r, "progress")]
        total = sum(tf.io.gfile.stat(prefix + suffix).length for suffix in _suffixes(prefix))
        assert figures[-1].done == figures[-1].total == total
        data_size = tf.io.gfile.stat(prefix + ".data-00000-of-00001").length
        during = [f.done for f in figures if 0 < f.done < data_size]
        assert during, f"no record while the {data_size}-byte data file was copied: {figures}"
        if where == "local":  # counted chunk by chunk, not watched
            assert all(done % local_copy.CHUNK_BYTES == 0 for done in during), during
        assert [f.done for f in figures] == sorted(f.done for f in figures)
        reader = tf.train.load_checkpoint(destination)
        key = "big/.ATTRIBUTES/VARIABLE_VALUE"
        assert (reader.get_tensor(key) == values.numpy()).all()
    finally:
        if where == "ram":
            tf.io.gfile.rmtree(root)


def _suffixes(prefix):
    import tensorflow as tf

    directory, base = prefix.rsplit("/", 1)
    names = tf.io.gfile.listdir(directory)
    return [name[len(base) :] for name in names if name.startswith(base + ".")]


def test_the_cli_bar_is_redrawn_in_place_and_ended_before_other_lines():
    import io

    from estimator_ext.cli.progress_bar import ProgressHandler, render_bar

    assert render_bar("p", progress_log.Progress("Writing variables", 1 << 20, 4 << 20), 200) == (
        "p: Writing variables [######------------------]  25% 1.0 MiB of 4.0 MiB"
    )
    assert len(render_bar("p", progress_log.Progress("x", 1, 2), 20)) == 19
    stream = io.StringIO()
    handler = ProgressHandler(stream, "p", bar=True)
    test_logger = logging.getLogger("estimator_ext.test_bar")
    test_logger.addHandler(handler)
    test_logger.propagate = False
    test_logger.setLevel(logging.INFO)
    try:
        for done in (1, 2):
            test_logger.info("ignored", extra={"progress": progress_log.Progress("W", done, 4)})
        test_logger.info("Built a graph")
        test_logger.info("ignored", extra={"progress": progress_log.Progress("W", 4, 4)})
        test_logger.warning("careful")
    finally:
        test_logger.removeHandler(handler)
    text = stream.getvalue()
    lines = text.split("\n")
    assert lines[0].startswith("\rp: W [") and lines[0].count("\r") == 2
    assert lines[1] == "p: Built a graph"
    assert lines[2].startswith("\rp: W [########################] 100%")
    assert lines[3] == "p: warning: careful"


def test_write_options_reject_a_negative_progress_interval():
    import pytest

    from estimator_ext.variables.strategies import WriteOptions

    with pytest.raises(ValueError, match=r"progress_interval must be a number of seconds >= 0"):
        WriteOptions(progress_interval=-1)
