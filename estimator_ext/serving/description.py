"""Describing a SavedModel as plain Python data: what ``estimator-ext inspect`` prints.

:func:`describe` reads the SavedModel protocol buffer (``saved_model_file.py``): no graph is
imported, no session is created and no private loader is used, so it works on any store
TensorFlow can read and on exports too large to load. :func:`format_description` turns the
description into the table the CLI prints. The public face is :mod:`estimator_ext.inspect`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from estimator_ext.serving.saved_model_file import files_under, read_saved_model
from estimator_ext.storage import paths

#: The collection in which TF (and estimator_ext) stores a TRAIN graph's train op.
TRAIN_OP_COLLECTION = "saved_model_train_op"


#: Graph ops that hold a variable (resource variables, then TF1 reference variables).
VARIABLE_OPS = ("VarHandleOp", "VariableV2", "Variable")


def describe(
    export_dir: str | os.PathLike[str], *, argument_name: str = "export_dir"
) -> dict[str, Any]:
    """A JSON-ready description of the SavedModel in ``export_dir``: what
    ``estimator-ext inspect --json`` prints.

    ``{"export_dir", "variables": {"files", "bytes"}, "assets", "assets_extra",
    "meta_graphs": [{"tags", "signatures": {key: {"method_name", "inputs", "outputs"}},
    "has_train_op", "variables": {"count", "bytes"}, "assets", "tensorflow_version"}]}``.

    Each input and output is ``{"name", "dtype", "shape"}``: ``name`` is the tensor's
    name (a dict of ``values``/``indices``/``dense_shape`` names for a sparse tensor),
    ``shape`` a list with ``None`` for unknown dimensions, or ``None`` for an unknown
    rank. Signatures and their inputs and outputs are sorted by key; meta graphs keep
    their order in the file. ``variables`` of the SavedModel counts the files in
    ``variables/`` and their bytes on disk; a meta graph's ``variables`` counts the
    variable ops of its graph and the bytes their shapes and dtypes take in memory
    (strings and unknown shapes count 0 bytes). ``has_train_op`` is True when the
    ``saved_model_train_op`` collection holds an op.

    Args:
      export_dir: the SavedModel's directory (an integer-named export), local or any
        ``tf.io.gfile`` URL.
      argument_name: how error messages name ``export_dir`` (the CLI says ``EXPORT_DIR``).

    Raises:
      NotASavedModelError: ``export_dir`` does not exist, is a file, or has no
        ``saved_model.pb``/``saved_model.pbtxt`` (for a directory of exports, the
        message names the newest export in it).
      UnreadableSavedModelError: the SavedModel file cannot be read or parsed.
    """
    export_dir = os.fspath(export_dir)
    saved_model = read_saved_model(export_dir, argument_name=argument_name)
    variables_files = files_under(paths.join(export_dir, "variables"))
    return {
        "export_dir": export_dir,
        "variables": {
            "files": len(variables_files),
            "bytes": sum(size for _, size in variables_files),
        },
        "assets": [name for name, _ in files_under(paths.join(export_dir, "assets"))],
        "assets_extra": [name for name, _ in files_under(paths.join(export_dir, "assets.extra"))],
        "meta_graphs": [_describe_meta_graph(meta_graph) for meta_graph in saved_model.meta_graphs],
    }


def _describe_meta_graph(meta_graph: Any) -> dict[str, Any]:
    collection = meta_graph.collection_def.get(TRAIN_OP_COLLECTION)
    has_train_op = collection is not None and any(
        len(getattr(collection, kind).value) for kind in ("node_list", "bytes_list", "any_list")
    )
    count, size = _variables_size(meta_graph.graph_def)
    return {
        "tags": list(meta_graph.meta_info_def.tags),
        "signatures": {
            key: {
                "method_name": signature.method_name,
                "inputs": _tensor_infos(signature.inputs),
                "outputs": _tensor_infos(signature.outputs),
            }
            for key, signature in sorted(meta_graph.signature_def.items())
        },
        "has_train_op": has_train_op,
        "variables": {"count": count, "bytes": size},
        "assets": sorted(asset.filename for asset in meta_graph.asset_file_def),
        "tensorflow_version": meta_graph.meta_info_def.tensorflow_version,
    }


def _tensor_infos(infos: Any) -> dict[str, dict[str, Any]]:
    return {name: _tensor_info(info) for name, info in sorted(infos.items())}


def _tensor_info(info: Any) -> dict[str, Any]:
    encoding = info.WhichOneof("encoding")
    name: Any
    if encoding == "coo_sparse":
        name = {
            "values": info.coo_sparse.values_tensor_name,
            "indices": info.coo_sparse.indices_tensor_name,
            "dense_shape": info.coo_sparse.dense_shape_tensor_name,
        }
    elif encoding == "name":
        name = info.name
    else:
        name = encoding
    dtype = tf.dtypes.as_dtype(info.dtype).name if info.dtype else None
    shape: list[int | None] | None
    if info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = [dim.size if dim.size >= 0 else None for dim in info.tensor_shape.dim]
    return {"name": name, "dtype": dtype, "shape": shape}


def _variables_size(graph_def: Any) -> tuple[int, int]:
    """(number of variables, their bytes) from the graph's variable ops' shapes and dtypes."""
    count, size = 0, 0
    for node in graph_def.node:
        if node.op not in VARIABLE_OPS:
            continue
        count += 1
        shape = node.attr["shape"].shape
        dims = [dim.size for dim in shape.dim]
        try:
            dtype = tf.dtypes.as_dtype(node.attr["dtype"].type)
        except TypeError:
            continue
        unsized = dtype in (tf.string, tf.resource, tf.variant)
        if shape.unknown_rank or any(dim < 0 for dim in dims) or unsized:
            continue
        elements = 1
        for dim in dims:
            elements *= dim
        size += elements * dtype.size
    return count, size


def format_description(description: Mapping[str, Any]) -> str:
    """The readable table ``estimator-ext inspect`` prints without ``--json``."""
    variables = description["variables"]
    lines = [
        f"SavedModel {description['export_dir']}",
        f"  variables/     {variables['files']} files, {format_size(variables['bytes'])}",
        f"  assets/        {', '.join(description['assets']) or '(none)'}",
        f"  assets.extra/  {', '.join(description['assets_extra']) or '(none)'}",
    ]
    for index, meta_graph in enumerate(description["meta_graphs"], start=1):
        graph_variables = meta_graph["variables"]
        version = meta_graph["tensorflow_version"]
        lines += [
            "",
            f"MetaGraph {index}: tags {', '.join(meta_graph['tags'])}"
            + (f"  (TensorFlow {version})" if version else ""),
            f"  train op:   {'yes' if meta_graph['has_train_op'] else 'no'}",
            f"  variables:  {graph_variables['count']} ({format_size(graph_variables['bytes'])})",
            f"  assets:     {', '.join(meta_graph['assets']) or '(none)'}",
        ]
        for key, signature in meta_graph["signatures"].items():
            lines.append(f"  signature {key!r} ({signature['method_name']})")
            rows = [("input", name, info) for name, info in signature["inputs"].items()]
            rows += [("output", name, info) for name, info in signature["outputs"].items()]
            lines += _table([_row(kind, name, info) for kind, name, info in rows])
    return "\n".join(lines)


def _row(kind: str, name: str, info: Mapping[str, Any]) -> tuple[str, ...]:
    return kind, name, info["dtype"] or "?", _shape_text(info["shape"]), _name_text(info["name"])


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return ["    (no inputs or outputs)"]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return [
        "    " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
        for row in rows
    ]


def _shape_text(shape: list[int | None] | None) -> str:
    if shape is None:
        return "<unknown>"
    dims = ", ".join("None" if dim is None else str(dim) for dim in shape)
    return "(" + dims + ("," if len(shape) == 1 else "") + ")"


def _name_text(name: Any) -> str:
    if isinstance(name, dict):
        return ", ".join(f"{part}={tensor}" for part, tensor in name.items())
    return str(name)


def format_size(size: int) -> str:
    """``512 B``, ``1.5 KiB (1536 B)``, ... up to GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit} ({size} B)"
        value /= 1024
    return f"{size} B"  # pragma: no cover
