"""estimator_ext: export the TRAIN, EVAL and PREDICT graphs of a tf.estimator.Estimator
as one SavedModel sharing one set of variables (``tf.contrib.estimator.export_all_saved_models``,
brought back and made safer and faster).

The public API is exactly ``__all__`` below. Importing the package does not import
TensorFlow: the patching names (``patch``, ``unpatch``, ``patched``, ``multi_export``)
are plain Python, so ``estimator_ext.patch()`` can run before TensorFlow is imported
and applies itself when it is. Every other name loads on first use (PEP 562), which is
also when the TensorFlow version is checked.

On TensorFlow 2.16 and later, which no longer ship ``tf.estimator``, importing the package
also makes tensorflow-estimator 2.15.0 importable: it registers stand-ins for the modules
those releases deleted, used only where TensorFlow has no such module
(:mod:`estimator_ext._tf_private.import_hook`). Import ``estimator_ext`` before
``tensorflow_estimator`` (``patch()`` then brings back ``tf.estimator`` too).

One submodule is public too: ``estimator_ext.inspect``, whose ``describe(export_dir)``
returns the JSON-able description of a SavedModel that ``estimator-ext inspect --json``
prints (``import estimator_ext.inspect``, or ``estimator_ext.inspect`` after
``import estimator_ext``). It is not in ``__all__``, so ``from estimator_ext import *``
never shadows the standard library's ``inspect``.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from estimator_ext._versions import VERSION, check_python

check_python()

from estimator_ext._tf_private import import_hook  # noqa: E402  (no TensorFlow)

import_hook.install()

from estimator_ext.patching import multi_export, patch, patched, unpatch  # noqa: E402  (no TensorFlow)

if "tensorflow" not in sys.modules:  # TensorFlow reads its GCS_* settings when imported
    from estimator_ext.storage.gcs import apply_gcs_defaults

    apply_gcs_defaults()

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from estimator_ext.export.export_all import export_all_saved_models
    from estimator_ext.export.receivers import (
        SupervisedInputReceiver,
        build_raw_supervised_input_receiver_fn,
        build_supervised_input_receiver_fn_from_input_fn,
    )
    from estimator_ext.export.repeated import ExportPlan, plan_export
    from estimator_ext.export.result import ExportResult
    from estimator_ext.exporter import AllModesExporter
    from estimator_ext.mixin import MultiExportMixin
    from estimator_ext.serving.convert import convert_serve_only
    from estimator_ext.storage.cleanup import clean_stale_temporaries

__version__ = VERSION

_LAZY_MODULE_BY_NAME = {
    "AllModesExporter": "estimator_ext.exporter",
    "ExportPlan": "estimator_ext.export.repeated",
    "ExportResult": "estimator_ext.export.result",
    "MultiExportMixin": "estimator_ext.mixin",
    "SupervisedInputReceiver": "estimator_ext.export.receivers",
    "build_raw_supervised_input_receiver_fn": "estimator_ext.export.receivers",
    "build_supervised_input_receiver_fn_from_input_fn": "estimator_ext.export.receivers",
    "clean_stale_temporaries": "estimator_ext.storage.cleanup",
    "convert_serve_only": "estimator_ext.serving.convert",
    "export_all_saved_models": "estimator_ext.export.export_all",
    "plan_export": "estimator_ext.export.repeated",
}

#: Public submodules, imported on first attribute access.
_LAZY_SUBMODULES = ("inspect",)

__all__ = [
    "AllModesExporter",
    "ExportPlan",
    "ExportResult",
    "MultiExportMixin",
    "SupervisedInputReceiver",
    "build_raw_supervised_input_receiver_fn",
    "build_supervised_input_receiver_fn_from_input_fn",
    "clean_stale_temporaries",
    "convert_serve_only",
    "export_all_saved_models",
    "multi_export",
    "patch",
    "patched",
    "plan_export",
    "unpatch",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # also sets the attribute
    module_name = _LAZY_MODULE_BY_NAME.get(name)
    if module_name is None:
        raise AttributeError(f"module 'estimator_ext' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_LAZY_SUBMODULES) | {"__version__"})
