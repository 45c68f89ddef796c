"""MultiExportMixin: gives an Estimator class the ``export_all_saved_models`` method.

The public face of :mod:`estimator_ext.export.method`, where the class is defined (the
patching layer installs the same method, and private modules never import public ones).
"""

from __future__ import annotations

from estimator_ext.export.method import MultiExportMixin

__all__ = ["MultiExportMixin"]
