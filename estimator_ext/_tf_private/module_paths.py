"""The private TensorFlow module paths estimator_ext names, as plain strings (TF-free).

This is the TF-free half of the inventory of private TensorFlow names; ``members.py`` is
the other half and imports its private modules through these strings. They live here,
apart from ``members``, because :mod:`estimator_ext.patching` must stay importable
without TensorFlow: it waits for these modules with post-import hooks instead of
importing them. No other module of the package may spell a ``tensorflow.python...`` or
``tensorflow_estimator.python...`` path (``tests/test_private_names.py`` enforces it).

tensorflow-estimator is frozen at 2.15.0, so these paths do not move under us; if one
ever does, this file (and ``members.py``) is the only place to change.
"""

from __future__ import annotations

import types
from collections.abc import Mapping

_ESTIMATOR_PACKAGE = "tensorflow_estimator.python.estimator"

#: Where ``tf.estimator.Estimator`` (``EstimatorV2``) and its v1 base ``Estimator`` live;
#: the base defines ``experimental_export_all_saved_models``.
ESTIMATOR_MODULE = f"{_ESTIMATOR_PACKAGE}.estimator"

#: LinearClassifier/Regressor and LinearSDCA's ``_SDCAUpdateWeightsHook``.
CANNED_LINEAR_MODULE = f"{_ESTIMATOR_PACKAGE}.canned.linear"

#: Defining module -> the estimator classes in it that ``patch()`` decorates. A class
#: named ``...V2`` (and ``EstimatorV2``) is what ``tf.estimator`` exports; the others are
#: ``tf.compat.v1.estimator``'s.
ESTIMATOR_CLASSES_BY_MODULE: Mapping[str, tuple[str, ...]] = types.MappingProxyType(
    {
        ESTIMATOR_MODULE: ("Estimator", "EstimatorV2"),
        CANNED_LINEAR_MODULE: (
            "LinearClassifier",
            "LinearClassifierV2",
            "LinearRegressor",
            "LinearRegressorV2",
            "LinearEstimator",
            "LinearEstimatorV2",
        ),
        f"{_ESTIMATOR_PACKAGE}.canned.dnn": (
            "DNNClassifier",
            "DNNClassifierV2",
            "DNNRegressor",
            "DNNRegressorV2",
            "DNNEstimator",
            "DNNEstimatorV2",
        ),
        f"{_ESTIMATOR_PACKAGE}.canned.dnn_linear_combined": (
            "DNNLinearCombinedClassifier",
            "DNNLinearCombinedClassifierV2",
            "DNNLinearCombinedRegressor",
            "DNNLinearCombinedRegressorV2",
            "DNNLinearCombinedEstimator",
            "DNNLinearCombinedEstimatorV2",
        ),
        f"{_ESTIMATOR_PACKAGE}.canned.baseline": (
            "BaselineClassifier",
            "BaselineClassifierV2",
            "BaselineRegressor",
            "BaselineRegressorV2",
            "BaselineEstimator",
            "BaselineEstimatorV2",
        ),
    }
)

#: The generated ``tf.estimator`` API module (TF 2), read for "moved to" hints; on TensorFlow
#: 2.16 and later, ``patch()`` makes it ``tf.estimator`` again (TF 2.15's own lazy target).
ESTIMATOR_API_V2_MODULE = f"{_ESTIMATOR_PACKAGE}.api._v2.estimator"

#: The generated ``tf.compat.v1.estimator`` API module, which ``patch()`` makes
#: ``tf.compat.v1.estimator`` again on TensorFlow 2.16 and later.
ESTIMATOR_API_V1_MODULE = f"{_ESTIMATOR_PACKAGE}.api._v1.estimator"

#: The generated ``export`` namespaces -> their public names; ``patch()`` teaches their
#: ``build_parsing_serving_input_receiver_fn`` to read tensor templates.
EXPORT_NAMESPACES: Mapping[str, str] = types.MappingProxyType(
    {
        f"{ESTIMATOR_API_V2_MODULE}.export": "tf.estimator.export",
        f"{_ESTIMATOR_PACKAGE}.api._v1.estimator.export": "tf.compat.v1.estimator.export",
    }
)

#: The receiver classes and builders (SupervisedInputReceiver is private in TF 2.15).
ESTIMATOR_EXPORT_MODULE = f"{_ESTIMATOR_PACKAGE}.export.export"

#: Where ``tf.compat.v1.placeholder`` is defined; ``patch()`` wraps it there too, for code
#: that imported it from this module.
ARRAY_OPS_MODULE = "tensorflow.python.ops.array_ops"

#: SavedModel signature helpers (public in TF only through tensorflow_estimator).
EXPORT_UTILS_MODULE = "tensorflow.python.saved_model.model_utils.export_utils"

#: Object-based checkpoints used as ``Scaffold.saver``: their saveables, frozen for a Saver.
GRAPH_VIEW_MODULE = "tensorflow.python.checkpoint.graph_view"

#: How the default Saver names the saveables of a variable list.
SAVEABLE_OBJECT_UTIL_MODULE = "tensorflow.python.training.saving.saveable_object_util"

# --- TensorFlow 2.16+: what tensorflow-estimator 2.15.0 imports that TensorFlow deleted ---------

#: The four modules TensorFlow 2.16 deleted that tensorflow-estimator 2.15.0 imports at its top
#: level (``estimator.py``, ``training.py``, ``run_config.py``, ``tpu/``), each -> the feature
#: that used it, as error messages name it. ``removed_modules.py`` holds their stand-ins.
DISTRIBUTE_COORDINATOR_MODULE = "tensorflow.python.distribute.estimator_training"
TPU_SESSION_SUPPORT_MODULE = "tensorflow.python.tpu.session_support"
TPU_EMBEDDING_MODULE = "tensorflow.python.tpu.tpu_embedding"
TPU_EMBEDDING_GRADIENT_MODULE = "tensorflow.python.tpu.tpu_embedding_gradient"
REMOVED_MODULES: tuple[str, ...] = (
    DISTRIBUTE_COORDINATOR_MODULE,
    TPU_SESSION_SUPPORT_MODULE,
    TPU_EMBEDDING_MODULE,
    TPU_EMBEDDING_GRADIENT_MODULE,
)

#: Where ``tf_export`` lives: tensorflow-estimator's ``estimator_export`` decorator passes
#: ``api_name=tf_export.ESTIMATOR_API_NAME``, which TensorFlow 2.16 removed with its tables.
TF_EXPORT_MODULE = "tensorflow.python.util.tf_export"

#: Canned estimators whose model_fn builds ``tf.keras`` layers or optimizers: under Keras 3
#: (TensorFlow 2.16+ without ``TF_USE_LEGACY_KERAS=1``) they cannot train, so
#: ``legacy_keras.py`` makes their constructors say so. Linear*, DNN* and DNNLinearCombined*
#: build Keras layers; the V2 Baseline* (``tf.estimator.Baseline*``) builds a Keras optimizer.
#: The v1 Baseline* (``tf.compat.v1.estimator``) and a custom model_fn's ``Estimator`` work.
KERAS_CANNED_CLASSES_BY_MODULE: Mapping[str, tuple[str, ...]] = types.MappingProxyType(
    {
        module: tuple(
            name for name in classes if not module.endswith(".baseline") or name.endswith("V2")
        )
        for module, classes in ESTIMATOR_CLASSES_BY_MODULE.items()
        if module != ESTIMATOR_MODULE
    }
)
