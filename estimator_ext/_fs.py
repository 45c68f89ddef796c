"""Staging and publishing export directories, through ``tf.io.gfile``.

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
integer names), and removed by :func:`estimator_ext.clean_stale_temporaries`
(``_cleanup.py``). ``assets_extra`` is validated and copied in ``_assets.py``.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import os
import posixpath
import random
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Callable

import tensorflow as tf

from estimator_ext import _local_copy
from estimator_ext._gfile import gfile
from estimator_ext._s3 import call_store, was_abandoned

logger = logging.getLogger("estimator_ext")

TEMP_PREFIX = ".estimator_ext-tmp-"
SAVED_MODEL_FILENAMES = ("saved_model.pb", "saved_model.pbtxt")


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


def dirname(path: str) -> str:
    return posixpath.dirname(path) if has_scheme(path) else os.path.dirname(path)


def local_path(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


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


def _is_url_root(path: str) -> bool:
    """``s3://bucket`` / ``gs://bucket``: a scheme and an authority, no path."""
    return has_scheme(path) and "/" not in path.split("://", 1)[1].strip("/")


def _ancestor_exists(path: str) -> bool:
    # (ecosystem helper) tensorflow-io's S3 plugin raises InvalidArgumentError ("S3 path
    # doesn't contain a bucket name") on exists('s3://bucket'); 's3://bucket/' works.
    return gfile.exists(path + "/" if _is_url_root(path) else path)


def missing_ancestors(path: str) -> list[str]:
    """``path`` and its parents that do not exist yet, outermost first."""
    missing = []
    current = path.rstrip("/") or path
    while current and not _ancestor_exists(current):
        missing.append(current)
        if _is_url_root(current):  # (ecosystem helper) never climb above a bucket: 's3:' is no path
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
    try:
        if gfile.isdir(path):
            gfile.rmtree(path)
        elif gfile.exists(path):
            gfile.remove(path)
    except tf.errors.OpError:
        pass


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
    """Removes ``directory`` if it is empty; True once it is gone (also if it never was)."""
    if not has_scheme(directory):
        try:
            os.rmdir(local_path(directory))  # atomic: refuses a non-empty directory
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False
    try:
        if gfile.isdir(directory) and not gfile.listdir(directory):
            gfile.rmtree(directory)
        return not gfile.exists(directory)
    except tf.errors.OpError:
        return False


def host_label() -> str:
    return socket.gethostname().replace("-", "_").replace("/", "_") or "host"


def _writer_fields() -> str:
    return f"{int(time.time())}-{host_label()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def temp_dir_name() -> str:
    """A name no other export (thread, process or host) will pick, never integer-like.

    It carries the start time, host and pid so stale temporaries can be told from live
    ones (see :func:`estimator_ext.clean_stale_temporaries`).
    """
    return TEMP_PREFIX + _writer_fields()


@dataclasses.dataclass(frozen=True)
class TempDirName:
    """What a temporary directory's name says about the export writing it."""

    started: int
    host: str
    pid: int


def parse_temp_dir_name(name: str) -> TempDirName | None:
    """The start time, host and pid in a name made by :func:`temp_dir_name`, else None."""
    return _parse(_TEMP_NAME, name)


def parse_claim_name(name: str) -> TempDirName | None:
    """The start time, host and pid in the name of a publish claim file, else None."""
    return _parse(_CLAIM_NAME, name)


def claim_candidate(name: str) -> int | None:
    """The integer name a publish claim file is for, else None."""
    match = _CLAIM_NAME.match(name.rstrip("/"))
    return int(match.group("candidate")) if match else None


def has_saved_model(export_dir: str) -> bool:
    """Whether ``export_dir`` holds a ``saved_model.pb`` (or ``.pbtxt``): a complete
    export, since publishing copies that file last."""
    return any(gfile.exists(join(export_dir, name)) for name in SAVED_MODEL_FILENAMES)


