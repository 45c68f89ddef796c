"""``patch()`` / ``unpatch()`` / ``patched()`` and the ``multi_export`` decorator.

What they change is described in :mod:`estimator_ext.patching`, their public face. This
module decides *when* a module is patched: at once when it is already imported, otherwise
by a wrapt post-import hook when it is (it never imports TensorFlow itself).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import wrapt

from estimator_ext._tf_private import module_paths
from estimator_ext.export.method import MultiExportMixin  # plain Python: imports no TensorFlow
from estimator_ext.patching import targets
from estimator_ext.patching.targets import EXPORT_METHOD, METHOD_NAME, PatchRecord

logger = logging.getLogger("estimator_ext")


# --- multi_export ------------------------------------------------------------------------------


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
    with _STATE.lock:
        if METHOD_NAME in cls.__dict__:
            if _STATE.active is not None and _has_our_method(cls):
                _STATE.active.recorder.forget(cls, METHOD_NAME)
            return cls
        setattr(cls, METHOD_NAME, EXPORT_METHOD)
    return cls


def _check_estimator_class(cls: Any) -> None:
    from estimator_ext._tf_private import members  # tf.compat.v1.estimator also on TF 2.16+

    estimator_base = members.tf_compat_v1_estimator.Estimator  # the base of v1 and v2 ones
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


# --- patch / unpatch -------------------------------------------------------------------------


class _PatchState:
    """The process's one patch: the active record, the hooks registered, and the locks.

    This is the only mutable module-level state, and it has to be one per process: what
    :func:`patch` changes (TensorFlow's classes and modules, ``sys.modules``) is itself
    process-wide, and wrapt's post-import hooks cannot be unregistered, so every hook must
    consult the same place to learn whether a patch is (still) active.

    Lock order: ``call_lock`` (one patch()/unpatch() at a time) -> wrapt's import-hook lock
    -> ``lock``. Import hooks run under wrapt's lock and take only ``lock``, so a thread
    importing TensorFlow and a thread calling patch() cannot deadlock.
    """

    def __init__(self) -> None:
        self.call_lock = threading.Lock()
        self.lock = threading.RLock()
        self.active: PatchRecord | None = None
        self.hooked_modules: set[str] = set()

    def on_import(self, module_name: str, module: Any) -> None:
        """Post-import hook (and direct call for imported modules): patch ``module``."""
        with self.lock:
            record = self.active
            if record is None or module_name in record.applied_modules:
                return
            record.applied_modules.add(module_name)
            targets.apply(record, module_name, module)
            logger.debug("estimator_ext.patch: patched %s", module_name)


_STATE = _PatchState()


def patch(builtin: bool = False) -> PatchRecord:
    """Gives TF's estimators ``export_all_saved_models`` and restores ``tf.contrib``'s names.

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

    Args:
      builtin: also route TensorFlow's own ``Estimator.experimental_export_all_saved_models``
        through estimator_ext (opt-in), so that code calling it, such as TFMA's
        ``tfma.export.export_eval_savedmodel`` in a TFX Trainer, gets our export: None
        receiver entries skipped, ``bytes`` returned, TF's tags and signatures, and an
        atomic publish that leaves nothing behind on failure. ``patch(builtin=True)`` on an
        active plain patch adds this to the same record; ``patch()`` never removes it.

    Returns:
      The :class:`PatchRecord` of what was patched (a sequence of names).
    """
    with _STATE.call_lock:
        with _STATE.lock:
            record = _STATE.active
            if record is not None:
                if builtin and not record.builtin:
                    record.builtin = True
                    estimator_module = sys.modules.get(module_paths.ESTIMATOR_MODULE)
                    if module_paths.ESTIMATOR_MODULE in record.applied_modules and estimator_module:
                        targets.apply_builtin(record, estimator_module)
                return record
            record = _STATE.active = PatchRecord(builtin, _STATE.lock)
        for module_name in targets.TARGET_MODULES:
            module = sys.modules.get(module_name)
            if module is not None:
                _STATE.on_import(module_name, module)
            elif module_name not in _STATE.hooked_modules:
                # Registered once per process; the hook consults _STATE.active when it fires,
                # so a hook left over from an earlier patch() that was undone does nothing.
                _STATE.hooked_modules.add(module_name)
                hook = functools.partial(_STATE.on_import, module_name)
                wrapt.register_post_import_hook(hook, module_name)
        waiting = f", waiting for {', '.join(record.pending)}" if record.pending else ""
        logger.info("estimator_ext.patch: %d changes%s", len(record), waiting)
        return record


def unpatch() -> tuple[str, ...]:
    """Undoes :func:`patch`: every attribute it set is restored to what was there before.

    Attributes that did not exist before are deleted again (no method left on any class,
    no ``tf.contrib`` if there was none); after ``patch(builtin=True)``, TF's
    ``Estimator.experimental_export_all_saved_models`` is TF's very function again. Modules
    that were awaited and are imported later are no longer patched. A no-op when not patched.

    Returns:
      The names restored, in the order they had been patched.
    """
    with _STATE.call_lock, _STATE.lock:
        record, _STATE.active = _STATE.active, None
        if record is None:
            return ()
        restored = record.recorder.undo()
        logger.info("estimator_ext.unpatch: restored %d changes", len(restored))
        return restored


def is_patched() -> bool:
    """Whether :func:`patch` is in effect."""
    return _STATE.active is not None


@contextlib.contextmanager
def patched(builtin: bool = False) -> Iterator[PatchRecord]:
    """``with estimator_ext.patched():`` patches on entry and unpatches on exit.

    ``builtin`` is :func:`patch`'s. If the patch was already in effect on entry, it stays in
    effect on exit (with ``builtin=True`` added if asked for: :func:`unpatch` undoes it).
    """
    was_patched = is_patched()
    record = patch(builtin=builtin)
    try:
        yield record
    finally:
        if not was_patched:
            unpatch()
