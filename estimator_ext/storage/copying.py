"""Copying one file into an export, on any store."""

from __future__ import annotations

from typing import Callable

from estimator_ext.storage.paths import has_scheme
from estimator_ext.storage.stores import store_for


def copy_file(
    source: str,
    destination: str,
    operation: str,
    nbytes: int = 0,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Copies one file to a destination this export owns (its hidden temporary, or the
    directory it holds the claim on), made by the destination's store: on an object
    store with its retries and bound (``nbytes``: the file's size, when known).

    The first attempt refuses to overwrite (a guard against a name taken meanwhile); a
    retry after a failed attempt may find that attempt's own object, so it overwrites.
    Local to local, the copy starts its own writeback as it goes (``local_copy.py``) and
    calls ``on_bytes`` after each chunk; other copies report nothing until they end.
    The source's store is prepared too (its client defaults), as it is read."""
    store_for(source)
    store_for(destination).copy(source, destination, operation, nbytes, on_bytes)


def is_local_to_local(source: str, destination: str) -> bool:
    """Whether :func:`copy_file` copies with ``local_copy`` (and reports each chunk)."""
    return not has_scheme(source) and not has_scheme(destination)
