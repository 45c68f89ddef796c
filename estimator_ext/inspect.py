"""Describing a SavedModel: what ``estimator-ext inspect`` prints, as plain Python data.

:func:`describe` reads the SavedModel protocol buffer (``saved_model.pb`` or
``saved_model.pbtxt``) through ``tf.io.gfile`` with TensorFlow's public generated proto
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

from estimator_ext.serving.description import describe, format_description
from estimator_ext.serving.saved_model_file import (
    NotASavedModelError,
    UnreadableSavedModelError,
    read_saved_model,
)

__all__ = [
    "NotASavedModelError",
    "UnreadableSavedModelError",
    "describe",
    "format_description",
    "read_saved_model",
]
# Also importable from here, outside __all__: files_under and format_size (the CLI uses them).
