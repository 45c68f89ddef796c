"""The names an export leaves in ``export_dir_base``, and finding them on a store.

Integer-named versions (what ``export_all_saved_models`` publishes and TF Serving
loads), hidden temporaries and claim files. Making and parsing the names is
``writer_names.py`` (pure, re-exported here); this module adds the two look-ups that
read a store: whether a directory holds a SavedModel, and the versions in a base.
"""

from __future__ import annotations

import socket  # noqa: F401  (tests set naming.socket.gethostname; writer_names reads it)

from estimator_ext.storage.files import gfile
from estimator_ext.storage.paths import join
from estimator_ext.storage.writer_names import (
    CLAIM_PREFIX,
    SAVED_MODEL_FILENAMES,
    TEMP_PREFIX,
    TempDirName,
    claim_candidate,
    host_label,
    parse_claim_name,
    parse_temp_dir_name,
    temp_dir_name,
    writer_fields,
)

__all__ = [
    "CLAIM_PREFIX",
    "SAVED_MODEL_FILENAMES",
    "TEMP_PREFIX",
    "TempDirName",
    "claim_candidate",
    "has_saved_model",
    "host_label",
    "integer_named_exports",
    "parse_claim_name",
    "parse_temp_dir_name",
    "temp_dir_name",
    "writer_fields",
]


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
