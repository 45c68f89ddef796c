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

A call stuck on a store that has stopped answering does not wait for that bound: while
an attempt has not returned, the store is probed every :data:`PROBE_AFTER_SECONDS` (20 s)
with one small request about its bucket (the object store's probe, ``exists`` of the
bucket root), given :data:`PROMPT_SECONDS` (10 s). A store that answers is alive and the
call keeps its bound (the ``TransferManager`` wait above happens on a live store); a
store that does not has stopped, and the call is abandoned then, about 30 s after it
began (measured: a call stuck for good, every setting left to estimator_ext, now fails
its export in 60.6 s on both stores, against 65.3 s on ``s3://`` and 71.5 s on ``gs://``
when the client's own timeouts ended it; a stopped store caught during an upload waited the
full 120 s before).

A whole export is bounded too, not only each call (:func:`one_export`). Once an attempt
of a store call fails (abandoned, or a transient error from the client) and no later call
has succeeded, the store has stopped answering: the export's remaining store calls (the
retry, then removing what it wrote) share :data:`AFTER_STOP_SECONDS` in all, each cut to
what is left (a transfer keeps at least its allowance of 1 s per MiB, so a large upload
retried after one failed attempt is not cut), instead of one full bound each. An export
against a store that stops answering mid-export therefore fails within its first stuck
call's probe (about 30 s) plus 30 s (measured with the probe: 64.8 s on ``s3://`` and
63.5 s on ``gs://``; without it, up to 160 s on ``s3://``, depending on the call the stop
caught), and what it could not remove is left, marked, for
:func:`estimator_ext.clean_stale_temporaries`.
Any call that succeeds promptly meanwhile (the store came back) ends the countdown.
Removing what a failed export wrote starts the countdown too (:func:`export_failed`),
whatever the error.

A store that answers some calls and not others, or answers late, can outlast that
countdown, since every prompt answer ends it; and tensorflow-io's S3 client turns a
timed-out ``exists`` into False after about 30 s, which is no error at all (measured: a
stopped ``s3://`` store caught at the publish step, four such probes then one stuck copy,
over 240 s). So an export also has a budget for trouble (:func:`trouble_seconds`: the
call bound plus :data:`AFTER_STOP_SECONDS`, 150 s by default): the time its attempts spent
failing, being abandoned, or answering slowly (more than :data:`PROMPT_SECONDS` beyond
their transfer allowance) adds up, is never given back, and bounds every later attempt.
A slow empty answer (False, []) also starts the countdown: it is what a store that did not
answer looks like. An export's store calls therefore spend at most 150 s on trouble in
all, whatever mix of answers and silences it meets; the rest of its time is prompt calls
that make progress.
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


#: An attempt slower than this (beyond its per-MiB allowance) answered late: trouble. A
#: probe of the store that takes longer went unanswered.
PROMPT_SECONDS = 10.0


#: An attempt still running after this long has its store probed, and again every as long.
PROBE_AFTER_SECONDS = 20.0


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


