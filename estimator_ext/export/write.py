"""write_plan: one checked export plan, written from one checkpoint, as a published SavedModel."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from estimator_ext._mode_names import mode_label
from estimator_ext._tf_private import members as tf_private
from estimator_ext.export import assets_extra as assets_extra_files
from estimator_ext.export import errors
from estimator_ext.export.built_graphs import BuiltGraphs, keep_built, saved_model_name, write_built
from estimator_ext.export.mode_graph import ModeGraph, build_mode_graph, drop_unimportable_saveables
from estimator_ext.export.plan import CheckedPlan
from estimator_ext.export.result import ExportResult
from estimator_ext.export.reuse import GraphReuse, build_inputs
from estimator_ext.export.saved_model_proto import SerializedSavedModel
from estimator_ext.serving import warmup_replay
from estimator_ext.storage import paths, staging
from estimator_ext.storage import publish as publishing
from estimator_ext.storage.files import gfile
from estimator_ext.storage.names import temp_dir_name
from estimator_ext.storage.stores import store_for
from estimator_ext.storage.watchdog import export_failed, one_export
from estimator_ext.variables.catalog import CheckpointCatalog, Spec
from estimator_ext.variables.checkpoint import resolve_checkpoint
from estimator_ext.variables.saved_entries import plain_variable_specs
from estimator_ext.variables.strategies import WrittenVariables, check_mode, write_variables

logger = logging.getLogger("estimator_ext")


def write_plan(
    plan: CheckedPlan, checkpoint_path: str | None = None, reuse: GraphReuse | None = None
) -> ExportResult:
    """Writes ``plan`` from ``checkpoint_path`` and publishes it; returns the export.

    Resolves the checkpoint (None: ``estimator.latest_checkpoint()``, then the warm-start
    one), builds each mode's graph, writes the variables once (from the first mode) and
    checks the other modes against them, adds every mode's meta graph, copies
    ``assets_extra``, writes and replays the warmup requests, and publishes the hidden
    temporary directory under an integer name. On any error nothing is left behind and the
    error propagates.

    With ``reuse``, the graphs an earlier export of it built are written again instead of
    built, when that is safe (``reuse.py``); the graphs this export builds are kept in it
    once it is published.

    Raises:
      ValueError: no checkpoint to export, or a mode needs variables the checkpoint cannot
        supply (tagged with their ``errors.Failure`` for the builtin route).
      ValueError: a mode without loss or outputs, warmup requests that cannot be served.
      tf.errors.NotFoundError: the checkpoint disappeared while it was exported.

    The export's store calls are bounded as one (``storage.watchdog.one_export``): once
    the store stops answering, all that is left of them gets 30 s in all.
    """
    with one_export():
        return _write_plan(plan, checkpoint_path, reuse)


def _write_plan(
    plan: CheckedPlan, checkpoint_path: str | None, reuse: GraphReuse | None
) -> ExportResult:
    started = time.monotonic()
    assets_extra_files.recheck_sources(plan.options.assets_extra)
    checkpoint = _resolved_checkpoint(plan, checkpoint_path)
    catalog = CheckpointCatalog(checkpoint)
    options = plan.options
    logger.info("Exporting %s from checkpoint %s", ", ".join(options.modes), checkpoint)

    stored = reuse.stored_for(plan, catalog) if reuse is not None else None
    inputs = build_inputs(plan) if reuse is not None and stored is None else None
    built: BuiltGraphs | str | None = None

    checkpoint_files = staging.existing([checkpoint + ".index"] + catalog.data_files())
    export_dir_base = plan.export_dir_base
    store = store_for(export_dir_base)
    with store.errors(export_dir_base, "listing the export directory's parents"):
        created_dirs = staging.missing_ancestors(export_dir_base)
    temp_dir = paths.join(export_dir_base, temp_dir_name())
    try:
        gfile.makedirs(export_dir_base)
        gfile.makedirs(temp_dir)
        if stored is not None:
            written, tags_by_mode = _write_stored_graphs(plan, catalog, stored, temp_dir)
        else:
            written, tags_by_mode, built = _write_saved_model(
                plan, catalog, temp_dir, keep=inputs is not None
            )
        assets_extra_files.copy_assets_extra(options.assets_extra, temp_dir)
        session_config = plan.estimator.config.session_config
        warmup_replay.add_warmup_requests(options.warmup, temp_dir, session_config)
        export_dir = publishing.publish(temp_dir, export_dir_base)
    except BaseException as error:
        export_failed()  # what is left to remove shares the after-stop bound (watchdog)
        staging.remove_quietly(temp_dir)
        staging.remove_created_dirs(created_dirs)  # only while empty: others may publish there
        try:
            vanished = staging.existing(checkpoint_files) != checkpoint_files
        except tf.errors.OpError:  # a checkpoint on a store that stopped: report the error
            vanished = False
        if vanished and isinstance(error, (tf.errors.NotFoundError, FileNotFoundError)):
            raise _vanished_checkpoint_error(checkpoint, checkpoint_files) from error
        if isinstance(error, tf.errors.OpError):
            elapsed = time.monotonic() - started
            worded = store.error(error, export_dir_base, "the export", 0, elapsed)
            if worded is not error:  # an object store names itself in the message
                raise worded from error
        raise
    if reuse is not None and inputs is not None and built is not None:
        reuse.keep(inputs, built)  # only once published: a failed export keeps nothing
    saving_mode = options.modes[0]
    logger.info(
        "Exported %s to %s (variables from %s, %s)",
        ", ".join(tags_by_mode),
        export_dir,
        saving_mode,
        written.strategy,
    )
    return ExportResult(export_dir, tags_by_mode, saving_mode, written.strategy)


def _resolved_checkpoint(plan: CheckedPlan, checkpoint_path: str | None) -> str:
    """The checkpoint prefix to export; its failures named by kind (``errors``) and caller."""
    estimator = plan.estimator
    given: Any = checkpoint_path
    if given is None:
        given = tf_private.warm_start_checkpoint(estimator)  # the fallback when model_dir has none
    if given is None:
        failure = errors.Failure(errors.Kind.NO_CHECKPOINT)
    else:
        failure = errors.Failure(errors.Kind.NOT_A_CHECKPOINT, path=tf.compat.as_str_any(given))
    with errors.naming(plan.caller), errors.as_failure(failure):
        return resolve_checkpoint(estimator, checkpoint_path)


def _write_stored_graphs(
    plan: CheckedPlan, catalog: CheckpointCatalog, stored: BuiltGraphs, temp_dir: str
) -> tuple[WrittenVariables, dict[str, tuple[str, ...]]]:
    """Writes graphs built for an earlier export, with ``catalog``'s variables."""
    options = plan.options
    session_config = plan.estimator.config.session_config
    saving_mode = stored.saving_mode
    with errors.as_failure(errors.Failure(errors.Kind.VARIABLES_MISMATCH, mode=saving_mode)):
        written = write_built(stored, catalog, temp_dir, session_config, options.write_options)
    return written, dict(stored.tags_by_mode)


