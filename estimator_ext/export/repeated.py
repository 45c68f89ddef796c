"""plan_export and ExportPlan: one export planned once, written for checkpoint after checkpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import tensorflow as tf

from estimator_ext.export import plan as planning
from estimator_ext.export.result import ExportResult
from estimator_ext.export.reuse import GraphReuse
from estimator_ext.export.write import write_plan


class ExportPlan:
    """An export planned once and written for each new checkpoint, its graphs built once.

    Code that exports in a loop (a trainer's checkpoints, a sidecar watching a
    ``model_dir``) plans the export once, with every argument checked, and calls
    :meth:`export` for each checkpoint::

        plan = estimator_ext.plan_export(estimator, "exports/", receivers)
        for checkpoint in new_checkpoints():
            export_dir = plan.export(checkpoint)   # an ExportResult, as export_all_saved_models

    The first export builds the graphs (each mode's receiver and ``model_fn``) as
    :func:`estimator_ext.export_all_saved_models` does and keeps what they produced: the
    ``saved_model.pb``, what each mode's Saver restores and the asset files. Later exports
    write the new checkpoint's variables with that ``saved_model.pb`` and those assets,
    without calling a receiver or ``model_fn``: the same SavedModel, at the speed of a copy.
    The graphs are built again, with one INFO record on the ``estimator_ext`` logger saying
    why, when the estimator's ``model_fn``, ``params`` or ``config``, an asset file, or the
    checkpoint's variables no longer match; lookup tables and custom savers are built for
    every export (see ``docs/exporter.md``, "Repeated exports").

    Make it with :func:`estimator_ext.plan_export`.

    Attributes:
      export_dir_base: the directory each export's timestamped subdirectory goes into.
      modes: the exported modes, in export order.
      reuse_graphs: whether later exports reuse the first one's graphs.
    """

    def __init__(self, checked: planning.CheckedPlan, reuse_graphs: bool) -> None:
        self._checked = checked
        self._reuse = GraphReuse() if reuse_graphs else None

    @property
    def export_dir_base(self) -> str:
        return self._checked.export_dir_base

    @property
    def modes(self) -> tuple[str, ...]:
        return self._checked.options.modes

    @property
    def reuse_graphs(self) -> bool:
        return self._reuse is not None

    @property
    def stored_bytes(self) -> int:
        """Bytes of graphs kept between exports (the ``saved_model.pb``); 0 when none are."""
        built = self._reuse.built if self._reuse is not None else None
        return built.nbytes if built is not None else 0

    def export(self, checkpoint_path: str | None = None) -> ExportResult:
        """Writes one export from ``checkpoint_path`` (None: the latest) and publishes it.

        It is written and published as :func:`estimator_ext.export_all_saved_models`
        writes one (nothing is left behind on error), with the same result and errors.
        """
        return write_plan(self._checked, checkpoint_path, self._reuse)

    def __repr__(self) -> str:
        return (
            f"ExportPlan({self.export_dir_base!r}, modes={list(self.modes)!r}, "
            f"reuse_graphs={self.reuse_graphs})"
        )


def plan_export(
    estimator: tf.estimator.Estimator,
    export_dir_base: str,
    input_receiver_fn_map: Mapping[str, Callable[[], Any]],
    assets_extra: Mapping[str, str] | None = None,
    as_text: bool = False,
    strip_default_attrs: bool = False,
    warmup_requests: Sequence[Any] | None = None,
    reuse_graphs: bool = True,
) -> ExportPlan:
    """Plans exports of ``estimator``'s modes, to write one per checkpoint with ``.export()``.

    The arguments are :func:`estimator_ext.export_all_saved_models`'s (without
    ``checkpoint_path``, which each :meth:`ExportPlan.export` takes), checked now.

    Args:
      reuse_graphs: True to build the graphs once and write them again for later
        checkpoints while nothing they depend on changed; False to build them for every
        export, for receivers or a ``model_fn`` that read state which changes between
        exports without the estimator's ``params`` or ``config`` changing (a file they
        read that is not an asset, a global, the clock).

    Returns:
      An :class:`ExportPlan`.

    Raises:
      TypeError / ValueError: an argument is invalid; the message names it and the fix.
      ImportError: ``warmup_requests`` without tensorflow-serving-api installed.
    """
    reuse = planning.check_flag("reuse_graphs", reuse_graphs, "plan_export")
    checked = planning.plan_export(
        "plan_export",
        estimator,
        export_dir_base,
        input_receiver_fn_map,
        assets_extra=assets_extra,
        as_text=as_text,
        strip_default_attrs=strip_default_attrs,
        warmup_requests=warmup_requests,
    )
    return ExportPlan(checked, reuse)
