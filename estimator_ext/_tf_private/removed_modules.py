"""Stand-ins for the four TensorFlow modules that tensorflow-estimator 2.15.0 imports and
TensorFlow 2.16 deleted, written here from their contracts (none of TensorFlow's code).

tensorflow-estimator stopped at 2.15.0, and its top level still imports
``estimator_training`` (the distribute-coordinator path of ``train_and_evaluate``,
``Estimator.train`` / ``evaluate`` and ``RunConfig``), and TPUEstimator's ``session_support``,
``tpu_embedding`` and ``tpu_embedding_gradient``. The paths are
:data:`~estimator_ext._tf_private.module_paths.REMOVED_MODULES`;
:mod:`~estimator_ext._tf_private.import_hook` registers these stand-ins only where TensorFlow
has no such module, so on TensorFlow 2.12-2.15 they are never used.

What an Estimator needs from them on CPU works as on TensorFlow 2.15:

* :func:`init_run_config`: a ``RunConfig`` with ``train_distribute`` / ``eval_distribute``
  (or ``experimental_distribute``) is set up for local training, or for a ``TF_CONFIG``
  cluster with a ``master`` job, as TensorFlow 2.15 did;
* :func:`should_run_distribute_coordinator` is False for such a config, so
  ``train_and_evaluate``, ``train`` and ``evaluate`` take their plain path.

Everything else raises :class:`RemovedFeatureError`, naming the feature and TensorFlow 2.15
as the last release that had it: the distribute-coordinator mode (a strategy over a
``TF_CONFIG`` cluster without a ``master`` job, or ``experimental_distribute.remote_cluster``),
TPUEstimator's TPU embedding (every class of ``tpu_embedding`` refuses to be built, so no
``EmbeddingConfigSpec`` can be made) and its worker watchdog and graceful shutdown on TPU.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

from estimator_ext._tf_private import module_paths

LAST_TENSORFLOW = "2.15"
_INSTALL_LAST = "pip install 'estimator-ext[cpu]' (TensorFlow 2.15.1, tensorflow-estimator 2.15.0)"

#: The features, as error messages name them, and what to do instead.
DISTRIBUTE_COORDINATOR = (
    "tf.estimator's distribute-coordinator mode (a RunConfig train_distribute strategy over a "
    "TF_CONFIG cluster without a 'master' job, or experimental_distribute.remote_cluster)"
)
_DISTRIBUTE_COORDINATOR_FIX = (
    "Run this job on TensorFlow 2.15 (" + _INSTALL_LAST + "), or train without the "
    "coordinator: a strategy on one machine (RunConfig(train_distribute=..., no cluster in "
    "TF_CONFIG)), or parameter-server training from TF_CONFIG without train_distribute."
)
TPU_EMBEDDING = (
    "TPUEstimator's TPU embedding (tf.compat.v1.estimator.tpu.experimental.EmbeddingConfigSpec)"
)
_TPU_EMBEDDING_FIX = (
    "Run it on TensorFlow 2.15 (" + _INSTALL_LAST + "), or move the model to "
    "tf.tpu.experimental.embedding.TPUEmbedding in a TF2 training loop."
)
TPU_SESSION_SUPPORT = (
    "TPUEstimator's worker watchdog and graceful shutdown of TPU workers "
    "(TF_TPU_WATCHDOG_TIMEOUT, TF_TPU_GRACEFUL_SHUTDOWN_MODE)"
)
_TPU_SESSION_SUPPORT_FIX = (
    "Run it on TensorFlow 2.15 (" + _INSTALL_LAST + "), or train without them: unset "
    "TF_TPU_WATCHDOG_TIMEOUT and set TF_TPU_GRACEFUL_SHUTDOWN_MODE to an empty string."
)


class RemovedFeatureError(NotImplementedError):
    """A tensorflow-estimator feature that needs a module TensorFlow 2.16 deleted."""


def removed_feature_error(feature: str, module_name: str, fix: str) -> RemovedFeatureError:
    """The error for ``feature``, which needs ``module_name``, with what to do instead."""
    tensorflow = sys.modules.get("tensorflow")
    found = f"TensorFlow {getattr(tensorflow, '__version__', '2.16 or later')}"
    return RemovedFeatureError(
        f"{feature} does not work on {found}: it needs {module_name}, which TensorFlow 2.16 "
        f"deleted; TensorFlow {LAST_TENSORFLOW} is the last TensorFlow that has it. {fix}"
    )


def _unavailable_function(
    module_name: str, name: str, feature: str, fix: str
) -> Callable[..., Any]:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise removed_feature_error(feature, f"{module_name}.{name}", fix)

    unavailable.__name__ = unavailable.__qualname__ = name
    unavailable.__module__ = module_name
    unavailable.__doc__ = f"Stand-in: raises RemovedFeatureError ({feature})."
    return unavailable


def _unavailable_class(
    module_name: str, name: str, feature: str, fix: str, classmethods: tuple[str, ...] = ()
) -> type:
    """A class that refuses to be built (and whose alternative constructors refuse too)."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise removed_feature_error(feature, f"{module_name}.{name}", fix)

    namespace: dict[str, Any] = {
        "__init__": __init__,
        "__module__": module_name,
        "__doc__": f"Stand-in: building one raises RemovedFeatureError ({feature}).",
    }
    for method_name in classmethods:
        namespace[method_name] = classmethod(
            _unavailable_function(module_name, f"{name}.{method_name}", feature, fix)
        )
    return type(name, (), namespace)


