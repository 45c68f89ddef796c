"""``saved_model.pb`` assembled one mode's meta graph at a time, each kept only serialized.

TensorFlow's ``SavedModelBuilder`` keeps every mode's ``MetaGraphDef`` as a proto object
until ``save()``, and copies each one once more as it adds it. At 5,000 partition variables
(three modes) a meta graph is about 24 MiB serialized and about 150 MiB as a proto object,
and those objects were alive at the export's peak memory: the copy being made while the
EVAL graph is alive, the TRAIN meta graph beside it, both while the PREDICT graph is built
(issue 22's benchmark: 1,314 MiB above baseline against a 1,279 MiB target).
:class:`SerializedSavedModel` does what the builder does for the graphs ``write.py`` adds,
with public TensorFlow only, then keeps just the bytes:

* the graph's collections, as the builder fills them: the asset files (one
  ``AssetFileDef`` per asset path tensor, under its base name, made unique when two
  different files share one; each file copied once into ``assets/``, the first mode's
  when modes name the same file), the main op, the train op;
* ``Saver.export_meta_graph`` with ``strip_default_attrs``, then the tags and signatures;
* ``SerializeToString(deterministic=True)`` of that meta graph, and the proto is dropped.

:meth:`SerializedSavedModel.content` is the file: the ``SavedModel`` message written field
by field (its schema version, then each meta graph as one length-delimited ``meta_graphs``
entry), which is byte for byte what ``builder.save()`` writes for the same meta graphs
(``tests/export/test_saved_model_proto.py`` compares them); ``as_text`` parses it back
and prints it as the builder does.
"""

from __future__ import annotations

import functools
import posixpath
from typing import Any

import tensorflow as tf
from google.protobuf import any_pb2, text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from estimator_ext.storage import paths
from estimator_ext.storage.copying import copy_file
from estimator_ext.storage.files import gfile

#: The collection TF's builder stores the train op in (no public constant names it).
TRAIN_OP_KEY = "saved_model_train_op"
#: Signature keys the builder reserves for the init and train ops.
RESERVED_SIGNATURE_KEYS = ("__saved_model_init_op", "__saved_model_train_op")
#: ``SavedModel.meta_graphs`` is field 2, length-delimited (wire type 2): tag byte 0x12.
_META_GRAPHS_TAG = b"\x12"


class SerializedSavedModel:
    """The meta graphs of one SavedModel, added mode by mode and kept serialized.

    Args:
      export_dir: the SavedModel's directory (its ``assets/`` is written here).
    """

    def __init__(self, export_dir: str) -> None:
        self._export_dir = export_dir
        self._meta_graphs: list[bytes] = []
        self._copied_assets: set[str] = set()
        self._asset_sources: dict[str, str] = {}

    @property
    def asset_sources(self) -> dict[str, str]:
        """Each file the meta graphs name under ``assets/`` -> its source (the first mode's;
        a source missing when it was added is named too, and was not copied)."""
        return dict(self._asset_sources)

    def add_meta_graph(
        self,
        tags: list[str],
        signature_def_map: dict[str, Any],
        saver: Any,
        *,
        assets_collection: list[Any] | None = None,
        main_op: Any = None,
        train_op: Any = None,
        strip_default_attrs: bool = False,
    ) -> None:
        """Adds the default graph's meta graph, as ``SavedModelBuilder.add_meta_graph``.

        Call inside the graph. Fills its asset, main op and train op collections, copies
        its asset files, exports the meta graph with ``saver`` and keeps it serialized.

        Raises:
          ValueError: a signature's tensor without a name or dtype, a reserved signature
            key, an asset path that is not a scalar string constant, a main op that is no
            Operation or a graph that already has one, a train op that is no Tensor or
            Operation.
        """
        _check_signatures(signature_def_map)
        graph = tf.compat.v1.get_default_graph()
        if train_op is not None:
            if not isinstance(train_op, (tf.Tensor, tf.Operation)):
                raise ValueError(f"train_op must be a Tensor or Operation; got {train_op!r}.")
            graph.add_to_collection(TRAIN_OP_KEY, train_op)
        self._add_assets(graph, assets_collection)
        if main_op is not None:
            _add_main_op(graph, main_op)
        meta_graph = saver.export_meta_graph(
            clear_devices=False, strip_default_attrs=strip_default_attrs
        )
        meta_graph.meta_info_def.tags.extend(tags)
        for key, signature in signature_def_map.items():
            meta_graph.signature_def[key].CopyFrom(signature)
        self._meta_graphs.append(meta_graph.SerializeToString(deterministic=True))

    def content(self, as_text: bool = False) -> bytes:
        """``saved_model.pb``'s bytes (``as_text``: ``saved_model.pbtxt``'s)."""
        header = saved_model_pb2.SavedModel(
            saved_model_schema_version=tf.saved_model.SAVED_MODEL_SCHEMA_VERSION
        ).SerializeToString(deterministic=True)
        parts = [header]
        for meta_graph in self._meta_graphs:
            parts += [_META_GRAPHS_TAG, _varint(len(meta_graph)), meta_graph]
        binary = b"".join(parts)
        if not as_text:
            return binary
        saved_model = saved_model_pb2.SavedModel()
        saved_model.ParseFromString(binary)
        return _text(saved_model).encode("utf-8")

    def _add_assets(self, graph: tf.Graph, assets_collection: list[Any] | None) -> None:
        source_by_filename: dict[str, str] = {}
        for path_tensor in assets_collection or ():
            source = _asset_source(path_tensor)
            filename = _unique_filename(source, source_by_filename)
            asset = meta_graph_pb2.AssetFileDef(filename=filename)
            asset.tensor_info.name = path_tensor.name
            packed = any_pb2.Any()
            packed.Pack(asset)
            graph.add_to_collection(tf.saved_model.ASSETS_KEY, packed)
            source_by_filename[filename] = source  # the last of duplicates, as the builder
        for filename, source in source_by_filename.items():
            self._asset_sources.setdefault(filename, source)  # the first mode's
        if not source_by_filename:
            return
        assets_dir = paths.join(self._export_dir, tf.saved_model.ASSETS_DIRECTORY)
        gfile.makedirs(assets_dir)
        for filename, source in source_by_filename.items():
            destination = paths.join(assets_dir, filename)
            if destination in self._copied_assets or not gfile.exists(source):
                continue  # the builder skips a missing source, and copies a file once
            copy_file(source, destination, "copying the assets", int(gfile.stat(source).length))
            self._copied_assets.add(destination)


