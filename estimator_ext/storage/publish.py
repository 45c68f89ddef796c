"""Publishing a complete export under a new integer name.

An export is built in a hidden temporary directory inside ``export_dir_base`` and
appears under its integer (seconds since epoch) name only when complete:

* on a local filesystem the files are flushed to disk (``fsync``) and the directory is
  published by one ``rename``, which the OS refuses when the target is an existing
  non-empty directory, so two exports (threads or processes) in the same second never
  share a name: the loser moves on to the next integer. A process killed at any moment
  leaves either a complete integer-named export or a hidden temporary, never a
  partial integer-named directory;
* elsewhere (``ram://``, ``s3://``, ``gs://``: no atomic directory rename; TF's
  ``ram://`` rename even leaves the target empty) by copying every file with
  ``saved_model.pb`` last, after claiming the integer name (``copy_publish.py``).
"""

from __future__ import annotations

import errno
import logging
import os
import time

from estimator_ext.storage.copy_publish import claim_and_publish_by_copy
from estimator_ext.storage.files import gfile
from estimator_ext.storage.paths import has_scheme, join, local_path

logger = logging.getLogger("estimator_ext")


def publish(temp_dir: str, export_dir_base: str) -> str:
    """Moves a complete export from ``temp_dir`` to a new integer-named directory."""
    if not has_scheme(export_dir_base):
        _sync_tree(local_path(temp_dir))
    candidate = int(time.time())
    for _ in range(1000):
        export_dir = join(export_dir_base, str(candidate))
        if not gfile.exists(export_dir):
            if has_scheme(export_dir_base):
                if claim_and_publish_by_copy(temp_dir, export_dir_base, candidate):
                    return export_dir
                candidate += 1
                continue
            try:
                os.rename(local_path(temp_dir), local_path(export_dir))
            except OSError as error:
                # ENOTEMPTY / EEXIST: another export took this name since the check;
                # ENOTDIR: a file took it. Either way, try the next integer.
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    raise
            else:
                _sync_directory(local_path(export_dir_base))
                return export_dir
        candidate += 1
    raise RuntimeError(f"Could not find a free export directory name under {export_dir_base!r}.")


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
