"""Copying one file into an export, on any store, and writing a small text file."""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from estimator_ext.storage import local_copy
from estimator_ext.storage.object_store import call_store
from estimator_ext.storage.paths import has_scheme, local_path


def write_text(path: str, text: str) -> None:
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
        local_copy.copy(local_path(source), local_path(destination), on_bytes)
        return
    attempts: list[None] = []

    def copy() -> None:
        attempts.append(None)
        tf.io.gfile.copy(source, destination, overwrite=len(attempts) > 1)

    call_store(operation, destination, copy, nbytes=nbytes)


def is_local_to_local(source: str, destination: str) -> bool:
    """Whether :func:`copy_file` copies with ``_local_copy`` (and reports each chunk)."""
    return not has_scheme(source) and not has_scheme(destination)
