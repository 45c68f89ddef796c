"""Describing a SavedModel: what ``estimator-ext inspect`` prints, as plain Python data.

:func:`describe` reads the SavedModel protocol buffer (``saved_model.pb`` or
``saved_model.pbtxt``) through the storage layer with TensorFlow's public generated proto
(``saved_model_pb2``): no graph is imported, no session is created and no private loader
is used, so it works on any filesystem TensorFlow can read (local, ``gs://``, ``s3://``,
``ram://``) and on exports too large to load::

    from estimator_ext import inspect

    description = inspect.describe("exports/1700000000")
    [meta["tags"] for meta in description["meta_graphs"]]  # [['train'], ['eval'], ['serve']]
    print(inspect.format_description(description))      # the table `inspect` prints

The CLI (``estimator-ext inspect [--json]``) and ``examples/saved_model_summary.py`` are
built on it, so what they show is exactly this dict.
"""

from __future__ import annotations

# Outside __all__ but importable from here, as before the package had subpackages:
# files_under, format_size, TRAIN_OP_COLLECTION and VARIABLE_OPS.
from estimator_ext.serving.description import (  # noqa: F401
    TRAIN_OP_COLLECTION,
    VARIABLE_OPS,
    describe,
    format_description,
    format_size,
)
from estimator_ext.serving.saved_model_file import (  # noqa: F401
    NotASavedModelError,
    UnreadableSavedModelError,
    files_under,
    read_saved_model,
)

__all__ = [
    "NotASavedModelError",
    "UnreadableSavedModelError",
    "describe",
    "format_description",
    "read_saved_model",
]
