"""What a mode's saver saves: from its graph, and as a graph-free description."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Union

import tensorflow as tf

from estimator_ext._tf_private import members as tf_private
from estimator_ext.variables.catalog import Spec

if TYPE_CHECKING:  # the export stage's type; variables/ never imports export/ at run time
    from estimator_ext.export.mode_graph import ModeGraph

SavedEntry = Union[Any, list[Any]]  # a variable's tensor, or the partitions of one variable


def saved_entries(mode_graph: ModeGraph) -> dict[str, SavedEntry] | None:
    """Checkpoint key -> variable (or list of partitions) the mode's saver saves, or None.

    None means metadata cannot describe what the saver writes: a custom saver, or
    saveables that are not variables (lookup tables), whose keys only they know.
    """
    graph = mode_graph.graph
    if not mode_graph.uses_default_saver:
        return None
    if graph.get_collection(tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS):
        return None
    return tf_private.saveable_names(graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES))


def plain_variable_specs(mode_graph: ModeGraph) -> dict[str, Spec] | None:
    """Checkpoint key -> (shape, dtype) of what the mode's saver saves, or None.

    None means the mode cannot be checked by metadata: it has a custom saver, or
    saveables that are not variables (lookup tables), whose keys and shapes only the
    saveable itself knows.
    """
    entries = saved_entries(mode_graph)
    return None if entries is None else specs_of(entries)


def specs_of(entries: dict[str, SavedEntry]) -> dict[str, Spec]:
    """Checkpoint key -> (shape, dtype) of each entry; a partitioned one has its full shape."""
    specs: dict[str, Spec] = {}
    for name, variable in entries.items():
        if isinstance(variable, (list, tuple)):  # a partitioned variable: saved as one tensor
            first = variable[0]
            shape: tuple[int, ...] | None = tuple(tf_private.save_slice_info(first).full_shape)
            dtype = first.dtype.base_dtype
        else:
            static = variable.shape
            shape = tuple(static.as_list()) if static.is_fully_defined() else None
            dtype = variable.dtype.base_dtype
        specs[name] = (shape, dtype)
    return specs


@dataclasses.dataclass(frozen=True)
class PartitionSlice:
    """One partition of a partitioned variable, as the default Saver writes it."""

    slice_spec: str  # the Saver's "full shape + offset,length:..." string
    offset: tuple[int, ...]
    shape: tuple[int, ...]
    dtype: tf.dtypes.DType


@dataclasses.dataclass(frozen=True)
class SavedVariables:
    """What a mode's default saver saves, described without its graph.

    It is all the "copy" and "stream" strategies need (``strategies.py``, ``stream.py``),
    so it can be kept after the graph is released and serve later exports of the same
    graphs: each checkpoint key's (shape, dtype), and each partitioned variable's slices.

    Attributes:
      specs: checkpoint key -> (shape, dtype); a partitioned variable has its full shape.
      partitions: checkpoint key -> its partitions, for the partitioned variables only.
    """

    specs: dict[str, Spec]
    partitions: dict[str, tuple[PartitionSlice, ...]]


def describe_saved(mode_graph: ModeGraph) -> SavedVariables | None:
    """The graph-free :class:`SavedVariables` of the mode's saver, or None.

    None as for :func:`saved_entries`: a custom saver or lookup tables, which only a
    restore through the graph can write.
    """
    entries = saved_entries(mode_graph)
    if entries is None:
        return None
    partitions = {}
    for name, entry in entries.items():
        if isinstance(entry, (list, tuple)):
            infos = [(tf_private.save_slice_info(part), part.dtype.base_dtype) for part in entry]
            partitions[name] = tuple(
                PartitionSlice(info.spec, tuple(info.var_offset), tuple(info.var_shape), dtype)
                for info, dtype in infos
            )
    return SavedVariables(specs_of(entries), partitions)
