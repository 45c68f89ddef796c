"""Object stores (``s3://``, ``gs://``): bounded calls, retries, error wording, client defaults.

An object store is reached over the network through a client TensorFlow does not
bound, so :class:`ObjectStore` changes how every call of the storage interface is made:

* each attempt runs under the watchdog (``watchdog.py``) and is abandoned past its bound;
* an idempotent call (:meth:`ObjectStore.call`) is retried on
  transient errors with exponential backoff, within a deadline; an error a retry cannot
  fix (not found, permission denied, ...) is raised at once;
* an error is re-raised by :meth:`ObjectStore.error` as one of the same class (so ``except
  tf.errors.UnavailableError`` still works) whose message says it was the object store,
  gives the store's own message, the path and operation, the retries ``estimator_ext``
  itself made and the client's settings;
* the client's environment defaults (:data:`S3Store.client_defaults`: ``s3.py``;
  :data:`GcsStore.client_defaults`: ``gcs.py``) are set before the first call of the
  process, by :meth:`ObjectStore.prepare`, which the layer runs at every use of a path
  of the store (``stores.store_for``), never overriding a variable the user set;
* there is no atomic directory rename, so an export is published by copy
  (:class:`~estimator_ext.storage.copy_publish.CopyPublishStore`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Callable, ClassVar, TypeVar

import tensorflow as tf

from estimator_ext.storage.client_env import apply_env_defaults, env_settings
from estimator_ext.storage.copy_publish import CopyPublishStore
from estimator_ext.storage.gcs import GCS_ENV_DEFAULTS, unset_gcs_defaults
from estimator_ext.storage.s3 import S3_ENV_DEFAULTS, s3_unavailable_reason
from estimator_ext.storage.watchdog import attempt_failed, attempt_returned, bounded

logger = logging.getLogger("estimator_ext")

_STORE_MARK = "estimator_ext: the object store failed"

T = TypeVar("T")

#: Errors that a retry cannot fix (the request was understood and refused, or what was
#: read is not what the caller expected: a corrupt TFRecord is the file's fault).
_PERMANENT = (
    tf.errors.DataLossError,
    tf.errors.NotFoundError,
    tf.errors.AlreadyExistsError,
    tf.errors.InvalidArgumentError,
    tf.errors.PermissionDeniedError,
    tf.errors.FailedPreconditionError,
    tf.errors.UnauthenticatedError,
)


class ObjectStore(CopyPublishStore):
    """A network object store: bounded, retried calls; worded errors; client defaults.

    A subclass names its ``scheme`` and, where its client reads settings from the
    environment, the ``client_defaults`` to set before the first call (module doc)."""

    scheme: ClassVar[str] = ""
    client_defaults: ClassVar[Mapping[str, str]] = {}

    def prepare(self) -> None:
        self.apply_client_defaults()

    def apply_client_defaults(
        self, environ: MutableMapping[str, str] | None = None
    ) -> dict[str, str]:
        """Sets the :attr:`client_defaults` not set yet in ``environ`` (default
        ``os.environ``); never overrides one. Returns what it set."""
        return apply_env_defaults(self.client_defaults, self.label, environ)

    def client_settings(self, environ: MutableMapping[str, str] | None = None) -> str:
        """`` <label> client settings: NAME=value, ....`` for error messages, or ''."""
        if not self.client_defaults:
            return ""
        return f" {self.label} client settings: {env_settings(self.client_defaults, environ)}."

    def run(self, operation: str, path: str, function: Callable[[], T], nbytes: int = 0) -> T:
        return _attempt(operation, path, function, nbytes)

    def call(
        self,
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
        then raises :meth:`error`. Each attempt is :func:`bounded` (``nbytes``: what it
        moves)."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return _attempt(operation, path, function, nbytes)
            except _PERMANENT:
                raise
            except tf.errors.OpError as error:
                elapsed = time.monotonic() - started
                if attempt >= retries or elapsed + backoff * 2**attempt > deadline_seconds:
                    raise self.error(error, path, operation, attempt, elapsed) from error
                logger.warning(
                    "estimator_ext: %s of %s failed (%s); retrying", operation, path, error.message
                )
                time.sleep(backoff * 2**attempt)
                attempt += 1

    def makedirs(self, path: str) -> None:
        """``tf.io.gfile.makedirs``, retried. TensorFlow's ``RecursivelyCreateDir``
        (``tsl/platform/file_system.cc``) reports ANY failed directory probe of an existing
        parent as ``FailedPreconditionError: <parent> is not a directory``; on an object
        store that is mostly a request that failed (measured under faults on ``gs://``,
        where the directory was there), so it is retried like a transient failure. A file
        in the way of an export's directory cannot be: the base is checked before
        anything is written, and below it every name is the export's own."""

        def make() -> None:
            try:
                tf.io.gfile.makedirs(path)
            except tf.errors.FailedPreconditionError as error:
                if "is not a directory" not in error.message:
                    raise
                raise tf.errors.UnavailableError(
                    error.node_def,
                    error.op,
                    f"{error.message} (TensorFlow's answer when probing a parent failed)",
                ) from error

        self.call("creating a directory", path, make)

    def check_written(self, path: str, nbytes: int) -> None:
        """Raises UnavailableError (transient: :meth:`call` writes again) when the object
        at ``path`` does not hold the ``nbytes`` bytes the client reported written.

        Why: a store may commit a cut upload and answer success. Measured against the
        gs:// emulator under injected resets, TensorFlow's GCS client reported a
        ``variables.index`` written that held fewer bytes than it sent, and the export was
        published with a checkpoint TensorFlow could not read ("file is too short to be an
        sstable"). One stat per written file costs far less than publishing that."""
        held = tf.io.gfile.stat(path).length
        if held != nbytes:
            raise tf.errors.UnavailableError(
                None,
                None,
                f"the store reported {path} written, but it holds {held} of the {nbytes} "
                "bytes sent (a cut upload the store committed)",
            )

    def check_copied(self, source: str, destination: str) -> None:
        """:meth:`check_written` against the source's size, stat-ed now (a caller's size
        may be stale; on ``gs://`` to ``gs://`` the copy is the store's own)."""
        self.check_written(destination, tf.io.gfile.stat(source).length)

    def error(
        self, error: tf.errors.OpError, path: str, operation: str, retries: int, seconds: float
    ) -> tf.errors.OpError:
        """An error of ``error``'s class saying this store failed (see module doc)."""
        return _worded(error, path, operation, retries, seconds, self.client_settings())

    @contextlib.contextmanager
    def errors(self, path: str, operation: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except tf.errors.OpError as error:
            raise self.error(error, path, operation, 0, time.monotonic() - started) from error

    def check_reachable(self, path: str) -> None:
        """Raises :meth:`error` when the store holding ``path`` does not answer.

        Why: tensorflow-io's ``exists``/``isdir`` on a key turn a timed-out request into
        False (measured, tensorflow-io 0.36: 64 s through a stalled connection, then
        False), so an export to a dead store would walk its parents and clean up, one
        stuck call after another, for minutes. The bucket root is the one path whose
        ``exists`` raises on a timeout; asking it first (with :meth:`call`'s retries and
        deadline) makes an export to a dead store fail in about a minute with the
        defaults, before anything is written. A missing bucket is not this check's
        business: the export's own calls report it.
        """
        root = store_root(path) + "/"
        try:
            self.call("reaching the store", root, lambda: tf.io.gfile.exists(root))
        except tf.errors.NotFoundError:
            pass


def _attempt(operation: str, path: str, function: Callable[[], T], nbytes: int) -> T:
    """One :func:`bounded` attempt, noting for the export's bound (``watchdog.one_export``)
    whether the store answered: a transient failure starts the countdown; a prompt result
    ends it. An empty answer (False, [], or "not found") proves nothing: tensorflow-io's S3
    client gives those for a store it could not reach, so a late one counts as a failure.
    Failed and late attempts spend the export's trouble budget (``watchdog`` module doc)."""
    started = time.monotonic()
    try:
        value = bounded(operation, path, function, nbytes, probe=_prober(path))
    except _PERMANENT:
        raise
    except tf.errors.OpError:
        attempt_failed(time.monotonic() - started)
        raise
    attempt_returned(time.monotonic() - started, nbytes, empty=value is False or value == [])
    return value


def _prober(path: str) -> Callable[[], bool]:
    """The watchdog's probe for a call on ``path``: whether the store answers a question
    about its bucket (``exists`` of the root, one small request). An answer is a result
    or an error that says the request was understood (not found, permission denied: a
    user may not be allowed to ask about the bucket); a transient error is none."""
    root = store_root(path) + "/"

    def store_answers() -> bool:
        try:
            tf.io.gfile.exists(root)
        except _PERMANENT:
            return True
        except tf.errors.OpError:
            return False
        return True

    return store_answers


class S3Store(ObjectStore):
    """``s3://`` through tensorflow-io: its client's timeouts and retries are bounded by
    environment defaults set before the first call (``s3.py`` says why and which)."""

    scheme = "s3://"
    label = "S3"
    client_defaults = S3_ENV_DEFAULTS

    def prepare(self) -> None:
        """Raises UnimplementedError with the fix where no tensorflow-io release serves
        s3:// (``s3.py``), then sets the client defaults."""
        reason = s3_unavailable_reason(tf.__version__)
        if reason is not None:
            raise tf.errors.UnimplementedError(None, None, reason)
        super().prepare()


class GcsStore(ObjectStore):
    """``gs://`` through TensorFlow's GCS filesystem. Its client defaults, when there are
    some, go in ``gcs.py`` (:data:`~estimator_ext.storage.gcs.GCS_ENV_DEFAULTS`).

    ``exists`` and ``isdir`` ask by listing the parent, never through TensorFlow's stat
    cache: that cache (``GCS_STAT_CACHE_MAX_AGE``, 5 s by default, read when TensorFlow is
    imported) keeps answering that a folder exists for 5 s after it was removed. Measured
    against the emulator, ``clean_stale_temporaries`` removed a dead writer's temporary,
    found it still "there" and reported nothing removed. A listing is never cached."""

    scheme = "gs://"
    label = "GCS"
    client_defaults = GCS_ENV_DEFAULTS

    def prepare(self) -> None:
        """Nothing to set now (TensorFlow read the ``GCS_*`` variables when it was
        imported: ``gcs.py``); warns once when it read them without estimator_ext's
        defaults."""
        missing = unset_gcs_defaults()
        if missing:
            _warn_unbounded_gcs(tuple(missing))

    def exists(self, path: str) -> bool:
        return self.call("exists", path, lambda: _listed_as(path) is not None)

    def isdir(self, path: str) -> bool:
        return self.call("isdir", path, lambda: _listed_as(path) == "directory")


@functools.cache
def _warn_unbounded_gcs(missing: tuple[str, ...]) -> None:
    logger.warning(
        "estimator_ext: TensorFlow was imported before estimator_ext, so its GCS client "
        "reads %s with TensorFlow's own values (e.g. 60 s idle, 10 retries per request): "
        "a stuck gs:// call is bounded only by estimator_ext's watchdog. Set them in the "
        "environment before TensorFlow is imported, or import estimator_ext first (see "
        "estimator_ext/storage/gcs.py for the defaults).",
        ", ".join(missing),
    )


def _listed_as(path: str) -> str | None:
    """'directory', 'file' or None: how ``path``'s parent lists it (a bucket root is
    asked directly)."""
    trimmed = path.rstrip("/")
    parent, _, name = trimmed.rpartition("/")
    if parent.endswith(":/"):  # gs://bucket
        return "directory" if tf.io.gfile.isdir(trimmed) else None
    try:
        entries = set(tf.io.gfile.listdir(parent))
    except tf.errors.NotFoundError:
        return None
    if name + "/" in entries:
        return "directory"
    return "file" if name in entries else None


#: One instance per object store (they hold no state): the layer's stores.
OBJECT_STORES: tuple[ObjectStore, ...] = (S3Store(), GcsStore())


def object_store_for(path: str) -> ObjectStore | None:
    """The object store holding ``path``, prepared for a call (its client defaults
    set), or None for a path of another store."""
    store = _object_store_of(path)
    if store is not None:
        store.prepare()
    return store


def _object_store_of(path: str) -> ObjectStore | None:
    return next((store for store in OBJECT_STORES if path.startswith(store.scheme)), None)


def store_root(path: str) -> str:
    """``s3://bucket`` of ``s3://bucket/any/key``."""
    return "/".join(path.split("/", 3)[:3])


def is_store_error(error: BaseException) -> bool:
    return isinstance(error, tf.errors.OpError) and _STORE_MARK in str(error.message)


def _worded(
    error: tf.errors.OpError,
    path: str,
    operation: str,
    retries: int,
    seconds: float,
    settings: str,
) -> tf.errors.OpError:
    if is_store_error(error):
        return error
    message = (
        f"{_STORE_MARK} ({store_root(path)}) during {operation} of {path!r}: "
        f"{type(error).__name__}: {error.message} -- estimator_ext retried this operation "
        f"{retries} time(s) over {seconds:.1f} s (the store's client also retries each "
        f"request itself).{settings} Nothing partial was published; export again when the "
        "store is reachable."
    )
    return type(error)(error.node_def, error.op, message)
