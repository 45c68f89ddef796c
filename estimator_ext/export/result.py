"""ExportResult: the export directory as a ``str``, and the contract's dict of mode to path."""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, KeysView, Mapping, ValuesView
from typing import Any


class ExportResult(str):
    """The path of one SavedModel holding every exported mode's MetaGraphDef.

    It *is* the path (a ``str``), so it goes straight to every TF loader::

        export = estimator_ext.export_all_saved_models(est, "exports/", receivers)
        tf.compat.v1.saved_model.loader.load(sess, ["train"], export)
        tf.saved_model.load(export, tags=["serve"])

    and it is also the contract's "dict of ModeKeys to path", for exactly the exported
    modes (all sharing the one directory)::

        export[tf.estimator.ModeKeys.TRAIN]   # the path; KeyError for a mode not exported
        dict(export)                          # {'train': path, 'eval': path, 'infer': path}

    Only string keys take the mapping meaning: integer indexing and slicing, ``len``,
    iteration and ``in`` behave as for any ``str``. Use :meth:`keys` for the modes.

    Attributes:
      saved_variables_mode: the mode whose graph the variables were written from
        (the first exported of TRAIN, EVAL, PREDICT).
      tags_by_mode: the MetaGraphDef tags of each exported mode.
      variables_strategy: how the variables were written: ``"copy"`` (the checkpoint's
        files copied as they are), ``"stream"`` (the subset the saving mode needs, one
        tensor at a time) or ``"restore-save"`` (lookup tables, custom savers).
    """

    saved_variables_mode: str
    tags_by_mode: dict[str, tuple[str, ...]]
    variables_strategy: str

    def __new__(
        cls,
        export_dir: str,
        tags_by_mode: Mapping[str, Iterable[str]],
        saved_variables_mode: str,
        variables_strategy: str = "",
    ) -> ExportResult:
        result = super().__new__(cls, export_dir)
        result.tags_by_mode = {mode: tuple(tags) for mode, tags in tags_by_mode.items()}
        result.saved_variables_mode = saved_variables_mode
        result.variables_strategy = variables_strategy
        return result

    @property
    def export_dir(self) -> str:
        """The export directory as a plain ``str``."""
        return str.__str__(self)

    def __str__(self) -> str:
        return str.__str__(self)

    def __getitem__(self, key: Any) -> str:  # str keys add the mode mapping
        if isinstance(key, str):
            if key in self.tags_by_mode:
                return self.export_dir
            raise KeyError(
                f"mode {key!r} was not exported; this export holds {sorted(self.tags_by_mode)}"
            )
        return str.__getitem__(self, key)

    def keys(self) -> KeysView[str]:
        return {mode: None for mode in self.tags_by_mode}.keys()

    def values(self) -> ValuesView[str]:
        return self.as_dict().values()

    def items(self) -> ItemsView[str, str]:
        return self.as_dict().items()

    def get(self, mode: str, default: str | None = None) -> str | None:
        return self.export_dir if mode in self.tags_by_mode else default

    def as_dict(self) -> dict[str, str]:
        """``{mode: export_dir}`` for each exported mode."""
        return {mode: self.export_dir for mode in self.tags_by_mode}

    @property
    def modes(self) -> list[str]:
        return list(self.tags_by_mode)

    def __repr__(self) -> str:
        return (
            f"ExportResult({self.export_dir!r}, modes={self.modes!r}, "
            f"saved_variables_mode={self.saved_variables_mode!r})"
        )

    def __reduce__(self) -> tuple[type[ExportResult], tuple[Any, ...]]:
        return (
            ExportResult,
            (
                self.export_dir,
                dict(self.tags_by_mode),
                self.saved_variables_mode,
                self.variables_strategy,
            ),
        )
