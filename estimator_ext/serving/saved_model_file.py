"""Reading a SavedModel's protocol buffer file, the way TensorFlow's loaders choose it.

``saved_model.pb``, else ``saved_model.pbtxt``, parsed with TensorFlow's public generated
proto (``saved_model_pb2``); errors say whether the directory is missing, is a file, holds
no SavedModel (naming the newest export inside when it is a directory of exports), or holds
one that cannot be parsed.
"""

from __future__ import annotations

from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from estimator_ext.storage import paths
from estimator_ext.storage.files import gfile
from estimator_ext.storage.listing import has_saved_model, integer_named_exports
from estimator_ext.storage.names import SAVED_MODEL_FILENAMES


class NotASavedModelError(ValueError):
    """``export_dir`` is missing, is a file, or holds no ``saved_model.pb(txt)``."""


class UnreadableSavedModelError(NotASavedModelError):
    """``export_dir`` has a ``saved_model.pb(txt)`` that cannot be read or parsed."""


def read_saved_model(
    export_dir: str, *, argument_name: str = "export_dir"
) -> saved_model_pb2.SavedModel:
    """The ``SavedModel`` proto of ``export_dir``: ``saved_model.pb``, else ``.pbtxt``.

    The same file choice as TensorFlow's loaders, read through the storage layer (on an
    object store: with its client defaults, bounded and retried calls and worded errors).

    Raises:
      NotASavedModelError / UnreadableSavedModelError: as :func:`describe`.
    """
    if not gfile.exists(export_dir):
        raise NotASavedModelError(f"{argument_name} {export_dir!r} does not exist.")
    if not gfile.isdir(export_dir):
        raise NotASavedModelError(
            f"{argument_name} {export_dir!r} is a file; give the SavedModel's directory."
        )
    for filename in SAVED_MODEL_FILENAMES:
        path = paths.join(export_dir, filename)
        if gfile.exists(path):
            return _parse(export_dir, path, filename)
    raise NotASavedModelError(
        f"{export_dir!r} is not a SavedModel (no saved_model.pb in it)."
        + _newest_export_hint(export_dir)
    )


def _parse(export_dir: str, path: str, filename: str) -> saved_model_pb2.SavedModel:
    saved_model = saved_model_pb2.SavedModel()
    try:
        content = gfile.read_bytes(path)
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
    exports = [path for _, path in integer_named_exports(directory) if has_saved_model(path)]
    if not exports:
        return ""
    return f" It holds {len(exports)} export(s); the newest is {exports[-1]!r}."


def files_under(directory: str) -> list[tuple[str, int]]:
    """(relative path, size in bytes) of every file under ``directory``, sorted."""
    if not gfile.isdir(directory):
        return []
    return sorted(
        (relative, gfile.stat(path).length) for relative, path in gfile.walk_files(directory)
    )
