"""Every file operation estimator_ext makes, on every store TensorFlow's filesystems serve.

The paths (``paths.py``), the names an export leaves (``names.py``), staging and the
cleanup of a failed export (``staging.py``), copying one file (``copying.py``, local to
local by ``local_copy.py``), publishing (``publish.py``: an atomic rename on local disks,
``copy_publish.py`` elsewhere), object stores' bounded calls, retries and client defaults
(``watchdog.py``, ``object_store.py``, ``s3.py``), the bounded ``tf.io.gfile`` calls
(``files.py``), and cleaning up after killed exports (``cleanup.py``).
"""