def _parse(pattern: re.Pattern[str], name: str) -> TempDirName | None:
    match = pattern.match(name.rstrip("/"))
    if match is None:
        return None
    return TempDirName(int(match.group("started")), match.group("host"), int(match.group("pid")))


# --- publishing ---------------------------------------------------------------------------


def publish(temp_dir: str, export_dir_base: str) -> str:
    """Moves a complete export from ``temp_dir`` to a new integer-named directory."""
    if not has_scheme(export_dir_base):
        _sync_tree(local_path(temp_dir))
    candidate = int(time.time())
    for _ in range(1000):
        export_dir = join(export_dir_base, str(candidate))
        if not gfile.exists(export_dir):
            if has_scheme(export_dir_base):
                if _claim_and_publish_by_copy(temp_dir, export_dir_base, candidate):
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


def walk_files(root: str) -> Iterator[tuple[str, str]]:
    """(relative path, absolute path) of every file under ``root``.

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
    GCS and of S3. The claim is removed once the copy is complete, or once the partial
    directory of a failed copy is removed (waiting, bounded, for an unreachable store);
    while a claim exists its directory may be incomplete, which is how
    :func:`estimator_ext.clean_stale_temporaries` tells a dead writer's partial version.

    Returns:
      True if published, False if the name was taken or claimed by another export.
    """
    claim = join(export_dir_base, f"{CLAIM_PREFIX}{candidate}-{_writer_fields()}")
    export_dir = join(export_dir_base, str(candidate))
    copying = keep_claim = False
    try:
        call_store("writing the publish claim", claim, lambda: _write_text(claim, temp_dir))
        prefix = f"{CLAIM_PREFIX}{candidate}-"  # listdir, not glob: the base may hold '[' or '*'
        listing = call_store(
            "listing", export_dir_base, lambda: tf.io.gfile.listdir(export_dir_base)
        )
        claims = {name.rstrip("/") for name in listing if name.startswith(prefix)}
        if claims != {claim.rsplit("/", 1)[-1]} or gfile.exists(export_dir):
            time.sleep(random.uniform(0.0, 0.05))  # desynchronise exports that collided
            return False
        copying = True
        _publish_by_copy(temp_dir, export_dir)
        return True
    except BaseException as error:
        if copying and not _remove_partial_export(export_dir, claim):
            keep_claim = True
            raise PartialExportLeft(export_dir, claim) from error
        # An abandoned copy may still land in the directory later: the claim stays, so
        # clean_stale_temporaries removes what it writes once this process is gone.
        keep_claim = copying and was_abandoned(error)
        raise
    finally:
        if not keep_claim:
            remove_quietly(claim)


class PartialExportLeft(RuntimeError):
    """Raised (chained to the store's error) when a failed copy-publish could not remove
    what it had copied because the store stayed unreachable: the claim file is kept
    beside it, so :func:`estimator_ext.clean_stale_temporaries` removes both later."""

    def __init__(self, export_dir: str, claim: str) -> None:
        super().__init__(
            f"The copy-publish to {export_dir!r} failed and the object store stayed "
            f"unreachable for {PARTIAL_CLEANUP_SECONDS:.0f} s, so the partial directory could "
            f"not be removed. It has no saved_model.pb (loaders skip it) and is marked by "
            f"the claim file {claim!r}; estimator_ext.clean_stale_temporaries(base) removes "
            "both once this process is gone (or after older_than on another host)."
        )
        self.export_dir = export_dir
        self.claim = claim


#: How long a failed copy-publish keeps trying to remove its partial export directory.
PARTIAL_CLEANUP_SECONDS = 45.0


def _remove_partial_export(export_dir: str, claim: str) -> bool:
    """Removes a failed copy-publish's directory, waiting (bounded) for the store.

    tensorflow-io's S3 ``exists``/``isdir``/``listdir`` report an unreachable store as
    "not found", so a removal only counts when the store answered before and after it:
    the claim file, which this export wrote and still holds, is stat-ed as the probe."""
    deadline = time.monotonic() + PARTIAL_CLEANUP_SECONDS
    while True:
        if store_answers(claim):
            try:
                if gfile.isdir(export_dir):
                    gfile.rmtree(export_dir)
                if store_answers(claim) and not gfile.exists(export_dir):
                    return True
            except tf.errors.OpError:
                pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)


