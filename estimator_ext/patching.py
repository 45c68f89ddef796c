"""The decorator, ``patch()`` / ``unpatch()``, and the legacy ``tf.contrib.estimator`` names.

Three ways to get ``export_all_saved_models`` on an estimator, from most to least explicit:

* :class:`estimator_ext.MultiExportMixin` in your own class's bases;
* :func:`multi_export`, a class decorator for your own Estimator subclasses;
* :func:`patch`, which decorates TensorFlow's own estimator classes and brings back the
  ``tf.contrib.estimator`` names, so legacy scripts run unmodified (this is what
  ``estimator-ext run script.py`` does around the script).

Everything :func:`patch` changes is recorded, change by change, the way pytest's
``monkeypatch`` does, and :func:`unpatch` undoes exactly those changes, including
"there was no such attribute at all". The patching machinery is kept apart from what
it patches (a table of targets per module) and waits for TensorFlow's modules with
wrapt's post-import hooks instead of importing them: the hooks apply the table when a
module is imported, or at once when it already is. This module imports no TensorFlow at
import time (and nothing of estimator_ext that does).

What :func:`patch` changes, while it is active:

* ``export_all_saved_models`` on every canned estimator class of ``tf.estimator`` and
  ``tf.compat.v1.estimator`` (Linear*, DNN*, DNNLinearCombined*, Baseline*: classifiers,
  regressors and the head-based ``*Estimator`` classes), and on ``Estimator`` itself in
  both namespaces, because ``tf.keras.estimator.model_to_estimator`` returns a plain
  ``tf.estimator.Estimator`` (``tf.compat.v1.keras...`` a v1 ``Estimator``). As a
  consequence, every Estimator, custom model_fn ones included, has the method while
  patched.
* ``tf.contrib`` (also ``tf.compat.v1.contrib`` and the modules ``tensorflow.contrib``,
  ``tensorflow.contrib.estimator``): a minimal namespace holding only
  ``tf.contrib.estimator.export_all_saved_models``, ``export_saved_model_for_mode``,
  ``build_raw_supervised_input_receiver_fn`` and
  ``build_supervised_input_receiver_fn_from_input_fn``. Any other name raises an
  AttributeError saying so. An existing ``tf.contrib`` is left alone.
* ``tf.compat.v1.placeholder`` (and ``tensorflow.python.ops.array_ops.placeholder``,
  the same function): when called under eager execution, where TensorFlow raises
  ``RuntimeError``, it returns ``tf.TensorSpec(shape, dtype, name)`` instead, which the
  receiver builders accept as a template. In graph mode it is TensorFlow's own.
* ``tf.estimator.export.build_parsing_serving_input_receiver_fn`` (v1 and v2 namespaces):
  feature-spec values that are tensor templates (``tf.TensorSpec`` or placeholders),
  which ``tf.io.parse_example`` always refused, are read as
  ``tf.io.FixedLenFeature(shape without the batch dimension, dtype)``. Feature configs
  (``FixedLenFeature``, ``VarLenFeature``...) pass through untouched.

The last two only turn calls that always failed into calls that work, so that the
contract's TF 1 sample (placeholders at the top of the script) runs under TF 2's eager
execution.
"""

import contextlib
import dataclasses
import functools
import logging
import sys
import threading
import types
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import wrapt

from estimator_ext._result import ExportResult  # plain Python: imports no TensorFlow
from estimator_ext.mixin import MultiExportMixin  # plain Python: imports no TensorFlow

logger = logging.getLogger("estimator_ext")

METHOD_NAME = "export_all_saved_models"

#: The ``tf.contrib.estimator`` names estimator_ext restores, and where each lives.
LEGACY_CONTRIB_ESTIMATOR_NAMES: Dict[str, str] = {
    "export_all_saved_models": "estimator_ext._export:export_all_saved_models",
    "export_saved_model_for_mode": "estimator_ext.patching:export_saved_model_for_mode",
    "build_raw_supervised_input_receiver_fn": "estimator_ext._receivers:build_raw_supervised_input_receiver_fn",
    "build_supervised_input_receiver_fn_from_input_fn": (
        "estimator_ext._receivers:build_supervised_input_receiver_fn_from_input_fn"
    ),
}

