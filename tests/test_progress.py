"""Progress records on the ``estimator_ext`` logger (estimator_ext/_progress.py).

At most one record a second while bytes are written, plus a final one; an export logs
each mode graph built and the bytes of variables written.
"""

from __future__ import annotations

import logging

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
