"""The storage interface: every file operation estimator_ext makes, as the methods of one class.

:class:`Store` implements each operation with ``tf.io.gfile`` (TensorFlow's filesystems:
local disks, ``ram://``, ``hdfs://``..., and ``s3://`` / ``gs://`` with tensorflow-io or
TF's GCS filesystem). One subclass per kind of store changes only what differs there:

* :class:`~estimator_ext.storage.local_store.LocalStore`: publish by one atomic
  ``rename`` after ``fsync``; copies by ``copy_file_range`` (``local_copy.py``);
  ``lstat`` probes that never follow a symlink;
* :class:`~estimator_ext.storage.copy_publish.CopyPublishStore`: any other scheme
  ``tf.io.gfile`` serves (``hdfs://``...): no atomic directory rename, so publish by
  copying after claiming the name; :class:`~estimator_ext.storage.copy_publish.RamStore`
  (``ram://``) is one;
* :class:`~estimator_ext.storage.object_store.ObjectStore` (``S3Store``, ``GcsStore``):
  copy-publish too, and every call bounded by the watchdog, retried where it is
  idempotent, its errors worded to name the store, and the client's defaults applied
  before the first call (:meth:`Store.prepare`).

:func:`estimator_ext.storage.stores.store_for` picks the store of a path and prepares
it; code outside ``storage/`` goes through the functions that dispatch with it
(``files.gfile``, ``copying``, ``staging``, ``publish``, ``names``), never through
``tf.io.gfile`` itself (``tests/storage/test_storage_boundary.py`` enforces it).

Paths are ``str``; ``bytes`` and ``os.PathLike`` are for ``store_for`` to choose a store
with, and ``staging.check_export_dir_base`` turns them into ``str`` first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import tensorflow as tf

from estimator_ext.storage.paths import has_scheme, join

if TYPE_CHECKING:
    from typing_extensions import TypeAlias

logger = logging.getLogger("estimator_ext")

T = TypeVar("T")

#: An open file of any store, as :meth:`Store.open` returns it (``tf.io.gfile.GFile``).
File: TypeAlias = tf.io.gfile.GFile


def walk_files(root: str) -> Iterator[tuple[str, str]]:
    """(relative path, absolute path) of every file under ``root``, on any store.

    A directory that cannot be listed raises (``tf.io.gfile.walk`` alone skips it in
    silence, which on an object store under faults drops whole subtrees)."""

    def fail(error: Exception) -> None:
        raise error

    for directory, _, files in tf.io.gfile.walk(root, onerror=fail):
        for name in files:
            absolute = join(directory, name)
            yield (
                posixpath.relpath(absolute, root)
                if has_scheme(root)
                else os.path.relpath(absolute, root),
                absolute,
            )


class Store:
    """One kind of store, reached through ``tf.io.gfile``; the base of every store.

    Contract: each method takes the store's own paths and raises TensorFlow's
    ``tf.errors.OpError`` subclasses, as ``tf.io.gfile`` does. :meth:`run` makes one
    attempt of a call (object stores bound it), :meth:`call` makes an idempotent call
    with the store's retries; the file methods use them, so a subclass changes how
    every call is made by overriding those two. How a complete export is published is
    :meth:`publish_as`, which each kind of store implements.
    """

    #: A short name of the kind of store, for messages.
    label = "tf.io.gfile"

    # -- how calls are made -----------------------------------------------------------

    def prepare(self) -> None:
        """Readies the store's client before a call; the layer calls it at every use
        (``store_for``). The generic store has nothing to set."""

    def run(self, operation: str, path: str, function: Callable[[], T], nbytes: int = 0) -> T:
        """One attempt of ``function`` (``operation`` on ``path``, moving ``nbytes``)."""
        return function()

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
        """``function``, an idempotent operation, with the store's retries. Here: once."""
        return function()

    def error(
        self, error: tf.errors.OpError, path: str, operation: str, retries: int, seconds: float
    ) -> tf.errors.OpError:
        """``error`` in the store's wording, naming the store (here: ``error`` itself)."""
        return error

    @contextlib.contextmanager
    def errors(self, path: str, operation: str) -> Iterator[None]:
        """Re-raises a TensorFlow error from the block in the store's wording (here: as is)."""
        yield

    def check_reachable(self, path: str) -> None:
        """Raises when the store holding ``path`` does not answer; here it always does."""

    # -- probes ---------------------------------------------------------------------
    # Idempotent, so made with call: an object store retries their transient failures
    # (GCS's client gives up on a request after its own retries with AbortedError, measured
    # under faults to fail one gs:// export in two at 20-50 % of connections faulted).

    def exists(self, path: str) -> bool:
        return self.call("exists", path, lambda: bool(tf.io.gfile.exists(path)))

    def isdir(self, path: str) -> bool:
        return self.call("isdir", path, lambda: bool(tf.io.gfile.isdir(path)))

    def listdir(self, path: str) -> list[str]:
        return self.call("listing", path, lambda: list(tf.io.gfile.listdir(path)))

    def glob(self, pattern: str) -> list[str]:
        return self.call("listing", pattern, lambda: list(tf.io.gfile.glob(pattern)))

    def stat(self, path: str) -> Any:
        return self.call("stat", path, lambda: tf.io.gfile.stat(path))

    def walk(
        self, top: str, onerror: Callable[[Exception], None] | None = None
    ) -> list[tuple[str, list[str], list[str]]]:
        """``tf.io.gfile.walk``'s whole listing at once (one bound for the whole walk)."""
        return self.call(
            "listing a tree",
            top,
            lambda: [
                (directory, list(subdirs), list(files))
                for directory, subdirs, files in tf.io.gfile.walk(top, onerror=onerror)
            ],
        )

    def walk_files(self, root: str) -> Iterator[tuple[str, str]]:
        """(relative, absolute) path of every file under ``root``; raises on a directory
        it cannot list (see :func:`walk_files`)."""
        return walk_files(root)

    def answers(self, known_object: str) -> bool:
        """Whether the store answers a stat of an object known to exist (tensorflow-io's
        S3 ``exists`` reports an unreachable store as "not found", so it cannot tell)."""
        try:
            self.stat(known_object)
            return True
        except tf.errors.OpError:
            return False

    def is_real_directory(self, path: str) -> bool:
        """A directory (on a local disk: not a symlink to one)."""
        return self.isdir(path)

    def is_regular_file(self, path: str) -> bool:
        """A file (on a local disk: not a symlink to one)."""
        return self.exists(path) and not self.isdir(path)

    def last_activity(self, path: str, since: float) -> float:
        """The newest of ``since`` and the modification times of ``path`` and everything
        beneath it (seconds since epoch); entries that vanish meanwhile are skipped."""
        newest = float(since)
        for directory, subdirs, files in self.walk(path):
            for name in [""] + list(subdirs) + list(files):
                try:
                    mtime = self.stat(join(directory, name) if name else directory).mtime_nsec
                except tf.errors.OpError:
                    continue
                newest = max(newest, mtime / 1e9)
        return newest

    # -- reading and writing ----------------------------------------------------------

    def open(self, path: str, mode: str = "rb") -> File:
        """An open file (``tf.io.gfile.GFile``); its reads and writes are not bounded
        here: a caller that needs a bound wraps the whole job in :meth:`call`."""
        return tf.io.gfile.GFile(path, mode)

    def read_bytes(self, path: str) -> bytes:
        """The whole content of ``path`` (one idempotent call, its bound sized by a stat)."""

        def read() -> bytes:
            with tf.io.gfile.GFile(path, "rb") as handle:
                return bytes(handle.read())

        return self.call("reading", path, read, nbytes=self.stat(path).length)

    def write_text(
        self, path: str, text: str, operation: str = "writing", retries: int = 2
    ) -> None:
        """Writes ``text`` as the whole of ``path`` (idempotent: with :meth:`call`'s retries)."""

        def write() -> None:
            with tf.io.gfile.GFile(path, "w") as handle:
                handle.write(text)
            self.check_written(path, len(text.encode("utf-8")))

        self.call(operation, path, write, retries=retries, nbytes=len(text))

    def write_bytes(
        self, path: str, content: bytes, operation: str = "writing", retries: int = 0
    ) -> None:
        """Writes ``content`` as the whole of ``path`` (by default one attempt)."""

        def write() -> None:
            with tf.io.gfile.GFile(path, "wb") as handle:
                handle.write(content)
            self.check_written(path, len(content))

        self.call(operation, path, write, retries=retries, nbytes=len(content))

    def write_records(
        self, path: str, records: Sequence[bytes], operation: str = "writing", retries: int = 0
    ) -> None:
        """Writes ``records`` as the TFRecord file ``path`` (by default one attempt)."""

        def write() -> None:
            with tf.io.TFRecordWriter(path) as writer:
                for record in records:
                    writer.write(record)
            # each record is framed by its length (8 bytes) and two CRCs (4 bytes each)
            self.check_written(path, sum(len(record) + 16 for record in records))

        self.call(operation, path, write, retries=retries, nbytes=sum(map(len, records)))

    def read_records(self, path: str) -> list[bytes]:
        """The records of the TFRecord file ``path`` (one idempotent call)."""
        return self.call(
            "reading",
            path,
            lambda: list(tf.compat.v1.io.tf_record_iterator(path)),
            nbytes=self.stat(path).length,
        )

    def makedirs(self, path: str) -> None:
        self.call("creating a directory", path, lambda: tf.io.gfile.makedirs(path))

    def copy(
        self,
        source: str,
        destination: str,
        operation: str,
        nbytes: int = 0,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """Copies one file to a destination the caller owns, with :meth:`call`'s retries
        (``nbytes``: the file's size, when known).

        The first attempt refuses to overwrite (a guard against a name taken meanwhile); a
        retry after a failed attempt may find that attempt's own object, so it overwrites.
        ``on_bytes`` is not called: a ``tf.io.gfile`` copy reports nothing until it ends.
        Each attempt ends with :meth:`check_copied`.
        """
        attempts: list[None] = []

        def copy() -> None:
            attempts.append(None)
            tf.io.gfile.copy(source, destination, overwrite=len(attempts) > 1)
            self.check_copied(source, destination)

        self.call(operation, destination, copy, nbytes=nbytes)

    def check_written(self, path: str, nbytes: int) -> None:
        """Checks, after a write the client reported complete, that ``path`` holds
        ``nbytes`` bytes. A local disk's write either completes or raises: nothing to
        check here (:class:`~estimator_ext.storage.object_store.ObjectStore` checks)."""

    def check_copied(self, source: str, destination: str) -> None:
        """:meth:`check_written` for a copy: ``destination`` holds all of ``source``."""

    # -- removing -----------------------------------------------------------------------

    def remove(self, path: str) -> None:
        self.run("removing", path, lambda: tf.io.gfile.remove(path))

    def rmtree(self, path: str) -> None:
        self.run("removing a directory", path, lambda: tf.io.gfile.rmtree(path))

    def remove_tree(self, path: str) -> None:
        """Removes ``path``, a directory tree or a file; raises what the store raises."""
        if self.isdir(path):
            self.rmtree(path)
        else:
            self.remove(path)

    def remove_quietly(self, path: str) -> None:
        """Removes ``path`` (tree or file) if it exists, ignoring the store's errors."""
        try:
            if self.isdir(path):
                self.rmtree(path)
            elif self.exists(path):
                self.remove(path)
        except tf.errors.OpError:
            pass

    def remove_if_empty(self, directory: str) -> bool:
        """Removes ``directory`` if it is empty; True once it is gone (also if it never
        was). Without an atomic "remove if empty", a listing decides."""
        try:
            if self.isdir(directory) and not self.listdir(directory):
                self.rmtree(directory)
            return not self.exists(directory)
        except tf.errors.OpError:
            return False

    # -- publishing -----------------------------------------------------------------------

    def publish(self, temp_dir: str, export_dir_base: str) -> str:
        """Makes the complete export in ``temp_dir`` appear under a new integer name in
        ``export_dir_base`` (seconds since epoch, or the next free integer) and returns
        that directory. Two exports never get the same name (see ``publish.py``).

        Raises:
          RuntimeError: no free name among the next 1000 integers.
        """
        self.before_publish(temp_dir)
        candidate = int(time.time())
        for _ in range(1000):
            export_dir = join(export_dir_base, str(candidate))
            if not self.exists(export_dir) and self.publish_as(
                temp_dir, export_dir_base, candidate
            ):
                return export_dir
            candidate += 1
        raise RuntimeError(
            f"Could not find a free export directory name under {export_dir_base!r} among "
            f"1000 integers from {candidate - 1000}; remove old exports or use another base."
        )

    def before_publish(self, temp_dir: str) -> None:
        """Readies a complete export for publishing (a local disk flushes it)."""

    def publish_as(self, temp_dir: str, export_dir_base: str, candidate: int | str) -> bool:
        """Publishes ``temp_dir`` as ``export_dir_base/<candidate>`` if that name is still
        free; False when another export took or claimed it (the caller tries the next).
        ``candidate`` is an export's integer name, or a given name (``convert_serve_only``'s
        output directory)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not say how it publishes; subclass LocalStore or "
            "CopyPublishStore."
        )
