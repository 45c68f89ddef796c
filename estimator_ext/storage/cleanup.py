"""clean_stale_temporaries: removing what killed exports left behind, never a live one."""

from __future__ import annotations

import datetime
import logging
import os
import time

import tensorflow as tf

from estimator_ext.storage.listing import has_saved_model
from estimator_ext.storage.names import (
    claim_candidate,
    host_label,
    parse_claim_name,
    parse_temp_dir_name,
)
from estimator_ext.storage.paths import join
from estimator_ext.storage.staging import check_export_dir_base
from estimator_ext.storage.store import Store
from estimator_ext.storage.stores import store_for

logger = logging.getLogger("estimator_ext")

#: Default age after which :func:`clean_stale_temporaries` may remove a temporary whose
#: writer it cannot see (one from another host, or one whose process is gone).
DEFAULT_STALE_AGE = datetime.timedelta(hours=1)


def clean_stale_temporaries(
    export_dir_base: str | os.PathLike[str],
    older_than: float | int | datetime.timedelta = DEFAULT_STALE_AGE,
) -> list[str]:
    """Removes the temporary directories that killed exports left in ``export_dir_base``.

    An export killed mid-way (SIGKILL, OOM killer, power loss, a preempted VM) leaves
    its hidden ``.estimator_ext-tmp-<start>-<host>-<pid>-<hex>`` directory behind. It
    never looks like an export (loaders only take integer-named directories), but it
    takes disk space. Call this, e.g. when a training job starts, to remove them. (On
    filesystems without atomic rename, ``gs://``, ``s3://``, ``ram://``, a killed
    export may also leave a tiny ``.estimator_ext-claim-<n>-...`` file beside the
    exports; those are removed by the same rules. A claim marks a copy-publish into
    ``<n>/`` in progress: when its writer is gone, ``<n>/`` is removed with it if it has
    no ``saved_model.pb`` -- copied last, so ``<n>/`` is a partial version -- and no other
    export holds a claim on ``<n>``. A complete export is never removed.)

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
      TypeError / ValueError: ``export_dir_base`` or ``older_than`` is invalid (an
        existing file as ``export_dir_base`` is a ValueError, as for the export).

    Example::

        removed = estimator_ext.clean_stale_temporaries("exports/", older_than=3600)
    """
    base = check_export_dir_base(export_dir_base, "clean_stale_temporaries")
    min_age = _check_older_than(older_than)
    store = store_for(base)  # the store's client defaults were set by its first call above
    if not store.isdir(base):
        return []
    now = time.time()
    this_host = host_label()
    removed = []
    names = sorted(entry.rstrip("/") for entry in store.listdir(base))
    claims_by_candidate: dict[int, set[str]] = {}
    for name in names:
        candidate = claim_candidate(name)
        if candidate is not None:
            claims_by_candidate.setdefault(candidate, set()).add(name)
    for name in names:
        path = join(base, name)
        parsed = parse_temp_dir_name(name)
        if parsed is not None and not store.is_real_directory(path):
            logger.info("clean_stale_temporaries: skipping %s, not a directory we created", path)
            continue
        candidate = None
        if parsed is None:
            parsed = parse_claim_name(name)
            if parsed is None or not store.is_regular_file(path):
                continue
            candidate = claim_candidate(name)
        if parsed.host == this_host and _process_alive(parsed.pid):
            continue
        claimed_dir = join(base, str(candidate)) if candidate is not None else None
        activity = store.last_activity(path, parsed.started)
        if claimed_dir is not None and store.isdir(claimed_dir):
            activity = max(activity, store.last_activity(claimed_dir, parsed.started))
        age = now - activity
        if age < min_age:
            continue
        if claimed_dir is not None and candidate is not None:
            # The claim marks a copy-publish in progress; its writer is gone. Its
            # directory is a partial version unless saved_model.pb (copied last) is
            # there, and only this writer could be copying into it if its claim is the
            # only one on that name (another claim may be a live writer's).
            others = claims_by_candidate.get(candidate, set()) - {name}
            if not store.answers(path):
                continue  # the store does not answer: "no saved_model.pb" proves nothing
            partial = store.isdir(claimed_dir) and not has_saved_model(claimed_dir)
            if not others and partial and store.answers(path):
                if not _remove_tree(store, claimed_dir):
                    continue  # keep the claim: it marks the partial directory
                logger.info("Removed partial export %s of a dead writer", claimed_dir)
                removed.append(claimed_dir)
        if _remove_tree(store, path):
            logger.info("Removed stale export temporary %s (%.0f s old)", path, age)
            removed.append(path)
            if candidate is not None:
                claims_by_candidate.get(candidate, set()).discard(name)
    return sorted(removed)


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


def _remove_tree(store: Store, path: str) -> bool:
    """Removes ``path`` (a tree, or a claim file); True once it is gone (also when a
    concurrent cleaner helped). An error is logged, and the path left for the next call."""
    try:
        store.remove_tree(path)
    except (OSError, tf.errors.OpError) as error:
        if store.exists(path):
            logger.warning("clean_stale_temporaries: could not remove %s: %s", path, error)
    return not store.exists(path)
