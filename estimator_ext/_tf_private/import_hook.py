"""What makes tensorflow-estimator 2.15.0 importable on TensorFlow 2.16 and later.

:func:`install` (run by ``import estimator_ext``, TensorFlow-free) sets up three things, each
of which acts only where TensorFlow lacks what tensorflow-estimator needs, so on TensorFlow
2.12-2.15 none of them changes anything:

* :class:`StandInFinder`, appended to the end of ``sys.meta_path``: it answers only for the
  deleted modules of :data:`~estimator_ext._tf_private.module_paths.REMOVED_MODULES`, and
  only when every finder before it found nothing, i.e. when TensorFlow has no such module;
  it then loads the stand-in of :mod:`~estimator_ext._tf_private.removed_modules`;
* a post-import hook on TensorFlow's ``tf_export`` module that adds the
  ``ESTIMATOR_API_NAME`` it lost
  (:func:`~estimator_ext._tf_private.removed_modules.add_estimator_api_name`);
* post-import hooks on the canned estimator modules that, under Keras 3, make their
  estimators refuse to be built with an error naming ``TF_USE_LEGACY_KERAS`` and
  ``tf-keras`` (:mod:`~estimator_ext._tf_private.legacy_keras`).

The hooks are wrapt's (as ``patch()``'s): a module already imported is handled at once,
otherwise when it is. They cannot be unregistered, and need not be: each does nothing when
there is nothing to add. These are not part of ``patch()`` and ``unpatch()`` leaves them:
they restore what tensorflow-estimator was built against, rather than change TensorFlow's
behaviour.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

import wrapt

from estimator_ext._tf_private import module_paths

#: The ``origin`` of a stand-in module's spec (also shown by ``repr(module)``).
STAND_IN_ORIGIN = "estimator_ext stand-in for a module TensorFlow 2.16 deleted"


class StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and loads the stand-ins, for the deleted module names and no others."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in module_paths.REMOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=STAND_IN_ORIGIN)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        from estimator_ext._tf_private import removed_modules

        module.__doc__ = (
            f"estimator_ext's stand-in for {module.__name__}, which TensorFlow 2.16 deleted "
            "(see estimator_ext._tf_private.removed_modules)."
        )
        removed_modules.fill_stand_in(module)


def _add_estimator_api_name(tf_export: types.ModuleType) -> None:
    from estimator_ext._tf_private import removed_modules

    removed_modules.add_estimator_api_name(tf_export)


def _refuse_canned_under_keras_3(module: types.ModuleType) -> None:
    from estimator_ext._tf_private import legacy_keras

    legacy_keras.refuse_under_keras_3(module)


_INSTALL_LOCK = threading.Lock()


def installed_finder() -> StandInFinder | None:
    """The :class:`StandInFinder` on ``sys.meta_path``, or None."""
    return next((f for f in sys.meta_path if isinstance(f, StandInFinder)), None)


def install() -> None:
    """Appends the finder to ``sys.meta_path`` and registers the hooks; idempotent.

    Imports no TensorFlow. A second call (also after ``importlib.reload`` of this module,
    whose finder class is then new) changes nothing.
    """
    with _INSTALL_LOCK:
        if any(type(f).__name__ == StandInFinder.__name__ for f in sys.meta_path):
            return
        sys.meta_path.append(StandInFinder())
        wrapt.register_post_import_hook(_add_estimator_api_name, module_paths.TF_EXPORT_MODULE)
        for module_name in module_paths.KERAS_CANNED_CLASSES_BY_MODULE:
            wrapt.register_post_import_hook(_refuse_canned_under_keras_3, module_name)


def stand_in_modules() -> dict[str, Any]:
    """The stand-in modules imported so far, by name (empty on TensorFlow 2.12-2.15)."""
    return {
        name: module
        for name in module_paths.REMOVED_MODULES
        if (module := sys.modules.get(name)) is not None
        and getattr(getattr(module, "__spec__", None), "origin", None) == STAND_IN_ORIGIN
    }
