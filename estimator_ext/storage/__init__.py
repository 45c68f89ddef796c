"""Every file operation estimator_ext makes, on every store TensorFlow's filesystems serve.

One interface, :class:`store.Store`, with one implementation per kind of store
(``local_store.py``: rename, ``copy_file_range``, fsync; ``copy_publish.py``: ``ram://``
and any other scheme, published by copy; ``object_store.py``: ``s3://`` and ``gs://``,
bounded by ``watchdog.py``, retried, with the client defaults of ``s3.py`` and
``gcs.py``), chosen by ``stores.store_for(path)``. The rest of the package reaches them
through functions that dispatch by path: the file calls (``files.gfile``), copying one
file (``copying.py``), the export's staging area (``staging.py``), the names it leaves
(``names.py``; finding them on a store: ``listing.py``), publishing (``publish.py``) and
cleaning up after killed exports (``cleanup.py``). Paths themselves are ``paths.py``.
"""
