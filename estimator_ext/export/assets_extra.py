"""assets_extra: validated in full before anything is written, then copied into the export."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Mapping, Sequence

from estimator_ext.storage.copying import copy_file
from estimator_ext.storage.files import gfile
from estimator_ext.storage.paths import dirname, has_scheme, join, local_path

#: Longest file or directory name (in UTF-8 bytes) accepted in assets_extra destinations:
#: NAME_MAX of ext4, XFS, btrfs, APFS and NTFS-as-mounted; longer names fail mid-export.
MAX_NAME_BYTES = 255


def plan_assets_extra(assets_extra: Mapping[str, str] | None) -> list[tuple[str, str]]:
    """Validates ``assets_extra`` before anything is written; returns (destination, source).

    Destinations are relative file paths inside ``assets.extra/`` (nested ones allowed,
    ``\\`` read as ``/``). Refused: non-strings, empty names, absolute paths or URLs,
    paths that climb out with ``..``, names ending in ``/``, NUL characters, text that
    is not valid Unicode, names longer than :data:`MAX_NAME_BYTES`, two entries naming
    the same file, and one entry's file being another's directory.

    Sources must be existing regular files. A source that is a symlink is followed: the
    export receives a copy of the file it points to, never a link, so the export is
    self-contained wherever the link points. Directories, dangling links, FIFOs and
    devices (``/dev/zero`` would fill the disk, a FIFO would block forever) are refused.
    Nothing inside the export can be a symlink: every directory in it is created by
    the export itself.
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
    claimed: dict[str, str] = {}  # normalized destination -> destination as given
    for destination, source in assets_extra.items():
        normalized = _normalized_destination(destination)
        if normalized in claimed:
            raise ValueError(
                f"assets_extra destinations {claimed[normalized]!r} and {destination!r} both "
                f"name assets.extra/{normalized}; give each file its own destination."
            )
        claimed[normalized] = destination
        plan.append((normalized, _checked_source(destination, source)))
    _check_no_file_directory_clash(claimed)
    return plan


def _normalized_destination(destination: object) -> str:
    if not isinstance(destination, str):
        raise TypeError(
            f"assets_extra has destination {destination!r} ({type(destination).__name__}): "
            "destinations must be relative file paths inside assets.extra/ as strings, "
            "such as 'my_asset_file.txt'."
        )
    if not destination.strip():
        raise ValueError(
            f"assets_extra has destination {destination!r}: destinations must be non-empty "
            "relative file paths inside assets.extra/, such as 'my_asset_file.txt'."
        )
    if "\x00" in destination:
        raise ValueError(
            f"assets_extra destination {destination!r} contains a NUL character, which no "
            "file name can hold. Use a plain relative path such as 'my_asset_file.txt'."
        )
    _check_encodable(destination, f"assets_extra destination {destination!r}")
    slashed = destination.replace("\\", "/")
    if slashed.endswith("/"):
        raise ValueError(
            f"assets_extra destination {destination!r} ends with a '/': give the file name "
            "as well, such as 'vocab/words.txt' (each destination is one file)."
        )
    normalized = posixpath.normpath(slashed)
    if (
        posixpath.isabs(normalized)
        or "://" in destination
        or normalized in ("..", ".")
        or normalized.startswith("../")
    ):
        raise ValueError(
            f"assets_extra destination {destination!r} points outside assets.extra/. Use a "
            "relative path without '..', such as 'my_asset_file.txt' or 'vocab/words.txt'."
        )
    for part in normalized.split("/"):
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(
                f"assets_extra destination {destination!r} has a name of "
                f"{len(part.encode('utf-8'))} bytes; file and directory names are limited to "
                f"{MAX_NAME_BYTES} bytes. Use a shorter name."
            )
    return normalized


def _check_encodable(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} is not valid Unicode text ({error.reason} at position {error.start}), so "
            "it cannot be a file name. Decode it properly or use a plain ASCII name."
        ) from None


def _checked_source(destination: str, source: object) -> str:
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"assets_extra[{destination!r}] must be the path of the source file as a string, "
            f"received {type(source).__name__}."
        )
    source_path = os.fspath(source)
    if not isinstance(source_path, str) or not source_path:
        raise TypeError(
            f"assets_extra[{destination!r}] must be the path of the source file as a "
            f"non-empty string, received {source!r}."
        )
    _check_encodable(source_path, f"assets_extra[{destination!r}] = {source_path!r}")
    if not gfile.exists(source_path):
        raise ValueError(
            f"assets_extra[{destination!r}] = {source_path!r} does not exist (or is a "
            "symlink to nothing). Give the path of an existing file."
        )
    if gfile.isdir(source_path):
        raise ValueError(
            f"assets_extra[{destination!r}] = {source_path!r} is a directory; list each file to "
            "copy as its own entry."
        )
    if not has_scheme(source_path):
        try:
            mode = os.stat(local_path(source_path)).st_mode  # follows symlinks
        except OSError as error:
            raise ValueError(
                f"assets_extra[{destination!r}] = {source_path!r} cannot be read: {error}."
            ) from error
        if not stat.S_ISREG(mode):
            raise ValueError(
                f"assets_extra[{destination!r}] = {source_path!r} is not a regular file (a "
                "FIFO, socket or device); copy its content to a file and give that file's path."
            )
    return source_path


def _check_no_file_directory_clash(claimed: Mapping[str, str]) -> None:
    for normalized, destination in claimed.items():
        parent = posixpath.dirname(normalized)
        while parent:
            if parent in claimed:
                raise ValueError(
                    f"assets_extra destinations {claimed[parent]!r} and {destination!r} clash: "
                    f"assets.extra/{parent} would have to be both a file and a directory. "
                    "Rename one of them."
                )
            parent = posixpath.dirname(parent)


def recheck_sources(plan: Sequence[tuple[str, str]]) -> None:
    """Checks again that every planned source is still a readable regular file.

    A plan may be written long after it was checked (``AllModesExporter`` plans when it
    is built and writes after every evaluation), so a source deleted meanwhile is
    reported as the argument it came from, before anything is written, not as a copy
    failure halfway through the export.
    """
    for destination, source in plan:
        _checked_source(destination, source)


def copy_assets_extra(plan: Sequence[tuple[str, str]], export_dir: str) -> None:
    root = join(export_dir, "assets.extra")
    for destination, source in plan:
        target = join(root, *destination.split("/"))
        gfile.makedirs(dirname(target))
        copy_file(source, target, "copying assets_extra")
