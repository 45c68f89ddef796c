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

:func:`call_store` also bounds each attempt of a store call by a watchdog, because some
waits inside the S3 client no setting bounds: measured with tensorflow-io 0.35 and 0.36
under injected faults, a multipart upload (``tf.io.gfile.copy`` or ``GFile.close`` into
``s3://``) blocked for good in the AWS SDK's ``TransferManager`` wait after the store had
answered every part; and a response that trickles a byte now and then never trips curl's
low-speed limit. The attempt runs on a daemon thread (TensorFlow's file calls release the
GIL) and is abandoned after :func:`call_seconds` plus one second per MiB it moves
(:data:`SECONDS_PER_MIB`), so a healthy large transfer is not cut: by default 2 minutes
for a small file. ``ESTIMATOR_EXT_STORE_CALL_SECONDS`` changes the 2 minutes: an
environment variable, like the S3 client's own settings it complements, so that one
deployment setting reaches every export, exporter and cleanup of the process. An
abandoned attempt raises :class:`StoreCallAbandoned` (a ``DeadlineExceededError``); its
thread stays blocked inside the client, and if it ever returns it may still write the one
object it was writing, inside the export's hidden temporary or claimed directory, which
:func:`estimator_ext.clean_stale_temporaries` removes (the claim is kept for that).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, MutableMapping
from typing import Any, Callable, TypeVar

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

#: The environment variable that sets how long one store call may take (see module doc).
CALL_SECONDS_VARIABLE = "ESTIMATOR_EXT_STORE_CALL_SECONDS"
#: One store call is abandoned after this many seconds by default ...
DEFAULT_CALL_SECONDS = 120.0
#: ... plus this many for each MiB it moves (a floor of 1 MiB/s for a healthy transfer).
SECONDS_PER_MIB = 1.0

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


def call_seconds(environ: MutableMapping[str, str] | None = None) -> float:
    """Seconds one store call may take before it is abandoned (before the per-MiB
    allowance): ``ESTIMATOR_EXT_STORE_CALL_SECONDS``, else :data:`DEFAULT_CALL_SECONDS`.

    Raises:
      ValueError: the variable is set to something other than a positive number.
    """
    environ = os.environ if environ is None else environ
    text = environ.get(CALL_SECONDS_VARIABLE)
    if text is None:
        return DEFAULT_CALL_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(
            f"{CALL_SECONDS_VARIABLE} must be a positive number of seconds (how long one "
            f"object-store call may take before estimator_ext abandons it); received "
            f"{text!r}. Unset it for the default ({DEFAULT_CALL_SECONDS:.0f} s), or set e.g. "
            f"{CALL_SECONDS_VARIABLE}=300."
        )
    return seconds


class StoreCallAbandoned(tf.errors.DeadlineExceededError):
    """A store call that did not return within its bound (see the module doc)."""


def bounded(operation: str, path: str, function: Callable[[], T], nbytes: int = 0) -> T:
    """Runs ``function`` on a daemon thread and returns its result, or raises
    :class:`StoreCallAbandoned` when it has not returned within :func:`call_seconds` +
    ``nbytes`` / 1 MiB x :data:`SECONDS_PER_MIB`. Errors it raises are re-raised here."""
    seconds = call_seconds() + SECONDS_PER_MIB * nbytes / 2**20
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error
        finally:
            finished.set()

    worker = threading.Thread(target=run, name=f"estimator_ext store call: {operation}")
    worker.daemon = True
    worker.start()
    if not finished.wait(seconds):
        raise StoreCallAbandoned(
            None,
            None,
            f"the store's client did not return from {operation} of {path!r} within "
            f"{seconds:.0f} s and was abandoned (set {CALL_SECONDS_VARIABLE} to allow longer; "
            f"now {call_seconds():g} s plus {SECONDS_PER_MIB:g} s per MiB)",
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def was_abandoned(error: BaseException) -> bool:
    """Whether ``error`` or an error it was raised from is :class:`StoreCallAbandoned`."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, StoreCallAbandoned):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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
