"""estimator_ext: export the TRAIN, EVAL and PREDICT graphs of a tf.estimator.Estimator
as one SavedModel sharing one set of variables (``tf.contrib.estimator.export_all_saved_models``,
brought back and made safer and faster).

The public API is exactly ``__all__`` below.
"""

from estimator_ext import _compat  # noqa: F401  (checks the Python and TensorFlow versions first)
from estimator_ext._export import export_all_saved_models
from estimator_ext._fs import clean_stale_temporaries
from estimator_ext._receivers import (
    SupervisedInputReceiver,
    build_raw_supervised_input_receiver_fn,
    build_supervised_input_receiver_fn_from_input_fn,
)
from estimator_ext._result import ExportResult
from estimator_ext.exporter import AllModesExporter
from estimator_ext.mixin import MultiExportMixin
from estimator_ext.patching import multi_export, patch, patched, unpatch

__version__ = "0.1.0"

__all__ = [
    "AllModesExporter",
    "ExportResult",
    "MultiExportMixin",
    "SupervisedInputReceiver",
    "build_raw_supervised_input_receiver_fn",
    "build_supervised_input_receiver_fn_from_input_fn",
    "clean_stale_temporaries",
    "export_all_saved_models",
    "multi_export",
    "patch",
    "patched",
    "unpatch",
]
