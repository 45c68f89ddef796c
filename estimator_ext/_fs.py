"""Staging and publishing export directories, path safety and stale-temporary cleanup,
through ``tf.io.gfile``.

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
  ``saved_model.pb`` last, so no loader sees a SavedModel before all its files exist,
  after claiming the integer name with a claim file beside it, so that two exports
  never copy into one directory (see :func:`_claim_and_publish_by_copy`).

On any error everything the export created is removed: the temporary directory, and
the directories the export created for ``export_dir_base`` as long as they are empty
(another export may be publishing into them at the same time).

Temporaries of killed processes are named ``.estimator_ext-tmp-<start>-<host>-<pid>-<hex>``:
hidden, never integer-like (TF Serving and ``tf.estimator`` exporters only look at
integer names), and removed by :func:`clean_stale_temporaries`.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import logging
import os
import posixpath
import random
import re
import shutil
import socket
import stat
import time
import uuid
from typing import Dict, Iterator, List, Mapping, Optional, Tuple, Union

import tensorflow as tf

logger = logging.getLogger("estimator_ext")

TEMP_PREFIX = ".estimator_ext-tmp-"
#: Longest file or directory name (in UTF-8 bytes) accepted in assets_extra destinations:
#: NAME_MAX of ext4, XFS, btrfs, APFS and NTFS-as-mounted; longer names fail mid-export.
MAX_NAME_BYTES = 255
SAVED_MODEL_FILENAMES = ("saved_model.pb", "saved_model.pbtxt")

#: Default age after which :func:`clean_stale_temporaries` may remove a temporary whose
#: writer it cannot see (one from another host, or one whose process is gone).
DEFAULT_STALE_AGE = datetime.timedelta(hours=1)

#: Prefix of the claim files copy-publishing exports hold on an integer name (see publish).
CLAIM_PREFIX = ".estimator_ext-claim-"

_WRITER_FIELDS = r"(?P<started>\d+)-(?P<host>[^-/]+)-(?P<pid>\d+)-(?P<token>[0-9a-f]+)$"
_TEMP_NAME = re.compile("^" + re.escape(TEMP_PREFIX) + _WRITER_FIELDS)
_CLAIM_NAME = re.compile("^" + re.escape(CLAIM_PREFIX) + r"(?P<candidate>\d+)-" + _WRITER_FIELDS)


def has_scheme(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def join(base: str, *parts: str) -> str:
    """Joins with '/' on URLs (``gs://b/x``) and os.path.join on local paths."""
    return posixpath.join(base, *parts) if has_scheme(base) else os.path.join(base, *parts)


def _dirname(path: str) -> str:
    return posixpath.dirname(path) if has_scheme(path) else os.path.dirname(path)


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def _is_url_root(path: str) -> bool:
    """``s3://bucket`` / ``gs://bucket``: a scheme and an authority, no path."""
    return has_scheme(path) and "/" not in path.split("://", 1)[1].strip("/")


def _ancestor_exists(path: str) -> bool:
    # (ecosystem helper) tensorflow-io's S3 plugin raises InvalidArgumentError ("S3 path
    # doesn't contain a bucket name") on exists('s3://bucket'); 's3://bucket/' works.
    return tf.io.gfile.exists(path + "/" if _is_url_root(path) else path)


def missing_ancestors(path: str) -> List[str]:
    """``path`` and its parents that do not exist yet, outermost first."""
    missing = []
    current = path.rstrip("/") or path
    while current and not _ancestor_exists(current):
        missing.append(current)
        if _is_url_root(current):  # (ecosystem helper) never climb above a bucket: 's3:' is no path
            break
        parent = _dirname(current)
        if parent == current or parent.endswith("://") or not parent:
            break
        current = parent
    return list(reversed(missing))


def existing(paths: List[str]) -> List[str]:
    """The paths in ``paths`` that exist, in order."""
    return [path for path in paths if tf.io.gfile.exists(path)]


def remove_quietly(path: str) -> None:
    try:
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    except tf.errors.OpError:
        pass


def remove_created_dirs(created_dirs: List[str]) -> None:
    """Removes directories an export created (outermost first in ``created_dirs``),
    innermost first, each only while it is empty.

    Another export may have started publishing into a directory this one created
    (both found ``export_dir_base`` missing, or the other found it just created), so a
    failing export must never remove a tree: it removes only what is still empty.
    """
    for directory in reversed(created_dirs):
        if not _remove_if_empty(directory):
            return


def _remove_if_empty(directory: str) -> bool:
    if not has_scheme(directory):
        try:
            os.rmdir(_local(directory))  # atomic: refuses a non-empty directory
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False
    try:
        if tf.io.gfile.isdir(directory) and not tf.io.gfile.listdir(directory):
            tf.io.gfile.rmtree(directory)
        return not tf.io.gfile.exists(directory)
    except tf.errors.OpError:
        return False


def _host_label() -> str:
    return socket.gethostname().replace("-", "_").replace("/", "_") or "host"


def _writer_fields() -> str:
    return f"{int(time.time())}-{_host_label()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def temp_dir_name() -> str:
    """A name no other export (thread, process or host) will pick, never integer-like.

    It carries the start time, host and pid so stale temporaries can be told from live
    ones (see :func:`clean_stale_temporaries`).
    """
    return TEMP_PREFIX + _writer_fields()


@dataclasses.dataclass(frozen=True)
class TempDirName:
    """What a temporary directory's name says about the export writing it."""

    started: int
    host: str
    pid: int


def parse_temp_dir_name(name: str) -> Optional[TempDirName]:
    """The start time, host and pid in a name made by :func:`temp_dir_name`, else None."""
    return _parse(_TEMP_NAME, name)


def parse_claim_name(name: str) -> Optional[TempDirName]:
    """The start time, host and pid in the name of a publish claim file, else None."""
    return _parse(_CLAIM_NAME, name)


def _parse(pattern: "re.Pattern[str]", name: str) -> Optional[TempDirName]:
    match = pattern.match(name.rstrip("/"))
    if match is None:
        return None
    return TempDirName(int(match.group("started")), match.group("host"), int(match.group("pid")))


# --- publishing ---------------------------------------------------------------------------


def publish(temp_dir: str, export_dir_base: str) -> str:
    """Moves a complete export from ``temp_dir`` to a new integer-named directory."""
    if not has_scheme(export_dir_base):
        _sync_tree(_local(temp_dir))
    candidate = int(time.time())
    for _ in range(1000):
        export_dir = join(export_dir_base, str(candidate))
        if not tf.io.gfile.exists(export_dir):
            if has_scheme(export_dir_base):
                if _claim_and_publish_by_copy(temp_dir, export_dir_base, candidate):
                    return export_dir
                candidate += 1
                continue
            try:
                os.rename(_local(temp_dir), _local(export_dir))
            except OSError as error:
                # ENOTEMPTY / EEXIST: another export took this name since the check;
                # ENOTDIR: a file took it. Either way, try the next integer.
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    raise
            else:
                _sync_directory(_local(export_dir_base))
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


def _walk_files(root: str) -> Iterator[Tuple[str, str]]:
    """(relative path, absolute path) of every file under ``root``."""
    for directory, _, files in tf.io.gfile.walk(root):
        for name in files:
            absolute = join(directory, name)
            yield posixpath.relpath(absolute, root) if has_scheme(root) else os.path.relpath(absolute, root), absolute


def _claim_and_publish_by_copy(temp_dir: str, export_dir_base: str, candidate: int) -> bool:
    """Publishes by copy under ``candidate`` if no other export is claiming that name.

    Without an atomic rename, two exports (threads of one process on ``ram://``, hosts
    on ``gs://``) that both found the name free would copy into the same directory, and
    the loser's cleanup would delete the winner's files. So each first writes a claim
    file beside the export directory, then lists the claims on that name: it goes on
    only if its claim is the only one and the directory still does not exist; otherwise
    it withdraws and the caller tries the next integer. Two exports can never both go
    on (each would have listed before the other's claim was written, a contradiction),
    given the read-after-write and list-after-write consistency of TF's ``ram://``, of
    GCS and of S3. The claim is removed once the copy is complete (or has failed).

    Returns:
      True if published, False if the name was taken or claimed by another export.
    """
    claim = join(export_dir_base, f"{CLAIM_PREFIX}{candidate}-{_writer_fields()}")
    with tf.io.gfile.GFile(claim, "w") as claim_file:
        claim_file.write(temp_dir)
    try:
        prefix = f"{CLAIM_PREFIX}{candidate}-"  # listdir, not glob: the base may hold '[' or '*'
        claims = {name.rstrip("/") for name in tf.io.gfile.listdir(export_dir_base) if name.startswith(prefix)}
        export_dir = join(export_dir_base, str(candidate))
        if claims != {claim.rsplit("/", 1)[-1]} or tf.io.gfile.exists(export_dir):
            time.sleep(random.uniform(0.0, 0.05))  # desynchronise exports that collided
            return False
        _publish_by_copy(temp_dir, export_dir)
        return True
    finally:
        remove_quietly(claim)


def _publish_by_copy(temp_dir: str, export_dir: str) -> None:
    files = sorted(_walk_files(temp_dir), key=lambda item: posixpath.basename(item[0]) in SAVED_MODEL_FILENAMES)
    try:
        for relative, source in files:
            destination = join(export_dir, relative)
            tf.io.gfile.makedirs(_dirname(destination))
            tf.io.gfile.copy(source, destination, overwrite=False)
    except BaseException:
        remove_quietly(export_dir)
        raise
    remove_quietly(temp_dir)


# --- stale temporaries --------------------------------------------------------------------


def clean_stale_temporaries(
    export_dir_base: Union[str, "os.PathLike[str]"],
    older_than: Union[float, int, datetime.timedelta] = DEFAULT_STALE_AGE,
) -> List[str]:
    """Removes the temporary directories that killed exports left in ``export_dir_base``.

    An export killed mid-way (SIGKILL, OOM killer, power loss, a preempted VM) leaves
    its hidden ``.estimator_ext-tmp-<start>-<host>-<pid>-<hex>`` directory behind. It
    never looks like an export (loaders only take integer-named directories), but it
    takes disk space. Call this, e.g. when a training job starts, to remove them. (On
    filesystems without atomic rename, ``gs://``, ``s3://``, ``ram://``, a killed
    export may also leave a tiny ``.estimator_ext-claim-<n>-...`` file beside the
    exports; those are removed by the same rules.)

    Contract -- a temporary is removed only when all of these hold:

    * its name is exactly one that ``export_all_saved_models`` makes, and it is a real
      directory (not a symlink, not a file; a claim: a regular file). Nothing else in
      ``export_dir_base`` is touched: not the integer-named exports, not TF's own
      ``temp-<timestamp>`` directories, not other files;
    * its writer is not alive: when the name's host is this host, the process with the
      name's pid must not exist (a zombie counts as gone). A temporary whose process is
      alive on this host is never removed, whatever its age;
    * it is at least ``older_than`` old, its age being measured from the newest of the
      start time in its name and the modification times of the directory and everything
      in it, so a temporary something is still writing into looks young. For a
      temporary from another host (a shared or remote filesystem) age is the only
      evidence: pick ``older_than`` longer than your slowest export.

    Removal errors (e.g. a permission problem) are logged and skipped; call again to
    retry. Cleaners may run concurrently: a directory another cleaner removes at the
    same time is reported by both.

    Args:
      export_dir_base: the directory exports are written into (local or any
        ``tf.io.gfile`` filesystem). A missing directory has nothing to clean.
      older_than: minimum age, in seconds (int or float >= 0) or as a
        ``datetime.timedelta``. Default: one hour. ``0`` removes every temporary of a
        process that is gone from this host right away.

    Returns:
      The paths removed, sorted.

    Raises:
      TypeError / ValueError: ``export_dir_base`` or ``older_than`` is invalid.

    Example::

        removed = estimator_ext.clean_stale_temporaries("exports/", older_than=3600)
    """
    base = _check_base_argument(export_dir_base)
    min_age = _check_older_than(older_than)
    if not tf.io.gfile.isdir(base):
        return []
    now = time.time()
    this_host = _host_label()
    removed = []
    for entry in sorted(tf.io.gfile.listdir(base)):
        name = entry.rstrip("/")
        path = join(base, name)
        parsed = parse_temp_dir_name(name)
        if parsed is not None and not _is_real_directory(path):
            logger.info("clean_stale_temporaries: skipping %s, not a directory we created", path)
            continue
        if parsed is None:
            parsed = parse_claim_name(name)
            if parsed is None or not _is_regular_file(path):
                continue
        if parsed.host == this_host and _process_alive(parsed.pid):
            continue
        age = now - _last_activity(path, parsed.started)
        if age < min_age:
            continue
        if _remove_tree(path):
            logger.info("Removed stale export temporary %s (%.0f s old)", path, age)
            removed.append(path)
    return removed


def _check_base_argument(export_dir_base: object) -> str:
    if isinstance(export_dir_base, os.PathLike):
        export_dir_base = os.fspath(export_dir_base)
    if not isinstance(export_dir_base, str) or not export_dir_base.strip():
        raise TypeError(
            "clean_stale_temporaries: `export_dir_base` must be the directory exports are "
            f"written into, as a non-empty str or os.PathLike; received {export_dir_base!r}."
        )
    return export_dir_base


def _check_older_than(older_than: object) -> float:
    if isinstance(older_than, datetime.timedelta):
        seconds = older_than.total_seconds()
    elif isinstance(older_than, (int, float)) and not isinstance(older_than, bool):
        seconds = float(older_than)
    else:
        raise TypeError(
            "clean_stale_temporaries: `older_than` must be a number of seconds or a "
            f"datetime.timedelta, e.g. older_than=3600; received {older_than!r}."
        )
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(
            f"clean_stale_temporaries: `older_than` must be >= 0 seconds; received {older_than!r}."
        )
    return seconds


def _is_real_directory(path: str) -> bool:
    if has_scheme(path):
        return tf.io.gfile.isdir(path)
    try:
        return stat.S_ISDIR(os.lstat(_local(path)).st_mode)
    except OSError:
        return False


def _is_regular_file(path: str) -> bool:
    if has_scheme(path):
        return tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)
    try:
        return stat.S_ISREG(os.lstat(_local(path)).st_mode)
    except OSError:
        return False


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return True  # cannot tell: assume alive, never remove a live export
    try:
        with open(f"/proc/{pid}/stat", "rb") as status_file:
            state = status_file.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _last_activity(path: str, started: int) -> float:
    """The newest of ``started`` and the mtimes of ``path`` and everything beneath it."""
    newest = float(started)
    if has_scheme(path):
        for directory, subdirs, files in tf.io.gfile.walk(path):
            for name in [""] + list(subdirs) + list(files):
                try:
                    mtime = tf.io.gfile.stat(join(directory, name) if name else directory).mtime_nsec / 1e9
                except tf.errors.OpError:
                    continue
                newest = max(newest, mtime)
        return newest
    for directory, subdirs, files in os.walk(_local(path)):
        for name in [""] + subdirs + files:
            try:
                newest = max(newest, os.lstat(os.path.join(directory, name) if name else directory).st_mtime)
            except OSError:
                continue
    return newest


