"""``store_for(path)``: the store that holds a path, ready for a call.

The one place that maps a path to its kind of store (``store.py`` lists them):

==========================  ===============================================================
path                        store
==========================  ===============================================================
``s3://...``                :class:`~estimator_ext.storage.object_store.S3Store`
``gs://...``                :class:`~estimator_ext.storage.object_store.GcsStore`
``ram://...``               :class:`~estimator_ext.storage.copy_publish.RamStore`
any other ``<scheme>://``   :class:`~estimator_ext.storage.copy_publish.CopyPublishStore`
a plain path, ``file://``   :class:`~estimator_ext.storage.local_store.LocalStore`
==========================  ===============================================================

Every function of the layer finds its store here, and :func:`store_for` prepares the
store before returning it (an object store's client defaults are set), so the defaults
are in the environment before the first call of the process on that store, whichever
function makes it and whatever type of path it was given. Stores hold no state: one
instance of each serves the whole process.
"""

from __future__ import annotations

import os

from estimator_ext.storage.copy_publish import CopyPublishStore, RamStore
from estimator_ext.storage.local_store import LocalStore
from estimator_ext.storage.object_store import object_store_for
from estimator_ext.storage.paths import has_scheme
from estimator_ext.storage.store import Store

_LOCAL = LocalStore()
_RAM = RamStore()
_OTHER = CopyPublishStore()


def store_for(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> Store:
    """The store holding ``path``, prepared for a call (see the module doc).

    Raises:
      TypeError: ``path`` is not a str, bytes or os.PathLike.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(
            f"A storage path must be a str, bytes or os.PathLike, e.g. 's3://bucket/exports'; "
            f"received {path!r}."
        )
    text = os.fsdecode(path)
    object_store = object_store_for(text)
    if object_store is not None:
        return object_store
    if not has_scheme(text):
        return _LOCAL
    if text.startswith("ram://"):
        return _RAM
    return _OTHER
