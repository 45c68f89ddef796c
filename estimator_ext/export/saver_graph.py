"""A mode graph's default sharded Saver, built with one GraphDef import instead of op by op.

Every mode graph of the SavedModel needs the Saver the Estimator would use,
``tf.compat.v1.train.Saver(sharded=True)``: its SaverDef names the ops a loader runs to
restore the variables. TF's Saver creates those ops one Python call at a time, about six
per partition variable: with thousands of partition variables (partitioned embeddings and
their optimizer slots) that is over a second per mode graph, on every export, for ops
that are only ever run by whoever loads the SavedModel.

Here the very same nodes (names, op types, inputs, devices and attributes; a test
compares them node for node with TF's Saver) are written as NodeDefs and added to the
graph by one ``import_graph_def``, which creates them in C++; the SaverDef is then
wrapped in a ``Saver`` as TF would describe it, so nothing downstream changes. This holds
for what the nodes are known for: graphs whose variables are all resource variables (or
partitions of them) with no device or caching device, and no other saveables, on the
TensorFlow versions where the nodes were compared with TF's
(``tf_private.SAVER_NODES_VERIFIED``: 2.12-2.15; TF's Saver may build other nodes on a
newer one). Any
other graph, or TensorFlow, gets TF's own Saver, built as before.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2
from tensorflow.core.protobuf import saver_pb2

from estimator_ext._tf_private import members as tf_private

# The scope the imported graph refers to the variables' tensors by (input_map keys);
# never the name of a node of the Saver itself.
_INPUT = "estimator_ext_input_"
_CPU_ANY = "/device:CPU:*"
_CPU_0 = "/device:CPU:0"


@dataclasses.dataclass(frozen=True)
class _Saveable:
    """One tensor the Saver saves: its checkpoint key and slice, the variable's handle,
    and the tensor saved (None: a partition, read by the Saver's own ops)."""

    key: str
    slice_spec: str
    dtype: tf.dtypes.DType
    handle: Any
    value: Any | None


def default_saver(graph: tf.Graph) -> Any:
    """The Saver TF's ``Saver(sharded=True, allow_empty=True)`` would give ``graph``.

    Built by one GraphDef import when every saveable is a plain resource variable or
    partition and the TensorFlow version is a verified one (see the module docstring);
    otherwise by TF's Saver itself. Either way
    the graph gets the same ``save/`` nodes and the same SaverDef.
    """
    saveables = _plain_saveables(graph)
    if not saveables or not tf_private.saver_nodes_verified():
        return tf.compat.v1.train.Saver(sharded=True, allow_empty=True)
    return _imported_saver(graph, saveables)


def _imported_saver(graph: tf.Graph, saveables: list[_Saveable]) -> Any:
    """Adds the Saver's nodes for ``saveables`` to ``graph`` by one import; its Saver."""
    with tf.compat.v1.name_scope(None, "save") as scope:
        pass
    graph_def, input_map = _saver_graph_def(saveables)
    # Importing lowers the graph's producer version to the imported one's: keep it.
    graph_def.versions.CopyFrom(graph.graph_def_versions)
    tf.graph_util.import_graph_def(graph_def, input_map=input_map, name=scope)
    return tf.compat.v1.train.Saver(saver_def=_saver_def(scope, saveables))


def _plain_saveables(graph: tf.Graph) -> list[_Saveable] | None:
    """What TF's default Saver would save, in its order; None unless all plain resources."""
    if graph.get_collection(tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS):
        return None
    variables = graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
    if any(v.device or tf_private.caching_device(v) is not None for v in variables):
        return None
    found = []
    for saveable in tf_private.default_saver_saveables(variables):
        parts = tf_private.resource_variable_save_parts(saveable)
        if parts is None:
            return None
        spec = saveable.specs[0]
        dtype = tf.dtypes.as_dtype(spec.dtype).base_dtype
        if spec.device or dtype in (tf.resource, tf.variant):
            return None
        handle, value = parts
        found.append(_Saveable(spec.name, spec.slice_spec, dtype, handle, value))
    return found


def _saver_def(scope: str, saveables: list[_Saveable]) -> Any:
    """The SaverDef TF's ``Saver(sharded=True)`` writes for these nodes."""
    partitions = sum(1 for item in saveables if item.value is None)
    return saver_pb2.SaverDef(
        filename_tensor_name=f"{scope}Const:0",
        save_tensor_name=f"{scope}{_numbered('Identity', 2 * partitions)}:0",
        restore_op_name=f"{scope}restore_all",
        max_to_keep=5,
        sharded=True,
        keep_checkpoint_every_n_hours=10000.0,
        version=saver_pb2.SaverDef.V2,
    )


def _numbered(base: str, index: int) -> str:
    """TF's unique op names: ``base``, then ``base_1``, ``base_2``..."""
    return base if index == 0 else f"{base}_{index}"


class _GraphDefWriter:
    """Appends NodeDefs to a GraphDef; ``external`` names a tensor outside it."""

    def __init__(self) -> None:
        self.graph_def = graph_pb2.GraphDef()
        self.input_map: dict[str, Any] = {}
        self._external: dict[str, str] = {}

    def external(self, tensor: Any) -> str:
        name = self._external.get(tensor.name)
        if name is None:
            name = f"{_INPUT}{len(self._external)}"
            self._external[tensor.name] = name
            self.input_map[name + ":0"] = tensor
        return name

    def node(self, name: str, op: str, inputs: list[str], device: str = "", **attrs: Any) -> None:
        node = node_def_pb2.NodeDef(name=name, op=op, input=inputs, device=device)
        for key, value in attrs.items():
            node.attr[key].CopyFrom(value)
        self.graph_def.node.append(node)


def _type(dtype: tf.dtypes.DType) -> Any:
    return attr_value_pb2.AttrValue(type=dtype.as_datatype_enum)


def _types(dtypes: list[tf.dtypes.DType]) -> Any:
    listed = attr_value_pb2.AttrValue.ListValue(type=[d.as_datatype_enum for d in dtypes])
    return attr_value_pb2.AttrValue(list=listed)


def _flag(value: bool) -> Any:
    return attr_value_pb2.AttrValue(b=value)


def _const_attrs(value: Any, dtype: tf.dtypes.DType) -> dict[str, Any]:
    tensor = tf.compat.v1.make_tensor_proto(value, dtype=dtype)
    return {"value": attr_value_pb2.AttrValue(tensor=tensor), "dtype": _type(dtype)}


def _scalar_shape() -> Any:
    return attr_value_pb2.AttrValue(shape=tf.TensorShape([]).as_proto())


def _saver_graph_def(saveables: list[_Saveable]) -> tuple[Any, dict[str, Any]]:
    """The nodes of ``Saver(sharded=True)`` over one device group, relative to its scope."""
    writer = _GraphDefWriter()
    _filename_nodes(writer)
    save_tensor = _save_nodes(writer, saveables)
    _restore_nodes(writer, saveables, first_identity=save_tensor + 1)
    return writer.graph_def, writer.input_map


def _filename_nodes(writer: _GraphDefWriter) -> None:
    """The filename placeholder and the sharded temporary prefix (TF's save scope head)."""
    string, int32 = tf.string, tf.int32
    writer.node("filename/input", "Const", [], **_const_attrs("model", string))
    for name, source in (("filename", "filename/input"), ("Const", "filename")):
        attrs = {"shape": _scalar_shape(), "dtype": _type(string)}
        writer.node(name, "PlaceholderWithDefault", [source], **attrs)
    pattern = attr_value_pb2.AttrValue(s=b"^s3://.*")
    writer.node(
        "StaticRegexFullMatch", "StaticRegexFullMatch", ["Const"], _CPU_ANY, pattern=pattern
    )
    writer.node("Const_1", "Const", [], _CPU_ANY, **_const_attrs(".part", string))
    temp = os.path.normpath("_temp/part")
    writer.node("Const_2", "Const", [], _CPU_ANY, **_const_attrs(temp, string))
    select_inputs = ["StaticRegexFullMatch", "Const_1", "Const_2"]
    writer.node("Select", "Select", select_inputs, _CPU_ANY, T=_type(string))
    join_attrs = {"separator": attr_value_pb2.AttrValue(s=b""), "N": attr_value_pb2.AttrValue(i=2)}
    writer.node("StringJoin", "StringJoin", ["Const", "Select"], _CPU_ANY, **join_attrs)
    writer.node("num_shards", "Const", [], **_const_attrs(1, int32))
    writer.node("ShardedFilename/shard", "Const", [], _CPU_0, **_const_attrs(0, int32))
    sharded_inputs = ["StringJoin", "ShardedFilename/shard", "num_shards"]
    writer.node("ShardedFilename", "ShardedFilename", sharded_inputs, _CPU_0)


def _save_nodes(writer: _GraphDefWriter, saveables: list[_Saveable]) -> int:
    """SaveV2 of every saveable, then the merge; returns the number of the save tensor's
    Identity (the SaverDef's ``save_tensor_name``)."""
    values = []
    identities = 0
    for item in saveables:
        if item.value is not None:
            values.append(writer.external(item.value))
            continue
        # A partition: read without a copy, then copied to the CPU (TF's read closure).
        read = _numbered("Read", identities // 2)
        handle = writer.external(item.handle)
        writer.node(f"{read}/DisableCopyOnRead", "DisableCopyOnRead", [handle], _CPU_0)
        writer.node(
            f"{read}/ReadVariableOp", "ReadVariableOp", [handle], _CPU_0, dtype=_type(item.dtype)
        )
        first, second = _numbered("Identity", identities), _numbered("Identity", identities + 1)
        writer.node(first, "Identity", [f"{read}/ReadVariableOp"], _CPU_0, T=_type(item.dtype))
        writer.node(second, "Identity", [first], _CPU_0, T=_type(item.dtype))
        values.append(second)
        identities += 2
    _names_and_slices(writer, "SaveV2", saveables)
    save_attrs = {
        "dtypes": _types([item.dtype for item in saveables]),
        "_has_manual_control_dependencies": _flag(True),
    }
    save_inputs = ["ShardedFilename", "SaveV2/tensor_names", "SaveV2/shape_and_slices", *values]
    writer.node("SaveV2", "SaveV2", save_inputs, _CPU_0, **save_attrs)
    colocation = attr_value_pb2.AttrValue(
        list=attr_value_pb2.AttrValue.ListValue(s=[b"loc:@ShardedFilename"])
    )
    writer.node(
        "control_dependency",
        "Identity",
        ["ShardedFilename", "^SaveV2"],
        _CPU_0,
        _has_manual_control_dependencies=_flag(True),
        _class=colocation,
        T=_type(tf.string),
    )
    pack_attrs = {
        "axis": attr_value_pb2.AttrValue(i=0),
        "T": _type(tf.string),
        "N": attr_value_pb2.AttrValue(i=1),
    }
    prefixes = "MergeV2Checkpoints/checkpoint_prefixes"
    writer.node(prefixes, "Pack", ["ShardedFilename", "^control_dependency"], _CPU_0, **pack_attrs)
    merge_attrs = {
        "delete_old_dirs": _flag(True),
        "allow_missing_files": _flag(False),
        "_has_manual_control_dependencies": _flag(True),
    }
    writer.node(
        "MergeV2Checkpoints", "MergeV2Checkpoints", [prefixes, "Const"], _CPU_0, **merge_attrs
    )
    save_inputs = ["Const", "^MergeV2Checkpoints", "^control_dependency"]
    writer.node(
        _numbered("Identity", identities), "Identity", save_inputs, _CPU_0, T=_type(tf.string)
    )
    return identities


def _names_and_slices(writer: _GraphDefWriter, op: str, saveables: list[_Saveable]) -> None:
    keys = [item.key for item in saveables]
    slices = [item.slice_spec for item in saveables]
    writer.node(f"{op}/tensor_names", "Const", [], _CPU_0, **_const_attrs(keys, tf.string))
    writer.node(f"{op}/shape_and_slices", "Const", [], _CPU_0, **_const_attrs(slices, tf.string))


def _restore_nodes(
    writer: _GraphDefWriter, saveables: list[_Saveable], first_identity: int
) -> None:
    """One RestoreV2 of every saveable, each output assigned to its variable."""
    _names_and_slices(writer, "RestoreV2", saveables)
    restore_inputs = ["Const", "RestoreV2/tensor_names", "RestoreV2/shape_and_slices"]
    dtypes = _types([item.dtype for item in saveables])
    writer.node("RestoreV2", "RestoreV2", restore_inputs, _CPU_0, dtypes=dtypes)
    assigns = []
    for index, item in enumerate(saveables):
        identity = _numbered("Identity", first_identity + index)
        output = "RestoreV2" if index == 0 else f"RestoreV2:{index}"
        writer.node(identity, "Identity", [output], T=_type(item.dtype))
        assign = _numbered("AssignVariableOp", index)
        writer.node(
            assign,
            "AssignVariableOp",
            [writer.external(item.handle), identity],
            validate_shape=_flag(False),
            dtype=_type(item.dtype),
            _has_manual_control_dependencies=_flag(True),
        )
        assigns.append("^" + assign)
    writer.node("restore_shard", "NoOp", assigns, _has_manual_control_dependencies=_flag(True))
    writer.node("restore_all", "NoOp", ["^restore_shard"])