def _remove_tree(path: str) -> bool:
    """Removes ``path`` (a tree, or a claim file); True once it is gone (also when a
    concurrent cleaner helped)."""

    def ignore_vanished(function, failed_path, exc_info):
        if not issubclass(exc_info[0], FileNotFoundError):
            raise exc_info[1]

    try:
        if has_scheme(path) and tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif has_scheme(path):
            tf.io.gfile.remove(path)
        elif _is_regular_file(path):
            os.remove(_local(path))
        else:
            shutil.rmtree(_local(path), onerror=ignore_vanished)  # never follows symlinks
    except (OSError, tf.errors.OpError) as error:
        if tf.io.gfile.exists(path):
            logger.warning("clean_stale_temporaries: could not remove %s: %s", path, error)
    return not tf.io.gfile.exists(path)


# --- assets.extra -------------------------------------------------------------------------


def plan_assets_extra(assets_extra: Optional[Mapping[str, str]]) -> List[Tuple[str, str]]:
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
    claimed: Dict[str, str] = {}  # normalized destination -> destination as given
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
    if not tf.io.gfile.exists(source_path):
        raise ValueError(
            f"assets_extra[{destination!r}] = {source_path!r} does not exist (or is a "
            "symlink to nothing). Give the path of an existing file."
        )
    if tf.io.gfile.isdir(source_path):
        raise ValueError(
            f"assets_extra[{destination!r}] = {source_path!r} is a directory; list each file to "
            "copy as its own entry."
        )
    if not has_scheme(source_path):
        try:
            mode = os.stat(_local(source_path)).st_mode  # follows symlinks
        except OSError as error:
            raise ValueError(f"assets_extra[{destination!r}] = {source_path!r} cannot be read: {error}.") from error
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


def copy_assets_extra(plan: List[Tuple[str, str]], export_dir: str) -> None:
    root = join(export_dir, "assets.extra")
    for destination, source in plan:
        target = join(root, *destination.split("/"))
        tf.io.gfile.makedirs(_dirname(target))
        tf.io.gfile.copy(source, target, overwrite=False)