#: Defining module -> the estimator classes in it that patch() decorates. A class named
#: ``...V2`` (and ``EstimatorV2``) is what ``tf.estimator`` exports; the others are
#: ``tf.compat.v1.estimator``'s.
ESTIMATOR_CLASSES_BY_MODULE: Dict[str, Tuple[str, ...]] = {
    "tensorflow_estimator.python.estimator.estimator": ("Estimator", "EstimatorV2"),
    "tensorflow_estimator.python.estimator.canned.linear": (
        "LinearClassifier", "LinearClassifierV2", "LinearRegressor", "LinearRegressorV2",
        "LinearEstimator", "LinearEstimatorV2",
    ),
    "tensorflow_estimator.python.estimator.canned.dnn": (
        "DNNClassifier", "DNNClassifierV2", "DNNRegressor", "DNNRegressorV2",
        "DNNEstimator", "DNNEstimatorV2",
    ),
    "tensorflow_estimator.python.estimator.canned.dnn_linear_combined": (
        "DNNLinearCombinedClassifier", "DNNLinearCombinedClassifierV2",
        "DNNLinearCombinedRegressor", "DNNLinearCombinedRegressorV2",
        "DNNLinearCombinedEstimator", "DNNLinearCombinedEstimatorV2",
    ),
    "tensorflow_estimator.python.estimator.canned.baseline": (
        "BaselineClassifier", "BaselineClassifierV2", "BaselineRegressor", "BaselineRegressorV2",
        "BaselineEstimator", "BaselineEstimatorV2",
    ),
}

#: The public ``export`` namespaces whose parsing receiver builder learns tensor templates.
EXPORT_NAMESPACES: Dict[str, str] = {
    "tensorflow_estimator.python.estimator.api._v2.estimator.export": "tf.estimator.export",
    "tensorflow_estimator.python.estimator.api._v1.estimator.export": "tf.compat.v1.estimator.export",
}

_MISSING = object()


# --- the method the decorator installs -----------------------------------------------------


