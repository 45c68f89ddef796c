"""Canned estimators under Keras 3 fail when built, saying what to install and set.

tensorflow-estimator 2.15.0's Linear*, DNN* and DNNLinearCombined* estimators subclass and
call ``tf.keras`` (layers, optimizers, initializers). TensorFlow 2.16 and later route
``tf.keras`` to Keras 3 unless ``TF_USE_LEGACY_KERAS=1`` is set before ``tf.keras`` is
first used and the ``tf-keras`` package (Keras 2) is installed; under Keras 3 those estimators
only fail deep inside training, with ``Argument name must be a string and cannot contain
character '/'``. :func:`refuse_under_keras_3` makes their constructors raise
:class:`LegacyKerasRequiredError` instead. It is run on each canned module when it is
imported (:mod:`~estimator_ext._tf_private.import_hook`), and changes nothing where
``tf.keras`` is Keras 2 (TensorFlow 2.12-2.15, or tf-keras with the variable set). Estimators
with a custom ``model_fn`` are not touched: they work under Keras 3.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Any

from estimator_ext._tf_private import module_paths
from estimator_ext._versions import STACK_BY_TENSORFLOW

LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"


class LegacyKerasRequiredError(RuntimeError):
    """A canned estimator was built while ``tf.keras`` is Keras 3."""


def tf_keras_version() -> str:
    """The version of the Keras that ``tf.keras`` resolves to (``''`` when it has none).

    Keras 3 and Keras 2.12-2.15 say it in their package's ``__version__``; tf-keras's
    ``tf.keras`` module has none, and tf-keras is always Keras 2.
    """
    import tensorflow as tf

    package = tf.keras.layers.Layer.__module__.partition(".")[0]
    return str(getattr(sys.modules.get(package), "__version__", ""))


def is_keras_3() -> bool:
    """Whether ``tf.keras`` is Keras 3 in this process."""
    return tf_keras_version().startswith("3.")


def legacy_keras_message(public_name: str) -> str:
    """Why ``public_name`` cannot be built under Keras 3, and the fix."""
    tensorflow = sys.modules.get("tensorflow")
    version = str(getattr(tensorflow, "__version__", "2.16"))
    major, minor = (version.split(".") + ["0", "0"])[:2]
    stack = STACK_BY_TENSORFLOW.get((int(major), int(minor))) if minor.isdigit() else None
    tf_keras = stack.keras if stack is not None else f"{major}.{minor}.0"
    return (
        f"{public_name} builds tf.keras layers and optimizers with the Keras 2 API, but tf.keras "
        f"is Keras {tf_keras_version()} in this process: TensorFlow {version} routes tf.keras to "
        f"Keras 3 unless {LEGACY_KERAS_VARIABLE}=1. Install tf-keras, the Keras 2 of TensorFlow "
        f"{major}.{minor} (pip install 'estimator-ext[tf{major}{minor}]'; beside tensorflow-cpu: "
        f"pip install --no-deps 'tf-keras=={tf_keras}'), and set {LEGACY_KERAS_VARIABLE}=1 "
        f"before TensorFlow is imported, e.g. `{LEGACY_KERAS_VARIABLE}=1 python train.py` "
        "(`estimator-ext run` sets it for the script). Estimators with a custom model_fn work "
        "under Keras 3."
    )


def _public_name(class_name: str) -> str:
    if class_name.endswith("V2"):
        return f"tf.estimator.{class_name.removesuffix('V2')}"
    return f"tf.compat.v1.estimator.{class_name}"


def _refusing_init(init: Any, public_name: str) -> Any:
    @functools.wraps(init)  # keeps the signature and docstring for inspect and IDEs
    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise LegacyKerasRequiredError(legacy_keras_message(public_name))

    refuse.refuses_under_keras_3 = True  # type: ignore[attr-defined]
    return refuse


def refuse_under_keras_3(module: types.ModuleType) -> tuple[str, ...]:
    """Under Keras 3, makes the canned estimator classes of ``module`` refuse to be built.

    ``module`` is one of
    :data:`~estimator_ext._tf_private.module_paths.KERAS_CANNED_CLASSES_BY_MODULE`. Each of
    its classes gets an ``__init__`` that raises :class:`LegacyKerasRequiredError` (the
    classes cannot work anyway: they were defined on Keras 3's base classes). Returns the
    names of the classes changed; empty where ``tf.keras`` is Keras 2.
    """
    if not is_keras_3():
        return ()
    changed = []
    for class_name in module_paths.KERAS_CANNED_CLASSES_BY_MODULE.get(module.__name__, ()):
        cls = getattr(module, class_name, None)
        init = None if cls is None else cls.__dict__.get("__init__")
        if init is None or getattr(init, "refuses_under_keras_3", False):
            continue
        cls.__init__ = _refusing_init(init, _public_name(class_name))  # type: ignore[misc]
        changed.append(class_name)
    return tuple(changed)
