"""Reusing one export's graphs for the next: what they were built from, and when they are stale.

:class:`GraphReuse` holds the graphs an earlier export built
(:class:`~estimator_ext.export.built_graphs.BuiltGraphs`) and what built them
(:class:`BuildInputs`). ``write_plan`` asks it, before each export, whether they can be
written again (:meth:`GraphReuse.stored_for`). They cannot, and the graphs are built
again, when any of these changed; the reason is logged as ONE INFO record:

* the estimator's ``model_fn`` (compared by identity), ``params`` or ``config`` (by
  equality; a value that cannot be compared counts as changed);
* the modes, or a mode's receiver fn (by identity);
* the export options: ``strip_default_attrs``, ``as_text``, the warmup requests,
  ``assets_extra`` (and the internal write options);
* an asset file's size or modification time;
* the new checkpoint's variables (names, dtypes, shapes) no longer hold what the stored
  graphs restore.

Graphs whose variables need the "restore-save" strategy (lookup tables such as
``LinearSDCA``'s, a custom ``Scaffold.saver``) are never kept: they are built for every
export, and each one logs why.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from estimator_ext._mode_names import mode_label
from estimator_ext._tf_private import members as tf_private
from estimator_ext.export.built_graphs import BuiltGraphs, changed_assets
from estimator_ext.export.plan import CheckedPlan
from estimator_ext.variables.catalog import CheckpointCatalog, check_against

logger = logging.getLogger("estimator_ext")

#: The export options the graphs depend on, by their argument names.
OPTION_NAMES = ("strip_default_attrs", "as_text", "warmup_requests", "assets_extra")


@dataclasses.dataclass(frozen=True)
class BuildInputs:
    """What an export's graphs were built from, as compared before reusing them."""

    model_fn: Any
    params: Any
    config: dict[str, Any]
    receiver_fn_by_mode: tuple[tuple[str, Any], ...]
    options: dict[str, Any]


def build_inputs(plan: CheckedPlan) -> BuildInputs:
    """What ``plan``'s graphs would be built from now."""
    estimator = plan.estimator
    options = plan.options
    return BuildInputs(
        model_fn=tf_private.model_fn_of(estimator),
        params=estimator.params,  # a deep copy: later changes to the original show
        config=dict(vars(estimator.config)),  # a deep copy too
        receiver_fn_by_mode=tuple(options.receiver_fn_by_mode.items()),
        options={
            "strip_default_attrs": options.strip_default_attrs,
            "as_text": options.as_text,
            "warmup_requests": options.warmup,
            "assets_extra": options.assets_extra,
            "_write_options": options.write_options,
        },
    )


class GraphReuse:
    """The graphs one export built, kept for the later exports of the same plan.

    Not thread-safe: one plan writes one export at a time (concurrent exports from one
    plan each build or reuse correctly, but which graphs are kept is the last writer's).
    """

    def __init__(self) -> None:
        self._inputs: BuildInputs | None = None
        self._built: BuiltGraphs | None = None
        self._not_kept: str | None = None  # why the last export's graphs could not be kept

    @property
    def built(self) -> BuiltGraphs | None:
        """The graphs kept, or None."""
        return self._built

    def stored_for(self, plan: CheckedPlan, catalog: CheckpointCatalog) -> BuiltGraphs | None:
        """The kept graphs when ``plan`` can write them for ``catalog``'s checkpoint, else None.

        None on the first export; otherwise, when the graphs must be built again, the one
        INFO record saying why is logged here.
        """
        reason = self._not_kept
        if self._built is not None and self._inputs is not None:
            reason = _stale(self._inputs, build_inputs(plan), self._built, catalog)
            if reason is None:
                logger.info(
                    "Reusing the graphs built for an earlier export (no receiver or model_fn "
                    "call; %d bytes of saved_model kept)",
                    self._built.nbytes,
                )
                return self._built
        if reason is not None:
            logger.info("Building the export's graphs again: %s.", reason)
        return None

    def keep(self, inputs: BuildInputs, built: BuiltGraphs | str) -> None:
        """Keeps ``built`` (from ``inputs``) for the next export; a ``str`` says why not."""
        if isinstance(built, str):
            self._inputs, self._built, self._not_kept = None, None, built
        else:
            self._inputs, self._built, self._not_kept = inputs, built, None


def _stale(
    before: BuildInputs, now: BuildInputs, built: BuiltGraphs, catalog: CheckpointCatalog
) -> str | None:
    """Why the graphs built from ``before`` cannot be written for ``now``, or None."""
    if before.model_fn is not now.model_fn:
        return "the estimator's model_fn is another function"
    if not _same(before.params, now.params):
        return "the estimator's params changed"
    changed = sorted(
        key.lstrip("_")
        for key in set(before.config) | set(now.config)
        if not _same(before.config.get(key), now.config.get(key))
    )
    if changed:
        return f"the estimator's config changed ({', '.join(changed)})"
    modes_before = [mode for mode, _ in before.receiver_fn_by_mode]
    modes_now = [mode for mode, _ in now.receiver_fn_by_mode]
    if modes_before != modes_now:
        return f"the modes changed (from {', '.join(modes_before)} to {', '.join(modes_now)})"
    for (mode, receiver_before), (_, receiver_now) in zip(
        before.receiver_fn_by_mode, now.receiver_fn_by_mode
    ):
        if receiver_before is not receiver_now:
            return f"the receiver fn of {mode_label(mode)} is another function"
    options = [name for name in now.options if not _same(before.options[name], now.options[name])]
    if options:
        return f"the export options changed ({', '.join(options)})"
    assets = changed_assets(built)
    if assets:
        return f"asset files changed since the graphs were built ({', '.join(assets)})"
    for mode, specs in built.specs_by_mode.items():
        try:
            check_against(mode, specs, catalog.specs, f"checkpoint {catalog.prefix!r}")
        except ValueError as error:
            return f"the checkpoint's variables do not fit the stored graphs ({error})"
    return None


def _same(before: Any, now: Any) -> bool:
    """``before == now``; False when the values cannot be compared (numpy arrays...)."""
    if before is now:
        return True
    try:
        return bool(before == now)
    except Exception:  # an __eq__ that raises or returns something without a truth value
        return False
