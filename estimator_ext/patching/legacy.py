"""What legacy TF 1 scripts need: the ``tf.contrib.estimator`` names and two shims.

Nothing here changes TensorFlow by itself: :mod:`estimator_ext.patching` installs these
objects (and records every change, so ``unpatch()`` removes them). This module imports no
TensorFlow at import time.

* :func:`build_contrib_namespace`: ``tf.contrib`` and ``tf.contrib.estimator`` as module
  objects holding only :data:`LEGACY_CONTRIB_ESTIMATOR_NAMES`; any other name raises an
  AttributeError saying what is restored and, when TF 2 has it, where it moved.
* :class:`EagerPlaceholder`: wraps ``tf.compat.v1.placeholder`` so that, under eager
  execution (where TF raises ``RuntimeError``), it returns ``tf.TensorSpec(shape, dtype,
  name)``, a template the receiver builders accept. In graph mode it is TF's own.
* :func:`parsing_receiver_with_templates`: wraps
  ``tf.estimator.export.build_parsing_serving_input_receiver_fn`` so that feature-spec
  values that are tensor templates (``tf.TensorSpec`` or placeholders), which
  ``tf.io.parse_example`` always refused, are read as ``tf.io.FixedLenFeature(shape without
  the batch dimension, dtype)``. Feature configs pass through untouched.

Both shims only turn calls that always failed into calls that work, so that a TF 1 script
with placeholders at its top level runs under TF 2's eager execution.
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Mapping
from typing import Any, Callable

from estimator_ext._tf_private import module_paths

logger = logging.getLogger("estimator_ext")

#: The ``tf.contrib.estimator`` names estimator_ext restores, and where each lives.
LEGACY_CONTRIB_ESTIMATOR_NAMES: Mapping[str, str] = types.MappingProxyType(
    {
        "export_all_saved_models": "estimator_ext.export.export_all:export_all_saved_models",
        "export_saved_model_for_mode": (
            "estimator_ext.patching.tf_entry_points:export_saved_model_for_mode"
        ),
        "build_raw_supervised_input_receiver_fn": (
            "estimator_ext.export.receivers:build_raw_supervised_input_receiver_fn"
        ),
        "build_supervised_input_receiver_fn_from_input_fn": (
            "estimator_ext.export.receivers:build_supervised_input_receiver_fn_from_input_fn"
        ),
    }
)

CONTRIB_MODULE = "tensorflow.contrib"
CONTRIB_ESTIMATOR_MODULE = "tensorflow.contrib.estimator"


def _restored_names_text() -> str:
    return ", ".join(f"tf.contrib.estimator.{name}" for name in LEGACY_CONTRIB_ESTIMATOR_NAMES)


class LegacyNamespace(types.ModuleType):
    """A module object holding only the names estimator_ext restores.

    Names are imported on first access (``lazy_names``: name -> ``"module:attribute"``).
    Any other attribute raises an AttributeError naming what is restored and, for
    ``tf.contrib.estimator.X`` when TensorFlow 2 has ``tf.estimator.X`` (or under
    ``experimental``), where it moved.
    """

    def __init__(
        self,
        name: str,
        doc: str,
        lazy_names: Mapping[str, str],
        submodules: dict[str, types.ModuleType],
    ) -> None:
        super().__init__(name, doc)
        self.__dict__["_estimator_ext_lazy_names"] = dict(lazy_names)
        self.__dict__.update(submodules)
        self.__dict__["__all__"] = sorted(list(lazy_names) + list(submodules))

    def __getattr__(self, name: str) -> Any:
        lazy_names = self.__dict__["_estimator_ext_lazy_names"]
        if name in lazy_names:
            module_name, attribute = lazy_names[name].split(":")
            __import__(module_name)
            value = getattr(sys.modules[module_name], attribute)
            self.__dict__[name] = value
            return value
        if name.startswith("__"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        public_name = self.__name__.replace("tensorflow.", "tf.", 1)
        raise AttributeError(
            f"{public_name}.{name} does not exist: tf.contrib was removed in TensorFlow 2, and "
            f"estimator_ext only restores {_restored_names_text()}."
            f"{_moved_hint(self.__name__, name)}"
        )

    def __dir__(self) -> list[str]:
        return list(self.__dict__["__all__"])


def _moved_hint(namespace: str, name: str) -> str:
    if namespace != CONTRIB_ESTIMATOR_MODULE:
        return ""
    estimator_api = sys.modules.get(module_paths.ESTIMATOR_API_V2_MODULE)
    if estimator_api is None:
        return ""
    if hasattr(estimator_api, name):
        return f" TensorFlow 2 has it as tf.estimator.{name}."
    experimental = getattr(estimator_api, "experimental", None)
    if experimental is not None and hasattr(experimental, name):
        return f" TensorFlow 2 has it as tf.estimator.experimental.{name}."
    return ""


def build_contrib_namespace() -> tuple[types.ModuleType, types.ModuleType]:
    """New ``tf.contrib`` and ``tf.contrib.estimator`` module objects (not installed)."""
    contrib_estimator = LegacyNamespace(
        CONTRIB_ESTIMATOR_MODULE,
        "tf.contrib.estimator as restored by estimator_ext: "
        + ", ".join(LEGACY_CONTRIB_ESTIMATOR_NAMES)
        + " only.",
        LEGACY_CONTRIB_ESTIMATOR_NAMES,
        {},
    )
    contrib = LegacyNamespace(
        CONTRIB_MODULE,
        "tf.contrib as restored by estimator_ext: only tf.contrib.estimator, with the names "
        "estimator_ext restores.",
        {},
        {"estimator": contrib_estimator},
    )
    return contrib, contrib_estimator


# --- eager placeholders ------------------------------------------------------------------


def _placeholder_args(
    dtype: Any, shape: Any = None, name: str | None = None
) -> tuple[Any, Any, str | None]:
    return dtype, shape, name


class EagerPlaceholder:
    """A wrapt wrapper for ``placeholder``: a ``tf.TensorSpec`` under eager execution.

    One instance per ``patch()``; it logs the substitution once (INFO), the first time
    it happens.
    """

    def __init__(self) -> None:
        self._logged = False

    def __call__(
        self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict
    ) -> Any:
        import tensorflow as tf

        if not tf.executing_eagerly():
            return wrapped(*args, **kwargs)
        dtype, shape, name = _placeholder_args(*args, **kwargs)
        if not self._logged:
            self._logged = True
            logger.info(
                "tf.compat.v1.placeholder called under eager execution: returning a "
                "tf.TensorSpec template instead (estimator_ext.patch); use it for receiver "
                "fns, not for computing."
            )
        return tf.TensorSpec(shape, tf.as_dtype(dtype), name=name)


# --- tensor templates as parsing specs -----------------------------------------------------


def _template_as_feature(key: str, template: Any) -> Any:
    import tensorflow as tf

    shape = tf.TensorShape(template.shape)
    per_example = [] if shape.rank is None or shape.rank == 0 else shape[1:]
    if not tf.TensorShape(per_example).is_fully_defined():
        raise ValueError(
            f"build_parsing_serving_input_receiver_fn: feature_spec[{key!r}] is a tensor "
            f"template of shape {shape}, whose per-example shape "
            f"{tf.TensorShape(per_example)} is not fully defined, so it cannot be read as a "
            "tf.io.FixedLenFeature. Pass tf.io.FixedLenFeature(shape, dtype) or "
            f"tf.io.VarLenFeature(dtype) for {key!r}."
        )
    return tf.io.FixedLenFeature(tf.TensorShape(per_example).as_list(), template.dtype)


def _is_tensor_template(value: Any) -> bool:
    import tensorflow as tf

    return isinstance(value, (tf.TensorSpec, tf.Tensor)) and hasattr(value, "shape")


def parsing_receiver_with_templates(
    wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict
) -> Any:
    """A wrapt wrapper for ``build_parsing_serving_input_receiver_fn`` (see the module doc)."""

    def convert(feature_spec: Any, *rest: Any, **rest_kwargs: Any) -> Any:
        if isinstance(feature_spec, dict) and any(
            _is_tensor_template(value) for value in feature_spec.values()
        ):
            feature_spec = {
                key: _template_as_feature(key, value) if _is_tensor_template(value) else value
                for key, value in feature_spec.items()
            }
        return wrapped(feature_spec, *rest, **rest_kwargs)

    return convert(*args, **kwargs)
