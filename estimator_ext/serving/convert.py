"""convert_serve_only: an export's serve graph as a single-graph TF2 SavedModel.

An estimator_ext export holds the TRAIN, EVAL and PREDICT graphs as three meta graphs of
one SavedModel. TensorFlow's TF2 loader opens it only with ``tags=["serve"]``, and Keras
3's ``keras.layers.TFSMLayer`` cannot pass tags, so it refuses the export ("requires a
``tags=`` argument if there is more than one MetaGraph"). This module writes the serve
graph alone as a TF2 SavedModel, with what TensorFlow ships: ``tf.saved_model.load(export,
tags=["serve"])``, then ``tf.saved_model.save(loaded, ..., signatures=loaded.signatures)``.

The contract of the converted SavedModel:

* ONE meta graph, tagged ``serve``; ``tf.saved_model.load(output_dir)`` opens it without
  ``tags=``, and ``TFSMLayer(output_dir, call_endpoint=KEY)`` with any kept key;
* every signature of the serve graph is kept under its own key (``serving_default``,
  ``predict``, ``classification``...), with the same input and output keys and dtypes
  (checked after writing; a difference fails the conversion). TF2 writes every
  signature with the Predict method (``tensorflow/serving/predict``): TF Serving answers
  Predict requests on all of them, but no longer Classify or Regress requests;
* the variables the serve graph reads (the checkpoint values the export holds), its
  assets (vocabulary files) and its lookup tables, initialized from the converted
  model's own ``assets/`` when it is loaded;
* dropped: the TRAIN and EVAL meta graphs (train op, loss, metrics), every other meta
  graph, and ``assets.extra/`` (e.g. TF Serving's warmup requests, which name the export's
  Classify/Regress methods);
* refused: a serve graph with a sparse or composite signature input (TF2 signatures
  cannot take one; ``tf.saved_model.save`` fails deep inside), or without signatures.

It is written to a hidden temporary directory beside ``output_dir`` and published as
``output_dir`` through the storage layer (a rename on a local disk; elsewhere a copy with
``saved_model.pb`` last), so a failure leaves nothing behind. The temporary is named as an
export's, so ``estimator_ext.clean_stale_temporaries(<output_dir's parent>)`` removes one
that a killed conversion left.
"""

from __future__ import annotations

import logging
import os
import posixpath
from typing import Any

import tensorflow as tf

from estimator_ext.serving.saved_model_file import NotASavedModelError, read_saved_model
from estimator_ext.storage import paths, staging
from estimator_ext.storage.files import gfile
from estimator_ext.storage.names import temp_dir_name
from estimator_ext.storage.store import Store
from estimator_ext.storage.stores import store_for
from estimator_ext.storage.watchdog import one_export

logger = logging.getLogger("estimator_ext")

#: The tag set of the meta graph that is converted (PREDICT's, and TF Serving's).
SERVE_TAGS = ("serve",)


class NoServeGraphError(NotASavedModelError):
    """``export_dir`` is a SavedModel without a meta graph tagged exactly ``serve``."""


class OutputInsideExportError(ValueError):
    """``output_dir`` is inside ``export_dir``, which the conversion must leave as it is."""


class SparseSignatureInputError(ValueError):
    """A serving signature takes a sparse or composite input, which TF2 signatures cannot."""


class SignatureChangedError(RuntimeError):
    """A signature of the converted SavedModel differs from the export's (nothing is kept)."""


