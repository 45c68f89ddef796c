"""``tf.io.gfile``'s calls as an export makes them: on an object store, each under the
store watchdog (:func:`estimator_ext.storage.watchdog.bounded`).

Why: tensorflow-io's S3 client bounds a request by its connect timeout and curl's
low-speed limit, but a response that trickles a byte now and then never trips that limit,
and a multipart upload can block for good in the AWS SDK's own wait. So every call the
export, the publish step, the cleanup and ``AllModesExporter`` make on an ``s3://`` or
``gs://`` path goes through here and is abandoned after its bound, raising
:class:`~estimator_ext.storage.watchdog.StoreCallAbandoned`; a local or ``ram://`` path is called
directly, on the caller's thread. Errors are not rewritten here (callers that know the
operation do that with :func:`~estimator_ext.storage.object_store.store_error`).

Usage: ``from estimator_ext.storage.files import gfile``, then ``gfile.exists(path)`` where the
code would say ``tf.io.gfile.exists(path)``.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import tensorflow as tf

from estimator_ext.storage.paths import is_object_store
from estimator_ext.storage.watchdog import bounded

T = TypeVar("T")


def _call(operation: str, path: str, function: Callable[[], T]) -> T:
    if not is_object_store(path):
        return function()
    return bounded(operation, path, function)


class _BoundedGFile:
    """The ``tf.io.gfile`` functions estimator_ext uses, bounded on object stores."""

    @staticmethod
    def exists(path: str) -> bool:
        return _call("exists", path, lambda: bool(tf.io.gfile.exists(path)))

    @staticmethod
    def isdir(path: str) -> bool:
        return _call("isdir", path, lambda: bool(tf.io.gfile.isdir(path)))

    @staticmethod
    def listdir(path: str) -> list[str]:
        return _call("listing", path, lambda: list(tf.io.gfile.listdir(path)))

    @staticmethod
    def glob(pattern: str) -> list[str]:
        return _call("listing", pattern, lambda: list(tf.io.gfile.glob(pattern)))

    @staticmethod
    def stat(path: str) -> Any:
        return _call("stat", path, lambda: tf.io.gfile.stat(path))

    @staticmethod
    def makedirs(path: str) -> None:
        _call("creating a directory", path, lambda: tf.io.gfile.makedirs(path))

    @staticmethod
    def remove(path: str) -> None:
        _call("removing", path, lambda: tf.io.gfile.remove(path))

    @staticmethod
    def rmtree(path: str) -> None:
        _call("removing a directory", path, lambda: tf.io.gfile.rmtree(path))

    @staticmethod
    def walk(
        top: str, onerror: Callable[[Exception], None] | None = None
    ) -> list[tuple[str, list[str], list[str]]]:
        """``tf.io.gfile.walk``'s whole listing at once (one bound for the whole walk)."""
        return _call(
            "listing a tree",
            top,
            lambda: [
                (directory, list(subdirs), list(files))
                for directory, subdirs, files in tf.io.gfile.walk(top, onerror=onerror)
            ],
        )


gfile = _BoundedGFile()