def _write_saved_model(
    plan: CheckedPlan, catalog: CheckpointCatalog, temp_dir: str, keep: bool = False
) -> tuple[WrittenVariables, dict[str, tuple[str, ...]], BuiltGraphs | str | None]:
    """Writes every mode's meta graph and the variables; returns them, each mode's tags and,
    when ``keep``, what a later export needs to write them again (or why it cannot)."""
    options = plan.options
    specs_by_mode: dict[str, dict[str, Spec] | None] = {}
    receiver_fn_by_mode: Mapping[str, Any] = options.receiver_fn_by_mode
    # Each mode's meta graph is kept serialized as soon as it is exported (what TF's
    # SavedModelBuilder keeps as proto objects, copied once more as each is added, was
    # the peak memory of a three-mode export: saved_model_proto.py).
    saved_model = SerializedSavedModel(temp_dir)
    session_config = plan.estimator.config.session_config
    written: WrittenVariables | None = None
    tags_by_mode: dict[str, tuple[str, ...]] = {}
    for number, (mode, receiver_fn) in enumerate(receiver_fn_by_mode.items(), start=1):
        with tf.Graph().as_default():
            logger.info("Building the %s graph", mode_label(mode))
            mode_graph = build_mode_graph(plan.estimator, mode, receiver_fn)
            logger.info(
                "Built the %s graph (%d of %d)", mode_label(mode), number, len(receiver_fn_by_mode)
            )
            with errors.as_failure(errors.Failure(errors.Kind.VARIABLES_MISMATCH, mode=mode)):
                if written is None:
                    written = write_variables(
                        mode_graph, catalog, temp_dir, session_config, options.write_options
                    )
                else:
                    check_mode(mode_graph, written, session_config)
            _add_meta_graph(saved_model, mode_graph, options.strip_default_attrs)
            tags_by_mode[mode] = tuple(mode_graph.tags)
            if keep:
                specs_by_mode[mode] = plain_variable_specs(mode_graph)
            # Released before the next mode's graph is built: kept alive, it doubles what
            # every garbage collection walks and the peak memory (issue 12's profile, 2,000
            # partition variables, three modes: 2.5 s and 280 MiB more).
            del mode_graph
    assert written is not None  # validate_receiver_map guarantees at least one mode
    name = saved_model_name(options.as_text)
    content = saved_model.content(options.as_text)
    # One attempt, bounded on an object store (an upload can hang in the client).
    gfile.write_bytes(paths.join(temp_dir, name), content, "writing the SavedModel file")
    if not keep:
        return written, tags_by_mode, None
    built = keep_built(
        name, content, saved_model.asset_sources, tags_by_mode, written, specs_by_mode
    )
    return written, tags_by_mode, built


def _add_meta_graph(
    saved_model: SerializedSavedModel, mode_graph: ModeGraph, strip_default_attrs: bool
) -> None:
    drop_unimportable_saveables(mode_graph.graph)
    saved_model.add_meta_graph(
        mode_graph.tags,
        mode_graph.signature_def_map,
        mode_graph.saver,
        assets_collection=mode_graph.assets_collection,
        main_op=mode_graph.main_op,
        train_op=mode_graph.train_op,
        strip_default_attrs=strip_default_attrs,
    )


def _vanished_checkpoint_error(checkpoint: str, checkpoint_files: list[str]) -> Exception:
    missing = [path for path in checkpoint_files if path not in staging.existing(checkpoint_files)]
    return tf.errors.NotFoundError(
        None,
        None,
        f"The checkpoint {checkpoint!r} disappeared while it was being exported (now missing: "
        f"{', '.join(missing)}; deleted by another process? tf.estimator keeps only the newest "
        "keep_checkpoint_max checkpoints). Nothing was written. Export again, from a "
        "checkpoint that is kept (checkpoint_path=None picks the latest).",
    )
