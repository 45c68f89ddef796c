"""A SavedModel's meta graphs (tags, signatures, train op), in the short form the examples print.

Built on :func:`estimator_ext.inspect.describe`, which reads the SavedModel's protocol
buffer without loading any graph (what ``estimator-ext inspect --json`` prints): the
examples use it to show what one ``export_all_saved_models`` call wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from estimator_ext import inspect


def describe_tensor(tensor: Mapping[str, Any]) -> str:
    """``float32 [-1]``: dtype and shape (-1 for a free dimension, ``?`` for unknown rank)."""
    shape = tensor["shape"]
    dims = (
        "?"
        if shape is None
        else "[" + ", ".join(str(-1 if dim is None else dim) for dim in shape) + "]"
    )
    return f"{tensor['dtype'] or '?'} {dims}"


def describe_saved_model(export_dir: str) -> list[dict[str, Any]]:
    """One dict per meta graph: ``tags``, ``has_train_op`` and ``signatures``.

    ``signatures`` maps each SignatureDef key to ``{"inputs": {key: "dtype shape"},
    "outputs": {key: "dtype shape"}}``, keys sorted.
    """
    return [
        {
            "tags": meta_graph["tags"],
            "has_train_op": meta_graph["has_train_op"],
            "signatures": {
                name: {
                    "inputs": {
                        key: describe_tensor(info) for key, info in signature["inputs"].items()
                    },
                    "outputs": {
                        key: describe_tensor(info) for key, info in signature["outputs"].items()
                    },
                }
                for name, signature in meta_graph["signatures"].items()
            },
        }
        for meta_graph in inspect.describe(export_dir)["meta_graphs"]
    ]
