"""The export's staging area: checking ``export_dir_base``; removing what a failed export created.

On any error everything the export created is removed: the temporary directory, and
the directories the export created for ``export_dir_base`` as long as they are empty
(another export may be publishing into them at the same time).
"""

from __future__ import annotations

import os

from estimator_ext.storage.files import gfile
from estimator_ext.storage.paths import dirname, is_url_root
from estimator_ext.storage.stores import store_for


def check_export_dir_base(export_dir_base: object, function: str) -> str:
    """``export_dir_base`` as a str path, or a TypeError/ValueError naming ``function``.

    The one rule for every function taking the directory exports are written into
    (``export_all_saved_models``, ``clean_stale_temporaries``): a non-empty ``str``,
    ``bytes`` (UTF-8, as TF's own export functions return paths) or ``os.PathLike``,
    and not an existing file. Trailing slashes are dropped, except from roots such as
    ``/`` and ``ram://``.
    """
    received = export_dir_base
    if isinstance(export_dir_base, os.PathLike):
        export_dir_base = os.fspath(export_dir_base)
    if isinstance(export_dir_base, bytes):
        export_dir_base = export_dir_base.decode("utf-8")
    if not isinstance(export_dir_base, str) or not export_dir_base.strip():
        raise TypeError(
            f"{function}: export_dir_base must be a non-empty directory path (str, bytes or "
            f"os.PathLike), e.g. 'exports/'; received {received!r}."
        )
    if gfile.exists(export_dir_base) and not gfile.isdir(export_dir_base):
        raise ValueError(
            f"{function}: export_dir_base={export_dir_base!r} is a file; it must be the "
            "directory that holds the exports' timestamped subdirectories. Pass a directory path."
        )
    stripped = export_dir_base.rstrip("/")
    return stripped if stripped and not stripped.endswith(":") else export_dir_base


def _ancestor_exists(path: str) -> bool:
    # (ecosystem helper) tensorflow-io's S3 plugin raises InvalidArgumentError ("S3 path
    # doesn't contain a bucket name") on exists('s3://bucket'); 's3://bucket/' works.
    return gfile.exists(path + "/" if is_url_root(path) else path)


def missing_ancestors(path: str) -> list[str]:
    """``path`` and its parents that do not exist yet, outermost first."""
    missing = []
    current = path.rstrip("/") or path
    while current and not _ancestor_exists(current):
        missing.append(current)
        if is_url_root(current):  # (ecosystem helper) never climb above a bucket: 's3:' is no path
            break
        parent = dirname(current)
        if parent == current or parent.endswith("://") or not parent:
            break
        current = parent
    return list(reversed(missing))


def existing(paths: list[str]) -> list[str]:
    """The paths in ``paths`` that exist, in order."""
    return [path for path in paths if gfile.exists(path)]


def remove_quietly(path: str) -> None:
    """Removes ``path`` (tree or file) if it exists, ignoring the store's errors."""
    store_for(path).remove_quietly(path)


def remove_created_dirs(created_dirs: list[str]) -> None:
    """Removes directories an export created (outermost first in ``created_dirs``),
    innermost first, each only while it is empty.

    Another export may have started publishing into a directory this one created
    (both found ``export_dir_base`` missing, or the other found it just created), so a
    failing export must never remove a tree: it removes only what is still empty.
    """
    for directory in reversed(created_dirs):
        if not remove_if_empty(directory):
            return


def remove_if_empty(directory: str) -> bool:
    """Removes ``directory`` if it is empty; True once it is gone (also if it never was).

    Atomic on a local disk (``rmdir``); elsewhere a listing decides."""
    return store_for(directory).remove_if_empty(directory)
