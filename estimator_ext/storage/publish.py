"""Publishing a complete export under a new integer name.

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
  ``saved_model.pb`` last, after claiming the integer name (``copy_publish.py``).

Each store does it its own way (``local_store.LocalStore``, ``copy_publish.CopyPublishStore``);
:func:`publish` finds the store of ``export_dir_base``.
"""

from __future__ import annotations

from estimator_ext.storage.stores import store_for


def publish(temp_dir: str, export_dir_base: str) -> str:
    """Moves a complete export from ``temp_dir`` (inside ``export_dir_base``) to a new
    integer-named directory of ``export_dir_base``, and returns that directory.

    Raises:
      RuntimeError: no free integer name among the next 1000.
      OSError / tf.errors.OpError: what the store raised (nothing is published then).
    """
    return store_for(export_dir_base).publish(temp_dir, export_dir_base)
