"""estimator_ext's S3 client defaults: applied only for s3://, never over the user's."""

from __future__ import annotations

import tensorflow as tf

from estimator_ext import _s3


def test_defaults_fill_only_what_the_user_did_not_set():
    environ = {"S3_REQUEST_TIMEOUT_MSEC": "60000"}
    applied = _s3.apply_s3_defaults("s3://bucket/exports", environ)
    assert environ["S3_REQUEST_TIMEOUT_MSEC"] == "60000"  # the user's value kept
    assert applied == {
        "S3_CONNECT_TIMEOUT_MSEC": "5000",
        "AWS_RETRY_MODE": "standard",
        "AWS_MAX_ATTEMPTS": "3",
    }
    assert {name: environ[name] for name in applied} == applied


def test_no_defaults_for_other_filesystems():
    for path in ("gs://bucket/x", "/tmp/x", "ram://x"):
        environ: dict = {}
        assert _s3.apply_s3_defaults(path, environ) == {} and environ == {}


def test_store_error_keeps_the_class_and_names_store_message_and_retries():
    original = tf.errors.UnavailableError(None, None, "SlowDown: Please reduce your request rate.")
    error = _s3.store_error(original, "s3://bucket/exports/1/x", "copy-publish", 2, 1.5)
    assert type(error) is tf.errors.UnavailableError
    assert error.message.startswith(
        "estimator_ext: the object store failed (s3://bucket) during copy-publish"
    )
    assert "SlowDown: Please reduce your request rate." in error.message
    assert "retried this operation 2 time(s) over 1.5 s" in error.message
    assert _s3.store_error(error, "s3://bucket/x", "again", 0, 0.0) is error  # never wrapped twice


def test_call_store_retries_transient_errors_then_raises_a_store_error():
    calls = []

    def flaky():
        calls.append(None)
        raise tf.errors.UnavailableError(None, None, "reset by peer")

    try:
        _s3.call_store("listing", "s3://bucket/base", flaky, retries=2, backoff=0.01)
    except tf.errors.UnavailableError as error:
        assert (
            "retried this operation 2 time(s)" in error.message and "reset by peer" in error.message
        )
    else:
        raise AssertionError("no error")
    assert len(calls) == 3
    local_calls = []
    assert _s3.call_store("listing", "/tmp/base", lambda: local_calls.append(1) or "ok") == "ok"
    assert local_calls == [1]
