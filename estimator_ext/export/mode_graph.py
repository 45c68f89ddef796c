"""Per-mode graph construction: receiver -> model_fn -> signatures, saver and init op.

:func:`build_mode_graph` must be called inside ``with tf.Graph().as_default()``; it
returns everything the SavedModel file needs for that mode's MetaGraphDef and
nothing that touches the disk.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

import tensorflow as tf

from estimator_ext._mode_names import map_entry, mode_label
from estimator_ext._tf_private import members as tf_private
from estimator_ext.export import saver_graph
from estimator_ext.export.modekeys import ModeKeys
from estimator_ext.export.receivers import call_receiver_fn, receiver_labels, receiver_tensors_dict

logger = logging.getLogger("estimator_ext")

DEFAULT_SERVING_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY


@dataclasses.dataclass
class ModeGraph:
    """One mode's graph, ready to be added to a SavedModel."""

    mode: str
    graph: tf.Graph
    tags: list[str]
    signature_def_map: dict[str, Any]
    saver: Any
    uses_default_saver: bool
    main_op: Any
    train_op: Any | None
    assets_collection: list[Any]


def build_mode_graph(estimator: Any, mode: str, receiver_fn: Callable[[], Any]) -> ModeGraph:
    """Builds ``mode``'s graph in the current default graph.

    Raises:
      ValueError: the model gives no loss (TRAIN/EVAL) or no outputs (PREDICT), or a
        TRAIN/EVAL receiver has no labels while the model_fn needs them.
    """
    graph = tf.compat.v1.get_default_graph()
    tf_private.create_global_step(estimator, graph)
    tf.compat.v1.random.set_random_seed(estimator.config.tf_random_seed)

    receiver = call_receiver_fn(mode, receiver_fn)
    features = _shallow_copy(receiver.features)
    labels = receiver_labels(receiver)
    spec = _call_model_fn(estimator, mode, features, labels)

    if mode in (ModeKeys.TRAIN, ModeKeys.EVAL) and spec.loss is None:
        raise ValueError(
            f"The model_fn returned no loss in {mode_label(mode)} mode, so there is no "
            f"{mode} graph to export. Return an EstimatorSpec with `loss` in that mode, or "
            "leave the mode out of input_receiver_fn_map."
        )
    signature_def_map = _signature_defs(mode, receiver, spec)
    train_op = tf_private.training_step_op(spec) if mode == ModeKeys.TRAIN else None
    saver, uses_default_saver = _saver_for(spec.scaffold, graph)
    return ModeGraph(
        mode=mode,
        graph=graph,
        tags=list(tf_private.EXPORT_TAG_MAP[mode]),
        signature_def_map=signature_def_map,
        saver=saver,
        uses_default_saver=uses_default_saver,
        main_op=_main_op(spec.scaffold),
        train_op=train_op,
        assets_collection=tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
    )


def _shallow_copy(features: Any) -> Any:
    # A model_fn that mutates its features dict (pops a key, adds a derived one) must not
    # change the receiver's own dict, which the signatures are built from.
    return dict(features) if isinstance(features, dict) else features


def _call_model_fn(estimator: Any, mode: str, features: Any, labels: Any) -> Any:
    try:
        return tf_private.call_model_fn(estimator, features, labels, mode)
    except RuntimeError as error:
        if "after the Optimizer weights have been created" not in str(error):
            raise
        raise ValueError(
            f"The {mode_label(mode)} graph cannot be built: the estimator's optimizer object "
            "already built its weights in another graph (estimator.train in this process), and "
            "a Keras optimizer cannot be reused across graphs (Estimator.train would fail the "
            "same way). Create the estimator with an optimizer name ('Ftrl') or a callable "
            "returning a new optimizer (optimizer=lambda: tf.keras.optimizers.legacy.Ftrl(0.5)), "
            "or export from a new estimator instance with the same model_dir."
        ) from error
    except (ValueError, TypeError) as error:
        if labels is None and mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
            raise ValueError(
                f"{map_entry(mode)} returned a receiver without "
                f"labels, and the model_fn needs labels in {mode} mode (it raised: {error}). "
                "Build the receiver with estimator_ext.build_raw_supervised_input_receiver_fn"
                "(features, labels) so it carries labels."
            ) from error
        raise


