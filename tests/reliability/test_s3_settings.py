"""estimator_ext's S3 client defaults: applied only for s3://, never over the user's."""

from __future__ import annotations

import os
import threading
import time

import pytest
import tensorflow as tf

from estimator_ext.storage import watchdog
from estimator_ext.storage.object_store import ObjectStore, S3Store
from estimator_ext.storage.s3 import S3_ENV_DEFAULTS
from estimator_ext.storage.stores import store_for

S3 = S3Store()


def test_defaults_fill_only_what_the_user_did_not_set():
    environ = {"S3_REQUEST_TIMEOUT_MSEC": "60000"}
    applied = S3.apply_client_defaults(environ)
    assert environ["S3_REQUEST_TIMEOUT_MSEC"] == "60000"  # the user's value kept
    assert applied == {
        "S3_CONNECT_TIMEOUT_MSEC": "5000",
        "AWS_RETRY_MODE": "standard",
        "AWS_MAX_ATTEMPTS": "3",
    }
    assert {name: environ[name] for name in applied} == applied


def test_no_s3_defaults_for_other_filesystems(monkeypatch):
    for name in S3_ENV_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    for path in ("gs://bucket/x", "/tmp/x", "ram://x"):
        store = store_for(path)
        assert not isinstance(store, S3Store)
        assert not set(getattr(store, "client_defaults", {})) & set(S3_ENV_DEFAULTS)
        assert not any(name in os.environ for name in S3_ENV_DEFAULTS), path


def test_store_error_keeps_the_class_and_names_store_message_and_retries():
    original = tf.errors.UnavailableError(None, None, "SlowDown: Please reduce your request rate.")
    error = S3.error(original, "s3://bucket/exports/1/x", "copy-publish", 2, 1.5)
    assert type(error) is tf.errors.UnavailableError
    assert error.message.startswith(
        "estimator_ext: the object store failed (s3://bucket) during copy-publish"
    )
    assert "SlowDown: Please reduce your request rate." in error.message
    assert "retried this operation 2 time(s) over 1.5 s" in error.message
    assert S3.error(error, "s3://bucket/x", "again", 0, 0.0) is error  # never wrapped twice


def test_a_store_call_retries_transient_errors_then_raises_a_store_error():
    calls = []

    def flaky():
        calls.append(None)
        raise tf.errors.UnavailableError(None, None, "reset by peer")

    try:
        S3.call("listing", "s3://bucket/base", flaky, retries=2, backoff=0.01)
    except tf.errors.UnavailableError as error:
        assert (
            "retried this operation 2 time(s)" in error.message and "reset by peer" in error.message
        )
    else:
        raise AssertionError("no error")
    assert len(calls) == 3
    local_calls = []
    local = store_for("/tmp/base")
    assert not isinstance(local, ObjectStore)
    assert local.call("listing", "/tmp/base", lambda: local_calls.append(1) or "ok") == "ok"
    assert local_calls == [1]


def test_call_seconds_default_and_override_and_bad_values_name_the_variable():
    assert (
        watchdog.call_seconds({}) == watchdog.DEFAULT_CALL_SECONDS == 120.0
    )  # the docs' 2 minutes
    assert watchdog.call_seconds({"ESTIMATOR_EXT_STORE_CALL_SECONDS": "300"}) == 300.0
    for bad in ("0", "-5", "soon", "nan", "inf", ""):
        with pytest.raises(ValueError, match=r"ESTIMATOR_EXT_STORE_CALL_SECONDS must be a posi"):
            watchdog.call_seconds({"ESTIMATOR_EXT_STORE_CALL_SECONDS": bad})


def test_a_store_call_that_never_returns_is_abandoned_at_its_bound(monkeypatch):
    """A call blocked for good (a real blocked thread, as inside the S3 client) makes
    the store's call raise StoreCallAbandoned, a DeadlineExceededError naming the variable that
    sets the bound, after each attempt's bound; a call that returns in time is untouched."""
    monkeypatch.setenv("ESTIMATOR_EXT_STORE_CALL_SECONDS", "0.3")
    release = threading.Event()
    attempts = []

    def stuck():
        attempts.append(threading.current_thread().name)
        release.wait(60)

    started = time.monotonic()
    try:
        with pytest.raises(tf.errors.DeadlineExceededError) as raised:
            S3.call("copy-publish", "s3://bucket/base/1/x", stuck, retries=1, backoff=0.01)
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert isinstance(raised.value, watchdog.StoreCallAbandoned) and watchdog.was_abandoned(
        raised.value
    )
    message = raised.value.message
    assert "the object store failed (s3://bucket) during copy-publish" in message
    assert "did not return from copy-publish" in message and "abandoned" in message
    assert "ESTIMATOR_EXT_STORE_CALL_SECONDS" in message and "retried this operation 1" in message
    assert len(attempts) == 2 and all("estimator_ext store call" in name for name in attempts)
    assert 0.6 <= elapsed < 5, elapsed
    # the per-MiB allowance: 2 MiB at 1 s/MiB outlasts a 0.5 s call
    assert (
        watchdog.bounded("copy", "s3://b/k", lambda: time.sleep(0.5) or "done", 2 * 2**20) == "done"
    )
    errors = []
    try:
        watchdog.bounded("copy", "s3://b/k", lambda: 1 / 0)
    except ZeroDivisionError as error:  # the call's own error comes back to the caller
        errors.append(error)
    assert errors and not watchdog.was_abandoned(errors[0])
