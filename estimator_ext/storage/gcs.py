"""GCS's client defaults (``gs://``): none yet.

This is the one place for them: :class:`~estimator_ext.storage.object_store.GcsStore`
applies :data:`GCS_ENV_DEFAULTS` (never overriding a variable the user set) whenever an
``estimator_ext`` call is about to touch a ``gs://`` path, and its error messages list
their current values, exactly as ``s3.py``'s are for ``s3://``. TensorFlow's own GCS
filesystem reads its settings (``GCS_READ_CACHE_*``, ``GCS_REQUEST_*_TIMEOUT_SECS``,
...) from the environment when it is first used, so a default added here takes effect
for every export, exporter and cleanup whose process has not used ``gs://`` before.
"""

from __future__ import annotations

#: Environment defaults applied before estimator_ext's first gs:// access (none yet).
GCS_ENV_DEFAULTS: dict[str, str] = {}