def _signature_defs(mode: str, receiver: Any, spec: Any) -> dict[str, Any]:
    predictions = _signature_friendly(spec.predictions, "predictions", mode)
    loss = _signature_friendly(spec.loss, "loss", mode)
    try:
        export_outputs = tf_private.export_outputs_for_mode(
            mode=spec.mode,
            serving_export_outputs=spec.export_outputs,
            predictions=predictions,
            loss=loss,
            metrics=spec.eval_metric_ops,
        )
    except ValueError as error:
        if mode != ModeKeys.PREDICT:
            raise
        raise _no_outputs_error(spec, str(error)) from error
    receiver_tensors = receiver_tensors_dict(receiver)
    signature_def_map = tf_private.build_all_signature_defs(
        receiver_tensors,
        export_outputs,
        getattr(receiver, "receiver_tensors_alternatives", None),
        serving_only=(mode == ModeKeys.PREDICT),
    )
    if mode != ModeKeys.PREDICT:
        return signature_def_map
    if DEFAULT_SERVING_KEY not in signature_def_map:
        fallback = _default_serving_fallback(signature_def_map, receiver_tensors, spec)
        if fallback is None:
            raise _no_outputs_error(spec, f"export_outputs={sorted(export_outputs)}")
        source, signature = fallback
        logger.warning(
            "The model's default serving output cannot be served from this receiver "
            "(TF's exporter would drop the '%s' signature); '%s' now points at the %s outputs "
            "so TensorFlow Serving's default requests still work.",
            DEFAULT_SERVING_KEY,
            DEFAULT_SERVING_KEY,
            source,
        )
        signature_def_map[DEFAULT_SERVING_KEY] = signature
    return signature_def_map


def _signature_friendly(outputs: Any, what: str, mode: str) -> Any:
    """``outputs`` without the values a SignatureDef cannot hold (SparseTensor, RaggedTensor).

    EstimatorSpec refuses them, but specs rebuilt with ``_replace`` (as some canned code
    and user code do) carry them anyway; TF's exporter then aborts the whole export.
    Here they are left out of the signatures, with a warning naming them.
    """
    if outputs is None:
        return None
    kept: Any
    if isinstance(outputs, dict):
        kept = {key: value for key, value in outputs.items() if isinstance(value, tf.Tensor)}
        dropped = sorted(str(key) for key in outputs if key not in kept)
    else:
        kept, dropped = (outputs, []) if isinstance(outputs, tf.Tensor) else (None, [what])
    if dropped:
        logger.warning(
            "Leaving %s %s out of the %s signatures: a SignatureDef can only hold dense "
            "tensors (convert them with tf.sparse.to_dense in the model_fn to export them).",
            what,
            ", ".join(dropped),
            mode_label(mode),
        )
    return kept


def _no_outputs_error(spec: Any, detail: str) -> ValueError:
    return ValueError(
        "The model_fn returned no outputs that can be served in 'infer' (ModeKeys.PREDICT) "
        f"mode ({detail}; predictions={type(spec.predictions).__name__}). Return non-empty "
        "`predictions` or `export_outputs` from the model_fn in PREDICT mode, or leave "
        "ModeKeys.PREDICT out of input_receiver_fn_map."
    )