def bounded(
    operation: str,
    path: str,
    function: Callable[[], T],
    nbytes: int = 0,
    probe: Callable[[], bool] | None = None,
) -> T:
    """Runs ``function`` on a daemon thread and returns its result, or raises
    :class:`StoreCallAbandoned` when it has not returned within :func:`call_seconds` +
    ``nbytes`` / 1 MiB x :data:`SECONDS_PER_MIB`. Errors it raises are re-raised here.

    ``probe`` (the object store's: does it answer a request about its bucket?) is run
    every :data:`PROBE_AFTER_SECONDS` while the call has not returned; when it does not
    return True within :data:`PROMPT_SECONDS`, the store has stopped answering and the
    call is abandoned then, not at its bound (module doc).

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
    trouble_left = time_left_for_trouble()
    if trouble_left is not None:
        if trouble_left <= 0:
            raise StoreCallAbandoned(
                None,
                None,
                f"{operation} of {path!r} was not attempted: this export's store calls "
                f"already spent {trouble_seconds():.0f} s failing, hanging or answering late "
                f"(the bound is {CALL_SECONDS_VARIABLE}, now {call_seconds():g} s, plus "
                f"{AFTER_STOP_SECONDS:.0f} s)",
            )
        seconds = min(seconds, trouble_left + transfer_seconds)
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
    started = time.monotonic()
    while probe is not None:
        if finished.wait(min(PROBE_AFTER_SECONDS, max(0.0, deadline - time.monotonic()))):
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if _answers_promptly(probe, min(PROMPT_SECONDS, left)):
            continue
        if finished.is_set() or time.monotonic() >= deadline:
            break  # it returned meanwhile, or its bound came first: as without a probe
        raise StoreCallAbandoned(
            None,
            None,
            f"the store's client had not returned from {operation} of {path!r} after "
            f"{time.monotonic() - started:.0f} s, and the store did not answer a probe of "
            f"its bucket within {PROMPT_SECONDS:.0f} s: it stopped answering, so the call "
            f"was abandoned ({CALL_SECONDS_VARIABLE}, now {call_seconds():g} s plus "
            f"{SECONDS_PER_MIB:g} s per MiB, bounds a call while the store answers)",
        )
    if not finished.wait(max(0.0, deadline - time.monotonic())):
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
    saved = (
        getattr(_EXPORT, "active", False),
        getattr(_EXPORT, "stopped_at", None),
        getattr(_EXPORT, "trouble", 0.0),
    )
    _EXPORT.active, _EXPORT.stopped_at, _EXPORT.trouble = True, None, 0.0
    try:
        yield
    finally:
        _EXPORT.active, _EXPORT.stopped_at, _EXPORT.trouble = saved


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


def attempt_failed(seconds: float) -> None:
    """Notes, in the export on this thread, an attempt that failed after ``seconds``
    (abandoned, or a transient error): trouble, and the countdown starts."""
    _add_trouble(seconds)
    store_failed()


def attempt_returned(seconds: float, nbytes: int, empty: bool) -> None:
    """Notes, in the export on this thread, an attempt that returned after ``seconds``
    having moved ``nbytes``; ``empty``: its answer was False or [] (which tensorflow-io's
    S3 client also gives for a store it could not reach). A prompt answer that is not
    empty ends the countdown; a late one is trouble, and a late empty one starts it."""
    late = seconds > PROMPT_SECONDS + SECONDS_PER_MIB * nbytes / 2**20
    if late:
        _add_trouble(seconds)
        if empty:
            store_failed()
    elif not empty:
        store_answered()


def _add_trouble(seconds: float) -> None:
    if getattr(_EXPORT, "active", False):
        _EXPORT.trouble = getattr(_EXPORT, "trouble", 0.0) + seconds


def trouble_seconds() -> float:
    """What one export's store attempts may spend failing, hanging or answering late, in
    all: :func:`call_seconds` plus :data:`AFTER_STOP_SECONDS` (150 s by default), so that
    the first stuck call gets its whole bound and the rest of the export 30 s."""
    return call_seconds() + AFTER_STOP_SECONDS


def time_left_for_trouble() -> float | None:
    """What is left of :func:`trouble_seconds` for the export on this thread; None outside
    an export, or before any trouble."""
    trouble = getattr(_EXPORT, "trouble", 0.0)
    if not getattr(_EXPORT, "active", False) or trouble <= 0:
        return None
    return trouble_seconds() - trouble


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


def _answers_promptly(probe: Callable[[], bool], seconds: float) -> bool:
    """Whether ``probe``, run on a daemon thread of its own, returns True within
    ``seconds`` (an error or a later answer is none: a store that stopped answering
    leaves the probe stuck like the call it checks)."""
    answer: dict[str, bool] = {}
    returned = threading.Event()

    def run() -> None:
        try:
            answer["alive"] = bool(probe())
        except Exception:
            answer["alive"] = False
        finally:
            returned.set()

    thread = threading.Thread(target=run, name="estimator_ext store probe", daemon=True)
    thread.start()
    return returned.wait(seconds) and answer.get("alive", False)


def export_time_left() -> float | None:
    """What the export on this thread may still spend on a store call that moves no data:
    the shorter of :func:`time_left_after_stop` and :func:`time_left_for_trouble` (at or
    below 0, :func:`bounded` attempts nothing); None when neither applies."""
    limits = [
        left for left in (time_left_after_stop(), time_left_for_trouble()) if left is not None
    ]
    return min(limits) if limits else None


def was_abandoned(error: BaseException) -> bool:
    """Whether ``error`` or an error it was raised from is :class:`StoreCallAbandoned`."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, StoreCallAbandoned):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