def _check_signatures(signature_def_map: dict[str, Any]) -> None:
    for key, signature in signature_def_map.items():
        for kind, tensors in (("input", signature.inputs), ("output", signature.outputs)):
            for name in tensors:
                _check_tensor_info(tensors[name], f"signature {key!r}, {kind} {name!r}")
    reserved = sorted(set(RESERVED_SIGNATURE_KEYS) & set(signature_def_map))
    if reserved:
        raise ValueError(
            f"The signature keys {reserved} are reserved by the SavedModel format for its "
            "init and train ops; rename those signatures."
        )


def _check_tensor_info(tensor_info: Any, where: str) -> None:
    encoding = tensor_info.WhichOneof("encoding")
    if encoding is None:
        raise ValueError(f"The {where} names no tensor (TensorInfo without name or coo_sparse).")
    if encoding == "composite_tensor":
        for component in tensor_info.composite_tensor.components:
            _check_tensor_info(component, where)
    elif tensor_info.dtype == types_pb2.DT_INVALID:
        raise ValueError(f"The {where} has no dtype (TensorInfo.dtype unset).")


def _asset_source(path_tensor: Any) -> str:
    """The file an asset path tensor (a scalar string constant) names."""
    if (
        not isinstance(path_tensor, tf.Tensor)
        or path_tensor.op.type != "Const"
        or path_tensor.dtype != tf.string
    ):
        raise ValueError(
            f"An asset path must be a scalar string constant tensor; got {path_tensor!r} in "
            "the ASSET_FILEPATHS collection."
        )
    values = path_tensor.op.get_attr("value").string_val
    if len(values) != 1 or not values[0]:
        raise ValueError(f"The asset path tensor {path_tensor.name} must hold one file path.")
    return tf.compat.as_str_any(values[0])


def _unique_filename(source: str, source_by_filename: dict[str, str]) -> str:
    """``source``'s base name; suffixed ``_1``, ``_2``... when a different file has it."""
    filename = posixpath.basename(source)
    other = source_by_filename.get(filename)
    if other is None or other == source or _same_content(source, other):
        return filename
    number, unique = 1, filename
    while unique in source_by_filename:
        unique = f"{filename}_{number}"
        number += 1
    return unique


def _same_content(path: str, other: str) -> bool:
    if not (gfile.exists(path) and gfile.exists(other)):
        return False
    if gfile.stat(path).length != gfile.stat(other).length:
        return False
    return gfile.read_bytes(path) == gfile.read_bytes(other)


def _add_main_op(graph: tf.Graph, main_op: Any) -> None:
    if not isinstance(main_op, tf.Operation):
        raise ValueError(f"main_op must be an Operation; got {type(main_op).__name__}.")
    for key in (tf.compat.v1.saved_model.MAIN_OP_KEY, tf.compat.v1.saved_model.LEGACY_INIT_OP_KEY):
        if graph.get_collection(key):
            raise ValueError(f"The graph already has a main op in the collection {key!r}.")
    graph.add_to_collection(tf.compat.v1.saved_model.MAIN_OP_KEY, main_op)


def _varint(value: int) -> bytes:
    """``value`` as a protocol buffer varint (7 bits a byte, low bits first)."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _text(message: Any) -> str:
    """``message`` in text format, as TensorFlow's builder writes it (``str(message)``)
    where that can be parsed back, else through ``text_format``.

    Why: protobuf 5's ``str()`` (TensorFlow 2.18-2.20) leaves a '"' inside a bytes field
    unescaped, and the variables collection's ``SaveSliceInfo`` bytes hold one whenever a
    length is 34, so its .pbtxt fails every loader ("BytesList has no field named ...").
    ``text_format`` escapes it, but orders map keys and expands ``Any`` unlike ``str()``,
    so where ``str()`` is right (protobuf 4, TF 2.12-2.17; protobuf 6+) it is kept, and the
    file stays byte-identical to TensorFlow's."""
    if _str_escapes_quotes():
        return str(message)
    return text_format.MessageToString(message, as_utf8=True)


@functools.cache
def _str_escapes_quotes() -> bool:
    """Whether this protobuf's ``str()`` writes a '"' in a bytes field so that it parses
    back (checked once, on a one-value message)."""
    probe = meta_graph_pb2.CollectionDef()
    probe.bytes_list.value.append(b'"')
    parsed = meta_graph_pb2.CollectionDef()
    try:
        text_format.Parse(str(probe), parsed)
    except text_format.ParseError:
        return False
    return parsed == probe