def _call_export_all_saved_models(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
    # wrapt has already bound ``wrapped`` to ``instance`` when there is one; called on the
    # class (``LinearClassifier.export_all_saved_models(est, ...)``) the estimator is in args.
    return wrapped(*args, **kwargs)


#: The one object every decorated class holds: MultiExportMixin's method (one definition
#: for the three ways in), wrapped. wrapt keeps its signature, name and docstring for
#: ``inspect``, ``help()`` and IDEs, and binds it like a method
#: (``est.export_all_saved_models(...)``, ``LinearClassifier.export_all_saved_models(est, ...)``).
EXPORT_METHOD = wrapt.FunctionWrapper(MultiExportMixin.export_all_saved_models, _call_export_all_saved_models)


def _has_our_method(cls: type) -> bool:
    return cls.__dict__.get(METHOD_NAME) is EXPORT_METHOD


def multi_export(cls: type) -> type:
    """Class decorator: gives an Estimator subclass the ``export_all_saved_models`` method.

    ::

        @estimator_ext.multi_export
        class MyClassifier(tf.estimator.LinearClassifier):
            pass

        clf = MyClassifier(feature_columns=[age, language])
        clf.train(input_fn, steps=100)
        export = clf.export_all_saved_models("exports/", {
            tf.estimator.ModeKeys.TRAIN: train_receiver_fn,
            tf.estimator.ModeKeys.PREDICT: serving_receiver_fn,
        })

    The method is :func:`estimator_ext.export_all_saved_models` with ``self`` as the
    estimator. The decorator returns the very class it was given (so isinstance,
    subclassing and pickling by qualified name are unaffected) and
    ``inspect.signature(cls.export_all_saved_models)`` shows ``(self, export_dir_base,
    input_receiver_fn_map, assets_extra=None, as_text=False, checkpoint_path=None,
    strip_default_attrs=False, warmup_requests=None)``.

    It changes nothing when applied twice, to a class that has
    :class:`estimator_ext.MultiExportMixin`, or to a class that defines its own
    ``export_all_saved_models`` in its body (the class's own method wins). Applied to a
    class :func:`patch` decorated, it makes the method permanent: :func:`unpatch` keeps it.

    Raises:
      TypeError: ``cls`` is not a subclass of ``tf.estimator.Estimator``.
    """
    _check_estimator_class(cls)
    if issubclass(cls, MultiExportMixin):
        return cls
    with _state_lock:
        if METHOD_NAME in cls.__dict__:
            if _active is not None and _has_our_method(cls):
                _active._forget(cls, METHOD_NAME)
            return cls
        setattr(cls, METHOD_NAME, EXPORT_METHOD)
    return cls


def _check_estimator_class(cls: Any) -> None:
    import tensorflow as tf

    estimator_base = tf.compat.v1.estimator.Estimator  # the base of v1 and v2 estimators
    if not isinstance(cls, type):
        raise TypeError(
            "multi_export decorates a tf.estimator.Estimator subclass, received an instance of "
            f"{type(cls).__name__}. Decorate the class (@estimator_ext.multi_export above "
            "`class MyEstimator(tf.estimator.LinearClassifier)`), or export this object with "
            "estimator_ext.export_all_saved_models(estimator, ...)."
        )
    if not issubclass(cls, estimator_base):
        raise TypeError(
            f"multi_export decorates subclasses of tf.estimator.Estimator; received class "
            f"{cls.__module__}.{cls.__qualname__}, which is not one. Decorate your Estimator "
            "subclass instead, e.g. `class MyClassifier(tf.estimator.LinearClassifier)`."
        )


# --- legacy tf.contrib.estimator names -------------------------------------------------------


def export_saved_model_for_mode(
    estimator: Any,
    export_dir_base: str,
    input_receiver_fn: Callable[[], Any],
    assets_extra: Optional[Mapping[str, str]] = None,
    as_text: bool = False,
    checkpoint_path: Optional[str] = None,
    strip_default_attrs: bool = False,
    mode: str = "infer",
) -> ExportResult:
    """``tf.contrib.estimator.export_saved_model_for_mode``: exports ONE mode's graph.

    The legacy single-mode export, built on :func:`estimator_ext.export_all_saved_models`
    with the one-entry map ``{mode: input_receiver_fn}``; ``mode`` is a
    ``tf.estimator.ModeKeys`` value and defaults to ``ModeKeys.PREDICT`` (``'infer'``).

    Returns:
      The export directory (an :class:`estimator_ext.ExportResult`, a ``str``).

    Raises:
      ValueError: ``mode`` is not a ModeKeys value or ``input_receiver_fn`` is None, and
        every error of :func:`estimator_ext.export_all_saved_models`.
    """
    from estimator_ext._export import export_all_saved_models as export
    from estimator_ext._modekeys import EXPORT_ORDER

    if mode not in EXPORT_ORDER:
        raise ValueError(
            f"export_saved_model_for_mode: mode={mode!r} is not a tf.estimator.ModeKeys value. "
            "Pass ModeKeys.TRAIN ('train'), ModeKeys.EVAL ('eval') or ModeKeys.PREDICT ('infer')."
        )
    if input_receiver_fn is None:
        raise ValueError(
            "export_saved_model_for_mode: input_receiver_fn is None. Pass a function taking "
            f"no arguments that returns the input receiver for mode {mode!r}."
        )
    return export(
        estimator,
        export_dir_base,
        {mode: input_receiver_fn},
        assets_extra=assets_extra,
        as_text=as_text,
        checkpoint_path=checkpoint_path,
        strip_default_attrs=strip_default_attrs,
    )


def _restored_names_text() -> str:
    return ", ".join(f"tf.contrib.estimator.{name}" for name in LEGACY_CONTRIB_ESTIMATOR_NAMES)


class _LegacyNamespace(types.ModuleType):
    """A module object holding only the names estimator_ext restores.

    Any other attribute raises an AttributeError naming what is restored and, for
    ``tf.contrib.estimator.X`` when TensorFlow 2 has ``tf.estimator.X`` (or under
    ``experimental``), where it moved.
    """

    def __init__(self, name: str, doc: str, lazy_names: Dict[str, str], submodules: Dict[str, types.ModuleType]):
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
            f"estimator_ext only restores {_restored_names_text()}.{_moved_hint(self.__name__, name)}"
        )

    def __dir__(self) -> List[str]:
        return list(self.__dict__["__all__"])


def _moved_hint(namespace: str, name: str) -> str:
    if namespace != "tensorflow.contrib.estimator":
        return ""
    estimator_api = sys.modules.get("tensorflow_estimator.python.estimator.api._v2.estimator")
    if estimator_api is None:
        return ""
    if hasattr(estimator_api, name):
        return f" TensorFlow 2 has it as tf.estimator.{name}."
    experimental = getattr(estimator_api, "experimental", None)
    if experimental is not None and hasattr(experimental, name):
        return f" TensorFlow 2 has it as tf.estimator.experimental.{name}."
    return ""


