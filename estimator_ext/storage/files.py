"""The file operations, as ``gfile.<operation>(path)``, each made by the store of its path.

``from estimator_ext.storage.files import gfile``, then ``gfile.exists(path)`` where code
would say ``tf.io.gfile.exists(path)``. Each call finds the store of ``path``
(:func:`~estimator_ext.storage.stores.store_for`, which first applies the store's client
defaults) and makes the call there: on an object store under the watchdog, so a call
that hangs in the client is abandoned after its bound, raising
:class:`~estimator_ext.storage.watchdog.StoreCallAbandoned`; on a local disk or
``ram://`` directly, on the caller's thread. Errors are not reworded by the probes
(callers that know the operation do that with ``store_for(path).errors(...)``); the
whole-file reads and writes are retried and worded by the store.

Outside ``storage/`` this object (and ``stores.store_for``, ``copying``, ``staging``,
``publish``, ``listing``) is the only way to a file:
``tests/storage/test_storage_boundary.py`` refuses ``tf.io.gfile``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Callable

from estimator_ext.storage.store import File
from estimator_ext.storage.stores import store_for

__all__ = ["File", "gfile"]


class _StoreFiles:
    """The file operations estimator_ext uses, each made by the store of its path."""

    @staticmethod
    def exists(path: str) -> bool:
        return store_for(path).exists(path)

    @staticmethod
    def isdir(path: str) -> bool:
        return store_for(path).isdir(path)

    @staticmethod
    def listdir(path: str) -> list[str]:
        return store_for(path).listdir(path)

    @staticmethod
    def glob(pattern: str) -> list[str]:
        return store_for(pattern).glob(pattern)

    @staticmethod
    def stat(path: str) -> Any:
        return store_for(path).stat(path)

    @staticmethod
    def makedirs(path: str) -> None:
        store_for(path).makedirs(path)

    @staticmethod
    def remove(path: str) -> None:
        store_for(path).remove(path)

    @staticmethod
    def rmtree(path: str) -> None:
        store_for(path).rmtree(path)

    @staticmethod
    def walk(
        top: str, onerror: Callable[[Exception], None] | None = None
    ) -> list[tuple[str, list[str], list[str]]]:
        """``tf.io.gfile.walk``'s whole listing at once (one bound for the whole walk)."""
        return store_for(top).walk(top, onerror)

    @staticmethod
    def walk_files(root: str) -> Iterator[tuple[str, str]]:
        """(relative path, absolute path) of every file under ``root``; a directory that
        cannot be listed raises (``tf.io.gfile.walk`` alone skips it in silence)."""
        return store_for(root).walk_files(root)

    @staticmethod
    def open(path: str, mode: str = "rb") -> File:
        """An open file (a ``tf.io.gfile.GFile``); reads and writes through it are not
        bounded one by one: wrap the job in ``store_for(path).call`` for that."""
        return store_for(path).open(path, mode)

    @staticmethod
    def check_written(path: str, nbytes: int, operation: str = "writing") -> None:
        """After a streamed write through :meth:`open`: raises UnavailableError, worded by
        the store, when ``path`` does not hold ``nbytes`` bytes (an object store can commit
        a cut upload and report success; a local disk cannot, so nothing is checked)."""
        store = store_for(path)
        store.call(operation, path, lambda: store.check_written(path, nbytes), retries=0)

    @staticmethod
    def read_bytes(path: str) -> bytes:
        """The whole file, in one call (bounded and retried on an object store)."""
        return store_for(path).read_bytes(path)

    @staticmethod
    def write_bytes(path: str, content: bytes, operation: str = "writing") -> None:
        """Writes ``content`` as the whole file (one bounded attempt on an object store)."""
        store_for(path).write_bytes(path, content, operation)

    @staticmethod
    def write_records(path: str, records: Sequence[bytes], operation: str = "writing") -> None:
        """Writes ``records`` as a TFRecord file (one bounded attempt on an object store)."""
        store_for(path).write_records(path, records, operation)

    @staticmethod
    def read_records(path: str) -> list[bytes]:
        """The records of a TFRecord file (bounded and retried on an object store)."""
        return store_for(path).read_records(path)


gfile = _StoreFiles()
