"""Finding exports in ``export_dir_base``: the integer-named versions, and whether a directory
holds a complete SavedModel. Both read the store (through ``files.gfile``)."""

from __future__ import annotations

from estimator_ext.storage.files import gfile
from estimator_ext.storage.names import SAVED_MODEL_FILENAMES
from estimator_ext.storage.paths import join


def has_saved_model(export_dir: str) -> bool:
    """Whether ``export_dir`` holds a ``saved_model.pb`` (or ``.pbtxt``): a complete
    export, since publishing copies that file last."""
    return any(gfile.exists(join(export_dir, name)) for name in SAVED_MODEL_FILENAMES)


def integer_named_exports(export_path: str) -> list[tuple[int, str]]:
    """``(version, path)`` of every integer-named directory in ``export_path``, oldest first.

    Only names made of ASCII digits count (what ``export_all_saved_models`` publishes and
    TF Serving loads); hidden temporary directories of exports in progress never do.
    """
    if not gfile.isdir(export_path):
        return []
    exports = []
    for entry in gfile.listdir(export_path):
        name = entry.rstrip("/")  # object stores list directories as 'name/'
        if not (name.isascii() and name.isdigit()):
            continue
        path = join(export_path, name)
        if gfile.isdir(path):
            exports.append((int(name), path))
    return sorted(exports)
