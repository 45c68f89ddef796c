"""Keeping the newest exports: the garbage collection of ``exports_to_keep``."""

from __future__ import annotations

import logging
import os

import tensorflow as tf

from estimator_ext.storage import paths
from estimator_ext.storage.files import gfile
from estimator_ext.storage.listing import has_saved_model, integer_named_exports

logger = logging.getLogger("estimator_ext")


def delete_old_exports(export_path: str, exports_to_keep: int, just_written: str) -> None:
    """Deletes complete exports in ``export_path`` but the newest ``exports_to_keep``.

    ``just_written`` is never deleted. Anything that is not a complete integer-named export
    is neither counted nor touched. Used by ``AllModesExporter(exports_to_keep=N)`` and
    ``estimator-ext export --watch --exports-to-keep N``.
    """
    # Only complete versions count and only they are deleted: an integer-named
    # directory without saved_model.pb is a copy-publish in progress (another
    # writer's, on s3:// / gs://) or a dead writer's partial version, which
    # clean_stale_temporaries removes by its claim file.
    exports = [
        (version, path)
        for version, path in integer_named_exports(export_path)
        if has_saved_model(path)
    ]
    kept_versions = {version for version, _ in exports[-exports_to_keep:]}
    kept_versions.add(int(_basename(just_written)))
    for version, path in exports:
        if version in kept_versions:
            continue
        try:
            gfile.rmtree(path)
            logger.info("Deleted old export %s (keeping the newest %d)", path, exports_to_keep)
        except tf.errors.OpError as error:  # e.g. removed meanwhile by someone else
            logger.warning("Could not delete old export %s: %s", path, error)


def _basename(path: str) -> str:
    return (
        path.rstrip("/").rsplit("/", 1)[-1]
        if paths.has_scheme(path)
        else os.path.basename(path.rstrip(os.sep))
    )