# --- tensorflow.python.distribute.estimator_training -----------------------------------------


def _coordinator_error(name: str) -> RemovedFeatureError:
    return removed_feature_error(
        DISTRIBUTE_COORDINATOR,
        f"{module_paths.DISTRIBUTE_COORDINATOR_MODULE}.{name}",
        _DISTRIBUTE_COORDINATOR_FIX,
    )


def init_run_config(config: Any, tf_config: dict) -> None:
    """Sets up a RunConfig that has distribution strategies (RunConfig.__init__ calls this).

    ``experimental_distribute``'s strategies fill ``train_distribute`` / ``eval_distribute``
    (both set is a ValueError, as in TensorFlow 2.15); without a cluster, or with a
    ``master`` job, or without ``train_distribute``, the config reads ``tf_config`` as a plain
    RunConfig does and ``_distribute_coordinator_mode`` is None. The remaining cases were the
    distribute coordinator's.

    Raises:
      ValueError: a strategy is given both directly and through ``experimental_distribute``.
      RemovedFeatureError: the config asks for the distribute coordinator.
    """
    experimental = config._experimental_distribute
    for kind in ("train", "eval"):
        from_experimental = getattr(experimental, f"{kind}_distribute", None)
        if from_experimental is None:
            continue
        if getattr(config, f"_{kind}_distribute"):
            raise ValueError(
                f"RunConfig: pass the {kind} strategy either as `{kind}_distribute` or as "
                f"`experimental_distribute.{kind}_distribute`, not both."
            )
        setattr(config, f"_{kind}_distribute", from_experimental)
    import tensorflow as tf

    cluster_spec = tf.train.ClusterSpec(tf_config.get("cluster", {}))
    remote_cluster = getattr(experimental, "remote_cluster", None)
    if config._train_distribute and (
        remote_cluster or (cluster_spec and "master" not in cluster_spec.jobs)
    ):
        raise _coordinator_error("init_run_config")
    config._distribute_coordinator_mode = None
    config._init_distributed_setting_from_environment_var(tf_config)
    config._maybe_overwrite_session_config_for_distributed_training()


def should_run_distribute_coordinator(config: Any) -> bool:
    """False for every config :func:`init_run_config` accepts (no coordinator mode).

    Raises:
      RemovedFeatureError: the config's ``_distribute_coordinator_mode`` was set by hand.
    """
    if getattr(config, "_distribute_coordinator_mode", None) is None:
        return False
    raise _coordinator_error("should_run_distribute_coordinator")


def _coordinator_only(name: str) -> Callable[..., Any]:
    def coordinator_only(*args: Any, **kwargs: Any) -> Any:
        raise _coordinator_error(name)

    coordinator_only.__name__ = coordinator_only.__qualname__ = name
    coordinator_only.__doc__ = (
        "Stand-in for the distribute coordinator's entry point: raises RemovedFeatureError."
    )
    return coordinator_only


def _estimator_training_names(module_name: str) -> dict[str, Any]:
    names: dict[str, Any] = {
        "init_run_config": init_run_config,
        "should_run_distribute_coordinator": should_run_distribute_coordinator,
    }
    for name in ("train_and_evaluate", "estimator_train", "estimator_evaluate"):
        names[name] = _coordinator_only(name)
    return names


# --- tensorflow.python.tpu.session_support -----------------------------------------------------


def _session_support_names(module_name: str) -> dict[str, Any]:
    feature, fix = TPU_SESSION_SUPPORT, _TPU_SESSION_SUPPORT_FIX
    names: dict[str, Any] = {
        "start_worker_watchdog": _unavailable_function(
            module_name, "start_worker_watchdog", feature, fix
        )
    }
    for class_name in (
        "GracefulShutdownHook",
        "ResetComputation",
        "ShutdownLameWorkers",
        "ShutdownAllWorkers",
    ):
        names[class_name] = _unavailable_class(module_name, class_name, feature, fix)
    return names


