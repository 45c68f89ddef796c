"""The TensorFlow half of the private-name inventory: version checks, then every private
TensorFlow module and attribute estimator_ext uses, each behind a small function or name.

The private module paths are spelled in the TF-free sibling
:mod:`~estimator_ext._tf_private.module_paths` (which ``patching`` reads without importing
TensorFlow); this module imports them through those strings. What counts as private, and
why the inventory is safe to lean on, is in :mod:`estimator_ext._tf_private`.
"""

from __future__ import annotations

import importlib
from typing import Any

from estimator_ext._tf_private import module_paths
from estimator_ext._versions import check_python, check_tensorflow

check_python()

import tensorflow as tf  # noqa: E402  (after the Python check: its error is clearer)

check_tensorflow(tf.__version__)

# --- private names, each used from one place -------------------------------------------------
# The module paths are spelled once, in the TF-free module_paths (patching reads them too).
# SavedModel signature helpers (public in TF only through tensorflow_estimator's export_lib).
_export_utils = importlib.import_module(module_paths.EXPORT_UTILS_MODULE)
# SupervisedInputReceiver and the receiver builders: TF 2.15 exports the builders under
# tf.estimator.experimental but keeps the receiver class itself private.
_estimator_export = importlib.import_module(module_paths.ESTIMATOR_EXPORT_MODULE)
# Object-based checkpoints used as Scaffold.saver need their saveables frozen into a Saver.
_graph_view = importlib.import_module(module_paths.GRAPH_VIEW_MODULE)
_saveable_util = importlib.import_module(module_paths.SAVEABLE_OBJECT_UTIL_MODULE)
# LinearSDCA finishes each training step in a SessionRunHook that updates the weights.
_canned_linear = importlib.import_module(module_paths.CANNED_LINEAR_MODULE)

#: ``tf.estimator`` and ``tf.compat.v1.estimator`` as the package uses them, on every supported
#: TensorFlow: tensorflow-estimator's generated API modules, which TensorFlow 2.12-2.15 expose
#: under those names (the very same modules) and 2.16+ no longer do (there only ``patch()``
#: brings the names back, so the package must not rely on them).
tf_estimator = importlib.import_module(module_paths.ESTIMATOR_API_V2_MODULE)
tf_compat_v1_estimator = importlib.import_module(module_paths.ESTIMATOR_API_V1_MODULE)

SupervisedInputReceiver = _estimator_export.SupervisedInputReceiver
build_raw_supervised_input_receiver_fn = _estimator_export.build_raw_supervised_input_receiver_fn
build_supervised_input_receiver_fn_from_input_fn = (
    _estimator_export.build_supervised_input_receiver_fn_from_input_fn
)
build_all_signature_defs = _export_utils.build_all_signature_defs
export_outputs_for_mode = _export_utils.export_outputs_for_mode
EXPORT_TAG_MAP = _export_utils.EXPORT_TAG_MAP
# The TF1 SavedModel builder that takes assets collections and a main op: public as
# tf.compat.v1.saved_model.Builder (the very class builder_impl.SavedModelBuilder). Its
# private members we need are reached through mark_variables_written and add_train_op.
SavedModelBuilder = tf.compat.v1.saved_model.Builder


def call_model_fn(estimator: Any, features: Any, labels: Any, mode: str) -> Any:
    """Calls the estimator's model_fn exactly as Estimator.train/evaluate/predict do."""
    return estimator._call_model_fn(features, labels, mode, estimator.config)


def model_fn_of(estimator: Any) -> Any:
    """The model_fn the estimator was built with (``Estimator.model_fn`` wraps it anew on
    every access, so only the private ``_model_fn`` can be compared by identity)."""
    return estimator._model_fn


def create_global_step(estimator: Any, graph: tf.Graph) -> None:
    """Creates the global step the way the estimator's own graphs do."""
    estimator._create_and_assert_global_step(graph)


def warm_start_checkpoint(estimator: Any) -> str | None:
    """The checkpoint the estimator would warm-start from, or None."""
    settings = getattr(estimator, "_warm_start_settings", None)
    return getattr(settings, "ckpt_to_initialize_from", None) if settings else None


