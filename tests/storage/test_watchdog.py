"""The watchdog's bound on store calls, also for a call made from inside another one.

Real threads and real time, no store: the bound is the watchdog's own logic. Each case
waits at most a few seconds (ESTIMATOR_EXT_STORE_CALL_SECONDS=1).
"""

from __future__ import annotations

import time

import pytest

from estimator_ext.storage.watchdog import StoreCallAbandoned, bounded

MIB = 2**20


@pytest.fixture(autouse=True)
def one_second_calls(monkeypatch):
    monkeypatch.setenv("ESTIMATOR_EXT_STORE_CALL_SECONDS", "1")


def test_a_stuck_call_is_abandoned_at_its_bound():
    started = time.monotonic()
    with pytest.raises(StoreCallAbandoned, match=r"stuck of 's3://b/x' within 1 s"):
        bounded("stuck", "s3://b/x", lambda: time.sleep(3))
    assert time.monotonic() - started < 2.5


def test_a_nested_call_keeps_its_own_shorter_bound():
    """A probe inside a long transfer (bound: 1 s + 60 s for 60 MiB) is abandoned at its
    own 1 s, not at the transfer's 61 s."""

    def transfer() -> str:
        with pytest.raises(StoreCallAbandoned, match="probe"):
            bounded("probe", "s3://b/probe", lambda: time.sleep(3))
        return "went on"

    started = time.monotonic()
    assert bounded("transfer", "s3://b/data", transfer, nbytes=60 * MIB) == "went on"
    assert time.monotonic() - started < 2.5


def test_a_nested_call_longer_than_what_is_left_runs_under_the_outer_bound():
    """An inner call whose own bound (1 s + 10 s) outlasts the outer call's (1 s) does not
    get a thread of its own: the outer bound abandons the whole call at 1 s."""
    started = time.monotonic()
    with pytest.raises(StoreCallAbandoned, match="outer"):
        bounded(
            "outer",
            "s3://b/x",
            lambda: bounded("inner", "s3://b/y", lambda: time.sleep(3), nbytes=10 * MIB),
        )
    assert time.monotonic() - started < 2.5


def test_results_and_errors_come_back_to_the_caller():
    assert bounded("answer", "s3://b/x", lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        bounded("divide", "s3://b/x", lambda: 1 / 0)


def test_an_object_store_does_not_retry_a_corrupt_read(monkeypatch):
    """What was read is not what the caller expected (DataLossError, e.g. a file that is
    not a TFRecord): the file's fault, raised at once as it is, not retried and not
    reported as the store failing."""
    import tensorflow as tf

    from estimator_ext.storage.s3 import S3_ENV_DEFAULTS
    from estimator_ext.storage.stores import store_for

    for name, value in S3_ENV_DEFAULTS.items():  # so preparing the store changes nothing
        monkeypatch.setenv(name, value)
    attempts = []

    def corrupt_read() -> None:
        attempts.append(None)
        raise tf.errors.DataLossError(None, None, "corrupted record at 0")

    with pytest.raises(tf.errors.DataLossError) as raised:
        store_for("s3://bucket/requests.tfrecord").call(
            "reading records", "s3://bucket/requests.tfrecord", corrupt_read
        )
    assert len(attempts) == 1
    assert raised.value.message == "corrupted record at 0"
