"""The checkpoint's catalog and checking a mode's variables against it."""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from estimator_ext._mode_names import mode_label
from estimator_ext.storage.files import gfile

#: (shape, or None when not fully known; dtype) of one checkpoint tensor or graph variable.
Spec = tuple[Optional[tuple[int, ...]], tf.dtypes.DType]


class CheckpointCatalog:
    """Names, shapes and dtypes of a checkpoint's tensors, read once from its index.

    Partitioned variables appear once, under their full name with their full shape.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        # NewCheckpointReader, not tf.train.load_checkpoint: the latter asks isdir() first,
        # which TF's ram:// filesystem answers True for any prefix of a file name.
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
        self.specs: dict[str, Spec] = {name: (tuple(shapes[name]), dtypes[name]) for name in shapes}

    @property
    def is_v2(self) -> bool:
        """True for the index + data files format TF2 writes (the only one we can copy)."""
        return gfile.exists(self.prefix + ".index")

    def data_files(self) -> list[str]:
        """The checkpoint's ``.data-*`` files, sorted."""
        return sorted(gfile.glob(self.prefix + ".data-*"))

    def nbytes(self, name: str) -> int | None:
        """Size of tensor ``name`` in memory; None when unknown (strings)."""
        shape, dtype = self.specs[name]
        return tensor_nbytes(shape, dtype)


def tensor_nbytes(shape: tuple[int, ...] | None, dtype: tf.dtypes.DType) -> int | None:
    """Bytes of a tensor in memory; None when unknown (strings, an unknown shape)."""
    if shape is None or dtype == tf.string:
        return None
    return int(np.prod(shape, dtype=np.int64)) * dtype.size


def check_against(
    mode: str, needed: dict[str, Spec], available: dict[str, Spec], source: str
) -> None:
    """Raises ValueError listing every variable ``mode`` needs that ``available`` lacks."""
    missing = sorted(set(needed) - set(available))
    mismatched = [
        f"{name}: graph {_spec_text(needed[name])}, {source} {_spec_text(available[name])}"
        for name in sorted(set(needed) & set(available))
        if not _compatible(needed[name], available[name])
    ]
    if missing or mismatched:
        lines = []
        if missing:
            lines.append(f"missing from {source}: {', '.join(missing)}")
        if mismatched:
            lines.append("different shape or dtype: " + "; ".join(mismatched))
        raise ValueError(
            f"The {mode_label(mode)} graph needs variables the checkpoint cannot supply ("
            + " | ".join(lines)
            + "). Make sure the model_fn builds the same variables in every mode as in "
            "training, or export from a checkpoint of this model (checkpoint_path=)."
        )


def _compatible(needed: Spec, available: Spec) -> bool:
    needed_shape, needed_dtype = needed
    available_shape, available_dtype = available
    if needed_dtype != available_dtype:
        return False
    if needed_shape is None or available_shape is None:
        return True
    return tuple(needed_shape) == tuple(available_shape)


def _spec_text(spec: Spec) -> str:
    shape, dtype = spec
    return f"{dtype.name}{list(shape) if shape is not None else '[?]'}"