def mark_variables_written(builder: Any) -> None:
    """Tells a SavedModelBuilder its variables are already on disk.

    We write the variables ourselves (copying the checkpoint when we can), then add
    every mode's meta graph with ``add_meta_graph``, which refuses to run until the
    builder believes ``add_meta_graph_and_variables`` has been called.
    """
    builder._has_saved_variables = True


def add_train_op(builder: Any, train_op: Any) -> None:
    """Stores the train op in the ``saved_model_train_op`` collection, as TF does."""
    builder._add_train_op(train_op)


def saveables_of_object_checkpoint(checkpoint: Any) -> list:
    """The saveables a ``tf.train.Checkpoint`` would write, for a graph-mode Saver."""
    return _graph_view.ObjectGraphView(checkpoint).frozen_saveable_objects()


def saveable_names(var_list: Any) -> dict:
    """Checkpoint key -> variable (or list of partitions), as the default Saver names them."""
    return _saveable_util.op_list_to_dict(var_list)


def training_step_op(spec: Any) -> Any:
    """The op that performs one whole training step of ``spec``, as Estimator.train runs it.

    Usually ``spec.train_op``. LinearSDCA's train op only updates its dual variables; the
    weights move in ``_SDCAUpdateWeightsHook`` (a chief hook), which Estimator.train runs
    with every step. Exported alone, such a train op runs but never trains, so the hook's update op
    is built here and grouped with it.
    """
    update_ops = []
    for hook in tuple(spec.training_chief_hooks or ()) + tuple(spec.training_hooks or ()):
        if isinstance(hook, _canned_linear._SDCAUpdateWeightsHook):
            hook.begin()
            update_ops.append(hook._update_op)
    if not update_ops:
        return spec.train_op
    return tf.group(spec.train_op, *update_ops, name="estimator_ext_train_step")


def save_slice_info(variable: Any) -> Any:
    """The ``SaveSliceInfo`` of one partition of a partitioned variable.

    It gives the partition's full shape, offset and slice spec, which the default Saver
    writes it with; TF keeps it in the private ``_save_slice_info`` attribute.
    """
    return variable._save_slice_info


def default_saver_saveables(var_list: Any) -> list:
    """The saveables ``tf.compat.v1.train.Saver(var_list)`` writes, in its order."""
    return _saveable_util.validate_and_slice_inputs(_saveable_util.op_list_to_dict(var_list))


def resource_variable_save_parts(saveable: Any) -> tuple[Any, Any] | None:
    """(variable handle, tensor saved) of a resource variable's saveable, else None.

    The tensor is None for a partition of a partitioned variable, which the Saver reads
    with its own ops at build time (TF keeps the reader in the spec's private
    ``_tensor``); a whole variable is saved from its existing read tensor.
    """
    if type(saveable) is not _saveable_util.ResourceVariableSaveable or len(saveable.specs) != 1:
        return None
    tensor = saveable.specs[0]._tensor
    return saveable.handle_op, (None if callable(tensor) else tensor)


def caching_device(variable: Any) -> Any:
    """The variable's caching device (TF's private ``_caching_device``), or None."""
    return getattr(variable, "_caching_device", None)


#: TensorFlow versions on which ``export/saver_graph.py``'s NodeDefs were compared node for
#: node with TF's own ``Saver(sharded=True)`` (tests/export/test_saver_graph.py). Elsewhere TF's
#: Saver is used. 2.16 and 2.21 were compared on 2026-12-05 (issue 23); 2.17-2.20 are listed
#: because both ends of that range match, and the nox matrix runs the comparison on each.
SAVER_NODES_VERIFIED = (
    (2, 12),
    (2, 13),
    (2, 14),
    (2, 15),
    (2, 16),
    (2, 17),
    (2, 18),
    (2, 19),
    (2, 20),
    (2, 21),
)


def saver_nodes_verified() -> bool:
    """True when the running TensorFlow's Saver is known to build ``saver_graph.py``'s nodes."""
    major_minor = tuple(int(part) for part in tf.__version__.split(".")[:2])
    return major_minor in SAVER_NODES_VERIFIED