def _default_serving_fallback(
    signature_def_map: dict[str, Any], receiver_tensors: dict[str, Any], spec: Any
) -> tuple[str, Any] | None:
    predict_method = tf.saved_model.PREDICT_METHOD_NAME
    for name, signature in signature_def_map.items():
        if signature.method_name == predict_method:
            return f"'{name}' signature's", signature
    if spec.predictions is None:
        return None
    try:
        output = tf_private.tf_estimator.export.PredictOutput(spec.predictions)
        return "model's predictions", output.as_signature_def(receiver_tensors)
    except ValueError:
        return None


def _saver_for(scaffold: Any, graph: tf.Graph) -> tuple[Any, bool]:
    """The saver that restores this mode's variables at load time, and whether it is ours.

    Without a custom saver, the Estimator's default ``Saver(sharded=True)``, built by
    ``saver_graph.py`` (the same nodes, without creating them one Python call at a time).
    A custom ``Scaffold.saver`` is kept so loading the SavedModel restores exactly what it
    names; a ``tf.train.Checkpoint`` given as the saver is wrapped in a sharded Saver over
    its saveables, as TF does.
    """
    custom = scaffold.saver
    if custom is None:
        return saver_graph.default_saver(graph), True
    if isinstance(custom, tf.train.Checkpoint):
        return tf.compat.v1.train.Saver(
            var_list=tf_private.saveables_of_object_checkpoint(custom), sharded=True
        ), False
    return custom, False


def _main_op(scaffold: Any) -> Any:
    """The op a loader runs after restoring: the scaffold's local init, made complete.

    * A custom ``local_init_op`` that forgets ``tables_initializer()`` would leave lookup
      tables uninitialised after loading (TF's exporter does); the table initializers
      are grouped in (they are idempotent).
    * Main ops the model_fn itself put in the ``saved_model_main_op`` / legacy init op
      collections would make adding the meta graph fail (a graph has one main op, as
      TF's SavedModel builder insists too); they are moved into this one op instead.
    """
    graph = tf.compat.v1.get_default_graph()
    local_init_op = scaffold.local_init_op
    if local_init_op is None:
        local_init_op = tf.compat.v1.train.Scaffold.default_local_init_op()
    extra = []
    for key in (tf.compat.v1.saved_model.MAIN_OP_KEY, tf.compat.v1.saved_model.LEGACY_INIT_OP_KEY):
        extra.extend(graph.get_collection(key))
        graph.clear_collection(key)
    if scaffold.local_init_op is not None:
        extra.extend(graph.get_collection(tf.compat.v1.GraphKeys.TABLE_INITIALIZERS))
    if not extra:
        return local_init_op
    return tf.group(local_init_op, *extra, name="estimator_ext_main_op")


def drop_unimportable_saveables(graph: tf.Graph) -> list[str]:
    """Removes saveables that a loader could not resolve from the graph's collection.

    Some saveables are not graph elements (LinearSDCA's ``ShardedMutableHashTable``
    registers a SaveableObject named ``ShardedMutableHashTable-1-of-1``, which is no op);
    exported in the ``saveable_objects`` collection they make ``import_meta_graph`` fail
    with ``KeyError: The name ... refers to an Operation not in the graph`` (TF's own
    exporter writes such TRAIN graphs). The saver, already built, carries their save and
    restore ops in its SaverDef, so loading and restoring still covers them.

    Call only after the mode's saver is built and its variables written or checked.
    Returns the names dropped.
    """
    collection = graph.get_collection_ref(tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS)
    kept, dropped = [], []
    for saveable in collection:
        try:
            graph.as_graph_element(saveable, allow_tensor=True, allow_operation=True)
            kept.append(saveable)
        except (KeyError, ValueError, TypeError):
            name = getattr(saveable, "name", None)
            try:
                graph.as_graph_element(name, allow_tensor=True, allow_operation=True)
                kept.append(saveable)
            except (KeyError, ValueError, TypeError):
                dropped.append(str(name))
    collection[:] = kept
    if dropped:
        logger.debug(
            "Not exporting unresolvable saveables %s in the collection (their saver keeps them)",
            dropped,
        )
    return dropped
