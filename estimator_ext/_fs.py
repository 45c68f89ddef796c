"""Staging and publishing export directories, and path safety, all through ``tf.io.gfile``.

An export is built in a hidden temporary directory inside ``export_dir_base`` and
appears under its integer (seconds since epoch) name only when complete:

* on a local filesystem by one ``rename``, which the OS refuses when the target is an
  existing non-empty directory, so two exports (threads or processes) in the same
  second never share a name: the loser moves on to the next integer;
* elsewhere (``ram://``, ``s3://``, ``gs://``: no atomic directory rename; TF's
  ``ram://`` rename even leaves the target empty) by copying every file with
  ``saved_model.pb`` last, so no loader sees a SavedModel before all its files exist.

On any error everything the export created is removed, the temporary directory and
``export_dir_base`` itself if the export created it.
"""

from __future__ import annotations

import errno
import os
import posixpath
import socket
import time
import uuid
from typing import Iterator, List, Mapping, Optional, Tuple

import tensorflow as tf

TEMP_PREFIX = ".estimator_ext-tmp-"
SAVED_MODEL_FILENAMES = ("saved_model.pb", "saved_model.pbtxt")


def has_scheme(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def join(base: str, *parts: str) -> str:
    """Joins with '/' on URLs (``gs://b/x``) and os.path.join on local paths."""
    return posixpath.join(base, *parts) if has_scheme(base) else os.path.join(base, *parts)


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def missing_ancestors(path: str) -> List[str]:
    """``path`` and its parents that do not exist yet, outermost first."""
    missing = []
    current = path.rstrip("/") or path
    while current and not tf.io.gfile.exists(current):
        missing.append(current)
        parent = posixpath.dirname(current) if has_scheme(current) else os.path.dirname(current)
        if parent == current or parent.endswith("://") or not parent:
            break
        current = parent
    return list(reversed(missing))


def remove_quietly(path: str) -> None:
    try:
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    except tf.errors.OpError:
        pass


def temp_dir_name() -> str:
    """A name no other export (thread, process or host) will pick, never integer-like.

    It carries the start time, host and pid so stale temporaries can be told from live
    ones (see :func:`estimator_ext.clean_stale_temporaries`).
    """
    host = socket.gethostname().replace("-", "_") or "host"
    return f"{TEMP_PREFIX}{int(time.time())}-{host}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def publish(temp_dir: str, export_dir_base: str) -> str:
    """Moves a complete export from ``temp_dir`` to a new integer-named directory."""
    candidate = int(time.time())
    for _ in range(1000):
        export_dir = join(export_dir_base, str(candidate))
        if not tf.io.gfile.exists(export_dir):
            if has_scheme(export_dir_base):
                _publish_by_copy(temp_dir, export_dir)
                return export_dir
            try:
                os.rename(_local(temp_dir), _local(export_dir))
                return export_dir
            except OSError as error:
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        candidate += 1
    raise RuntimeError(f"Could not find a free export directory name under {export_dir_base!r}.")


def _walk_files(root: str) -> Iterator[Tuple[str, str]]:
    """(relative path, absolute path) of every file under ``root``."""
    for directory, _, files in tf.io.gfile.walk(root):
        for name in files:
            absolute = join(directory, name)
            yield posixpath.relpath(absolute, root) if has_scheme(root) else os.path.relpath(absolute, root), absolute


def _publish_by_copy(temp_dir: str, export_dir: str) -> None:
    files = sorted(_walk_files(temp_dir), key=lambda item: posixpath.basename(item[0]) in SAVED_MODEL_FILENAMES)
    try:
        for relative, source in files:
            destination = join(export_dir, relative)
            tf.io.gfile.makedirs(posixpath.dirname(destination) if has_scheme(destination) else os.path.dirname(destination))
            tf.io.gfile.copy(source, destination, overwrite=False)
    except BaseException:
        remove_quietly(export_dir)
        raise
    remove_quietly(temp_dir)


# --- assets.extra -------------------------------------------------------------------------


def plan_assets_extra(assets_extra: Optional[Mapping[str, str]]) -> List[Tuple[str, str]]:
    """Validates ``assets_extra`` before anything is written; returns (destination, source).

    Destinations are relative paths inside ``assets.extra/`` (nested ones allowed);
    absolute destinations or ones that climb out with ``..`` are refused, as are sources
    that do not exist or are directories.
    """
    if assets_extra is None:
        return []
    if not isinstance(assets_extra, Mapping):
        raise TypeError(
            "assets_extra must be a dict of destination path (relative to assets.extra/) to "
            f"source file path, received {type(assets_extra).__name__}. Example: "
            "{'vocab/words.txt': '/data/words.txt'}."
        )
    plan = []
    for destination, source in assets_extra.items():
        if not isinstance(destination, str) or not destination.strip():
            raise ValueError(
                f"assets_extra has destination {destination!r}: destinations must be non-empty "
                "relative file paths inside assets.extra/, such as 'my_asset_file.txt'."
            )
        normalized = posixpath.normpath(destination.replace("\\", "/"))
        if posixpath.isabs(normalized) or "://" in destination or normalized == ".." or normalized.startswith("../") or normalized == ".":
            raise ValueError(
                f"assets_extra destination {destination!r} points outside assets.extra/. Use a "
                "relative path without '..', such as 'my_asset_file.txt' or 'vocab/words.txt'."
            )
        if not isinstance(source, (str, os.PathLike)):
            raise TypeError(
                f"assets_extra[{destination!r}] must be the path of the source file as a string, "
                f"received {type(source).__name__}."
            )
        source = os.fspath(source)
        if not tf.io.gfile.exists(source):
            raise ValueError(f"assets_extra[{destination!r}] = {source!r} does not exist. Give the path of an existing file.")
        if tf.io.gfile.isdir(source):
            raise ValueError(
                f"assets_extra[{destination!r}] = {source!r} is a directory; list each file to "
                "copy as its own entry."
            )
        plan.append((normalized, source))
    return plan


def copy_assets_extra(plan: List[Tuple[str, str]], export_dir: str) -> None:
    root = join(export_dir, "assets.extra")
    for destination, source in plan:
        target = join(root, *destination.split("/"))
        parent = posixpath.dirname(target) if has_scheme(target) else os.path.dirname(target)
        tf.io.gfile.makedirs(parent)
        tf.io.gfile.copy(source, target, overwrite=True)
