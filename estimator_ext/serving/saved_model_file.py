"""Reading a SavedModel's protocol buffer file, the way TensorFlow's loaders choose it.

``saved_model.pb``, else ``saved_model.pbtxt``, parsed with TensorFlow's public generated
proto (``saved_model_pb2``); errors say whether the directory is missing, is a file, holds
no SavedModel (naming the newest export inside when it is a directory of exports), or holds
one that cannot be parsed.
"""

from __future__ import annotations

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from estimator_ext.storage import names as naming
from estimator_ext.storage import paths, staging
from estimator_ext.storage.names import integer_named_exports


class NotASavedModelError(ValueError):
    """``export_dir`` is missing, is a file, or holds no ``saved_model.pb(txt)``."""


class UnreadableSavedModelError(NotASavedModelError):
    """``export_dir`` has a ``saved_model.pb(txt)`` that cannot be read or parsed."""


def read_saved_model(
    export_dir: str, *, argument_name: str = "export_dir"
) -> saved_model_pb2.SavedModel:
    """The ``SavedModel`` proto of ``export_dir``: ``saved_model.pb``, else ``.pbtxt``.

    The same file choice as TensorFlow's loaders, read through ``tf.io.gfile``.

    Raises:
      NotASavedModelError / UnreadableSavedModelError: as :func:`describe`.
    """
    if not tf.io.gfile.exists(export_dir):
        raise NotASavedModelError(f"{argument_name} {export_dir!r} does not exist.")
    if not tf.io.gfile.isdir(export_dir):
        raise NotASavedModelError(
            f"{argument_name} {export_dir!r} is a file; give the SavedModel's directory."
        )
    for filename in naming.SAVED_MODEL_FILENAMES:
        path = paths.join(export_dir, filename)
        if tf.io.gfile.exists(path):
            return _parse(export_dir, path, filename)
    raise NotASavedModelError(
        f"{export_dir!r} is not a SavedModel (no saved_model.pb in it)."
        + _newest_export_hint(export_dir)
    )


def _parse(export_dir: str, path: str, filename: str) -> saved_model_pb2.SavedModel:
    saved_model = saved_model_pb2.SavedModel()
    try:
        with tf.io.gfile.GFile(path, "rb") as proto_file:
            content = proto_file.read()
        if filename.endswith(".pbtxt"):
            text_format.Parse(content.decode("utf-8"), saved_model)
        else:
            saved_model.ParseFromString(content)
    except Exception as error:  # corrupt or unreadable, whatever the parser says
        raise UnreadableSavedModelError(
            f"{export_dir!r} is not a readable SavedModel: cannot parse {filename} "
            f"({type(error).__name__}: {' '.join(str(error).split())})."
        ) from error
    return saved_model


def _newest_export_hint(directory: str) -> str:
    """For a directory of exports given by mistake: names the newest export inside."""
    exports = [
        path
        for _, path in integer_named_exports(directory)
        if any(tf.io.gfile.exists(paths.join(path, name)) for name in naming.SAVED_MODEL_FILENAMES)
    ]
    if not exports:
        return ""
    return f" It holds {len(exports)} export(s); the newest is {exports[-1]!r}."


def files_under(directory: str) -> list[tuple[str, int]]:
    """(relative path, size in bytes) of every file under ``directory``, sorted."""
    if not tf.io.gfile.isdir(directory):
        return []
    return sorted(
        (relative, tf.io.gfile.stat(path).length)
        for relative, path in staging.walk_files(directory)
    )
