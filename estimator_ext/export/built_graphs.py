"""What building an export's graphs produced, kept without the graphs, and written again.

Building the graphs (each mode's receiver and ``model_fn``, its signatures and Saver) is
almost all of an export's cost, and it gives the same result for every checkpoint of a
model. :func:`keep_built` keeps that result once ``saved_model.pb`` is written:

* ``saved_model.pb`` (or ``.pbtxt``) exactly as it was written: every mode's
  MetaGraphDef after ``strip_default_attrs``, its tags, signatures, collections, main op,
  train op and SaverDef (the bytes already in hand: nothing is read back or parsed);
* what the saving mode's Saver saves, as a graph-free description
  (:class:`~estimator_ext.variables.saved_entries.SavedVariables`), and what every mode
  needs from the variables (checkpoint key -> shape and dtype);
* the asset files the graphs' asset collections name: each one's name under ``assets/``
  and source file (as ``saved_model_proto.SerializedSavedModel`` added them), with the
  source's size and modification time.

:func:`write_built` writes an export from that for a new checkpoint, without calling a
receiver or ``model_fn``: the checkpoint's variables (copied, or the subset streamed, as
for any export), the assets copied as the builder copies them (a missing source is
skipped, as it does), then the stored ``saved_model.pb`` byte for byte.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from estimator_ext.storage import paths
from estimator_ext.storage.copying import copy_file
from estimator_ext.storage.files import gfile
from estimator_ext.variables.catalog import CheckpointCatalog, Spec, check_against
from estimator_ext.variables.saved_entries import SavedVariables
from estimator_ext.variables.strategies import (
    RESTORE_SAVE,
    WriteOptions,
    WrittenVariables,
    write_described_variables,
)


@dataclasses.dataclass(frozen=True)
class AssetSource:
    """One file of the SavedModel's ``assets/``: its name there, where it is copied from,
    and that source's size and modification time (None: missing) when the graphs were built.
    """

    filename: str
    source: str
    size: int | None
    mtime_nsec: int | None


@dataclasses.dataclass(frozen=True)
class BuiltGraphs:
    """Everything an export writes that does not depend on the checkpoint's values.

    Attributes:
      saved_model_name: ``saved_model.pb`` or ``saved_model.pbtxt``.
      saved_model: that file's bytes, as the export wrote them.
      tags_by_mode: each exported mode's MetaGraphDef tags, in export order.
      saving_mode: the mode whose Saver writes the variables (the first one).
      saved_variables: what that Saver saves, without its graph.
      specs_by_mode: checkpoint key -> (shape, dtype) each mode's Saver restores.
      assets: the files of ``assets/``.
    """

    saved_model_name: str
    saved_model: bytes
    tags_by_mode: dict[str, tuple[str, ...]]
    saving_mode: str
    saved_variables: SavedVariables
    specs_by_mode: dict[str, dict[str, Spec]]
    assets: tuple[AssetSource, ...]

    @property
    def nbytes(self) -> int:
        """Bytes of the stored protocol buffers (the ``saved_model.pb`` kept)."""
        return len(self.saved_model)


def keep_built(
    saved_model_name: str,
    saved_model: bytes,
    asset_sources: Mapping[str, str],
    tags_by_mode: Mapping[str, tuple[str, ...]],
    written: WrittenVariables,
    specs_by_mode: Mapping[str, dict[str, Spec] | None],
) -> BuiltGraphs | str:
    """What the export just written needs to be written again.

    ``saved_model`` is the content of its ``saved_model_name`` file, ``asset_sources``
    each asset's name under ``assets/`` -> its source file. Returns the reason instead
    when the export cannot be written without its graphs: a mode whose variables only a
    restore through its graph can write or check (lookup tables such as ``LinearSDCA``'s,
    a custom or object-based ``Scaffold.saver``: the "restore-save" strategy).
    """
    for mode, specs in specs_by_mode.items():
        if specs is None:
            return (
                f"the {mode!r} graph's variables need the restore-save strategy (lookup "
                "tables or a custom Scaffold.saver), which restores them through the graph"
            )
    saving_mode = next(iter(tags_by_mode))
    if written.strategy == RESTORE_SAVE or written.saved is None:
        return f"the {saving_mode!r} graph's variables were written by restore-save"
    return BuiltGraphs(
        saved_model_name=saved_model_name,
        saved_model=saved_model,
        tags_by_mode=dict(tags_by_mode),
        saving_mode=saving_mode,
        saved_variables=written.saved,
        specs_by_mode={mode: dict(specs or {}) for mode, specs in specs_by_mode.items()},
        assets=tuple(
            AssetSource(filename, source, *_size_and_mtime(source))
            for filename, source in asset_sources.items()
        ),
    )


def changed_assets(built: BuiltGraphs) -> list[str]:
    """The asset sources whose size or modification time is not what it was at the build."""
    return [
        asset.source
        for asset in built.assets
        if _size_and_mtime(asset.source) != (asset.size, asset.mtime_nsec)
    ]


def write_built(
    built: BuiltGraphs,
    catalog: CheckpointCatalog,
    export_dir: str,
    session_config: Any,
    options: WriteOptions,
) -> WrittenVariables:
    """Writes the variables of ``catalog``, the assets and the stored ``saved_model.pb``.

    Raises:
      ValueError: a mode needs variables the checkpoint cannot supply (checked first).
    """
    written = write_described_variables(
        built.saved_variables,
        built.saving_mode,
        catalog,
        export_dir,
        session_config,
        options,
    )
    assert written.specs is not None  # "copy" or "stream": plain variables
    for mode, specs in built.specs_by_mode.items():
        if mode != built.saving_mode:
            check_against(mode, specs, written.specs, "the exported variables")
    if built.assets:
        assets_dir = paths.join(export_dir, tf.saved_model.ASSETS_DIRECTORY)
        gfile.makedirs(assets_dir)
        for asset in built.assets:
            if gfile.exists(asset.source):  # the builder skips a missing source too
                destination = paths.join(assets_dir, asset.filename)
                copy_file(asset.source, destination, "copying the assets", asset.size or 0)
    saved_model_path = paths.join(export_dir, built.saved_model_name)
    gfile.write_bytes(saved_model_path, built.saved_model, "writing the SavedModel file")
    return written


def saved_model_name(as_text: bool) -> str:
    """``saved_model.pbtxt`` for a text export, else ``saved_model.pb``."""
    if as_text:
        return str(tf.saved_model.SAVED_MODEL_FILENAME_PBTXT)
    return str(tf.saved_model.SAVED_MODEL_FILENAME_PB)


def _size_and_mtime(path: str) -> tuple[int | None, int | None]:
    try:
        stat = gfile.stat(path)
    except (tf.errors.NotFoundError, FileNotFoundError):
        return None, None
    return int(stat.length), int(stat.mtime_nsec)
