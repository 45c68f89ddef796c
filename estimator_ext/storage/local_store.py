"""The local disk (plain paths and ``file://``): atomic rename, ``fsync``, ``copy_file_range``.

A local export is flushed to disk (``fsync``, every file and directory) and published by
one ``rename``, which the OS refuses when the target is an existing non-empty directory,
so two exports (threads or processes) in the same second never share a name: the loser
moves on to the next integer. A process killed at any moment leaves either a complete
integer-named export or a hidden temporary, never a partial integer-named directory; a
power loss cannot leave a published directory holding empty files.

Copies from a local file start their writeback as they go (``local_copy.py``), so the
``fsync`` before publishing finds almost nothing left to write. Probes use ``lstat`` and
never follow a symlink, so :func:`estimator_ext.clean_stale_temporaries` cannot be led
out of ``export_dir_base``; removing a directory is atomic "only if empty" (``rmdir``).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from types import TracebackType
from typing import Any, Callable

from estimator_ext.storage import local_copy
from estimator_ext.storage.paths import has_scheme, local_path
from estimator_ext.storage.store import Store


class LocalStore(Store):
    """The local filesystem: every call made once, on the caller's thread (the kernel
    bounds it); publishing by ``rename`` after ``fsync``."""

    label = "local"

    def copy(
        self,
        source: str,
        destination: str,
        operation: str,
        nbytes: int = 0,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """From a local ``source``: ``local_copy.copy`` (writeback started per chunk,
        ``on_bytes`` called after each); from another store, ``tf.io.gfile``'s copy."""
        if has_scheme(source):
            super().copy(source, destination, operation, nbytes, on_bytes)
        else:
            local_copy.copy(local_path(source), local_path(destination), on_bytes)

    def is_real_directory(self, path: str) -> bool:
        return self._lstat_is(path, stat.S_ISDIR)

    def is_regular_file(self, path: str) -> bool:
        return self._lstat_is(path, stat.S_ISREG)

    @staticmethod
    def _lstat_is(path: str, kind: Callable[[int], bool]) -> bool:
        try:
            return kind(os.lstat(local_path(path)).st_mode)
        except OSError:
            return False

    def last_activity(self, path: str, since: float) -> float:
        newest = float(since)
        for directory, subdirs, files in os.walk(local_path(path)):
            for name in [""] + subdirs + files:
                try:
                    entry = os.path.join(directory, name) if name else directory
                    newest = max(newest, os.lstat(entry).st_mtime)
                except OSError:
                    continue
        return newest

    def remove_tree(self, path: str) -> None:
        """Removes a regular file, or a tree without following its symlinks; entries a
        concurrent remover takes first are not errors. Raises ``OSError``."""

        def ignore_vanished(
            function: Callable[..., Any],
            failed_path: str,
            exc_info: tuple[type[BaseException], BaseException, TracebackType],
        ) -> None:
            if not issubclass(exc_info[0], FileNotFoundError):
                raise exc_info[1]

        if self.is_regular_file(path):
            os.remove(local_path(path))
        else:
            shutil.rmtree(local_path(path), onerror=ignore_vanished)  # never follows symlinks

    def remove_if_empty(self, directory: str) -> bool:
        try:
            os.rmdir(local_path(directory))  # atomic: refuses a non-empty directory
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False

    def before_publish(self, temp_dir: str) -> None:
        _sync_tree(local_path(temp_dir))

    def publish_as(self, temp_dir: str, export_dir_base: str, candidate: int | str) -> bool:
        export_dir = os.path.join(local_path(export_dir_base), str(candidate))
        try:
            os.rename(local_path(temp_dir), export_dir)
        except OSError as error:
            # ENOTEMPTY / EEXIST: another export took this name since the check;
            # ENOTDIR: a file took it. Either way, try the next integer.
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
            return False
        _sync_directory(local_path(export_dir_base))
        return True


def _sync_tree(root: str) -> None:
    """Flushes every file and directory under ``root`` to disk before it is published,
    so that after a power loss the integer-named directory is not left with empty files."""
    for directory, _, files in os.walk(root):
        for name in files:
            descriptor = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover - filesystems without directory fsync
        pass
    finally:
        os.close(descriptor)