def convert_serve_only(
    export_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> str:
    """Writes the serve graph of ``export_dir`` to ``output_dir`` as a single-graph TF2
    SavedModel, which ``tf.saved_model.load(output_dir)`` and Keras 3's
    ``keras.layers.TFSMLayer(output_dir, call_endpoint="serving_default")`` open.

    Every signature of the meta graph tagged ``serve`` is kept under its key, with its
    inputs and outputs; its variables, assets and lookup tables come along. The TRAIN and
    EVAL graphs, any other meta graph and ``assets.extra/`` are dropped, and every
    signature becomes a Predict signature (see the module doc). A failure leaves nothing
    behind: neither ``output_dir`` nor a temporary, nor parent directories it created.

    Args:
      export_dir: an export (an integer-named directory holding ``saved_model.pb``), local
        or any ``tf.io.gfile`` URL.
      output_dir: the directory to create; it must not exist yet, nor be inside
        ``export_dir``. Missing parents are created.

    Returns:
      ``output_dir``, as a str.

    Raises:
      TypeError: an argument is not a path.
      NotASavedModelError: ``export_dir`` does not exist, is a file or holds no SavedModel
        (for a directory of exports, the message names the newest one);
        ``NoServeGraphError`` when it has no meta graph tagged exactly ``serve``, or one
        without signatures.
      SparseSignatureInputError: (a ValueError) a serving signature takes a sparse input.
      FileExistsError: ``output_dir`` exists.
      OutputInsideExportError: (a ValueError) ``output_dir`` is inside ``export_dir``.
      RuntimeError: eager execution is disabled (``tf.saved_model.save`` needs it).
      SignatureChangedError: TensorFlow wrote a signature that differs from the export's.
    """
    return convert(export_dir, output_dir)


def convert(
    export_dir: Any,
    output_dir: Any,
    *,
    caller: str = "convert_serve_only",
    export_name: str = "export_dir",
    output_name: str = "output_dir",
) -> str:
    """:func:`convert_serve_only`, with the names its messages use for the caller and the
    two arguments (the CLI says ``convert``, ``EXPORT`` and ``OUT``)."""
    export_dir = _path(export_dir, export_name, caller)
    output_dir = _path(output_dir, output_name, caller)
    try:
        saved_model = read_saved_model(export_dir, argument_name=export_name)
    except NotASavedModelError as error:
        message = str(error)
        if not message.startswith(export_name):
            message = f"{export_name} {message}"
        raise type(error)(
            f"{caller}: {message} Give the directory of one export (it holds saved_model.pb)."
        ) from error
    serve_graph = _serve_meta_graph(saved_model, export_dir, export_name, caller)
    _check_output_dir(export_dir, output_dir, output_name, caller)
    if not tf.executing_eagerly():
        raise RuntimeError(
            f"{caller} needs eager execution (tf.saved_model.save does), and it is disabled "
            "in this process (tf.compat.v1.disable_eager_execution()?). Convert in a process "
            "that keeps it, e.g. `estimator-ext convert --serve-only EXPORT OUT`."
        )
    with one_export():
        _convert(export_dir, output_dir, serve_graph, caller)
    dropped = [
        "+".join(meta_graph.meta_info_def.tags)
        for meta_graph in saved_model.meta_graphs
        if meta_graph is not serve_graph
    ]
    logger.info(
        "Converted the serve graph of %s to %s (signatures %s; dropped the meta graphs %s)",
        export_dir,
        output_dir,
        ", ".join(sorted(serve_graph.signature_def)),
        ", ".join(dropped) or "(none)",
    )
    return output_dir


def _path(path: Any, name: str, caller: str) -> str:
    received = path
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    if not isinstance(path, str) or not path.strip():
        raise TypeError(
            f"{caller}: {name} must be a non-empty directory path (str, bytes or "
            f"os.PathLike); received {received!r}."
        )
    stripped = path.rstrip("/")
    return stripped if stripped and not stripped.endswith(":") else path


def _serve_meta_graph(saved_model: Any, export_dir: str, name: str, caller: str) -> Any:
    """The meta graph tagged exactly ``serve``, with at least one signature."""
    found = [list(meta_graph.meta_info_def.tags) for meta_graph in saved_model.meta_graphs]
    for meta_graph in saved_model.meta_graphs:
        if sorted(meta_graph.meta_info_def.tags) == list(SERVE_TAGS):
            if not meta_graph.signature_def:
                raise NoServeGraphError(
                    f"{caller}: {name} {export_dir!r} has a serve graph without signatures: "
                    "there is nothing to call. Export with a PREDICT receiver whose model_fn "
                    "returns predictions."
                )
            _check_dense_inputs(meta_graph, export_dir, name, caller)
            return meta_graph
    tag_sets = "; ".join("+".join(tags) or "(no tags)" for tags in found) or "none"
    raise NoServeGraphError(
        f"{caller}: {name} {export_dir!r} has no meta graph tagged exactly 'serve' (its meta "
        f"graphs' tags: {tag_sets}). Export with a receiver for tf.estimator.ModeKeys.PREDICT "
        "in the receiver map, then convert that export."
    )


def _check_dense_inputs(meta_graph: Any, export_dir: str, name: str, caller: str) -> None:
    """Refuses sparse and composite inputs up front: measured on TF 2.15,
    ``tf.saved_model.save`` cannot bind them to the TF2 signature (a TypeError)."""
    sparse = sorted(
        f"{key}/{input_key}"
        for key, signature in meta_graph.signature_def.items()
        for input_key, info in signature.inputs.items()
        if info.WhichOneof("encoding") != "name"
    )
    if sparse:
        raise SparseSignatureInputError(
            f"{caller}: {name} {export_dir!r}: the serve graph's inputs {', '.join(sparse)} "
            "(signature/input) are sparse or composite tensors, which TF2 SavedModel "
            "signatures cannot take. Export with dense receiver tensors (e.g. serialized "
            "tf.Examples through tf.estimator.export.build_parsing_serving_input_receiver_fn, "
            "whose parsing makes the sparse features), then convert that export."
        )


def _check_output_dir(export_dir: str, output_dir: str, name: str, caller: str) -> None:
    if gfile.exists(output_dir):
        raise FileExistsError(
            f"{caller}: {name} {output_dir!r} already exists; give a path that does not "
            "exist yet (the converted SavedModel is created there), or remove it first."
        )
    if _is_inside(output_dir, export_dir):
        raise OutputInsideExportError(
            f"{caller}: {name} {output_dir!r} is inside the export {export_dir!r}, which "
            "must stay as it is; give a path outside it, e.g. a sibling of the export."
        )


def _is_inside(path: str, directory: str) -> bool:
    if paths.has_scheme(path) or paths.has_scheme(directory):
        return path.startswith(paths.join(directory, ""))
    real_path, real_directory = (
        os.path.realpath(paths.local_path(entry)) for entry in (path, directory)
    )
    return real_path.startswith(os.path.join(real_directory, ""))


def _basename(path: str) -> str:
    return posixpath.basename(path) if paths.has_scheme(path) else os.path.basename(path)


def _convert(export_dir: str, output_dir: str, serve_graph: Any, caller: str) -> None:
    """Loads, saves into a temporary sibling, checks, and publishes as ``output_dir``."""
    parent = paths.dirname(output_dir) or "."
    store = store_for(parent)
    with store.errors(parent, "listing the output directory's parents"):
        created_dirs = staging.missing_ancestors(parent)
    temp_dir = paths.join(parent, temp_dir_name())
    try:
        gfile.makedirs(parent)
        _save_serve_graph(export_dir, temp_dir, store, serve_graph, caller)
        _check_signatures(serve_graph, read_saved_model(temp_dir), caller)
        _publish_as(store, temp_dir, parent, _basename(output_dir), caller)
    except BaseException:
        staging.remove_quietly(temp_dir)
        staging.remove_created_dirs(created_dirs)  # only while empty: others may write there
        raise


def _save_serve_graph(
    export_dir: str, temp_dir: str, store: Store, serve_graph: Any, caller: str
) -> None:
    """TensorFlow's own load of the serve graph, saved with all its signatures."""
    loaded = tf.saved_model.load(export_dir, tags=list(SERVE_TAGS))
    signatures = {key: loaded.signatures[key] for key in sorted(loaded.signatures.keys())}
    try:
        # Not retried (save writes once); bounded on an object store, as an upload can hang.
        store.call(
            "writing the converted SavedModel",
            temp_dir,
            lambda: tf.saved_model.save(loaded, temp_dir, signatures=signatures),
            retries=0,
        )
    except ValueError as error:
        explained = _unsavable_signature_error(error, serve_graph, caller)
        if explained is None:
            raise
        raise explained from error


def _unsavable_signature_error(
    error: ValueError, serve_graph: Any, caller: str
) -> ValueError | None:
    """TF2 signatures are Python functions whose arguments are the input keys: keys that
    are not identifiers can collide once TensorFlow sanitizes them (measured on TF 2.15:
    'x-1' with 'x y' fails). Says which keys, and the fix; None for other errors."""
    odd = sorted(
        f"{key}/{name}"
        for key, signature in serve_graph.signature_def.items()
        for name in signature.inputs
        if not name.isidentifier()
    )
    if not odd:
        return None
    return ValueError(
        f"{caller}: TensorFlow cannot write the serve graph's signatures as TF2 functions: "
        f"the input keys {', '.join(odd)} (signature/input) are not Python identifiers "
        f"({' '.join(str(error).split())}). Export again with receiver tensors named like "
        "Python arguments (letters, digits and '_'), then convert that export."
    )


def _check_signatures(serve_graph: Any, converted: Any, caller: str) -> None:
    """Each converted signature has the export's key, input and output keys and dtypes."""
    meta_graphs = list(converted.meta_graphs)
    assert len(meta_graphs) == 1, f"tf.saved_model.save wrote {len(meta_graphs)} meta graphs"
    written = meta_graphs[0].signature_def
    for key, signature in serve_graph.signature_def.items():
        if key not in written:
            raise SignatureChangedError(
                f"{caller}: TensorFlow did not write the signature {key!r} (it wrote "
                f"{sorted(written)}); nothing was written. Please report it with the export's "
                "`estimator-ext inspect` output."
            )
        for side in ("inputs", "outputs"):
            want = {name: info.dtype for name, info in getattr(signature, side).items()}
            got = {name: info.dtype for name, info in getattr(written[key], side).items()}
            if want != got:
                raise SignatureChangedError(
                    f"{caller}: TensorFlow wrote the signature {key!r} with the {side} "
                    f"{_keys_and_dtypes(got)} instead of {_keys_and_dtypes(want)}; nothing was "
                    "written. Please report it with the export's `estimator-ext inspect` output."
                )


def _keys_and_dtypes(infos: dict[str, int]) -> str:
    return ", ".join(
        f"{key}:{tf.dtypes.as_dtype(dtype).name}" for key, dtype in sorted(infos.items())
    )


def _publish_as(store: Store, temp_dir: str, parent: str, name: str, caller: str) -> None:
    """Publishes the complete ``temp_dir`` as ``parent/name`` with the store's own publish
    step (rename after fsync; elsewhere claim, then copy with saved_model.pb last)."""
    store.before_publish(temp_dir)
    # publish_as names the directory str(candidate): exports pass integers, this a name.
    if not store.publish_as(temp_dir, parent, name):
        raise FileExistsError(
            f"{caller}: {paths.join(parent, name)!r} appeared while converting (another "
            "process wrote it); nothing of this conversion was kept. Give another output_dir."
        )
