"""The watchdog on every object-store call: each attempt runs on a thread, abandoned past its bound.

Why: some waits inside the S3 client no setting bounds (``s3.py`` bounds the others):
measured with tensorflow-io 0.35 and 0.36 under injected faults, a multipart upload
(``tf.io.gfile.copy`` or ``GFile.close`` into ``s3://``) blocked for good in the AWS
SDK's ``TransferManager`` wait after the store had answered every part; and a response
that trickles a byte now and then never trips curl's low-speed limit. So every attempt
of an object-store call (:class:`~estimator_ext.storage.object_store.ObjectStore`) runs
on a daemon thread (TensorFlow's file calls release the GIL) and is abandoned after
:func:`call_seconds` plus one second per MiB it moves (:data:`SECONDS_PER_MIB`), so a
healthy large transfer is not cut: by default 2 minutes for a small file.
``ESTIMATOR_EXT_STORE_CALL_SECONDS`` changes the 2 minutes: an environment variable,
like the S3 client's own settings it complements, so that one deployment setting
reaches every export, exporter and cleanup of the process. An abandoned attempt raises
:class:`StoreCallAbandoned` (a ``DeadlineExceededError``); its thread stays blocked
inside the client, and if it ever returns it may still write the one object it was
writing, inside the export's hidden temporary or claimed directory, which
:func:`estimator_ext.clean_stale_temporaries` removes (the claim is kept for that).

A whole export is bounded too, not only each call (:func:`one_export`). Once an attempt
of a store call fails (abandoned, or a transient error from the client) and no later call
has succeeded, the store has stopped answering: the export's remaining store calls (the
retry, then removing what it wrote) share :data:`AFTER_STOP_SECONDS` in all, each cut to
what is left (a transfer keeps at least its allowance of 1 s per MiB, so a large upload
retried after one failed attempt is not cut), instead of one full bound each. An export
against a store that stops answering mid-export therefore fails within one call's bound
(2 minutes by default, or the client's own timeouts when they are shorter) plus 30 s
(measured: 66 s on s3://, 70 s on gs://; with 45 s, up to 170 s when the stop caught an
upload on s3://), and what it could not remove is left, marked, for
:func:`estimator_ext.clean_stale_temporaries`.
Any call that succeeds meanwhile (the store came back) ends the countdown. Removing what a
failed export wrote starts the countdown too (:func:`export_failed`), whatever the error.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, MutableMapping
from typing import Any, Callable, TypeVar

import tensorflow as tf

#: The environment variable that sets how long one store call may take (see module doc).
CALL_SECONDS_VARIABLE = "ESTIMATOR_EXT_STORE_CALL_SECONDS"


#: One store call is abandoned after this many seconds by default ...
DEFAULT_CALL_SECONDS = 120.0


#: ... plus this many for each MiB it moves (a floor of 1 MiB/s for a healthy transfer).
SECONDS_PER_MIB = 1.0


#: What an export may still spend on store calls, in all, once its store stopped answering.
AFTER_STOP_SECONDS = 30.0


T = TypeVar("T")

# The export running on this thread (one_export): whether it is one, and when its store
# stopped answering (None while it answers).
_EXPORT = threading.local()

# Which threads are the watchdog's own: a call made from inside a bounded call (a store
# job such as writing the variables, wrapped whole) runs under that call's bound, on its
# thread, rather than on one more thread with a bound of its own.
_WORKER = threading.local()


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
    ``nbytes`` / 1 MiB x :data:`SECONDS_PER_MIB`. Errors it raises are re-raised here.

    A call made from inside a bounded call (a probe inside "writing the variables") keeps
    its own bound while that is the shorter one; when the outer call's remaining time is
    shorter, it runs directly on the outer call's thread, under the outer bound."""
    transfer_seconds = SECONDS_PER_MIB * nbytes / 2**20
    seconds = call_seconds() + transfer_seconds
    left = time_left_after_stop()
    if left is not None:
        # A large transfer keeps its per-MiB allowance: a dead connection is ended sooner
        # by the client's own timeouts, and one retried after a blip must not be cut.
        left = max(left, transfer_seconds)
        if left <= 0:
            raise StoreCallAbandoned(
                None,
                None,
                f"{operation} of {path!r} was not attempted: the store stopped answering "
                f"earlier in this export, and the {AFTER_STOP_SECONDS:.0f} s an export may "
                "then spend on store calls are spent",
            )
        seconds = min(seconds, left)
    outer_deadline = getattr(_WORKER, "deadline", None)
    if outer_deadline is not None and outer_deadline - time.monotonic() <= seconds:
        return function()  # the outer call's bound comes first: it applies
    outcome: dict[str, Any] = {}
    finished = threading.Event()
    deadline = time.monotonic() + seconds

    def run() -> None:
        _WORKER.deadline = deadline
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


@contextlib.contextmanager
def one_export() -> Iterator[None]:
    """Marks the block as one export on this thread: its store calls share the bound of
    :data:`AFTER_STOP_SECONDS` once the store stopped answering (module doc)."""
    saved = (getattr(_EXPORT, "active", False), getattr(_EXPORT, "stopped_at", None))
    _EXPORT.active, _EXPORT.stopped_at = True, None
    try:
        yield
    finally:
        _EXPORT.active, _EXPORT.stopped_at = saved


def store_failed() -> None:
    """Notes, in the export running on this thread, that an attempt of a store call failed
    (abandoned, or a transient error): the countdown starts unless it runs already."""
    if getattr(_EXPORT, "active", False) and getattr(_EXPORT, "stopped_at", None) is None:
        _EXPORT.stopped_at = time.monotonic()


def export_failed() -> None:
    """Notes, in the export running on this thread, that it failed and is about to remove
    what it wrote: those calls share :data:`AFTER_STOP_SECONDS` unless the store answers.

    Why: the error that ended the export does not always show that the store stopped
    answering. tensorflow-io turns a timed-out ``exists`` or ``isdir`` into False, and some
    timeouts come back as ``NotFoundError``, which is not retried and starts no countdown;
    without this, each cleanup call against a dead store got a full call bound (measured:
    an ``s3://`` export still cleaning up after 240 s). A store that answers ends the
    countdown at its first result, so cleanup on a healthy store is not cut."""
    store_failed()


def store_answered() -> None:
    """Notes that a store call succeeded: the store answers, the countdown ends."""
    if getattr(_EXPORT, "active", False):
        _EXPORT.stopped_at = None


def time_left_after_stop() -> float | None:
    """Seconds the export on this thread may still spend on store calls since its store
    stopped answering; None when it answers (or outside an export)."""
    stopped_at = getattr(_EXPORT, "stopped_at", None)
    if not getattr(_EXPORT, "active", False) or stopped_at is None:
        return None
    return AFTER_STOP_SECONDS - (time.monotonic() - stopped_at)


def was_abandoned(error: BaseException) -> bool:
    """Whether ``error`` or an error it was raised from is :class:`StoreCallAbandoned`."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, StoreCallAbandoned):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