def store_answers(known_object: str) -> bool:
    """Whether the store answers a stat of an object known to exist (tensorflow-io's S3
    ``exists`` reports an unreachable store as "not found", so it cannot tell)."""
    try:
        gfile.stat(known_object)
        return True
    except tf.errors.OpError:
        return False


def _write_text(path: str, text: str) -> None:
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(text)


def copy_file(
    source: str,
    destination: str,
    operation: str,
    nbytes: int = 0,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Copies one file to a destination this export owns (its hidden temporary, or the
    directory it holds the claim on), with :func:`call_store`'s retries and bound
    (``nbytes``: the file's size, when known) where ``destination`` is on a store.

    The first attempt refuses to overwrite (a guard against a name taken meanwhile); a
    retry after a failed attempt may find that attempt's own object, so it overwrites.
    Local to local, the copy starts its own writeback as it goes (``_local_copy``) and
    calls ``on_bytes`` after each chunk; other copies report nothing until they end."""
    if is_local_to_local(source, destination):
        _local_copy.copy(local_path(source), local_path(destination), on_bytes)
        return
    attempts: list[None] = []

    def copy() -> None:
        attempts.append(None)
        tf.io.gfile.copy(source, destination, overwrite=len(attempts) > 1)

    call_store(operation, destination, copy, nbytes=nbytes)


def is_local_to_local(source: str, destination: str) -> bool:
    """Whether :func:`copy_file` copies with ``_local_copy`` (and reports each chunk)."""
    return not has_scheme(source) and not has_scheme(destination)


def _staged_files(temp_dir: str) -> list[tuple[str, str]]:
    """The staged export's files, or UnavailableError if the listing lacks what every
    export holds (a SavedModel file, the variables index and a data file).

    Why: measured with tensorflow-io 0.32 under injected faults, a listing of the staged
    export came back without ``variables/`` and raised nothing; copying what it named
    would publish an export with no variables. A listing error or an incomplete listing
    is a store failure: :func:`call_store` retries it, then the export fails cleanly.
    """
    try:
        files = list(walk_files(temp_dir))
    except tf.errors.NotFoundError as error:  # a directory we staged "vanished": the store
        raise tf.errors.UnavailableError(None, None, f"listing failed: {error.message}") from error
    names = {relative for relative, _ in files}
    missing = [
        what
        for what, present in (
            ("saved_model.pb", bool(names & set(SAVED_MODEL_FILENAMES))),
            ("variables/variables.index", "variables/variables.index" in names),
            (
                "variables/variables.data-*",
                any(name.startswith("variables/variables.data-") for name in names),
            ),
        )
        if not present
    ]
    if missing:
        raise tf.errors.UnavailableError(
            None,
            None,
            f"the store's listing of the staged export lacks {', '.join(missing)} "
            f"(it named {len(names)} file(s)); the store answered the listing incompletely",
        )
    return files


def _publish_by_copy(temp_dir: str, export_dir: str) -> None:
    staged = call_store("listing the staged export", temp_dir, lambda: _staged_files(temp_dir))
    files = sorted(staged, key=lambda item: posixpath.basename(item[0]) in SAVED_MODEL_FILENAMES)
    try:
        for relative, source in files:
            destination = join(export_dir, relative)
            parent = dirname(destination)
            call_store(
                "creating a directory", destination, functools.partial(tf.io.gfile.makedirs, parent)
            )
            copy_file(source, destination, "copy-publish")
    except BaseException:
        if not has_scheme(export_dir):
            remove_quietly(export_dir)
        raise  # on object stores the caller removes it, see _remove_partial_export
    remove_quietly(temp_dir)
