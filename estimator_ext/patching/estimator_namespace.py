"""``tf.estimator`` and ``tf.compat.v1.estimator`` for TensorFlow 2.16 and later.

TensorFlow 2.12-2.15 expose tensorflow-estimator's generated API modules as ``tf.estimator``
and ``tf.compat.v1.estimator``, loaded on first use; TensorFlow 2.16 dropped both names.
:func:`build_estimator_namespaces` makes the same two lazy namespaces, which ``patch()``
installs (and records, so ``unpatch()`` removes them) only where TensorFlow lacks them, so
that a legacy script runs unmodified under ``estimator-ext run``. Nothing here changes
TensorFlow by itself, and importing this module imports no TensorFlow: the namespaces import
tensorflow-estimator on their first attribute access (``import estimator_ext`` has made it
importable by then).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from estimator_ext._tf_private import module_paths

#: ``tf.estimator`` names that tensorflow-estimator 2.15.0 no longer has, and what replaced
#: them: they are missing on TensorFlow 2.15 too, so the error says where to go instead.
REMOVED_ESTIMATOR_PREFIXES = {
    "BoostedTrees": (
        "tensorflow-estimator dropped its boosted trees estimators before 2.15.0, the release "
        "every TensorFlow from 2.15 on runs, so they are missing on TensorFlow 2.15 as well. "
        "Gradient boosted trees live on in TensorFlow Decision Forests "
        "(tfdf.keras.GradientBoostedTreesModel)."
    ),
}


class LazyEstimatorNamespace(types.ModuleType):
    """A module object standing for one of tensorflow-estimator's generated API modules.

    Every attribute is read from the target module, imported on first use; ``dir()`` lists
    the target's names. A name tensorflow-estimator 2.15.0 lacks raises AttributeError,
    with what replaced it when :data:`REMOVED_ESTIMATOR_PREFIXES` knows.
    """

    def __init__(self, public_name: str, target_module: str) -> None:
        super().__init__(
            public_name.replace("tf.", "tensorflow.", 1),
            f"{public_name} as estimator_ext.patch() restores it on TensorFlow 2.16 and later: "
            "tensorflow-estimator 2.15.0's API, loaded on first use.",
        )
        self.__dict__["_estimator_ext_public_name"] = public_name
        self.__dict__["_estimator_ext_target"] = target_module

    def _target(self) -> types.ModuleType:
        return importlib.import_module(self.__dict__["_estimator_ext_target"])

    def __getattr__(self, name: str) -> Any:
        target_name = self.__dict__["_estimator_ext_target"]
        if name.startswith("__") and target_name not in sys.modules:
            # Introspection (copy, pickle, inspect) asks for dunders: no import for those.
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        try:
            return getattr(self._target(), name)
        except AttributeError:
            if name.startswith("__"):
                raise
            public_name = f"{self.__dict__['_estimator_ext_public_name']}.{name}"
            why = next(
                (
                    text
                    for prefix, text in REMOVED_ESTIMATOR_PREFIXES.items()
                    if name.startswith(prefix)
                ),
                "tensorflow-estimator 2.15.0, the last release, has no such name.",
            )
            raise AttributeError(f"{public_name} does not exist: {why}") from None

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._target())))

    def __repr__(self) -> str:
        return (
            f"<estimator_ext namespace {self.__dict__['_estimator_ext_public_name']} -> "
            f"{self.__dict__['_estimator_ext_target']}>"
        )


def build_estimator_namespaces() -> dict[str, LazyEstimatorNamespace]:
    """``{"tf.estimator": ..., "tf.compat.v1.estimator": ...}``, new and not installed."""
    return {
        "tf.estimator": LazyEstimatorNamespace(
            "tf.estimator", module_paths.ESTIMATOR_API_V2_MODULE
        ),
        "tf.compat.v1.estimator": LazyEstimatorNamespace(
            "tf.compat.v1.estimator", module_paths.ESTIMATOR_API_V1_MODULE
        ),
    }
