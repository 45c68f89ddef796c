"""Object stores: retries, error wording."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Callable, TypeVar

import tensorflow as tf

from estimator_ext.storage.paths import is_object_store
from estimator_ext.storage.s3 import s3_settings
from estimator_ext.storage.watchdog import bounded

logger = logging.getLogger("estimator_ext")


_STORE_MARK = "estimator_ext: the object store failed"


T = TypeVar("T")


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
    nbytes: int = 0,
) -> T:
    """Runs ``function`` (an idempotent store operation) retrying transient failures
    ``retries`` times with exponential ``backoff`` (but not past ``deadline_seconds``),
    then raises :func:`store_error`. Each attempt is :func:`bounded` (``nbytes``: what it
    moves). Local paths run once, unchanged."""
    if not is_object_store(path):
        return function()
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return bounded(operation, path, function, nbytes)
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