# --- tensorflow.python.tpu.tpu_embedding -------------------------------------------------------

#: The optimizer parameters, configs and slot-name tuples tensorflow-estimator names.
_TPU_EMBEDDING_CLASSES = (
    "AdagradParameters",
    "AdamParameters",
    "FtrlParameters",
    "MomentumParameters",
    "ProximalAdagradParameters",
    "RMSPropParameters",
    "StochasticGradientDescentParameters",
    "AdagradSlotVariableNames",
    "AdamSlotVariableNames",
    "FtrlSlotVariableNames",
    "MomentumSlotVariableNames",
    "ProximalAdagradSlotVariableNames",
    "RMSPropSlotVariableNames",
    "FeatureConfig",
    "TableConfig",
    "TPUEmbedding",
)


def _tpu_embedding_names(module_name: str) -> dict[str, Any]:
    from tensorflow.core.protobuf.tpu import tpu_embedding_configuration_pb2

    feature, fix = TPU_EMBEDDING, _TPU_EMBEDDING_FIX
    # The two modes TPUEmbedding is built in, as TensorFlow 2.15 named them (public proto values).
    modes = tpu_embedding_configuration_pb2.TPUEmbeddingConfiguration
    names: dict[str, Any] = {"TRAINING": modes.TRAINING, "INFERENCE": modes.INFERENCE}
    for class_name in _TPU_EMBEDDING_CLASSES:
        names[class_name] = _unavailable_class(module_name, class_name, feature, fix)
    names["EnqueueData"] = _unavailable_class(
        module_name, "EnqueueData", feature, fix, classmethods=("from_sparse_tensor",)
    )
    return names


# --- tensorflow.python.tpu.tpu_embedding_gradient ---------------------------------------------


def _tpu_embedding_gradient_names(module_name: str) -> dict[str, Any]:
    return {
        function_name: _unavailable_function(
            module_name, function_name, TPU_EMBEDDING, _TPU_EMBEDDING_FIX
        )
        for function_name in (
            "create_dummy_table_variables",
            "hook_dummy_table_variables_to_activations",
            "get_gradients_through_dummy_table_variables",
        )
    }


#: Deleted module -> the function that makes the names of its stand-in (name -> value):
#: exactly the names tensorflow-estimator 2.15.0 takes from that module.
NAMES_BY_MODULE: dict[str, Callable[[str], dict[str, Any]]] = {
    module_paths.DISTRIBUTE_COORDINATOR_MODULE: _estimator_training_names,
    module_paths.TPU_SESSION_SUPPORT_MODULE: _session_support_names,
    module_paths.TPU_EMBEDDING_MODULE: _tpu_embedding_names,
    module_paths.TPU_EMBEDDING_GRADIENT_MODULE: _tpu_embedding_gradient_names,
}


def fill_stand_in(module: types.ModuleType) -> None:
    """Puts the stand-in's names into ``module``, a new module of a deleted module's name."""
    vars(module).update(NAMES_BY_MODULE[module.__name__](module.__name__))


# --- tf_export.ESTIMATOR_API_NAME ----------------------------------------------------------------

ESTIMATOR_API_NAME = "estimator"


def add_estimator_api_name(tf_export: Any) -> bool:
    """Gives TensorFlow's ``tf_export`` module the ``estimator`` API name, if it lacks it.

    tensorflow-estimator's ``estimator_export`` decorator is TensorFlow's ``api_export`` with
    ``api_name=tf_export.ESTIMATOR_API_NAME``; the decorator looks the name up in
    ``API_ATTRS`` / ``API_ATTRS_V1`` for the attributes that carry a symbol's exported names.
    TensorFlow 2.16 removed the name and its two entries; this puts them back with the
    attribute names TensorFlow 2.15 used. Returns whether anything was added (never on 2.15).
    """
    if hasattr(tf_export, "ESTIMATOR_API_NAME"):
        return False
    tf_export.ESTIMATOR_API_NAME = ESTIMATOR_API_NAME
    for table, suffix in ((tf_export.API_ATTRS, ""), (tf_export.API_ATTRS_V1, "_v1")):
        some_entry = next(iter(table.values()))  # a NamedTuple (names, constants)
        table.setdefault(
            ESTIMATOR_API_NAME,
            type(some_entry)(f"_estimator_api_names{suffix}", f"_estimator_api_constants{suffix}"),
        )
    return True
