"""Publishing by copy, for stores without an atomic directory rename (``ram://``, ``s3://``...).

Every file is copied with ``saved_model.pb`` last, so no loader sees a SavedModel before
all its files exist, after claiming the integer name with a claim file beside it, so
that two exports never copy into one directory (see :func:`claim_and_publish_by_copy`).
:class:`CopyPublishStore` is the store that publishes this way: the generic one, for any
scheme ``tf.io.gfile`` serves that has no class of its own (``hdfs://``...), and the base
of :class:`RamStore` and of the object stores (``object_store.py``).
"""

from __future__ import annotations

import posixpath
import random
import time

import tensorflow as tf

from estimator_ext.storage.names import CLAIM_PREFIX, SAVED_MODEL_FILENAMES, writer_fields
from estimator_ext.storage.paths import dirname, has_scheme, join
from estimator_ext.storage.store import Store, walk_files
from estimator_ext.storage.watchdog import (
    AFTER_STOP_SECONDS,
    export_time_left,
    was_abandoned,
)


class CopyPublishStore(Store):
    """A store reached through ``tf.io.gfile`` with no atomic directory rename: publishes
    by copy after claiming the name (:func:`claim_and_publish_by_copy`). Calls are made
    once, on the caller's thread; the generic store for ``hdfs://`` and other schemes."""

    label = "tf.io.gfile"

    def publish_as(self, temp_dir: str, export_dir_base: str, candidate: int | str) -> bool:
        return claim_and_publish_by_copy(self, temp_dir, export_dir_base, candidate)


class RamStore(CopyPublishStore):
    """TensorFlow's in-memory ``ram://`` filesystem: calls stay in the process (nothing
    to bound or retry), and TF's ``ram://`` rename even leaves the target empty, so it
    publishes by copy like any store without an atomic rename."""

    label = "ram://"


def claim_and_publish_by_copy(
    store: Store, temp_dir: str, export_dir_base: str, candidate: int | str
) -> bool:
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
    claim = join(export_dir_base, f"{CLAIM_PREFIX}{candidate}-{writer_fields()}")
    export_dir = join(export_dir_base, str(candidate))
    copying = keep_claim = False
    try:
        store.write_text(claim, temp_dir, "writing the publish claim")
        prefix = f"{CLAIM_PREFIX}{candidate}-"  # listdir, not glob: the base may hold '[' or '*'
        listing = store.listdir(export_dir_base)  # retried, as every probe is
        claims = {name.rstrip("/") for name in listing if name.startswith(prefix)}
        if claims != {claim.rsplit("/", 1)[-1]} or store.exists(export_dir):
            time.sleep(random.uniform(0.0, 0.05))  # desynchronise exports that collided
            return False
        copying = True
        _publish_by_copy(store, temp_dir, export_dir)
        return True
    except BaseException as error:
        if copying and not _remove_partial_export(store, export_dir, claim):
            keep_claim = True
            raise PartialExportLeft(export_dir, claim) from error
        # An abandoned copy may still land in the directory later: the claim stays, so
        # clean_stale_temporaries removes what it writes once this process is gone.
        keep_claim = copying and was_abandoned(error)
        raise
    finally:
        if not keep_claim:
            store.remove_quietly(claim)


class PartialExportLeft(RuntimeError):
    """Raised (chained to the store's error) when a failed copy-publish could not remove
    what it had copied because the store stayed unreachable: the claim file is kept
    beside it, so :func:`estimator_ext.clean_stale_temporaries` removes both later."""

    def __init__(self, export_dir: str, claim: str) -> None:
        super().__init__(
            f"The copy-publish to {export_dir!r} failed and the object store did not answer "
            f"while the partial directory was being removed (estimator_ext waits up to "
            f"{PARTIAL_CLEANUP_SECONDS:.0f} s, less once the export has spent its time for "
            f"store trouble), so it was left. It has no saved_model.pb (loaders skip it) and "
            f"is marked by the claim file {claim!r}; estimator_ext.clean_stale_temporaries(base) "
            "removes both once this process is gone (or after older_than on another host)."
        )
        self.export_dir = export_dir
        self.claim = claim


#: How long a failed copy-publish keeps trying to remove its partial export directory
#: (the same as the whole export's store calls get once the store stopped answering).
PARTIAL_CLEANUP_SECONDS = AFTER_STOP_SECONDS


def _remove_partial_export(store: Store, export_dir: str, claim: str) -> bool:
    """Removes a failed copy-publish's directory, waiting (bounded) for the store.

    tensorflow-io's S3 ``exists``/``isdir``/``listdir`` report an unreachable store as
    "not found", so a removal only counts when the store answered before and after it:
    the claim file, which this export wrote and still holds, is stat-ed as the probe."""
    deadline = time.monotonic() + PARTIAL_CLEANUP_SECONDS
    while True:
        if store.answers(claim):
            try:
                if store.isdir(export_dir):
                    store.rmtree(export_dir)
                if store.answers(claim) and not store.exists(export_dir):
                    return True
            except tf.errors.OpError:
                pass
        left = export_time_left()  # spent: no store call would be attempted
        if time.monotonic() >= deadline or (left is not None and left <= 1.0):
            return False
        time.sleep(1.0)


def _staged_files(temp_dir: str) -> list[tuple[str, str]]:
    """The staged export's files, or UnavailableError if the listing lacks what every
    export holds (a SavedModel file, the variables index and a data file).

    Why: measured with tensorflow-io 0.32 under injected faults, a listing of the staged
    export came back without ``variables/`` and raised nothing; copying what it named
    would publish an export with no variables. A listing error or an incomplete listing
    is a store failure: the store's :meth:`~Store.call` retries it, then the export fails cleanly.
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


def _publish_by_copy(store: Store, temp_dir: str, export_dir: str) -> None:
    staged = store.call("listing the staged export", temp_dir, lambda: _staged_files(temp_dir))
    files = sorted(staged, key=lambda item: posixpath.basename(item[0]) in SAVED_MODEL_FILENAMES)
    try:
        for relative, source in files:
            destination = join(export_dir, relative)
            parent = dirname(destination)
            store.makedirs(parent)
            store.copy(source, destination, "copy-publish")
    except BaseException:
        if not has_scheme(export_dir):
            store.remove_quietly(export_dir)
        raise  # on object stores the caller removes it, see _remove_partial_export
    store.remove_quietly(temp_dir)
