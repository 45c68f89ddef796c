"""Object stores (``s3://``, ``gs://``): bounded S3 client settings and store errors.

Why: tensorflow-io 0.36's S3 filesystem (the AWS SDK for C++ 1.8 inside) defaults to
300 s connect and 300 s request timeouts, the request timeout being curl's low-speed
limit (no byte for that long), and to the SDK's legacy retry strategy (11 attempts per
request) times tensorflow-io's own 3 extra upload retries. One stalled connection could
block an export for many minutes. The SDK reads its settings from the environment once
per process, when the first ``s3://`` path is touched, so the only way to bound them is
to set environment defaults before that. :func:`apply_s3_defaults` does it, for the
variables the user did not set (it never overrides one), and only when an
``estimator_ext`` call is about to touch ``s3://``:

================================  =========  ===========================================
variable                          default    meaning
================================  =========  ===========================================
``S3_CONNECT_TIMEOUT_MSEC``       ``5000``   TCP connect timeout per attempt
``S3_REQUEST_TIMEOUT_MSEC``       ``10000``  abort an attempt after this long without a byte
``AWS_RETRY_MODE``                standard   the SDK's standard retry strategy ...
``AWS_MAX_ATTEMPTS``              ``3``      ... with 3 attempts per request
================================  =========  ===========================================

With these, one request through dead or stalled connections fails within about
3 x (5 + 10) s plus backoff, and one file upload (tensorflow-io retries it 3 more times)
within about 2 minutes; a healthy slow transfer is never cut (bytes keep flowing). To
change them, set the variables yourself before the process first uses ``s3://`` (e.g.
``S3_REQUEST_TIMEOUT_MSEC=60000`` for a store that is slow to answer big copies).
``AWS_RETRY_MODE`` / ``AWS_MAX_ATTEMPTS`` also configure other AWS SDKs in the process
(boto3 reads them too). If ``s3://`` was used before ``estimator_ext`` touched it, the
S3 client is already configured and these defaults have no effect on it.

:func:`store_error` turns a TensorFlow error raised while talking to a store into one
of the same class (so ``except tf.errors.UnavailableError`` still works) whose message
says it was the object store, gives the store's own message, the path and operation,
and the retries ``estimator_ext`` itself made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, MutableMapping
from typing import Callable, TypeVar

import tensorflow as tf

logger = logging.getLogger("estimator_ext")

#: Environment defaults applied before estimator_ext's first s3:// access (see module doc).
S3_ENV_DEFAULTS: dict[str, str] = {
    "S3_CONNECT_TIMEOUT_MSEC": "5000",
    "S3_REQUEST_TIMEOUT_MSEC": "10000",
    "AWS_RETRY_MODE": "standard",
    "AWS_MAX_ATTEMPTS": "3",
}

_STORE_MARK = "estimator_ext: the object store failed"

T = TypeVar("T")


def is_object_store(path: str) -> bool:
    return path.startswith(("s3://", "gs://"))


def apply_s3_defaults(path: str, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Sets :data:`S3_ENV_DEFAULTS` that are not set yet in ``environ`` (default
    ``os.environ``), when ``path`` is an ``s3://`` path. Returns what it set."""
    if not path.startswith("s3://"):
        return {}
    environ = os.environ if environ is None else environ
    applied = {name: value for name, value in S3_ENV_DEFAULTS.items() if name not in environ}
    environ.update(applied)
    if applied:
        logger.info("estimator_ext: S3 client defaults applied (set them to override): %s", applied)
    return applied


def s3_settings(environ: MutableMapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return ", ".join(f"{name}={environ.get(name, '(unset)')}" for name in S3_ENV_DEFAULTS)


def _store_root(path: str) -> str:
    """``s3://bucket`` of ``s3://bucket/any/key``."""
    return "/".join(path.split("/", 3)[:3])


def is_store_error(error: BaseException) -> bool:
    return isinstance(error, tf.errors.OpError) and _STORE_MARK in str(error.message)


def store_error(
    error: tf.errors.OpError, path: str, operation: str, retries: int, seconds: float
) -> tf.errors.OpError:
    """An error of ``error``'s class saying the store at ``path`` failed (see module doc)."""
    if is_store_error(error):
        return error
    scheme_and_bucket = _store_root(path)
    settings = f" S3 client settings: {s3_settings()}." if path.startswith("s3://") else ""
    message = (
        f"{_STORE_MARK} ({scheme_and_bucket}) during {operation} of {path!r}: "
        f"{type(error).__name__}: {error.message} -- estimator_ext retried this operation "
        f"{retries} time(s) over {seconds:.1f} s (the store's client also retries each "
        f"request itself).{settings} Nothing partial was published; export again when the "
        "store is reachable."
    )
    return type(error)(error.node_def, error.op, message)


#: Errors that a retry cannot fix (the request was understood and refused).
_PERMANENT = (
    tf.errors.NotFoundError,
    tf.errors.AlreadyExistsError,
    tf.errors.InvalidArgumentError,
    tf.errors.PermissionDeniedError,
    tf.errors.FailedPreconditionError,
    tf.errors.UnauthenticatedError,
)


def call_store(
    operation: str,
    path: str,
    function: Callable[[], T],
    retries: int = 2,
    backoff: float = 0.5,
    deadline_seconds: float = 60.0,
) -> T:
    """Runs ``function`` (an idempotent store operation) retrying transient failures
    ``retries`` times with exponential ``backoff`` (but not past ``deadline_seconds``),
    then raises :func:`store_error`. Local paths run once, unchanged."""
    if not is_object_store(path):
        return function()
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return function()
        except _PERMANENT:
            raise
        except tf.errors.OpError as error:
            elapsed = time.monotonic() - started
            if attempt >= retries or elapsed + backoff * 2**attempt > deadline_seconds:
                raise store_error(error, path, operation, attempt, elapsed) from error
            logger.warning(
                "estimator_ext: %s of %s failed (%s); retrying", operation, path, error.message
            )
            time.sleep(backoff * 2**attempt)
            attempt += 1


def check_reachable(path: str) -> None:
    """Raises :func:`store_error` when the store holding ``path`` does not answer.

    Why: tensorflow-io's ``exists``/``isdir`` on a key turn a timed-out request into
    False (measured, tensorflow-io 0.36: 64 s through a stalled connection, then False),
    so an export to a dead store would walk its parents and clean up, one stuck call
    after another, for minutes. The bucket root is the one path whose ``exists`` raises
    on a timeout; asking it first (with :func:`call_store`'s retries and deadline) makes
    an export to a dead store fail in about a minute with the defaults, before anything
    is written. A missing bucket is not this check's business: the export's own calls
    report it. Other paths return at once.
    """
    if not is_object_store(path):
        return
    root = _store_root(path) + "/"
    try:
        call_store("reaching the store", root, lambda: tf.io.gfile.exists(root))
    except tf.errors.NotFoundError:
        pass


@contextlib.contextmanager
def store_errors(path: str, operation: str) -> Iterator[None]:
    """Re-raises a TensorFlow error from the block as :func:`store_error` when ``path``
    is on an object store (no retries: the block is not known to be idempotent)."""
    started = time.monotonic()
    try:
        yield
    except tf.errors.OpError as error:
        if not is_object_store(path):
            raise
        raise store_error(error, path, operation, 0, time.monotonic() - started) from error