def _build_contrib_namespace() -> Tuple[types.ModuleType, types.ModuleType]:
    contrib_estimator = _LegacyNamespace(
        "tensorflow.contrib.estimator",
        "tf.contrib.estimator as restored by estimator_ext: " + ", ".join(LEGACY_CONTRIB_ESTIMATOR_NAMES) + " only.",
        LEGACY_CONTRIB_ESTIMATOR_NAMES,
        {},
    )
    contrib = _LegacyNamespace(
        "tensorflow.contrib",
        "tf.contrib as restored by estimator_ext: only tf.contrib.estimator, with the names "
        "estimator_ext restores.",
        {},
        {"estimator": contrib_estimator},
    )
    return contrib, contrib_estimator


# --- eager placeholders and tensor templates as parsing specs ---------------------------------

_eager_placeholder_logged = False


def _placeholder_args(dtype: Any, shape: Any = None, name: Optional[str] = None) -> Tuple[Any, Any, Optional[str]]:
    return dtype, shape, name


def _eager_placeholder(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
    import tensorflow as tf

    if not tf.executing_eagerly():
        return wrapped(*args, **kwargs)
    dtype, shape, name = _placeholder_args(*args, **kwargs)
    global _eager_placeholder_logged
    if not _eager_placeholder_logged:
        _eager_placeholder_logged = True
        logger.info(
            "tf.compat.v1.placeholder called under eager execution: returning a tf.TensorSpec "
            "template instead (estimator_ext.patch); use it for receiver fns, not for computing."
        )
    return tf.TensorSpec(shape, tf.as_dtype(dtype), name=name)


def _template_as_feature(key: str, template: Any) -> Any:
    import tensorflow as tf

    shape = tf.TensorShape(template.shape)
    per_example = [] if shape.rank is None or shape.rank == 0 else shape[1:]
    if not tf.TensorShape(per_example).is_fully_defined():
        raise ValueError(
            f"build_parsing_serving_input_receiver_fn: feature_spec[{key!r}] is a tensor template "
            f"of shape {shape}, whose per-example shape {tf.TensorShape(per_example)} is not fully "
            "defined, so it cannot be read as a tf.io.FixedLenFeature. Pass "
            f"tf.io.FixedLenFeature(shape, dtype) or tf.io.VarLenFeature(dtype) for {key!r}."
        )
    return tf.io.FixedLenFeature(tf.TensorShape(per_example).as_list(), template.dtype)


def _is_tensor_template(value: Any) -> bool:
    import tensorflow as tf

    return isinstance(value, (tf.TensorSpec, tf.Tensor)) and hasattr(value, "shape")


def _parsing_receiver_with_templates(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
    def convert(feature_spec: Any, *rest: Any, **rest_kwargs: Any) -> Any:
        if isinstance(feature_spec, dict) and any(_is_tensor_template(value) for value in feature_spec.values()):
            feature_spec = {
                key: _template_as_feature(key, value) if _is_tensor_template(value) else value
                for key, value in feature_spec.items()
            }
        return wrapped(feature_spec, *rest, **rest_kwargs)

    return convert(*args, **kwargs)


# --- bookkeeping ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Change:
    """One attribute (or sys.modules entry) set by patch(), and what was there before."""

    label: str
    target: Any
    name: str
    previous: Any
    in_mapping: bool = False

    def undo(self) -> None:
        if self.in_mapping:
            if self.previous is _MISSING:
                self.target.pop(self.name, None)
            else:
                self.target[self.name] = self.previous
        elif self.previous is _MISSING:
            with contextlib.suppress(AttributeError, KeyError):
                delattr(self.target, self.name)
        else:
            setattr(self.target, self.name, self.previous)


class PatchRecord(Sequence[str]):
    """What :func:`patch` changed: a live, read-only sequence of public names.

    Names read like ``'tf.estimator.LinearClassifier.export_all_saved_models'``,
    ``'tf.contrib'`` or ``'tf.compat.v1.placeholder'``. When :func:`patch` runs before
    TensorFlow (or tensorflow_estimator) is imported, the changes happen when those
    modules are imported and the record grows then; :attr:`pending` lists the modules
    still awaited.
    """

    def __init__(self) -> None:
        self._changes: List[_Change] = []
        self._applied_modules: set = set()

    def _set(self, label: str, target: Any, name: str, value: Any) -> None:
        if isinstance(target, type):
            previous = target.__dict__.get(name, _MISSING)
        else:
            previous = getattr(target, name, _MISSING)
        self._changes.append(_Change(label, target, name, previous))
        setattr(target, name, value)

    def _set_item(self, label: str, mapping: Dict[str, Any], key: str, value: Any) -> None:
        self._changes.append(_Change(label, mapping, key, mapping.get(key, _MISSING), in_mapping=True))
        mapping[key] = value

    def _forget(self, target: Any, name: str) -> None:
        self._changes = [change for change in self._changes if not (change.target is target and change.name == name)]

    def _undo(self) -> Tuple[str, ...]:
        undone = []
        for change in reversed(self._changes):
            change.undo()
            undone.append(change.label)
        self._changes = []
        return tuple(reversed(undone))

    @property
    def names(self) -> Tuple[str, ...]:
        with _state_lock:
            return tuple(change.label for change in self._changes)

    @property
    def pending(self) -> Tuple[str, ...]:
        """Modules patch() waits for (not imported yet); empty once everything is patched."""
        with _state_lock:
            return tuple(name for name in _TARGET_MODULES if name not in self._applied_modules)

    def __getitem__(self, index):  # type: ignore[override]
        return self.names[index]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        pending = f", waiting for {len(self.pending)} modules" if self.pending else ""
        return f"PatchRecord({len(self)} changes{pending})"


# --- what each module gets -------------------------------------------------------------------


def _patch_tensorflow(record: PatchRecord, tf_module: Any) -> None:
    compat_v1 = sys.modules.get("tensorflow.compat.v1")
    if getattr(tf_module, "contrib", _MISSING) is _MISSING:
        contrib, contrib_estimator = _build_contrib_namespace()
        record._set("tf.contrib", tf_module, "contrib", contrib)
        if compat_v1 is not None and getattr(compat_v1, "contrib", _MISSING) is _MISSING:
            record._set("tf.compat.v1.contrib", compat_v1, "contrib", contrib)
        for module_name, module in (("tensorflow.contrib", contrib), ("tensorflow.contrib.estimator", contrib_estimator)):
            if module_name not in sys.modules:
                record._set_item(f"sys.modules[{module_name!r}]", sys.modules, module_name, module)
    else:
        logger.warning("tf.contrib already exists; estimator_ext.patch() leaves it alone.")
    if compat_v1 is not None:
        _wrap_placeholder(record, "tf.compat.v1.placeholder", compat_v1)
    array_ops = sys.modules.get("tensorflow.python.ops.array_ops")
    if array_ops is not None:
        _wrap_placeholder(record, "tensorflow.python.ops.array_ops.placeholder", array_ops)


_placeholder_wrappers: Dict[int, Any] = {}


def _wrap_placeholder(record: PatchRecord, label: str, module: Any) -> None:
    original = getattr(module, "placeholder", None)
    if original is None or any(original is wrapper for wrapper in _placeholder_wrappers.values()):
        return
    # One wrapper per original function, so both sites hold the same object.
    wrapper = _placeholder_wrappers.setdefault(id(original), wrapt.FunctionWrapper(original, _eager_placeholder))
    record._set(label, module, "placeholder", wrapper)


def _patch_estimator_classes(record: PatchRecord, module: Any) -> None:
    for class_name in ESTIMATOR_CLASSES_BY_MODULE[module.__name__]:
        cls = getattr(module, class_name, None)
        if cls is None or METHOD_NAME in cls.__dict__:
            continue
        public_name = class_name[: -len("V2")] if class_name.endswith("V2") else class_name
        namespace = "tf.estimator" if class_name.endswith("V2") else "tf.compat.v1.estimator"
        record._set(f"{namespace}.{public_name}.{METHOD_NAME}", cls, METHOD_NAME, EXPORT_METHOD)


_parsing_wrappers: Dict[int, Any] = {}


def _patch_export_namespace(record: PatchRecord, module: Any) -> None:
    original = getattr(module, "build_parsing_serving_input_receiver_fn", None)
    if original is None or any(original is wrapper for wrapper in _parsing_wrappers.values()):
        return
    wrapper = _parsing_wrappers.setdefault(id(original), wrapt.FunctionWrapper(original, _parsing_receiver_with_templates))
    label = f"{EXPORT_NAMESPACES[module.__name__]}.build_parsing_serving_input_receiver_fn"
    record._set(label, module, "build_parsing_serving_input_receiver_fn", wrapper)


def _patcher_for(module_name: str) -> Callable[[PatchRecord, Any], None]:
    if module_name == "tensorflow":
        return _patch_tensorflow
    if module_name in EXPORT_NAMESPACES:
        return _patch_export_namespace
    return _patch_estimator_classes


_TARGET_MODULES: Tuple[str, ...] = ("tensorflow", *ESTIMATOR_CLASSES_BY_MODULE, *EXPORT_NAMESPACES)

# --- patch / unpatch -------------------------------------------------------------------------

# Lock order: _call_lock (one patch()/unpatch() at a time) -> wrapt's import-hook lock ->
# _state_lock. Import hooks run under wrapt's lock and take only _state_lock, so a thread
# importing TensorFlow and a thread calling patch() cannot deadlock.
_call_lock = threading.Lock()
_state_lock = threading.RLock()
_active: Optional[PatchRecord] = None
_hooked_modules: set = set()


def _on_import(module_name: str, module: Any) -> None:
    """Post-import hook (and direct call for imported modules): patch ``module``."""
    with _state_lock:
        record = _active
        if record is None or module_name in record._applied_modules:
            return
        record._applied_modules.add(module_name)
        _patcher_for(module_name)(record, module)
        logger.debug("estimator_ext.patch: patched %s", module_name)


def patch() -> PatchRecord:
    """Gives TensorFlow's estimators ``export_all_saved_models`` and restores ``tf.contrib``'s names.

    After ``estimator_ext.patch()``, legacy code runs as it did with TF 1's contrib::

        estimator_ext.patch()
        classifier = tf.estimator.LinearClassifier(feature_columns=[age, language])
        ...
        export_dir = tf.contrib.estimator.export_all_saved_models(
            classifier, "my_model/", {tf.estimator.ModeKeys.TRAIN: train_rcvr_fn,
                                      tf.estimator.ModeKeys.PREDICT: serve_rcvr_fn})
        export_dir = classifier.export_all_saved_models("my_model/", rcvr_fn_map)

    See the module docstring for exactly what changes. It works before or after
    TensorFlow is imported (modules not imported yet are patched by wrapt post-import
    hooks when they are), is idempotent (a second call changes nothing and returns the
    same record) and thread-safe.

    Returns:
      The :class:`PatchRecord` of what was patched (a sequence of names).
    """
    global _active
    with _call_lock:
        with _state_lock:
            if _active is not None:
                return _active
            record = _active = PatchRecord()
        for module_name in _TARGET_MODULES:
            module = sys.modules.get(module_name)
            if module is not None:
                _on_import(module_name, module)
            elif module_name not in _hooked_modules:
                # Registered once per process; the hook consults _active when it fires,
                # so a hook left over from an earlier patch() that was undone does nothing.
                _hooked_modules.add(module_name)
                wrapt.register_post_import_hook(functools.partial(_on_import, module_name), module_name)
        logger.info("estimator_ext.patch: %d changes%s", len(record._changes), f", waiting for {', '.join(record.pending)}" if record.pending else "")
        return record


def unpatch() -> Tuple[str, ...]:
    """Undoes :func:`patch`: every attribute it set is restored to what was there before.

    Attributes that did not exist before are deleted again (no method left on any class,
    no ``tf.contrib`` if there was none). Modules that were awaited and are imported
    later are no longer patched. A no-op when not patched.

    Returns:
      The names restored, in the order they had been patched.
    """
    global _active
    with _call_lock, _state_lock:
        record, _active = _active, None
        if record is None:
            return ()
        restored = record._undo()
        logger.info("estimator_ext.unpatch: restored %d changes", len(restored))
        return restored


def is_patched() -> bool:
    """Whether :func:`patch` is in effect."""
    return _active is not None


@contextlib.contextmanager
def patched() -> Iterator[PatchRecord]:
    """``with estimator_ext.patched():`` patches on entry and unpatches on exit.

    If the patch was already in effect on entry, it stays in effect on exit.
    """
    was_patched = is_patched()
    record = patch()
    try:
        yield record
    finally:
        if not was_patched:
            unpatch()
