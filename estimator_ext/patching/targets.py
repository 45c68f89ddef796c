"""The targets of ``patch()``: what each TensorFlow module gets, recorded in a PatchRecord.

``patching`` decides *when* a module is patched (now, or by a post-import hook when it is
imported); this module says *what* it gets, each change made through the record's
:class:`~estimator_ext.patching.recorder.Recorder` so that ``unpatch()`` can undo it:

* ``tensorflow``: ``tf.contrib`` (from :mod:`estimator_ext.patching.legacy`), the eager
  placeholder, also where ``placeholder`` is defined, and, on TensorFlow 2.16 and later,
  ``tf.estimator`` and ``tf.compat.v1.estimator``
  (:mod:`estimator_ext.patching.estimator_namespace`);
* each module of :data:`estimator_ext._tf_private.module_paths.ESTIMATOR_CLASSES_BY_MODULE`: the
  ``export_all_saved_models`` method on its estimator classes, and, for the module of
  ``Estimator`` when the patch is ``builtin``, TF's ``experimental_export_all_saved_models``
  routed to :func:`estimator_ext.patching.tf_entry_points.experimental_export_all_saved_models`;
* each module of :data:`~estimator_ext._tf_private.module_paths.EXPORT_NAMESPACES`: the
  parsing receiver builder that reads tensor templates.

The module paths are in :mod:`estimator_ext._tf_private.module_paths`. No TensorFlow is
imported here.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from typing import Any, Callable, overload

import wrapt

from estimator_ext._tf_private import module_paths
from estimator_ext.export.method import MultiExportMixin  # plain Python: imports no TensorFlow
from estimator_ext.patching import estimator_namespace, legacy
from estimator_ext.patching.recorder import MISSING, Recorder

logger = logging.getLogger("estimator_ext")

METHOD_NAME = "export_all_saved_models"
#: TensorFlow's own multi-mode export method, replaced only by ``patch(builtin=True)``.
BUILTIN_METHOD_NAME = "experimental_export_all_saved_models"
BUILTIN_LABEL = f"tf.compat.v1.estimator.Estimator.{BUILTIN_METHOD_NAME}"
PARSING_BUILDER_NAME = "build_parsing_serving_input_receiver_fn"

#: Every module patch() changes, in the order it patches those already imported.
TARGET_MODULES: tuple[str, ...] = (
    "tensorflow",
    *module_paths.ESTIMATOR_CLASSES_BY_MODULE,
    *module_paths.EXPORT_NAMESPACES,
)


# --- the methods installed -------------------------------------------------------------------


def _call_export_all_saved_models(
    wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict
) -> Any:
    # wrapt has bound ``wrapped`` to the estimator, also when called on the class.
    return wrapped(*args, **kwargs)


#: The one object every decorated class holds: MultiExportMixin's method (one definition
#: for the three ways in), wrapped. wrapt keeps its signature, name and docstring for
#: ``inspect``, ``help()`` and IDEs, and binds it like a method.
EXPORT_METHOD = wrapt.FunctionWrapper(
    MultiExportMixin.export_all_saved_models, _call_export_all_saved_models
)


def _call_builtin_export(
    wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict
) -> bytes:
    # TF's method stays the wrapped object (for its signature and docstring); the call goes
    # to ours. wrapt passes the estimator as ``instance`` also when called on the class.
    from estimator_ext.patching.tf_entry_points import experimental_export_all_saved_models

    return experimental_export_all_saved_models(instance, *args, **kwargs)


# --- the record of one patch() ---------------------------------------------------------------


class PatchRecord(Sequence[str]):
    """What :func:`estimator_ext.patch` changed: a live, read-only sequence of public names.

    Names read like ``'tf.estimator.LinearClassifier.export_all_saved_models'``,
    ``'tf.contrib'`` or ``'tf.compat.v1.placeholder'``. When ``patch()`` runs before
    TensorFlow (or tensorflow_estimator) is imported, the changes happen when those
    modules are imported and the record grows then; :attr:`pending` lists the modules
    still awaited. :attr:`builtin` tells whether TF's own
    ``experimental_export_all_saved_models`` is (or will be) routed through estimator_ext.
    ``lock`` is the patch state's lock, held while the record is read or changed.
    """

    def __init__(self, builtin: bool, lock: Any = None) -> None:
        self.recorder = Recorder()
        self.builtin = builtin
        self.lock = lock if lock is not None else threading.RLock()
        self.applied_modules: set[str] = set()
        self.builtin_applied = False
        # One wrapper per original function, so sites sharing a function share the wrapper.
        self.wrappers: dict[int, Any] = {}
        self.eager_placeholder = legacy.EagerPlaceholder()

    @property
    def names(self) -> tuple[str, ...]:
        with self.lock:
            return self.recorder.labels

    @property
    def pending(self) -> tuple[str, ...]:
        """Modules patch() waits for (not imported yet); empty once everything is patched."""
        with self.lock:
            return tuple(name for name in TARGET_MODULES if name not in self.applied_modules)

    def wrap_once(self, original: Any, wrapper: Callable[..., Any]) -> Any | None:
        """The wrapper of ``original`` for this patch, or None when it is one already."""
        if any(original is wrapped for wrapped in self.wrappers.values()):
            return None
        return self.wrappers.setdefault(id(original), wrapt.FunctionWrapper(original, wrapper))

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return self.names[index]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        pending = f", waiting for {len(self.pending)} modules" if self.pending else ""
        return f"PatchRecord({len(self)} changes{pending})"


# --- what each module gets -------------------------------------------------------------------


def apply(record: PatchRecord, module_name: str, module: Any) -> None:
    """Makes (and records) every change ``module`` gets; called once per module and patch."""
    if module_name == "tensorflow":
        _patch_tensorflow(record, module)
    elif module_name in module_paths.EXPORT_NAMESPACES:
        _patch_export_namespace(record, module)
    else:
        _patch_estimator_classes(record, module)


def _compat_v1(tf_module: Any) -> Any:
    """``tf.compat.v1`` (TensorFlow 2.16+ no longer lists it in ``sys.modules``), or None."""
    compat_v1 = sys.modules.get("tensorflow.compat.v1")
    if compat_v1 is None:
        compat_v1 = getattr(getattr(tf_module, "compat", None), "v1", None)
    return compat_v1


def _patch_tensorflow(record: PatchRecord, tf_module: Any) -> None:
    compat_v1 = _compat_v1(tf_module)
    if getattr(tf_module, "contrib", MISSING) is MISSING:
        contrib, contrib_estimator = legacy.build_contrib_namespace()
        record.recorder.setattr("tf.contrib", tf_module, "contrib", contrib)
        if compat_v1 is not None and getattr(compat_v1, "contrib", MISSING) is MISSING:
            record.recorder.setattr("tf.compat.v1.contrib", compat_v1, "contrib", contrib)
        for module in (contrib, contrib_estimator):
            if module.__name__ not in sys.modules:
                label = f"sys.modules[{module.__name__!r}]"
                record.recorder.setitem(label, sys.modules, module.__name__, module)
    else:
        logger.warning("tf.contrib already exists; estimator_ext.patch() leaves it alone.")
    if compat_v1 is not None:
        _wrap_placeholder(record, "tf.compat.v1.placeholder", compat_v1)
    array_ops = sys.modules.get(module_paths.ARRAY_OPS_MODULE)
    if array_ops is not None:
        _wrap_placeholder(record, f"{module_paths.ARRAY_OPS_MODULE}.placeholder", array_ops)
    _restore_estimator_namespaces(record, tf_module, compat_v1)


def _restore_estimator_namespaces(record: PatchRecord, tf_module: Any, compat_v1: Any) -> None:
    """``tf.estimator`` and ``tf.compat.v1.estimator`` where TensorFlow lacks them (2.16+)."""
    owner_by_name = {"tf.estimator": tf_module, "tf.compat.v1.estimator": compat_v1}
    missing = [
        name
        for name, owner in owner_by_name.items()
        if owner is not None and getattr(owner, "estimator", MISSING) is MISSING
    ]
    if not missing:
        return
    namespaces = estimator_namespace.build_estimator_namespaces()
    for name in missing:
        record.recorder.setattr(name, owner_by_name[name], "estimator", namespaces[name])


def _wrap_placeholder(record: PatchRecord, label: str, module: Any) -> None:
    original = getattr(module, "placeholder", None)
    wrapper = None if original is None else record.wrap_once(original, record.eager_placeholder)
    if wrapper is not None:
        record.recorder.setattr(label, module, "placeholder", wrapper)


def _patch_estimator_classes(record: PatchRecord, module: Any) -> None:
    for class_name in module_paths.ESTIMATOR_CLASSES_BY_MODULE[module.__name__]:
        cls = getattr(module, class_name, None)
        if cls is None or METHOD_NAME in cls.__dict__:
            continue
        public_name = class_name.removesuffix("V2")
        namespace = "tf.estimator" if class_name.endswith("V2") else "tf.compat.v1.estimator"
        label = f"{namespace}.{public_name}.{METHOD_NAME}"
        record.recorder.setattr(label, cls, METHOD_NAME, EXPORT_METHOD)
    if module.__name__ == module_paths.ESTIMATOR_MODULE and record.builtin:
        apply_builtin(record, module)


def apply_builtin(record: PatchRecord, estimator_module: Any) -> None:
    """Routes TF's ``Estimator.experimental_export_all_saved_models`` through estimator_ext.

    The method is replaced on the v1 ``Estimator`` class, which defines it; ``EstimatorV2``
    (``tf.estimator.Estimator``), the canned estimators and TPUEstimator inherit it.
    """
    if record.builtin_applied:
        return
    estimator_class = estimator_module.Estimator
    original = estimator_class.__dict__.get(BUILTIN_METHOD_NAME)
    wrapper = None if original is None else record.wrap_once(original, _call_builtin_export)
    if wrapper is None:
        logger.warning(
            "estimator_ext.patch(builtin=True): Estimator.%s is missing or already wrapped; "
            "left alone.",
            BUILTIN_METHOD_NAME,
        )
        return
    record.recorder.setattr(BUILTIN_LABEL, estimator_class, BUILTIN_METHOD_NAME, wrapper)
    record.builtin_applied = True


def _patch_export_namespace(record: PatchRecord, module: Any) -> None:
    original = getattr(module, PARSING_BUILDER_NAME, None)
    wrapper = (
        None
        if original is None
        else record.wrap_once(original, legacy.parsing_receiver_with_templates)
    )
    if wrapper is not None:
        label = f"{module_paths.EXPORT_NAMESPACES[module.__name__]}.{PARSING_BUILDER_NAME}"
        record.recorder.setattr(label, module, PARSING_BUILDER_NAME, wrapper)
